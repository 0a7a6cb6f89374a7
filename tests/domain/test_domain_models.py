"""Every artefact model with valid and invalid data: each broken rule is reported at its field."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

import pytest
from builders import CHILD, KINDS, MOTHER, SOCIAL_WORKER, doc

from interop.artefact_json import parse_artefact
from interop.domain import ChildProtectionFlag, ConditionEntry, StrategyDiscussionHealthReport
from interop.domain.child_protection_flag import add_months


def problems(document: dict[str, Any]) -> set[tuple[str, str | None]]:
    """(location, rule id or issue code) of every error reading ``document`` gives."""
    result = parse_artefact(json.dumps(document))
    return {(i.location, i.rule_id or i.code.value) for i in result.issues if i.is_error}


@pytest.mark.parametrize("kind", KINDS)
def test_minimal_documents_are_valid(kind: str) -> None:
    result = parse_artefact(json.dumps(doc(kind)))
    assert result.ok, [i.describe() for i in result.issues]
    assert result.artefact is not None
    assert result.artefact.kind == kind


@pytest.mark.parametrize("kind", KINDS)
def test_wrong_check_digit_is_reported_at_the_nhs_number(kind: str) -> None:
    field = "subject" if kind == "child-protection-flag" else "child"
    person = {**CHILD, "nhs_number": "9434765918"}
    assert problems(doc(kind, **{field: person})) == {(f"$.{field}.nhs_number", "C01")}


@pytest.mark.parametrize("kind", KINDS)
def test_unknown_field_is_reported(kind: str) -> None:
    assert problems(doc(kind, colour="blue")) == {("$.colour", "structure")}


@pytest.mark.parametrize("kind", KINDS)
def test_missing_local_id_is_reported(kind: str) -> None:
    assert problems(doc(kind, local_id=None)) == {("$.local_id", "required")}


# --- child protection flag ---------------------------------------------------------------


def test_ucpp_without_expected_delivery_date() -> None:
    flag = doc("child-protection-flag", plan_type="UCPP", subject=MOTHER)
    assert problems(flag) == {("$.expected_delivery_date", "C03")}
    flag["expected_delivery_date"] = "2026-08-01"
    assert problems(flag) == set()


def test_expected_delivery_date_only_on_ucpp() -> None:
    flag = doc("child-protection-flag", expected_delivery_date="2026-08-01")
    assert problems(flag) == {("$.expected_delivery_date", "C03")}


def test_plan_end_before_start() -> None:
    flag = doc("child-protection-flag", plan_end="2026-01-01")
    assert problems(flag) == {("$.plan_end", "C02")}


def test_unknown_plan_type_code() -> None:
    assert problems(doc("child-protection-flag", plan_type="XYZ")) == {
        ("$.plan_type", "code-invalid")
    }


def test_child_18_or_over_at_start() -> None:
    adult = {**CHILD, "date_of_birth": "2008-02-03"}  # 18 on the plan's start date
    assert problems(doc("child-protection-flag", subject=adult)) == {("$.plan_start", "C04")}
    nearly = {**CHILD, "date_of_birth": "2008-02-04"}  # 17 for one more day
    assert problems(doc("child-protection-flag", subject=nearly)) == set()


def test_plan_before_birth_is_not_a_cpp() -> None:
    baby = {**CHILD, "date_of_birth": "2026-05-01"}
    assert problems(doc("child-protection-flag", subject=baby)) == {("$.plan_start", "C04")}


def test_legal_basis_and_abuse_category_belong_to_their_plan_types() -> None:
    assert problems(doc("child-protection-flag", lac_legal_basis="s31")) == {
        ("$.lac_legal_basis", "C09")
    }
    assert problems(doc("child-protection-flag", plan_type="LAC", abuse_category="01")) == {
        ("$.abuse_category", "C09")
    }
    assert problems(doc("child-protection-flag", plan_type="LAC", lac_legal_basis="s20")) == set()


def test_end_reason_needs_end_date_and_other_needs_text() -> None:
    assert problems(doc("child-protection-flag", end_reason="died")) == {("$.end_reason", "C10")}
    ended = doc("child-protection-flag", plan_end="2026-06-01", end_reason="other")
    assert problems(ended) == {("$.end_reason_text", "C10")}


def test_delete_date_rules() -> None:
    assert problems(doc("child-protection-flag", delete_date="2027-01-01")) == {
        ("$.delete_date", "C11")
    }
    early = doc("child-protection-flag", plan_end="2026-06-01", delete_date="2026-05-01")
    assert problems(early) == {("$.delete_date", "C11")}


def test_every_broken_rule_is_reported_together() -> None:
    flag = doc(
        "child-protection-flag",
        plan_type="UCPP",
        subject=MOTHER,
        plan_end="2025-01-01",
        lac_legal_basis="s31",
    )
    assert problems(flag) == {
        ("$.expected_delivery_date", "C03"),
        ("$.plan_end", "C02"),
        ("$.lac_legal_basis", "C09"),
    }


def test_effective_delete_date_is_12_months_after_the_end() -> None:
    result = parse_artefact(json.dumps(doc("child-protection-flag", plan_end="2026-06-30")))
    flag = result.artefact
    assert isinstance(flag, ChildProtectionFlag)
    assert flag.effective_delete_date == date(2027, 6, 30)
    assert flag.is_active_on(date(2026, 6, 30))
    assert not flag.is_active_on(date(2026, 7, 1))
    assert add_months(date(2024, 2, 29), 12) == date(2025, 2, 28)
    assert add_months(date(2026, 1, 31), 1) == date(2026, 2, 28)


def test_withheld_from_family_needs_a_reason() -> None:
    withheld = doc("child-protection-flag", sharing={"withheld_from_family": True})
    assert problems(withheld) == {("$.sharing.withheld_reason", "C12")}
    withheld["sharing"]["withheld_reason"] = "police-investigation"
    assert problems(withheld) == set()


def test_repr_and_str_leak_no_personal_data() -> None:
    result = parse_artefact(json.dumps(doc("child-protection-flag")))
    assert result.artefact is not None
    text = repr(result.artefact) + str(result.artefact)
    for secret in (CHILD["nhs_number"], CHILD["given_name"], CHILD["family_name"], "2016-04-12"):
        assert secret not in text
    assert "5919" in result.artefact.summary()
    assert CHILD["nhs_number"] not in result.artefact.summary()


# --- strategy discussion health report -------------------------------------------------------


def test_s47_outcome_needs_the_social_worker() -> None:
    report = doc("strategy-discussion-health-report", outcome="s47")
    assert problems(report) == {("$.social_worker", "C05")}
    report["social_worker"] = SOCIAL_WORKER
    assert problems(report) == set()


def test_appendix_a_received_needs_its_date() -> None:
    report = doc("strategy-discussion-health-report", appendix_a_received=True)
    assert problems(report) == {("$.appendix_a_received_on", "C15")}


def test_nested_list_locations_are_json_paths() -> None:
    report = doc(
        "strategy-discussion-health-report",
        health_concerns={
            "recent_attendances": [
                {"attended_on": "2026-03-01", "setting": "emergency-department"},
                {"attended_on": "2026-03-02", "setting": "the pub"},
            ]
        },
    )
    assert problems(report) == {("$.health_concerns.recent_attendances[1].setting", "code-invalid")}


def test_a_condition_is_a_name_or_a_name_with_its_snomed_code() -> None:
    report = doc(
        "strategy-discussion-health-report",
        health_concerns={
            "long_term_conditions": ["Eczema", {"name": "Asthma", "snomed_code": "195967001"}]
        },
    )
    result = parse_artefact(json.dumps(report))
    assert isinstance(result.artefact, StrategyDiscussionHealthReport)
    conditions = result.artefact.health_concerns.long_term_conditions
    assert conditions == [
        ConditionEntry(name="Eczema"),
        ConditionEntry(name="Asthma", snomed_code="195967001"),
    ]
    # written back as read: the bare name where there is no code (what earlier versions wrote)
    written = result.artefact.model_dump(mode="json")["health_concerns"]["long_term_conditions"]
    assert written == report["health_concerns"]["long_term_conditions"]


def test_a_bad_snomed_code_is_reported_at_the_code() -> None:
    report = doc(
        "strategy-discussion-health-report",
        health_concerns={
            "long_term_conditions": [
                "Eczema",
                {"name": "Asthma", "snomed_code": "195967002"},
                {"name": "Epilepsy", "snomed_code": "8475700"},
                {"snomed_code": "84757009"},
            ]
        },
    )
    assert problems(report) == {
        ("$.health_concerns.long_term_conditions[1].snomed_code", "code-invalid"),
        ("$.health_concerns.long_term_conditions[2].snomed_code", "code-invalid"),
        ("$.health_concerns.long_term_conditions[3].name", "required"),
    }
    messages = [i.message for i in parse_artefact(json.dumps(report)).issues]
    assert messages[0].startswith("invalid SNOMED CT concept id: the check digit is 2 but")


def test_the_json_schema_offers_both_forms_of_a_condition() -> None:
    schema = StrategyDiscussionHealthReport.model_json_schema()
    entry = schema["$defs"]["ConditionEntry"]
    as_text, as_object = entry["anyOf"]
    assert as_text == {"type": "string", "minLength": 1, "maxLength": 200}
    assert as_object["required"] == ["name"]
    code = as_object["properties"]["snomed_code"]["anyOf"][0]
    assert code["pattern"] == r"^[1-9]\d{2,14}[01]0\d$"
    assert "Verhoeff" in code["description"]


# --- health treatment plan -------------------------------------------------------------------


def test_missing_lead_practitioner() -> None:
    plan = doc("health-treatment-plan", lead_health_practitioner=None)
    result = parse_artefact(json.dumps(plan))
    assert [(i.location, i.code.value, i.rule_id) for i in result.issues] == [
        ("$.lead_health_practitioner", "required", "C06")
    ]


def test_no_escalation_trigger() -> None:
    plan = doc("health-treatment-plan", escalation_triggers=[])
    assert problems(plan) == {("$.escalation_triggers", "C06")}


def test_trigger_without_action_or_responsible_party() -> None:
    plan = doc("health-treatment-plan")
    plan["escalation_triggers"].append(dict(plan["escalation_triggers"][0]))
    del plan["escalation_triggers"][1]["action"]
    del plan["escalation_triggers"][1]["responsible"]
    assert problems(plan) == {
        ("$.escalation_triggers[1].action", "C06"),
        ("$.escalation_triggers[1].responsible", "C06"),
    }


def test_two_lead_practitioners_cannot_be_written() -> None:
    plan = doc("health-treatment-plan")
    plan["lead_health_practitioner"] = [plan["lead_health_practitioner"]] * 2
    assert problems(plan) == {("$.lead_health_practitioner", "C06")}


def test_treatment_plan_links_to_a_born_childs_plan() -> None:
    plan = doc("health-treatment-plan")
    plan["cp_plan"]["plan_type"] = "UCPP"
    assert problems(plan) == {("$.cp_plan.plan_type", "C09")}


def test_review_before_plan_date() -> None:
    plan = doc("health-treatment-plan", next_review_date="2026-01-01")
    assert problems(plan) == {("$.next_review_date", "C02")}


# --- travel alert ----------------------------------------------------------------------------


def test_significant_risk_needs_the_social_care_referral() -> None:
    alert = doc("travel-alert", outcome="significant-risk")
    assert problems(alert) == {("$.social_care_referral", "C07")}
    alert["social_care_referral"] = {
        "made_on": "2026-06-02",
        "to": {"ods_code": "LA380", "name": "Example City Council Front Door"},
        "risks": "No feeding supplies for a six-week stay.",
        "guidance_referenced": True,
    }
    assert problems(alert) == set()


def test_retrospective_assessment_needs_departure_date() -> None:
    alert = doc("travel-alert", scenario="travelled")
    assert problems(alert) == {("$.departure_date", "C08")}


@pytest.mark.parametrize(
    ("scenario", "retrospective", "expected"),
    [
        ("travelled", False, {("$.risk_assessment.retrospective", "C08")}),
        ("travelled", True, set()),
        ("planned", True, {("$.risk_assessment.retrospective", "C08")}),
        ("planned", False, set()),
    ],
)
def test_only_an_assessment_after_travel_is_retrospective(
    scenario: str, retrospective: bool, expected: set[tuple[str, str]]
) -> None:
    assessment = {
        "assessed_on": "2026-06-03",
        "assessed_by": {"name": "Dr Ada Okafor", "role": "Community paediatrician"},
        "retrospective": retrospective,
    }
    alert = doc(
        "travel-alert",
        scenario=scenario,
        departure_date="2026-05-20",
        risk_assessment=assessment,
    )
    assert problems(alert) == expected


def test_each_factor_is_assessed_once() -> None:
    finding = {"factor": "health-insurance", "answer": "no"}
    assessment = {
        "assessed_on": "2026-06-03",
        "assessed_by": {"name": "Dr Ada Okafor", "role": "Community paediatrician"},
        "findings": [finding, {**finding, "answer": "yes"}],
    }
    alert = doc("travel-alert", risk_assessment=assessment)
    assert problems(alert) == {("$.risk_assessment.findings[1].factor", "C13")}


def test_planned_travel_needs_a_destination_and_missing_child_does_not() -> None:
    assert problems(doc("travel-alert", destination=None)) == {("$.destination", "C13")}
    missing = doc("travel-alert", scenario="whereabouts-unknown", destination=None)
    assert problems(missing) == set()


def test_destination_kind_matches_its_fields() -> None:
    assert problems(doc("travel-alert", destination={"kind": "uk-local-authority"})) == {
        ("$.destination.local_authority", "C16")
    }
    assert problems(doc("travel-alert", destination={"kind": "country", "country": "ZZ"})) == {
        ("$.destination.country", "code-invalid")
    }


def test_closure_needs_efforts_to_locate() -> None:
    closure = {"closed_on": "2026-09-01", "head_of_service": "A. Head", "reason": "Not found"}
    alert = doc("travel-alert", scenario="whereabouts-unknown", closure=closure)
    assert problems(alert) == {("$.closure", "C13")}
    alert["locate_attempts"] = [{"effort": "child-benefit-check", "done_on": "2026-08-01"}]
    assert problems(alert) == set()
    del alert["closure"]["head_of_service"]
    assert problems(alert) == {("$.closure.head_of_service", "C13")}


# --- health needs checklist ------------------------------------------------------------------


def test_no_care_plan_needs_the_care_details_when_there_are_needs() -> None:
    checklist = doc("health-needs-checklist", care_plan_available=False)
    assert problems(checklist) == set()  # no diagnosed needs, nothing to comply with
    checklist["requires_parental_compliance"] = True
    assert problems(checklist) == {("$.care_needs_without_plan", "C14")}
    checklist["care_needs_without_plan"] = {
        "medication": ["Salbutamol inhaler"],
        "risk_of_serious_deterioration": True,
    }
    assert problems(checklist) == set()


def test_diagnosed_needs_do_not_make_the_conditional_actions_mandatory() -> None:
    # the checklist's action rows are conditional ("If parents/carers are having difficulty",
    # 001 L423-427) and say no "must": a child with diagnosed needs may have none agreed
    checklist = doc("health-needs-checklist", diagnosed_needs=True)
    assert problems(checklist) == set()
    checklist["actions"] = {"sudden_deterioration": "Call 999; notify the lead social worker."}
    assert problems(checklist) == set()


def test_meeting_time_needs_its_offset() -> None:
    checklist = doc("health-needs-checklist", meeting_at="2026-03-04T10:00:00")
    assert problems(checklist) == {("$.meeting_at", "value")}
