"""The health needs checklist form (001 Appendix 3, L409-427): one item per question of the
proforma in its order, each with the checklist field it answers."""

from __future__ import annotations

from typing import Any

from interop.codes import (
    CANONICAL_BASE,
    AdministrativeGender,
    CareSetting,
    CodedEnum,
    MeetingType,
    NhsNumberVerificationStatus,
)
from interop.issues import IssueCode
from interop.mappings.forms.engine import SNOMED_FINDINGS, Conventions, Form, Item

KIND = "health-needs-checklist"
QUESTIONNAIRE_URL = f"{CANONICAL_BASE}/Questionnaire/{KIND}"
#: 0.2.0 added the optional ``diagnosed-conditions`` item (SNOMED CT coded where known); a
#: 0.1.0 response answers a subset of its items and is read the same
QUESTIONNAIRE_VERSION = "0.2.0"
EARLIER_VERSIONS = ("0.1.0",)

# Lengths of the domain's text types (interop.domain.common), told to forms as maxLength.
_SHORT, _LONG = 200, 20_000


def _choice(link_id: str, text: str, field: str, codes: type[CodedEnum], **more: Any) -> Item:
    # National code systems have no toolkit ValueSet: the form lists their codes itself.
    listed = bool(codes.external_system)
    return Item(link_id, text, "choice", field, codes=codes, listed=listed, **more)


def _practitioner_items(prefix: str) -> tuple[Item, ...]:
    """The items describing one practitioner (the chair, or a member of the health staff)."""
    return (
        Item(f"{prefix}.name", "Name", "string", "name", required=True, max_length=_SHORT),
        Item(f"{prefix}.role", "Role", "string", "role", required=True, max_length=_SHORT),
        _choice(f"{prefix}.setting", "Setting", "setting", CareSetting),
        Item(
            f"{prefix}.organisation-ods",
            "Organisation ODS code",
            "string",
            "organisation.ods_code",
            max_length=10,
        ),
        Item(
            f"{prefix}.organisation-name",
            "Organisation name",
            "string",
            "organisation.name",
            max_length=_SHORT,
        ),
        Item(f"{prefix}.phone", "Phone", "string", "phone", max_length=30),
        Item(f"{prefix}.email", "Email", "string", "email", max_length=254),
        Item(
            f"{prefix}.sds-user-id",
            "Spine Directory Service user id",
            "string",
            "sds_user_id",
            max_length=12,
        ),
    )


_CHILD = Item(
    "child",
    "Child's name and identity number",
    "group",
    "child",
    required=True,
    items=(
        Item(
            "child.given-name",
            "Given name",
            "string",
            "given_name",
            required=True,
            max_length=_SHORT,
        ),
        Item(
            "child.family-name",
            "Family name",
            "string",
            "family_name",
            required=True,
            max_length=_SHORT,
        ),
        Item(
            "child.identity-number",
            "Identity number (the local authority's or trust's own)",
            "string",
            "local_identifier",
            max_length=_SHORT,
        ),
        Item("child.date-of-birth", "Date of birth", "date", "date_of_birth"),
        _choice("child.gender", "Gender", "gender", AdministrativeGender),
        _choice(
            "child.nhs-number-verification",
            "NHS number verification status (PDS)",
            "nhs_number_verification",
            NhsNumberVerificationStatus,
        ),
    ),
)

_CARE_NEEDS = Item(
    "care-needs-without-plan",
    "In the absence of a health care plan: the medication, therapies, equipment and "
    "health appointments the child requires",
    "group",
    "care_needs_without_plan",
    enable_when=("care-plan-available", False),
    items=(
        *(
            Item(
                f"care-needs-without-plan.{name}",
                title,
                "string",
                name,
                repeats=True,
                max_length=_SHORT,
            )
            for name, title in (
                ("medication", "Medication"),
                ("therapies", "Therapies"),
                ("equipment", "Equipment"),
                ("appointments", "Health appointments"),
            )
        ),
        Item(
            "care-needs-without-plan.risk-of-serious-deterioration",
            "Without this support, is the child's health at risk of serious deterioration "
            "that could lead to death?",
            "boolean",
            "risk_of_serious_deterioration",
            required=True,
        ),
        Item(
            "care-needs-without-plan.details",
            "Details",
            "text",
            "details",
            max_length=_LONG,
        ),
    ),
)

_ACTIONS = Item(
    "actions",
    "Multi-agency action plan",
    "group",
    "actions",
    items=(
        Item(
            "actions.parents-having-difficulty",
            "If parents/carers are having difficulty supporting the child to manage their "
            "health needs, including access to medication, therapy and equipment: action "
            "agreed",
            "text",
            "parents_having_difficulty",
            max_length=_LONG,
        ),
        Item(
            "actions.child-refuses-to-engage",
            "If the child refuses to engage with their health care plan, including access "
            "to medication, therapy and equipment: action agreed",
            "text",
            "child_refuses_to_engage",
            max_length=_LONG,
        ),
        Item(
            "actions.sudden-deterioration",
            "In the event of sudden deterioration of the child's health condition, "
            "ensuring access to emergency services and notifying the lead social worker: "
            "action agreed",
            "text",
            "sudden_deterioration",
            max_length=_LONG,
        ),
    ),
)

#: The proforma question by question, in its order, with the checklist field each answers.
ITEMS: tuple[Item, ...] = (
    _CHILD,
    Item("nhs-number", "NHS number", "string", "child.nhs_number", required=True, max_length=12),
    Item(
        "meeting",
        "Child protection conference / core group date and time",
        "group",
        required=True,
        items=(
            _choice("meeting.type", "Meeting", "meeting_type", MeetingType, required=True),
            Item("meeting.date-time", "Date and time", "dateTime", "meeting_at", required=True),
        ),
    ),
    Item(
        "chair",
        "Chair or Independent Reviewing Officer",
        "group",
        "chair",
        required=True,
        items=_practitioner_items("chair"),
    ),
    Item(
        "diagnosed-needs",
        "Does the child have any diagnosed medical / behavioural needs?",
        "boolean",
        "diagnosed_needs",
        required=True,
    ),
    Item(
        "diagnosed-needs-details",
        "Diagnosed needs: details",
        "text",
        "diagnosed_needs_details",
        max_length=_LONG,
    ),
    Item(
        "diagnosed-conditions",
        "Diagnosed conditions (a SNOMED CT code where known)",
        "open-choice",
        "diagnosed_conditions",
        repeats=True,
        max_length=200,
        external=SNOMED_FINDINGS,
    ),
    Item(
        "health-staff",
        "Names of health staff involved (GP, community and hospital staff)",
        "group",
        "health_staff_involved",
        repeats=True,
        items=_practitioner_items("health-staff"),
    ),
    Item(
        "requires-parental-compliance",
        "Does the child's medical condition require parents to comply with a health care plan?",
        "boolean",
        "requires_parental_compliance",
        required=True,
    ),
    Item(
        "care-plan-available",
        "Is a copy of the health care plan available to the CP conference and core group?",
        "boolean",
        "care_plan_available",
        required=True,
    ),
    _CARE_NEEDS,
    Item(
        "cp-medical-required",
        "Does the child require a CP medical? (A strategy discussion is not required if the "
        "conference agrees a medical is required for a child with complex health needs)",
        "boolean",
        "cp_medical_required",
    ),
    Item("cp-medical-notes", "CP medical: notes", "text", "cp_medical_notes", max_length=_LONG),
    _ACTIONS,
    Item("completed-by", "Completed by", "string", "completed_by", max_length=_SHORT),
)

FORM = Form(
    url=QUESTIONNAIRE_URL,
    version=QUESTIONNAIRE_VERSION,
    earlier_versions=EARLIER_VERSIONS,
    header={
        "resourceType": "Questionnaire",
        "id": KIND,
        "url": QUESTIONNAIRE_URL,
        "version": QUESTIONNAIRE_VERSION,
        "name": "HealthNeedsChecklist",
        "title": "Health needs checklist for child protection conferences and core groups",
        "status": "active",
        "subjectType": ["Patient"],
        "description": "Completed by the chair of a child protection conference or core group, "
        "or the Independent Reviewing Officer (001_0e453bf333ba50fc.txt L409-427, Appendix 3).",
    },
    items=ITEMS,
    # Answers located at their value element, unknown items ignored: the conformance
    # fixtures of the checklist pin these locations.
    conventions=Conventions(at_value=True, misfit=IssueCode.VALUE, unknown="ignore"),
)
