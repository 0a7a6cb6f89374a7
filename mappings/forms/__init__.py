"""Forms: the toolkit's Questionnaires and QuestionnaireResponses, through one engine.

``engine`` turns a declarative table of items (linkId ↔ artefact field ↔ type ↔ code system)
into the Questionnaire, writes a QuestionnaireResponse from an artefact and reads one back with
every problem located at its item. One table module per form: ``strategy_report``,
``travel_alert``, ``health_needs_checklist``; ``all_forms()`` lists them for the Questionnaire
generator (``interop.mappings.fhir_conformance``).
"""

from __future__ import annotations

from typing import TYPE_CHECKING

if TYPE_CHECKING:
    from interop.mappings.forms.engine import Form

__all__ = [
    "all_forms",
    "health_needs_checklist",
    "strategy_report",
    "travel_alert",
]


def all_forms() -> tuple[Form, ...]:
    """Every form of the toolkit."""
    # imported here: importing the engine alone must not load every form's table
    from interop.mappings.forms import health_needs_checklist, strategy_report, travel_alert

    return (strategy_report.FORM, travel_alert.FORM, health_needs_checklist.FORM)
