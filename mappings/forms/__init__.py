"""Forms: the toolkit's Questionnaires and QuestionnaireResponses, through one engine.

``engine`` turns a declarative table of items (linkId ↔ artefact field ↔ type ↔ code system)
into the Questionnaire, writes a QuestionnaireResponse from an artefact and reads one back with
every problem located at its item. One table module per form: ``strategy_report``,
``travel_alert``, ``health_needs_checklist``.
"""
