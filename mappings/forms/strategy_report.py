"""The Strategy Discussion Health Report proforma (001 Appendix 2) as a form: one item per
field of the proforma, in its order, each tied to the report field it fills."""

from __future__ import annotations

from typing import Any

from interop.codes import (
    CANONICAL_BASE,
    AdministrativeGender,
    Agency,
    AppointmentAttendance,
    AttendanceSetting,
    CareSetting,
    HealthInformationSource,
    NhsNumberVerificationStatus,
    StrategyOutcome,
    WithholdingReason,
)
from interop.mappings.fhir_common import UKCORE
from interop.mappings.forms.engine import SNOMED_FINDINGS, Conventions, Form, Item

KIND = "strategy-discussion-health-report"
QUESTIONNAIRE_URL = f"{CANONICAL_BASE}/Questionnaire/strategy-discussion-health-report"


def _q(link_id: str, text: str, kind: str, field: str, **more: Any) -> Item:
    """An item; text answers take the domain's lengths (interop.domain.common) unless told."""
    if "max_length" not in more and kind in ("string", "text"):
        more["max_length"] = 200 if kind == "string" else 20_000
    if isinstance(more.get("enable_when"), str):
        more["enable_when"] = (more["enable_when"], True)
    return Item(link_id, text, kind, field, **more)


def _organisation_items(prefix: str) -> tuple[Item, ...]:
    return (
        _q(
            f"{prefix}.organisation-ods", "Organisation ODS code", "string", "organisation.ods_code"
        ),
        _q(f"{prefix}.organisation-name", "Organisation name", "string", "organisation.name"),
    )


def _practitioner_items(prefix: str) -> tuple[Item, ...]:
    return (
        _q(f"{prefix}.name", "Name", "string", "name", required=True),
        _q(f"{prefix}.role", "Job role", "string", "role", required=True),
        _q(f"{prefix}.setting", "Work setting", "choice", "setting", codes=CareSetting),
        *_organisation_items(prefix),
        _q(f"{prefix}.phone", "Contact number", "string", "phone", max_length=30),
        _q(f"{prefix}.email", "Email address", "string", "email", max_length=254),
        _q(f"{prefix}.sds-user-id", "SDS user id", "string", "sds_user_id", max_length=12),
    )


_CHILD = _q(
    "child",
    "Child",
    "group",
    "child",
    required=True,
    items=(
        _q("child.nhs-number", "NHS number", "string", "nhs_number", required=True, max_length=10),
        _q(
            "child.nhs-number-verification",
            "NHS number verification status",
            "choice",
            "nhs_number_verification",
            codes=NhsNumberVerificationStatus,
        ),
        _q("child.given-name", "Given name", "string", "given_name", required=True),
        _q("child.family-name", "Family name", "string", "family_name", required=True),
        _q("child.date-of-birth", "Date of birth", "date", "date_of_birth", required=True),
        _q("child.gender", "Gender", "choice", "gender", codes=AdministrativeGender),
        _q("child.local-identifier", "Child's identity number", "string", "local_identifier"),
    ),
)

_DISCUSSION = _q(
    "discussion",
    "Strategy discussion",
    "group",
    "",
    required=True,
    items=(
        _q(
            "discussion.local-id",
            "Report reference",
            "string",
            "local_id",
            required=True,
            max_length=64,
        ),
        _q(
            "discussion.date",
            "Date of the strategy discussion",
            "date",
            "strategy_discussion_date",
            required=True,
        ),
        _q(
            "discussion.appendix-a-received",
            "Appendix A form received",
            "boolean",
            "appendix_a_received",
            required=True,
        ),
        _q(
            "discussion.appendix-a-received-on",
            "Date the Appendix A form was received",
            "date",
            "appendix_a_received_on",
            enable_when="discussion.appendix-a-received",
        ),
        _q(
            "discussion.participating-agencies",
            "Agencies taking part in the discussion",
            "choice",
            "participating_agencies",
            repeats=True,
            codes=Agency,
        ),
    ),
)

_CONCERNS = _q(
    "health-concerns",
    "Health information: what are we worried about",
    "group",
    "health_concerns",
    items=(
        _q(
            "health-concerns.child-health-needs", "Child health needs", "text", "child_health_needs"
        ),
        _q(
            "health-concerns.long-term-conditions",
            "Long-term medical conditions",
            "open-choice",
            "long_term_conditions",
            repeats=True,
            max_length=200,
            external=SNOMED_FINDINGS,
        ),
        _q(
            "health-concerns.proportionate-information",
            "Child and adult information proportionate to the incident",
            "text",
            "proportionate_information",
        ),
        _q(
            "health-concerns.missed-appointment",
            "Appointments missed, or not brought to (WNB)",
            "group",
            "missed_appointments",
            repeats=True,
            items=(
                _q(
                    "health-concerns.missed-appointment.date",
                    "Appointment date",
                    "date",
                    "appointment_date",
                    required=True,
                ),
                _q(
                    "health-concerns.missed-appointment.service",
                    "Service",
                    "string",
                    "service",
                    required=True,
                ),
                _q(
                    "health-concerns.missed-appointment.attendance",
                    "Missed, was not brought, or cancelled by the family",
                    "choice",
                    "attendance",
                    required=True,
                    codes=AppointmentAttendance,
                ),
            ),
        ),
        _q(
            "health-concerns.recent-attendance",
            "Recent A&E and out-of-hours attendances",
            "group",
            "recent_attendances",
            repeats=True,
            items=(
                _q(
                    "health-concerns.recent-attendance.date",
                    "Date attended",
                    "date",
                    "attended_on",
                    required=True,
                ),
                _q(
                    "health-concerns.recent-attendance.setting",
                    "Setting",
                    "choice",
                    "setting",
                    required=True,
                    codes=AttendanceSetting,
                ),
                *_organisation_items("health-concerns.recent-attendance"),
                _q("health-concerns.recent-attendance.reason", "Reason", "text", "reason"),
            ),
        ),
    ),
)

_SOCIAL_WORKER = _q(
    "social-worker",
    "Social worker details",
    "group",
    "social_worker",
    items=(
        _q("social-worker.name", "Name", "string", "name", required=True),
        _q(
            "social-worker.phone", "Contact number", "string", "phone", required=True, max_length=30
        ),
        _q("social-worker.email", "Email address", "string", "email", max_length=254),
        *_organisation_items("social-worker"),
    ),
)

_SHARING = _q(
    "sharing",
    "Sharing with the family",
    "group",
    "sharing",
    items=(
        _q(
            "sharing.withheld-from-family",
            "Is information withheld from the family?",
            "boolean",
            "withheld_from_family",
        ),
        _q(
            "sharing.withheld-reason",
            "Why",
            "choice",
            "withheld_reason",
            codes=WithholdingReason,
            enable_when="sharing.withheld-from-family",
        ),
        _q("sharing.note", "Note", "text", "note"),
    ),
)

#: The proforma (001 Appendix 2) item by item, in its order, with the field each fills.
ITEMS: tuple[Item, ...] = (
    _CHILD,
    _DISCUSSION,
    _q(
        "submitted-by",
        "Submitted on behalf of health by",
        "group",
        "submitted_by",
        required=True,
        items=_practitioner_items("submitted-by"),
    ),
    _q("reason", "Reason for strategy discussion", "text", "reason", required=True),
    _CONCERNS,
    _q(
        "parents-engaging",
        "Do the parents/carers appear to be engaging with the health care plan?",
        "boolean",
        "parents_engaging_with_care_plan",
    ),
    _q(
        "impact",
        "What is the impact / potential impact of the abuse and neglect on the child's health?",
        "text",
        "impact_on_child_health",
        required=True,
    ),
    _q(
        "practitioner",
        "Health practitioners currently involved with the child's health (GP, community and "
        "hospital staff)",
        "group",
        "practitioners_involved",
        repeats=True,
        items=_practitioner_items("practitioner"),
    ),
    _q(
        "information-sources",
        "Health services whose information was coordinated",
        "choice",
        "information_sources",
        repeats=True,
        codes=HealthInformationSource,
    ),
    _q(
        "medical-assessment-advice",
        "Advice on medical assessments (e.g. a child protection medical)",
        "text",
        "medical_assessment_advice",
    ),
    _q(
        "outcome",
        "Outcome of strategy discussion",
        "choice",
        "outcome",
        required=True,
        codes=StrategyOutcome,
    ),
    _q(
        "action",
        "Action plan",
        "group",
        "action_plan",
        repeats=True,
        items=(
            _q("action.action", "Action", "text", "action", required=True),
            _q("action.owner", "Who", "string", "owner"),
            _q("action.due", "By when", "date", "due"),
        ),
    ),
    _SOCIAL_WORKER,
    _q(
        "services-to-task",
        "Services the child is currently open to, to be tasked to advise of the strategy "
        "discussion",
        "string",
        "services_to_task",
        repeats=True,
    ),
    _SHARING,
)


FORM = Form(
    url=QUESTIONNAIRE_URL,
    header={
        "resourceType": "Questionnaire",
        "id": KIND,
        "meta": {"profile": [UKCORE + "UKCore-Questionnaire"]},
        "url": QUESTIONNAIRE_URL,
        "name": "StrategyDiscussionHealthReport",
        "title": "Health information for sharing at a strategy discussion",
        "status": "active",
        "subjectType": ["Patient"],
        "description": "The Strategy Discussion Health Report of the LLR procedure for children "
        "with long-term health needs (001 Appendix 2), with what Working Together 2026 says "
        "health brings to a strategy discussion (002 L1677, L1720-1726).",
    },
    items=ITEMS,
    # Answers located at the answer, an unknown linkId at its item: the report's tests pin them.
    conventions=Conventions(at_value=False, unknown="item"),
)
