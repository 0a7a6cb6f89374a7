"""Strategy Discussion Health Report ⇄ FHIR: a document Bundle, and the proforma as a Questionnaire.

The Bundle (type ``document``, profile StrategyDiscussionHealthReportDocument) holds, in order:
- ``Composition`` (profile StrategyDiscussionHealthReport): identifier = local id, subject = the
  child, author = the submitting practitioner's PractitionerRole, date and event.period = the
  strategy discussion date, the information-sharing marker; one section per part of the
  proforma (codes of ``ReportSection``), each with a generated XHTML narrative and its content
  as extensions or entries:
  reason (Appendix A received and when, the reason, the agencies taking part), health-concerns
  (health needs, proportionate information; entries: a Condition per long-term condition
  (code.text the name, code.coding its SNOMED CT concept when coded), an
  Encounter per recent attendance, an Appointment per missed or was-not-brought appointment,
  status noshow, ``interop.mappings.fhir_appointments``; the section extensions that carried
  missed appointments before are still read), engagement (entry: an Observation),
  impact, medical-assessment, practitioners (entries: PractitionerRoles; information sources),
  outcome, action-plan (entry: a CarePlan), social-worker, services-to-task (entries: Tasks);
- the ``Patient``, the ``Practitioner``/``PractitionerRole`` pairs (submitting practitioner
  first), the ``Organization``s they and the attendances reference (one per ODS code and name),
  then the Conditions, Encounters, Appointments, Observation, CarePlan and Tasks.

``questionnaire()`` is the same proforma as a FHIR Questionnaire; ``from_questionnaire_response``
imports what a forms tool returns for it (answers by linkId only) and
``to_questionnaire_response`` writes one. Both directions are driven by one item table
(``interop.mappings.forms.strategy_report``) that ties every linkId to the artefact field it
fills, through the forms engine.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from html import escape

from interop.codes import (
    Agency,
    AppointmentAttendance,
    AttendanceSetting,
    DocumentType,
    HealthInformationSource,
    ReportSection,
    StrategyOutcome,
)
from interop.domain import (
    ConditionEntry,
    Organisation,
    Practitioner,
    StrategyDiscussionHealthReport,
)
from interop.domain.strategy_report import MissedAppointment, UnscheduledAttendance
from interop.issues import IssueCode
from interop.mappings.fhir_appointments import appointment, read_appointment
from interop.mappings.fhir_common import (
    ARTEFACT_ID_SYSTEM,
    JSON,
    UKCORE,
    BundleIndex,
    Node,
    Reader,
    build,
    coding,
    concept,
    condition_concept,
    drop_empty,
    entry,
    ext,
    ext_url,
    extensions,
    organization,
    patient,
    practitioner_resources,
    profile_url,
    read_condition_concept,
    read_organisation,
    read_patient,
    read_practitioner,
    read_sharing,
    read_social_worker,
    ref,
    resource_id,
    sharing_extension,
    social_worker_extension,
)
from interop.mappings.fhir_strategy_report_profiles import EXTENSIONS, PROFILES
from interop.mappings.forms.strategy_report import FORM, KIND, QUESTIONNAIRE_URL

__all__ = [
    "BUNDLE_PROFILE",
    "COMPOSITION_PROFILE",
    "EXTENSIONS",
    "KIND",
    "PROFILES",
    "QUESTIONNAIRE_URL",
    "ReportSection",
    "from_fhir",
    "from_questionnaire_response",
    "questionnaire",
    "to_fhir",
    "to_questionnaire_response",
]

COMPOSITION_PROFILE = profile_url("StrategyDiscussionHealthReport")
BUNDLE_PROFILE = profile_url("StrategyDiscussionHealthReportDocument")
CONDITION_PROFILE = profile_url("StrategyDiscussionLongTermCondition")
ENCOUNTER_PROFILE = profile_url("StrategyDiscussionAttendance")
OBSERVATION_PROFILE = profile_url("StrategyDiscussionCarePlanEngagement")
CARE_PLAN_PROFILE = profile_url("StrategyDiscussionActionPlan")
TASK_PROFILE = profile_url("StrategyDiscussionServiceTask")

XHTML = "http://www.w3.org/1999/xhtml"
ACT_CODE = "http://terminology.hl7.org/CodeSystem/v3-ActCode"
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"
CONDITION_CATEGORY = "http://terminology.hl7.org/CodeSystem/condition-category"
LIST_EMPTY_REASON = "http://terminology.hl7.org/CodeSystem/list-empty-reason"
TITLE = "Strategy discussion health report"


# --- code systems (to move into interop.codes) ---------------------------------------------


# --- narrative -----------------------------------------------------------------------------


def _html(value: str) -> str:
    """Text as XHTML: escaped, line breaks kept."""
    return escape(value, quote=False).replace("\n", "<br/>")


def _para(label: str, value: str | None) -> str:
    return "" if value is None else f"<p><b>{_html(label)}:</b> {_html(value)}</p>"


def _bullets(label: str, values: list[str]) -> str:
    if not values:
        return ""
    items = "".join(f"<li>{_html(v)}</li>" for v in values)
    return f"<p><b>{_html(label)}:</b></p><ul>{items}</ul>"


def _narrative(*blocks: str) -> JSON:
    return {"status": "generated", "div": f'<div xmlns="{XHTML}">{"".join(blocks)}</div>'}


def _yes_no(value: bool) -> str:
    return "Yes" if value else "No"


def _org_label(org: Organisation | None) -> str:
    return f" ({org.name}, {org.ods_code})" if org else ""


def _practitioner_label(person: Practitioner) -> str:
    parts = [f"{person.name}, {person.role}"]
    if person.setting:
        parts.append(person.setting.display)
    if person.organisation:
        parts.append(f"{person.organisation.name} ({person.organisation.ods_code})")
    parts.extend(v for v in (person.phone, person.email) if v)
    return "; ".join(parts)


# --- building ------------------------------------------------------------------------------


_ENCOUNTER_CLASS = {
    AttendanceSetting.EMERGENCY_DEPARTMENT: ("EMER", "emergency"),
    AttendanceSetting.MINOR_INJURY_UNIT: ("EMER", "emergency"),
    AttendanceSetting.WALK_IN_CENTRE: ("EMER", "emergency"),
    AttendanceSetting.OUT_OF_HOURS_GP: ("AMB", "ambulatory"),
    AttendanceSetting.AMBULANCE: ("FLD", "field"),
    AttendanceSetting.MATERNITY: ("EMER", "emergency"),
    AttendanceSetting.PAEDIATRIC_WARD: ("IMP", "inpatient encounter"),
}


@dataclass
class _Builder:
    """What every part of the document needs: the report, its ids, the shared resources."""

    report: StrategyDiscussionHealthReport
    organizations: dict[str, JSON]
    practitioners: list[JSON]

    def id(self, role: str) -> str:
        """The deterministic id of the resource playing ``role``."""
        return resource_id(self.report, self.report.child.nhs_number, role)

    def organization(self, org: Organisation) -> JSON:
        """The one Organization of an ODS code and name (shared by every reference to it)."""
        built = organization(org, self.id(f"organisation|{org.ods_code}|{org.name}"))
        return self.organizations.setdefault(built["id"], built)

    def practitioner(self, person: Practitioner, role: str) -> JSON:
        """A Practitioner and its PractitionerRole (kept for the Bundle); returns the role."""
        org_id = self.organization(person.organisation)["id"] if person.organisation else ""
        built = practitioner_resources(
            person, self.id(f"{role}-practitioner"), self.id(f"{role}-role"), org_id
        )
        self.practitioners.extend(built[:2])
        return built[1]


def _section(
    code: ReportSection,
    blocks: list[str],
    exts: list[JSON] | None = None,
    entries: list[JSON] | None = None,
) -> JSON:
    return drop_empty(
        {
            "extension": exts,
            "title": code.display,
            "code": concept(code),
            "text": _narrative(*blocks),
            "entry": [ref(e) for e in entries or []],
        }
    )


def _reason_section(report: StrategyDiscussionHealthReport) -> JSON:
    received = _yes_no(report.appendix_a_received)
    if report.appendix_a_received_on:
        received += f", on {report.appendix_a_received_on.isoformat()}"
    agencies = [a.display for a in report.participating_agencies]
    return _section(
        ReportSection.REASON,
        [
            _para("Strategy discussion", report.strategy_discussion_date.isoformat()),
            _para("Appendix A form received", received),
            _para("Agencies taking part", ", ".join(agencies) if agencies else None),
            _para("Reason for strategy discussion", report.reason),
        ],
        extensions(
            ext("appendix-a-received", report.appendix_a_received),
            ext("appendix-a-received-on", report.appendix_a_received_on),
            ext("strategy-reason", report.reason),
            *(ext("participating-agency", a) for a in report.participating_agencies),
        ),
    )


def _condition(b: _Builder, index: int, condition: ConditionEntry, subject: JSON) -> JSON:
    return {
        "resourceType": "Condition",
        "id": b.id(f"condition-{index}"),
        "meta": {"profile": [CONDITION_PROFILE]},
        "clinicalStatus": {"coding": [{"system": CONDITION_CLINICAL, "code": "active"}]},
        "category": [
            {
                "coding": [
                    {
                        "system": CONDITION_CATEGORY,
                        "code": "problem-list-item",
                        "display": "Problem List Item",
                    }
                ]
            }
        ],
        "code": condition_concept(condition),
        "subject": ref(subject),
    }


def _encounter(b: _Builder, index: int, visit: UnscheduledAttendance, subject: JSON) -> JSON:
    code, display = _ENCOUNTER_CLASS[visit.setting]
    provider = b.organization(visit.organisation) if visit.organisation else None
    return drop_empty(
        {
            "resourceType": "Encounter",
            "id": b.id(f"attendance-{index}"),
            "meta": {"profile": [ENCOUNTER_PROFILE]},
            "status": "finished",
            "class": {"system": ACT_CODE, "code": code, "display": display},
            "type": [concept(visit.setting)],
            "subject": ref(subject),
            "period": {"start": visit.attended_on.isoformat()},
            "reasonCode": [{"text": visit.reason}] if visit.reason else None,
            "serviceProvider": ref(provider) if provider else None,
        }
    )


def _missed_label(missed: MissedAppointment) -> str:
    return f"{missed.appointment_date.isoformat()}: {missed.service} ({missed.attendance.display})"


def _attendance_label(visit: UnscheduledAttendance) -> str:
    text = (
        f"{visit.attended_on.isoformat()}: {visit.setting.display}{_org_label(visit.organisation)}"
    )
    return f"{text}: {visit.reason}" if visit.reason else text


def _condition_label(condition: ConditionEntry) -> str:
    code = condition.snomed_code
    return f"{condition.name} (SNOMED CT {code})" if code else condition.name


def _concerns_section(b: _Builder, subject: JSON) -> tuple[JSON, list[JSON]]:
    concerns = b.report.health_concerns
    resources = [
        _condition(b, i, condition, subject)
        for i, condition in enumerate(concerns.long_term_conditions)
    ]
    resources += [
        _encounter(b, i, visit, subject) for i, visit in enumerate(concerns.recent_attendances)
    ]
    resources += [
        appointment(missed, b.id(f"missed-appointment-{i}"), subject)
        for i, missed in enumerate(concerns.missed_appointments)
    ]
    exts = extensions(
        ext("child-health-needs", concerns.child_health_needs),
        ext("proportionate-information", concerns.proportionate_information),
    )
    blocks = [
        _para("Child health needs", concerns.child_health_needs),
        _bullets(
            "Long-term conditions", [_condition_label(c) for c in concerns.long_term_conditions]
        ),
        _para("Child and adult information", concerns.proportionate_information),
        _bullets("Missed appointments", [_missed_label(m) for m in concerns.missed_appointments]),
        _bullets(
            "Recent A&E and out-of-hours attendances",
            [_attendance_label(v) for v in concerns.recent_attendances],
        ),
    ]
    section = _section(ReportSection.HEALTH_CONCERNS, blocks, exts, resources)
    if not exts and not resources:
        # An empty section says so (cmp-2 allows emptyReason only without entries).
        section["text"] = _narrative("<p>No health concerns recorded.</p>")
        section["emptyReason"] = {
            "coding": [{"system": LIST_EMPTY_REASON, "code": "nilknown", "display": "Nil Known"}]
        }
    return section, resources


def _engagement(b: _Builder, subject: JSON) -> tuple[JSON, JSON] | None:
    engaging = b.report.parents_engaging_with_care_plan
    if engaging is None:
        return None
    observation = {
        "resourceType": "Observation",
        "id": b.id("engagement"),
        "meta": {"profile": [OBSERVATION_PROFILE]},
        "status": "final",
        "code": {
            "coding": [coding(ReportSection.ENGAGEMENT)],
            "text": "Do the parents/carers appear to be engaging with the health care plan?",
        },
        "subject": ref(subject),
        "effectiveDateTime": b.report.strategy_discussion_date.isoformat(),
        "valueBoolean": engaging,
    }
    section = _section(
        ReportSection.ENGAGEMENT,
        [_para("Parents/carers appear to engage with the health care plan", _yes_no(engaging))],
        entries=[observation],
    )
    return section, observation


def _practitioners_section(b: _Builder, roles: list[JSON]) -> JSON | None:
    report = b.report
    if not roles and not report.information_sources:
        return None
    return _section(
        ReportSection.PRACTITIONERS,
        [
            _bullets(
                "Practitioners", [_practitioner_label(p) for p in report.practitioners_involved]
            ),
            _bullets("Information from", [s.display for s in report.information_sources]),
        ],
        extensions(*(ext("information-source", s) for s in report.information_sources)),
        roles,
    )


def _action_plan(b: _Builder, subject: JSON, author: JSON) -> tuple[JSON, JSON] | None:
    actions = b.report.action_plan
    if not actions:
        return None
    plan = {
        "resourceType": "CarePlan",
        "id": b.id("action-plan"),
        "meta": {"profile": [CARE_PLAN_PROFILE]},
        "status": "active",
        "intent": "plan",
        "title": "Strategy discussion action plan",
        "subject": ref(subject),
        "created": b.report.strategy_discussion_date.isoformat(),
        "author": ref(author),
        "activity": [
            {
                "detail": drop_empty(
                    {
                        "status": "not-started",
                        "description": item.action,
                        # The owner is free text on the proforma: a display-only Reference.
                        "performer": [{"display": item.owner}] if item.owner else None,
                        "scheduledPeriod": {"end": item.due.isoformat()} if item.due else None,
                    }
                )
            }
            for item in actions
        ],
    }
    labels = []
    for item in actions:
        owner = f" ({item.owner})" if item.owner else ""
        due = f", by {item.due.isoformat()}" if item.due else ""
        labels.append(f"{item.action}{owner}{due}")
    section = _section(ReportSection.ACTION_PLAN, [_bullets("Actions", labels)], entries=[plan])
    return section, plan


def _tasks(b: _Builder, subject: JSON, author: JSON, composition_id: str) -> list[JSON]:
    when = b.report.strategy_discussion_date.isoformat()
    return [
        {
            "resourceType": "Task",
            "id": b.id(f"task-{i}"),
            "meta": {"profile": [TASK_PROFILE]},
            "status": "requested",
            "intent": "order",
            "description": f"Advise of the strategy discussion held on {when}",
            "focus": {"reference": f"urn:uuid:{composition_id}"},
            "for": ref(subject),
            "authoredOn": when,
            "requester": ref(author),
            # The service is named, not identified, on the proforma's task box.
            "owner": {"display": service},
        }
        for i, service in enumerate(b.report.services_to_task)
    ]


def _social_worker_section(report: StrategyDiscussionHealthReport) -> JSON | None:
    worker = report.social_worker
    if worker is None:
        return None
    return _section(
        ReportSection.SOCIAL_WORKER,
        [
            _para("Name", worker.name),
            _para("Contact number", worker.phone),
            _para("Email address", worker.email),
            _para(
                "Organisation",
                f"{worker.organisation.name} ({worker.organisation.ods_code})"
                if worker.organisation
                else None,
            ),
        ],
        extensions(social_worker_extension("social-worker", worker)),
    )


def _text_section(code: ReportSection, label: str, name: str, value: str | None) -> JSON | None:
    if value is None:
        return None
    return _section(code, [_para(label, value)], extensions(ext(name, value)))


def _outcome_section(report: StrategyDiscussionHealthReport) -> JSON:
    return _section(
        ReportSection.OUTCOME,
        [_para("Outcome", report.outcome.display)],
        extensions(ext("strategy-outcome", report.outcome)),
    )


def _sections(
    b: _Builder, subject: JSON, author: JSON, composition_id: str
) -> tuple[list[JSON], list[JSON]]:
    """The sections in the proforma's order, and the resources their entries add."""
    report = b.report
    concerns, clinical = _concerns_section(b, subject)
    engagement = _engagement(b, subject)
    roles = [
        b.practitioner(p, f"practitioner-{i}") for i, p in enumerate(report.practitioners_involved)
    ]
    plan = _action_plan(b, subject, author)
    tasks = _tasks(b, subject, author, composition_id)
    tasks_section = (
        _section(
            ReportSection.SERVICES_TO_TASK,
            [_bullets("Services tasked to be advised", list(report.services_to_task))],
            entries=tasks,
        )
        if tasks
        else None
    )
    sections = [
        _reason_section(report),
        concerns,
        engagement[0] if engagement else None,
        _text_section(
            ReportSection.IMPACT, "Impact", "impact-on-child-health", report.impact_on_child_health
        ),
        _text_section(
            ReportSection.MEDICAL_ASSESSMENT,
            "Advice on medical assessments",
            "medical-assessment-advice",
            report.medical_assessment_advice,
        ),
        _practitioners_section(b, roles),
        _outcome_section(report),
        plan[0] if plan else None,
        _social_worker_section(report),
        tasks_section,
    ]
    others = [
        *clinical,
        *([engagement[1]] if engagement else []),
        *([plan[1]] if plan else []),
        *tasks,
    ]
    return [s for s in sections if s is not None], others


def to_fhir(report: StrategyDiscussionHealthReport) -> JSON:
    """The report as a document Bundle: Composition first, then everything it references."""
    b = _Builder(report, organizations={}, practitioners=[])
    subject = patient(report.child, b.id("patient"))
    author = b.practitioner(report.submitted_by, "submitted-by")
    composition_id = b.id("composition")
    sections, others = _sections(b, subject, author, composition_id)
    day = report.strategy_discussion_date.isoformat()
    composition = drop_empty(
        {
            "resourceType": "Composition",
            "id": composition_id,
            "meta": {"profile": [COMPOSITION_PROFILE]},
            "extension": extensions(sharing_extension(report.sharing)),
            "identifier": {"system": ARTEFACT_ID_SYSTEM, "value": report.local_id},
            "status": "final",
            "type": concept(DocumentType.STRATEGY_DISCUSSION_HEALTH_REPORT),
            "subject": ref(subject),
            "date": day,
            "author": [ref(author)],
            "title": TITLE,
            "event": [{"period": {"start": day, "end": day}}],
            "section": sections,
        }
    )
    bundle_id = b.id("bundle")
    resources = [composition, subject, *b.practitioners, *b.organizations.values(), *others]
    return {
        "resourceType": "Bundle",
        "id": bundle_id,
        "meta": {"profile": [BUNDLE_PROFILE]},
        "identifier": {"system": "urn:ietf:rfc:3986", "value": f"urn:uuid:{bundle_id}"},
        "type": "document",
        # Derived from the artefact, not the clock, so the same report gives the same Bundle.
        "timestamp": f"{day}T00:00:00Z",
        "entry": [entry(r) for r in resources],
    }


# --- reading FHIR --------------------------------------------------------------------------

_FULL_DATE = re.compile(r"^\d{4}-\d{2}-\d{2}$")


def _iso_date(reader: Reader, node: Node | None) -> str | None:
    """A full date YYYY-MM-DD (left to the domain model to check it is a real day)."""
    if node is None:
        return None
    if not isinstance(node.value, str) or not _FULL_DATE.match(node.value):
        reader.problem(node.path, "expected a full date (YYYY-MM-DD)")
        return None
    return node.value


def _boolean(reader: Reader, node: Node | None) -> bool | None:
    if node is None:
        return None
    if not isinstance(node.value, bool):
        reader.problem(node.path, "expected true or false")
        return None
    return node.value


def _value(reader: Reader, ext_node: Node | None, key: str) -> Node | None:
    """The ``key`` element (valueString...) of an extension, or a problem when it lacks one."""
    if ext_node is None:
        return None
    found = ext_node.child(key)
    if found is None:
        reader.problem(f"{ext_node.path}.{key}", "this element is required", IssueCode.REQUIRED)
    return found


def _ext(parent: Node, name: str, *, sub_ext: bool = False) -> Node | None:
    return parent.sub_extension(name) if sub_ext else parent.extension(name)


def _ext_text(reader: Reader, parent: Node, name: str, *, sub_ext: bool = False) -> str | None:
    return reader.string(_value(reader, _ext(parent, name, sub_ext=sub_ext), "valueString"))


def _ext_date(reader: Reader, parent: Node, name: str, *, sub_ext: bool = False) -> str | None:
    return _iso_date(reader, _value(reader, _ext(parent, name, sub_ext=sub_ext), "valueDate"))


def _find_sections(reader: Reader, composition: Node) -> dict[ReportSection, Node]:
    """The sections by their ReportSection code (sections of other code systems are skipped)."""
    found: dict[ReportSection, Node] = {}
    for section in composition.items("section"):
        codings = section.child("code")
        for i, item in enumerate(codings.items("coding") if codings else []):
            if (
                not isinstance(item.value, dict)
                or item.value.get("system") != ReportSection.system()
            ):
                continue
            member = ReportSection.lookup(item.value.get("code"))
            if member is None:
                reader.problem(
                    f"{section.path}.code.coding[{i}].code",
                    f"unknown code in {ReportSection.system()}",
                    IssueCode.CODE_INVALID,
                )
            elif member not in found:
                found[member] = section
    return found


def _required_section(
    reader: Reader, composition: Node, sections: dict[ReportSection, Node], code: ReportSection
) -> Node | None:
    section = sections.get(code)
    if section is None:
        reader.problem(
            f"{composition.path}.section",
            f"no section with code {code.value} ({ReportSection.system()})",
            IssueCode.REQUIRED,
        )
    return section


def _entries(index: BundleIndex, section: Node | None) -> list[Node]:
    if section is None:
        return []
    return [n for n in (index.resolve(e) for e in section.items("entry")) if n is not None]


def _read_attendance(index: BundleIndex, node: Node) -> JSON:
    reader = index.reader
    types = node.items("type")
    period = reader.required(node.child("period"), node, "period")
    reasons = node.items("reasonCode")
    provider = index.resolve(node.child("serviceProvider"), "Organization")
    return {
        "attended_on": _iso_date(
            reader, reader.required(period.child("start"), period, "start") if period else None
        ),
        "setting": reader.code(types[0], AttendanceSetting)
        if types
        else reader.required(None, node, "type"),
        "organisation": read_organisation(reader, provider) if provider else None,
        "reason": reader.string(reasons[0].child("text")) if reasons else None,
    }


def _read_missed(reader: Reader, node: Node) -> JSON:
    return {
        "appointment_date": _ext_date(reader, node, "appointmentDate", sub_ext=True),
        "service": _ext_text(reader, node, "service", sub_ext=True),
        "attendance": reader.code(
            reader.required(node.sub_extension("attendance"), node, "extension('attendance')"),
            AppointmentAttendance,
        ),
    }


def _read_concerns(index: BundleIndex, section: Node | None, origins: dict[str, str]) -> JSON:
    reader = index.reader
    if section is None:
        return {}
    conditions: list[JSON | str | None] = []
    attendances: list[JSON] = []
    missed: list[JSON] = []
    for node in _entries(index, section):
        kind = node.value.get("resourceType")
        if kind == "Condition":
            at = f"$.health_concerns.long_term_conditions[{len(conditions)}]"
            origins[at] = node.path
            code = reader.required(node.child("code"), node, "code")
            conditions.append(read_condition_concept(reader, code, origins, at) if code else None)
        elif kind == "Encounter":
            origins[f"$.health_concerns.recent_attendances[{len(attendances)}]"] = node.path
            attendances.append(_read_attendance(index, node))
        elif kind == "Appointment":
            origins[f"$.health_concerns.missed_appointments[{len(missed)}]"] = node.path
            missed.append(read_appointment(reader, node))
        else:
            reader.problem(
                node.path,
                "expected a Condition, an Encounter or an Appointment",
                IssueCode.STRUCTURE,
            )
    # before Appointments, missed appointments were extensions on the section: still read
    for node in section.extensions("missed-appointment"):
        origins[f"$.health_concerns.missed_appointments[{len(missed)}]"] = node.path
        missed.append(_read_missed(reader, node))
    origins["$.health_concerns"] = section.path
    return {
        "child_health_needs": _ext_text(reader, section, "child-health-needs"),
        "long_term_conditions": conditions,
        "proportionate_information": _ext_text(reader, section, "proportionate-information"),
        "missed_appointments": missed,
        "recent_attendances": attendances,
    }


def _read_engagement(index: BundleIndex, section: Node | None) -> bool | None:
    if section is None:
        return None
    reader = index.reader
    observations = [
        n for n in _entries(index, section) if n.value.get("resourceType") == "Observation"
    ]
    if not observations:
        reader.problem(f"{section.path}.entry", "no Observation entry", IssueCode.REQUIRED)
        return None
    node = observations[0]
    return _boolean(reader, reader.required(node.child("valueBoolean"), node, "valueBoolean"))


def _read_actions(index: BundleIndex, section: Node | None, origins: dict[str, str]) -> list[JSON]:
    reader = index.reader
    plans = [n for n in _entries(index, section) if n.value.get("resourceType") == "CarePlan"]
    if section is not None and not plans:
        reader.problem(f"{section.path}.entry", "no CarePlan entry", IssueCode.REQUIRED)
    actions: list[JSON] = []
    for plan in plans[:1]:
        for activity in plan.items("activity"):
            detail = reader.required(activity.child("detail"), activity, "detail")
            if detail is None:
                continue
            origins[f"$.action_plan[{len(actions)}]"] = detail.path
            performers = detail.items("performer")
            period = detail.child("scheduledPeriod")
            actions.append(
                {
                    "action": reader.string(
                        reader.required(detail.child("description"), detail, "description")
                    ),
                    "owner": reader.string(performers[0].child("display")) if performers else None,
                    "due": _iso_date(reader, period.child("end")) if period else None,
                }
            )
    return actions


def _read_services(
    index: BundleIndex, section: Node | None, origins: dict[str, str]
) -> list[str | None]:
    reader = index.reader
    services: list[str | None] = []
    for node in _entries(index, section):
        if node.value.get("resourceType") != "Task":
            reader.problem(node.path, "expected a Task", IssueCode.STRUCTURE)
            continue
        origins[f"$.services_to_task[{len(services)}]"] = node.path
        owner = reader.required(node.child("owner"), node, "owner")
        services.append(
            reader.string(reader.required(owner.child("display"), owner, "display"))
            if owner
            else None
        )
    return services


def _read_practitioners(
    index: BundleIndex, section: Node | None, origins: dict[str, str]
) -> list[JSON | None]:
    found = []
    for i, item in enumerate(section.items("entry") if section else []):
        origins[f"$.practitioners_involved[{i}]"] = item.path
        found.append(read_practitioner(index, item))
    return found


def _required_ext(reader: Reader, section: Node | None, name: str) -> Node | None:
    """Extension ``name`` of a section, or a 'required' problem where it should be."""
    if section is None:
        return None
    found = section.extension(name)
    if found is None:
        reader.problem(
            f"{section.path}.extension('{ext_url(name)}')",
            "this element is required",
            IssueCode.REQUIRED,
        )
    return found


def _required_text(reader: Reader, section: Node | None, name: str) -> str | None:
    return reader.string(_value(reader, _required_ext(reader, section, name), "valueString"))


def _read_reason(reader: Reader, section: Node | None) -> JSON:
    if section is None:
        return {}
    received = _required_ext(reader, section, "appendix-a-received")
    return {
        "appendix_a_received": _boolean(reader, _value(reader, received, "valueBoolean")),
        "appendix_a_received_on": _ext_date(reader, section, "appendix-a-received-on"),
        "reason": _required_text(reader, section, "strategy-reason"),
        "participating_agencies": [
            reader.code(n, Agency) for n in section.extensions("participating-agency")
        ],
    }


def _read_event_date(reader: Reader, composition: Node) -> tuple[str | None, str]:
    events = composition.items("event")
    event = events[0] if events else reader.required(None, composition, "event")
    period = reader.required(event.child("period"), event, "period") if event else None
    start = reader.required(period.child("start"), period, "start") if period else None
    return _iso_date(reader, start), start.path if start else composition.path


def _artefact_id(reader: Reader, composition: Node) -> str | None:
    identifier = composition.child("identifier")
    if (
        identifier is None
        or not isinstance(identifier.value, dict)
        or identifier.value.get("system") != ARTEFACT_ID_SYSTEM
    ):
        reader.problem(
            f"{composition.path}.identifier",
            f"no identifier with system {ARTEFACT_ID_SYSTEM}",
            IssueCode.REQUIRED,
        )
        return None
    return reader.string(reader.required(identifier.child("value"), identifier, "value"))


def _composition(reader: Reader, index: BundleIndex, bundle: JSON) -> Node:
    if reader.issues:  # not a Bundle at all
        reader.fail()
    if bundle.get("type") != "document":
        reader.problem("Bundle.type", "expected a document Bundle")
    found = index.first("Composition", COMPOSITION_PROFILE)
    if found is None:
        reader.fail()
    return found


def from_fhir(bundle: JSON) -> StrategyDiscussionHealthReport:
    """The report from its document Bundle; every problem is raised, located, at once."""
    reader = Reader()
    index = BundleIndex(reader, bundle)
    composition = _composition(reader, index, bundle)
    sections = _find_sections(reader, composition)

    def need(code: ReportSection) -> Node | None:
        return _required_section(reader, composition, sections, code)

    subject = index.resolve(
        reader.required(composition.child("subject"), composition, "subject"), "Patient"
    )
    authors = composition.items("author")
    author = authors[0] if authors else reader.required(None, composition, "author")
    discussion_date, date_path = _read_event_date(reader, composition)
    reason = need(ReportSection.REASON)
    concerns = need(ReportSection.HEALTH_CONCERNS)
    impact = need(ReportSection.IMPACT)
    outcome = need(ReportSection.OUTCOME)
    practitioners = sections.get(ReportSection.PRACTITIONERS)
    worker = sections.get(ReportSection.SOCIAL_WORKER)
    origins: dict[str, str] = {
        "$.local_id": f"{composition.path}.identifier",
        "$.child": subject.path if subject else composition.path,
        "$.submitted_by": author.path if author else composition.path,
        "$.strategy_discussion_date": date_path,
        "$.appendix_a_received_on": reason.path if reason else composition.path,
        "$.reason": reason.path if reason else composition.path,
        "$.social_worker": worker.path if worker else composition.path,
        "$.sharing": composition.path,
    }
    data: JSON = {
        "kind": KIND,
        "local_id": _artefact_id(reader, composition),
        "child": read_patient(reader, subject) if subject else None,
        "strategy_discussion_date": discussion_date,
        "submitted_by": read_practitioner(index, author),
        **_read_reason(reader, reason),
        "health_concerns": _read_concerns(index, concerns, origins),
        "parents_engaging_with_care_plan": _read_engagement(
            index, sections.get(ReportSection.ENGAGEMENT)
        ),
        "impact_on_child_health": _required_text(reader, impact, "impact-on-child-health"),
        "practitioners_involved": _read_practitioners(index, practitioners, origins),
        "information_sources": [
            reader.code(n, HealthInformationSource)
            for n in (practitioners.extensions("information-source") if practitioners else [])
        ],
        "medical_assessment_advice": _medical_advice(reader, sections),
        "outcome": reader.code(_required_ext(reader, outcome, "strategy-outcome"), StrategyOutcome),
        "action_plan": _read_actions(index, sections.get(ReportSection.ACTION_PLAN), origins),
        "social_worker": read_social_worker(reader, worker, "social-worker") if worker else None,
        "services_to_task": _read_services(
            index, sections.get(ReportSection.SERVICES_TO_TASK), origins
        ),
        "sharing": read_sharing(reader, composition),
    }
    return build(reader, StrategyDiscussionHealthReport, data, composition.path, origins)


def _medical_advice(reader: Reader, sections: dict[ReportSection, Node]) -> str | None:
    section = sections.get(ReportSection.MEDICAL_ASSESSMENT)
    return _required_text(reader, section, "medical-assessment-advice") if section else None


# --- the form ------------------------------------------------------------------------------


def questionnaire() -> JSON:
    """The Strategy Discussion Health Report proforma (001 Appendix 2) as a Questionnaire."""
    return FORM.questionnaire()


def to_questionnaire_response(report: StrategyDiscussionHealthReport) -> JSON:
    """The report as a completed QuestionnaireResponse to ``questionnaire()``."""
    return {
        "resourceType": "QuestionnaireResponse",
        "id": resource_id(report, report.child.nhs_number, "questionnaire-response"),
        "meta": {"profile": [UKCORE + "UKCore-QuestionnaireResponse"]},
        "questionnaire": QUESTIONNAIRE_URL,
        "status": "completed",
        "item": FORM.response_items(report.model_dump()),
    }


def from_questionnaire_response(response: JSON) -> StrategyDiscussionHealthReport:
    """The report from a QuestionnaireResponse to ``questionnaire()``, as a forms tool sends it.

    Answers are matched by linkId; every missing or invalid answer is raised, located
    (``QuestionnaireResponse.item[3].item[0].answer[0]``), at once.
    """
    reader = Reader()
    root = Node(response, "QuestionnaireResponse")
    FORM.check_resource(reader, root)
    FORM.check_header(reader, root)
    data: JSON = {"kind": KIND}
    origins: dict[str, str] = {}
    FORM.read(reader, root, data, origins)
    data.setdefault("health_concerns", {})
    return build(reader, StrategyDiscussionHealthReport, data, root.path, origins)
