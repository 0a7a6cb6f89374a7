"""The travel risk assessment form (000 L38-59): what the lead clinician records about a
planned or completed journey, item by item, each tied to the travel alert field it fills.

A group without a field only lays the form out; the risk factors are one group each, answering
for the assessment's finding on that factor. The whereabouts-unknown scenario and the
'located' outcome belong to a different process (003 L31-44) and are not on the form.
"""

from __future__ import annotations

from typing import Any

from interop import __version__
from interop.codes import (
    CANONICAL_BASE,
    AdministrativeGender,
    CareSetting,
    DestinationKind,
    FactorAnswer,
    NhsNumberVerificationStatus,
    Permanence,
    SafeguardingPathway,
    TravelOutcome,
    TravelRiskFactor,
    TravelScenario,
    WithholdingReason,
)
from interop.issues import IssueCode
from interop.mappings.forms.engine import (
    SNOMED_FINDINGS,
    Conventions,
    External,
    Form,
    Item,
    qualified,
)

QUESTIONNAIRE_URL = f"{CANONICAL_BASE}/Questionnaire/travel-risk-assessment"
ISO_3166 = "urn:iso:std:iso:3166"
COUNTRY_VALUE_SET = "http://hl7.org/fhir/ValueSet/iso3166-1-2"

#: What the form offers: whereabouts-unknown alerts follow a different process (003 L31-44).
FORM_SCENARIOS = (TravelScenario.PLANNED, TravelScenario.TRAVELLED)
FORM_OUTCOMES = tuple(o for o in TravelOutcome if o is not TravelOutcome.LOCATED)


def _group(name: str, text: str, key: str, *children: Item, **more: Any) -> Item:
    return Item(name, text, "group", key, items=children, **more)


def _choice(name: str, text: str, key: str, options: Any, **more: Any) -> Item:
    offered = tuple(options)
    return Item(name, text, "choice", key, codes=type(offered[0]), options=offered, **more)


def _organisation(text: str, key: str, *, required: bool = False) -> Item:
    return _group(
        key.replace("_", "-"),
        text,
        key,
        Item("ods-code", "ODS code", "string", "ods_code", True, max_length=10),
        Item("name", "Name", "string", "name", True, max_length=200),
        required=required,
    )


def _practitioner(name: str, text: str, key: str, *, required: bool = False) -> Item:
    return _group(
        name,
        text,
        key,
        Item("name", "Name", "string", "name", True, max_length=200),
        Item("role", "Job role", "string", "role", True, max_length=200),
        _choice("setting", "Work setting", "setting", CareSetting),
        _organisation("Organisation", "organisation"),
        Item("phone", "Phone", "string", "phone", max_length=30),
        Item("email", "Email", "string", "email", max_length=254),
        Item("sds-user-id", "SDS user id (12 digits)", "string", "sds_user_id"),
        required=required,
    )


def _factor(factor: TravelRiskFactor) -> Item:
    """The group answering for the risk assessment's finding on ``factor``."""
    return _group(
        factor.value,
        factor.display,
        "findings",
        _choice("answer", "Answer", "answer", FactorAnswer, required=True),
        Item("notes", "Notes", "text", "notes"),
        match=("factor", factor),
    )


#: The form with short names: an item's linkId is its parent's linkId, '.', its name.
_SHORT_NAMES: tuple[Item, ...] = (
    _group(
        "alert",
        "The alert",
        "",
        Item("local-id", "Record id in your system", "string", "local_id", True),
        _choice(
            "scenario", "Planned, or already travelled?", "scenario", FORM_SCENARIOS, required=True
        ),
        Item("raised-on", "Date your agency became aware", "date", "raised_on", True),
        Item("complex-needs", "The child's complex medical needs", "text", "complex_needs", True),
        Item(
            "conditions",
            "Conditions behind the complex needs (a SNOMED CT code where known)",
            "open-choice",
            "conditions",
            repeats=True,
            max_length=200,
            external=SNOMED_FINDINGS,
        ),
        required=True,
    ),
    _group(
        "child",
        "The child",
        "child",
        Item("nhs-number", "NHS number", "string", "nhs_number", True),
        _choice(
            "nhs-number-verification",
            "NHS number verification status",
            "nhs_number_verification",
            NhsNumberVerificationStatus,
        ),
        Item("given-name", "Given name", "string", "given_name", True, max_length=200),
        Item("family-name", "Family name", "string", "family_name", True, max_length=200),
        Item("birth-date", "Date of birth", "date", "date_of_birth", True),
        _choice("gender", "Gender", "gender", AdministrativeGender),
        Item("local-identifier", "Local identity number", "string", "local_identifier"),
        required=True,
    ),
    _practitioner("raised-by", "Practitioner raising the alert", "raised_by", required=True),
    _practitioner("lead-clinician", "The child's lead clinician", "lead_clinician"),
    _group(
        "travel",
        "The journey",
        "",
        _group(
            "destination",
            "Destination",
            "destination",
            _choice(
                "kind", "UK local authority or abroad?", "kind", DestinationKind, required=True
            ),
            _organisation("Receiving local authority (UK)", "local_authority"),
            Item(
                "country",
                "Country",
                "choice",
                "country",
                external=External(COUNTRY_VALUE_SET, ISO_3166),
            ),
            Item("place", "Town or region", "string", "place", max_length=200),
        ),
        _choice("permanence", "Temporary or permanent?", "permanence", Permanence),
        Item("departure-date", "Departure date", "date", "departure_date"),
        Item("return-date", "Return date", "date", "return_date"),
    ),
    _group(
        "risk-assessment",
        "Risk assessment",
        "risk_assessment",
        Item("assessed-on", "Date assessed", "date", "assessed_on", True),
        _practitioner("assessed-by", "Assessed by", "assessed_by", required=True),
        Item("time-away", "Expected time away", "string", "expected_time_away", max_length=200),
        _group("factors", "Risk factors", "", *(_factor(f) for f in TravelRiskFactor)),
        Item("transport", "Mode of transport", "string", "transport_mode", max_length=200),
        Item("views", "The family's views and wishes", "text", "family_views_and_wishes"),
        Item("summary", "Summary of the findings", "text", "summary"),
    ),
    _group(
        "outcome",
        "Outcome",
        "",
        _choice("outcome", "Outcome", "outcome", FORM_OUTCOMES),
        Item(
            "following-advice",
            "Following health advice?",
            "boolean",
            "family_following_health_advice",
        ),
        _group(
            "action",
            "Action already taken",
            "actions_taken",
            Item("taken-on", "Date", "date", "taken_on", True),
            Item("description", "Action", "text", "description", True),
            Item("by", "By", "string", "by", max_length=200),
            repeats=True,
        ),
        _choice(
            "pathways",
            "Safeguarding pathways",
            "safeguarding_pathways",
            SafeguardingPathway,
            repeats=True,
        ),
    ),
    _group(
        "referral",
        "Referral to children's social care",
        "social_care_referral",
        Item("made-on", "Date of referral", "date", "made_on", True),
        _organisation("Referred to", "to", required=True),
        Item("risks", "Nature of the risks", "text", "risks", True),
        Item("guidance-referenced", "Guidance referenced?", "boolean", "guidance_referenced", True),
        Item("reference", "Social care's reference", "string", "reference", max_length=200),
    ),
    _group(
        "social-worker",
        "Social worker",
        "",
        _group(
            "allocated",
            "Allocated social worker",
            "allocated_social_worker",
            Item("name", "Name", "string", "name", True, max_length=200),
            Item("phone", "Phone", "string", "phone", True, max_length=30),
            Item("email", "Email", "string", "email", max_length=254),
            _organisation("Organisation", "organisation"),
        ),
        Item("contacted-on", "Date contacted", "date", "social_worker_contacted_on"),
        Item(
            "strategy-discussion",
            "Strategy discussion requested?",
            "boolean",
            "strategy_discussion_requested",
        ),
    ),
    _group(
        "sharing",
        "Sharing with the family",
        "sharing",
        Item("withheld", "Withheld from the family?", "boolean", "withheld_from_family"),
        _choice("reason", "Why", "withheld_reason", WithholdingReason),
        Item("note", "Note", "text", "note"),
    ),
)


FORM = Form(
    url=QUESTIONNAIRE_URL,
    header={
        "resourceType": "Questionnaire",
        "id": "travel-risk-assessment",
        "url": QUESTIONNAIRE_URL,
        "version": __version__,
        "name": "TravelRiskAssessment",
        "title": "Children with complex medical needs who travel out of area or abroad: "
        "risk assessment",
        "status": "active",
        "subjectType": ["Patient"],
        "description": "The lead clinician's risk assessment of a journey out of the local "
        "authority area or abroad, its outcome and any referral to children's social care "
        "(Leeds LSCP travel protocol, 000 L27-59).",
    },
    items=qualified(_SHORT_NAMES),
    # Answers located at the answer, an answer of the wrong type a structure issue, an
    # unknown item at its linkId: the travel alert's tests pin these.
    conventions=Conventions(at_value=False, misfit=IssueCode.STRUCTURE, unknown="linkId"),
)
