"""The travel protocol's and missing-child briefing's rules (B02, B04-B09): each breach the
guidance names, reported with its rule id and severity, and the cases that are not breaches."""

from __future__ import annotations

from datetime import date
from typing import Any

from builders import LA, PRACTITIONER, doc

from interop.codes import LocateEffort, TravelRiskFactor
from interop.domain import TravelAlert
from interop.issues import Issue, Severity
from interop.validators.business_rules import RULES, check_artefact

ALL_FACTORS = [{"factor": f.value, "answer": "yes"} for f in TravelRiskFactor]


def alert(**changes: Any) -> TravelAlert:
    """A planned-travel alert raised on 1 June 2026, with fields replaced."""
    return TravelAlert.model_validate(doc("travel-alert", **changes))


def assessment(**changes: Any) -> dict[str, Any]:
    """A complete risk assessment of 2 June 2026, with fields replaced (None deletes)."""
    result: dict[str, Any] = {
        "assessed_on": "2026-06-02",
        "assessed_by": PRACTITIONER,
        "expected_time_away": "Three weeks",
        "transport_mode": "Direct flight",
        "family_views_and_wishes": "Parents wish to visit family.",
        "findings": ALL_FACTORS,
    }
    result.update(changes)
    return {k: v for k, v in result.items() if v is not None}


def referral(made_on: str) -> dict[str, Any]:
    return {
        "made_on": made_on,
        "to": {"ods_code": LA["ods_code"], "name": "Front Door Safeguarding Hub"},
        "risks": "No healthcare arranged at the destination.",
        "guidance_referenced": True,
    }


def significant(made_on: str, **changes: Any) -> TravelAlert:
    fields: dict[str, Any] = {
        "risk_assessment": assessment(),
        "outcome": "significant-risk",
        "family_following_health_advice": False,
        "social_care_referral": referral(made_on),
    }
    return alert(**{**fields, **changes})


def found(artefact: TravelAlert, rule_id: str, as_of: str = "2026-07-01") -> list[Issue]:
    issues = check_artefact(artefact, as_of=date.fromisoformat(as_of))
    return [i for i in issues if i.rule_id == rule_id]


def test_a_complete_assessment_breaks_no_rule() -> None:
    assert check_artefact(alert(risk_assessment=assessment()), as_of=date(2026, 7, 1)) == []
    assert check_artefact(significant("2026-06-03"), as_of=date(2026, 7, 1)) == []


# --- B02: every factor of 000 L38-47, the coded ones and those kept as text -----------------


def test_b02_expected_time_away_transport_and_family_views() -> None:
    for field, words in (
        ("expected_time_away", "expected length of time away"),
        ("transport_mode", "mode of transport"),
        ("family_views_and_wishes", "views and wishes"),
    ):
        [issue] = found(alert(risk_assessment=assessment(**{field: None})), "B02")
        assert issue.location == f"$.risk_assessment.{field}"
        assert issue.severity is Severity.WARNING  # 000 L38: "should carefully consider"
        assert words in issue.message


# --- B04: immediate referral after a significant-risk finding -------------------------------


def test_b04_referral_45_days_after_the_significant_risk() -> None:
    [issue] = found(significant("2026-07-17"), "B04", "2026-08-01")
    assert issue.severity is Severity.ERROR  # 000 L50: "must take immediate action"
    assert issue.location == "$.social_care_referral.made_on"
    assert "2026-07-17" in issue.message
    assert "2026-06-02" in issue.message
    assert found(significant("2026-06-02"), "B04") == []  # same day
    assert found(significant("2026-06-03"), "B04") == []  # next working day
    assert len(found(significant("2026-06-04"), "B04")) == 1


def test_b04_needs_a_significant_risk() -> None:
    managed = alert(
        risk_assessment=assessment(),
        outcome="risk-managed",
        social_care_referral=referral("2026-09-01"),
    )
    assert found(managed, "B04", "2026-12-01") == []


# --- B05: the referral is not before the alert ----------------------------------------------


def test_b05_referral_dated_before_the_alert() -> None:
    [issue] = found(significant("2026-05-20"), "B05")
    assert issue.severity is Severity.ERROR
    assert "2026-05-20" in issue.message
    assert "2026-06-01" in issue.message
    assert found(significant("2026-06-01"), "B05") == []


# --- B06: planned travel assessed by the departure -------------------------------------------


def test_b06_departure_passed_with_no_assessment() -> None:
    planned = alert(departure_date="2026-06-20")
    assert found(planned, "B06", "2026-06-19") == []  # not yet departed
    [issue] = found(planned, "B06", "2026-06-20")
    assert issue.severity is Severity.ERROR  # 000 L38: "A risk assessment must be undertaken"
    assert issue.location == "$.risk_assessment"
    assessed = alert(departure_date="2026-06-20", risk_assessment=assessment())
    assert found(assessed, "B06", "2026-07-01") == []


# --- B07: a retrospective assessment as soon as possible -------------------------------------


def test_b07_no_retrospective_assessment_eleven_months_on() -> None:
    travelled = alert(scenario="travelled", departure_date="2026-05-20")
    assert found(travelled, "B07", "2026-06-08") == []  # 5 working days after 1 June
    [issue] = found(travelled, "B07", "2027-05-01")
    assert issue.severity is Severity.ERROR  # 000 L59: "must be undertaken as soon as possible"
    assert "no retrospective risk assessment is recorded by 2027-05-01" in issue.message
    done = alert(
        scenario="travelled",
        departure_date="2026-05-20",
        risk_assessment=assessment(retrospective=True),
    )
    assert found(done, "B07", "2027-05-01") == []


# --- B08: a significant risk needs the family not following advice (000 L50) -----------------


def test_b08_significant_risk_while_following_health_advice() -> None:
    [issue] = found(significant("2026-06-02", family_following_health_advice=True), "B08")
    assert issue.severity is Severity.WARNING
    assert issue.location == "$.family_following_health_advice"
    assert found(significant("2026-06-02"), "B08") == []
    # after travel, any identified risk calls for contact (000 L59): no such condition
    retrospective = significant(
        "2026-06-02",
        scenario="travelled",
        departure_date="2026-05-20",
        family_following_health_advice=True,
        risk_assessment=assessment(retrospective=True),
    )
    assert found(retrospective, "B08") == []


# --- B09: reasonable efforts to locate before a missing child's case is closed ---------------


def _missing(efforts: list[LocateEffort], **changes: Any) -> TravelAlert:
    return alert(
        scenario="whereabouts-unknown",
        destination=None,
        last_known_area="Leeds LS9",
        locate_attempts=[{"effort": e.value, "done_on": "2026-06-10"} for e in efforts],
        closure={"closed_on": "2026-07-01", "head_of_service": "A. Head", "reason": "Not found"},
        **changes,
    )


def test_b09_closed_after_a_single_letter() -> None:
    [issue] = found(_missing([LocateEffort.LETTER]), "B09")
    assert issue.severity is Severity.WARNING  # 003 L33: "This should include"
    assert issue.location == "$.closure"
    assert "home-visit-appointment" in issue.message
    assert "police-missing-persons" in issue.message
    assert "letter" not in issue.message.split(":", 1)[1].split(", ")


def test_b09_every_effort_made() -> None:
    efforts = [e for e in LocateEffort if e is not LocateEffort.LEADS_FOLLOWED_UP]
    assert found(_missing(efforts), "B09") == []
    # a missing alert counts when its recipients are recorded
    no_alert_effort = [e for e in efforts if e is not LocateEffort.MISSING_ALERT]
    recipients = [{"ods_code": "LA382", "name": "Kirklees Council"}]
    assert found(_missing(no_alert_effort, missing_alert_recipients=recipients), "B09") == []
    assert len(found(_missing(no_alert_effort), "B09")) == 1


def test_new_rules_are_registered_with_severity_from_the_wording() -> None:
    for rule_id in ("B04", "B05", "B06", "B07"):
        assert RULES[rule_id].severity is Severity.ERROR
    for rule_id in ("B02", "B08", "B09"):
        assert RULES[rule_id].severity is Severity.WARNING
