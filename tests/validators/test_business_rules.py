"""Business rules: each rule passing, failing and not yet due; editions; "as of"; privacy."""

from __future__ import annotations

import dataclasses
from datetime import date
from typing import Any

import pytest
from builders import CHILD, LA, MOTHER, PRACTITIONER, SOCIAL_WORKER, doc

from interop.artefact_json import parse_artefact
from interop.codes import TravelRiskFactor
from interop.domain import ARTEFACT_MODELS, ArtefactBase
from interop.fixtures import artefact_fixtures
from interop.issues import Issue, IssueCode, Severity
from interop.validators import business_rules as br
from interop.validators.business_rules import (
    RULES,
    check_artefact,
    check_artefacts,
    check_case,
    eighteenth_birthday,
    rules_for,
)

# --- builders ------------------------------------------------------------------------------


def make(kind: str, **changes: Any) -> ArtefactBase:
    """A valid artefact of ``kind`` for the builders' child, with fields replaced."""
    return ARTEFACT_MODELS[kind].model_validate(doc(kind, **changes))


def s47(day: str, local_id: str = "SD-0001", **changes: Any) -> ArtefactBase:
    """A strategy discussion that started section 47 enquiries on ``day``."""
    return make(
        "strategy-discussion-health-report",
        local_id=local_id,
        strategy_discussion_date=day,
        outcome="s47",
        social_worker=SOCIAL_WORKER,
        **changes,
    )


def meeting(kind: str, day: str, local_id: str) -> ArtefactBase:
    """A health needs checklist of a conference or core group held on ``day``."""
    return make(
        "health-needs-checklist",
        local_id=local_id,
        meeting_type=kind,
        meeting_at=f"{day}T10:00:00+00:00",
    )


def cpp(start: str, end: str | None = None, local_id: str = "CP-0001") -> ArtefactBase:
    """The child's child protection plan flag."""
    return make("child-protection-flag", local_id=local_id, plan_start=start, plan_end=end)


def move(raised_on: str, permanence: str = "permanent", local_id: str = "TA-0001") -> ArtefactBase:
    """A travel alert for a move to another UK local authority."""
    return make(
        "travel-alert",
        local_id=local_id,
        raised_on=raised_on,
        permanence=permanence,
        destination={
            "kind": "uk-local-authority",
            "local_authority": {"ods_code": "LA382", "name": "Kirklees Council"},
        },
    )


def of_rule(issues: list[Issue], rule_id: str) -> list[Issue]:
    return [i for i in issues if i.rule_id == rule_id]


def case(rule_id: str, artefacts: list[ArtefactBase], as_of: str) -> list[Issue]:
    """The issues of ``rule_id`` on ``artefacts`` taken as the child's whole case."""
    found = check_case(artefacts, as_of=date.fromisoformat(as_of), complete=True)
    return of_rule(found, rule_id)


def assert_business_warning(issue: Issue, rule_id: str, location: str) -> None:
    assert issue.severity is Severity.WARNING
    assert issue.code is IssueCode.BUSINESS_RULE
    assert issue.rule_id == rule_id
    assert issue.location == location
    assert issue.rule_source == RULES[rule_id].source


# --- the registry --------------------------------------------------------------------------


def test_registry() -> None:
    for rule_id in ("T06", "T07", "T08", "T09", "T10", "T11"):
        assert RULES[rule_id].severity is Severity.WARNING  # every timescale is a "should"
        assert RULES[rule_id].lines.startswith("002_7a8cd4b31029ee68.txt L")
        assert RULES[rule_id].source.startswith("Working Together to Safeguard Children 2026")
    assert RULES["B03"].severity is Severity.ERROR
    # the referral, assessment and section 47 outcome artefacts make every timescale checkable
    assert all(r.checkable for r in RULES.values())
    # only editions whose text is among the sources: 2026 replaced 2023 (002 L202)
    assert all(r.editions == {"2013", "2026"} for r in RULES.values())


# --- T06 initial conference within 15 working days of the s47 strategy discussion ----------

# Fri 20 March 2026 + 15 working days, over Good Friday and Easter Monday = Tue 14 April


def test_t06_in_time() -> None:
    found = case(
        "T06",
        [s47("2026-03-20"), meeting("initial-conference", "2026-04-14", "HNC-0001")],
        "2026-12-01",
    )
    assert found == []


def test_t06_late() -> None:
    [issue] = case(
        "T06",
        [s47("2026-03-20"), meeting("initial-conference", "2026-04-15", "HNC-0001")],
        "2026-12-01",
    )
    assert_business_warning(issue, "T06", "HNC-0001:$.meeting_at")
    assert "2026-04-15" in issue.message
    assert "2026-03-20" in issue.message
    assert "16 working days" in issue.message
    assert "by 2026-04-14" in issue.message


def test_t06_first_s47_discussion_starts_the_clock() -> None:
    found = case(
        "T06",
        [
            s47("2026-03-20", "SD-0001"),
            s47("2026-04-01", "SD-0002"),
            meeting("initial-conference", "2026-04-16", "HNC-0001"),
        ],
        "2026-12-01",
    )
    assert [i.location for i in found] == ["HNC-0001:$.meeting_at"]
    assert "SD-0001" in found[0].message


def test_t06_not_yet_due_then_missing() -> None:
    assert case("T06", [s47("2026-03-20")], "2026-04-14") == []
    [issue] = case("T06", [s47("2026-03-20")], "2026-04-15")
    assert_business_warning(issue, "T06", "SD-0001:$.strategy_discussion_date")
    assert "no initial conference" in issue.message
    assert "16 working days" in issue.message


def test_t06_lone_report_says_what_it_could_not_check() -> None:
    # the batch holds the strategy report only: the conference may simply be elsewhere
    [issue] = of_rule(check_case([s47("2026-03-20")], as_of=date(2026, 12, 1)), "T06")
    assert issue.severity is Severity.INFORMATION
    assert issue.location == "SD-0001:$.strategy_discussion_date"
    assert issue.message.startswith("not checked: no initial conference after the strategy")
    assert "--case" in issue.message
    # a late conference is seen in full, so it is a breach even outside a whole case
    late = [s47("2026-03-20"), meeting("initial-conference", "2026-04-15", "HNC-0001")]
    [issue] = of_rule(check_case(late, as_of=date(2026, 12, 1)), "T06")
    assert issue.severity is Severity.WARNING


def test_complete_case_by_child() -> None:
    other = {**CHILD, "nhs_number": "9000000009"}
    artefacts = [s47("2026-03-20"), s47("2026-03-20", "SD-0002", child=other)]
    found = check_case(artefacts, as_of=date(2026, 12, 1), complete={"9000000009"})
    assert {(i.location, i.severity) for i in of_rule(found, "T06")} == {
        ("SD-0001:$.strategy_discussion_date", Severity.INFORMATION),
        ("SD-0002:$.strategy_discussion_date", Severity.WARNING),
    }


def test_meeting_day_is_england_s() -> None:
    # 23:30 UTC on 1 July is 00:30 BST on 2 July: one working day past 15 after 10 June
    discussed = s47("2026-06-10")
    due = meeting("initial-conference", "2026-07-01", "HNC-0001")
    assert case("T06", [discussed, due], "2026-12-01") == []
    late = make(
        "health-needs-checklist",
        local_id="HNC-0002",
        meeting_type="initial-conference",
        meeting_at="2026-07-01T23:30:00+00:00",
    )
    [issue] = case("T06", [discussed, late], "2026-12-01")
    assert "the initial conference on 2026-07-02 is 16 working days" in issue.message
    # in winter England is on UTC: 23:30 UTC stays the same day
    winter = make(
        "health-needs-checklist",
        meeting_type="initial-conference",
        meeting_at="2026-01-06T23:30:00+00:00",
    )
    assert str(winter.meeting_day) == "2026-01-06"  # type: ignore[attr-defined]


def test_t06_needs_a_section_47_outcome() -> None:
    s17 = make("strategy-discussion-health-report", strategy_discussion_date="2026-03-20")
    assert case("T06", [s17], "2026-12-01") == []


def test_t06_conference_after_as_of_has_not_happened() -> None:
    artefacts = [s47("2026-03-20"), meeting("initial-conference", "2026-04-15", "HNC-0001")]
    assert case("T06", artefacts, "2026-04-14") == []  # not held yet, and not yet due
    [issue] = case("T06", artefacts, "2026-04-15")
    assert issue.location == "HNC-0001:$.meeting_at"


def test_cases_are_grouped_by_child() -> None:
    other_child = {**CHILD, "nhs_number": "9000000009"}
    conference = make(
        "health-needs-checklist",
        meeting_type="initial-conference",
        meeting_at="2026-04-01T10:00:00+00:00",
        child=other_child,
    )
    # the conference is another child's: this child's discussion still has none
    [issue] = case("T06", [s47("2026-03-20"), conference], "2026-12-01")
    assert issue.location == "SD-0001:$.strategy_discussion_date"


# --- T07 first core group within 10 working days of the initial conference -----------------

# Tue 14 April 2026 + 10 working days = Tue 28 April


def test_t07_in_time() -> None:
    artefacts = [
        meeting("initial-conference", "2026-04-14", "HNC-0001"),
        meeting("core-group", "2026-04-28", "HNC-0002"),
    ]
    assert case("T07", artefacts, "2026-12-01") == []


def test_t07_late() -> None:
    artefacts = [
        meeting("initial-conference", "2026-04-14", "HNC-0001"),
        meeting("core-group", "2026-04-29", "HNC-0002"),
    ]
    [issue] = case("T07", artefacts, "2026-12-01")
    assert_business_warning(issue, "T07", "HNC-0002:$.meeting_at")
    assert "11 working days" in issue.message
    assert "by 2026-04-28" in issue.message


def test_t07_not_yet_due_then_missing() -> None:
    artefacts = [meeting("initial-conference", "2026-04-14", "HNC-0001"), cpp("2026-04-14")]
    assert case("T07", artefacts, "2026-04-28") == []
    [issue] = case("T07", artefacts, "2026-04-29")
    assert_business_warning(issue, "T07", "HNC-0001:$.meeting_at")
    assert "no core group" in issue.message


def test_t07_missing_needs_evidence_of_a_plan() -> None:
    # no flag, no core group, no review: the conference may have decided on no plan
    assert (
        case("T07", [meeting("initial-conference", "2026-04-14", "HNC-0001")], "2027-01-01") == []
    )
    # the plan ended before the core group was due
    ended = [
        meeting("initial-conference", "2026-04-14", "HNC-0001"),
        cpp("2026-04-14", "2026-04-20"),
    ]
    assert case("T07", ended, "2027-01-01") == []


# --- T08 first review within 3 months; T09 later reviews at most 6 months apart ------------


def test_t08_in_time_and_late() -> None:
    conference = meeting("initial-conference", "2026-04-14", "HNC-0001")
    on_time = [conference, meeting("review-conference", "2026-07-14", "HNC-0003")]
    assert case("T08", on_time, "2026-12-01") == []
    late = [conference, meeting("review-conference", "2026-07-15", "HNC-0003")]
    [issue] = case("T08", late, "2026-12-01")
    assert_business_warning(issue, "T08", "HNC-0003:$.meeting_at")
    assert "due by 2026-07-14" in issue.message


def test_t08_not_yet_due_then_missing() -> None:
    artefacts = [meeting("initial-conference", "2026-04-14", "HNC-0001"), cpp("2026-04-14")]
    assert case("T08", artefacts, "2026-07-14") == []
    [issue] = case("T08", artefacts, "2026-07-15")
    assert_business_warning(issue, "T08", "HNC-0001:$.meeting_at")
    assert "no review conference" in issue.message
    ended = [
        meeting("initial-conference", "2026-04-14", "HNC-0001"),
        cpp("2026-04-14", "2026-06-30"),
    ]
    assert case("T08", ended, "2026-12-01") == []


def test_t09_in_time_and_late() -> None:
    base = [
        meeting("initial-conference", "2026-04-14", "HNC-0001"),
        meeting("review-conference", "2026-07-14", "HNC-0003"),
    ]
    on_time = [*base, meeting("review-conference", "2027-01-14", "HNC-0004")]
    assert case("T09", on_time, "2027-02-01") == []
    late = [*base, meeting("review-conference", "2027-01-15", "HNC-0004")]
    [issue] = case("T09", late, "2027-02-01")
    assert_business_warning(issue, "T09", "HNC-0004:$.meeting_at")
    assert "2026-07-14" in issue.message
    assert "due by 2027-01-14" in issue.message


def test_t09_not_yet_due_then_missing() -> None:
    artefacts = [
        meeting("initial-conference", "2026-04-14", "HNC-0001"),
        meeting("review-conference", "2026-07-14", "HNC-0003"),
    ]
    assert case("T09", artefacts, "2027-01-14") == []
    [issue] = case("T09", artefacts, "2027-01-15")
    assert_business_warning(issue, "T09", "HNC-0003:$.meeting_at")
    assert "no review conference" in issue.message
    ended = [*artefacts, cpp("2026-04-14", "2026-12-01")]
    assert case("T09", ended, "2027-06-01") == []


def test_a_new_initial_conference_starts_a_new_episode() -> None:
    artefacts = [
        meeting("initial-conference", "2025-01-14", "HNC-0001"),
        meeting("core-group", "2025-01-20", "HNC-0002"),
        cpp("2025-01-14", "2025-03-01", "CP-0001"),
        meeting("initial-conference", "2026-04-14", "HNC-0005"),
        meeting("core-group", "2026-04-20", "HNC-0006"),
    ]
    assert check_case(artefacts, as_of=date(2026, 5, 1), complete=True) == []


# --- T10 transfer-in conference within 15 working days of notice of a permanent move -------

# Mon 14 December 2026 + 15 working days, over Christmas 2026 and New Year = Thu 7 January 2027


def test_t10_in_time_and_late() -> None:
    on_time = [move("2026-12-14"), meeting("transfer-in-conference", "2027-01-07", "HNC-0007")]
    assert case("T10", on_time, "2027-03-01") == []
    late = [move("2026-12-14"), meeting("transfer-in-conference", "2027-01-08", "HNC-0007")]
    [issue] = case("T10", late, "2027-03-01")
    assert_business_warning(issue, "T10", "HNC-0007:$.meeting_at")
    assert "16 working days" in issue.message
    assert "2026-12-14" in issue.message
    assert "by 2027-01-07" in issue.message


def test_t10_not_yet_due_then_missing() -> None:
    artefacts = [move("2026-12-14"), cpp("2026-02-03")]
    assert case("T10", artefacts, "2027-01-07") == []
    [issue] = case("T10", artefacts, "2027-01-08")
    assert_business_warning(issue, "T10", "TA-0001:$.raised_on")
    assert "no transfer-in conference" in issue.message


def test_t10_only_for_a_permanent_move_of_a_child_on_a_plan() -> None:
    assert case("T10", [move("2026-12-14", "temporary"), cpp("2026-02-03")], "2027-06-01") == []
    assert case("T10", [move("2026-12-14")], "2027-06-01") == []  # no plan known
    abroad = make("travel-alert", permanence="permanent", raised_on="2026-12-14")
    assert case("T10", [abroad, cpp("2026-02-03")], "2027-06-01") == []


# --- T11 a CP plan ends by the 18th birthday -----------------------------------------------

# the builders' child was born on 2016-04-12: 18 on 2034-04-12


def test_eighteenth_birthday() -> None:
    assert eighteenth_birthday(date(2016, 4, 12)) == date(2034, 4, 12)
    assert eighteenth_birthday(date(2008, 2, 29)) == date(2026, 3, 1)
    assert eighteenth_birthday(date(2012, 2, 29)) == date(2030, 3, 1)


def test_t11_plan_ending_on_the_birthday_passes() -> None:
    flag = cpp("2026-02-03", "2034-04-12")
    assert check_artefact(flag, as_of=date(2035, 1, 1)) == []


def test_t11_plan_ending_after_the_birthday() -> None:
    [issue] = check_artefact(cpp("2026-02-03", "2034-04-13"), as_of=date(2026, 6, 1))
    assert_business_warning(issue, "T11", "$.plan_end")
    assert "2034-04-13" in issue.message
    assert "2034-04-12" not in issue.message  # the birthday would give the date of birth away


def test_t11_active_plan_not_yet_due_then_past_18() -> None:
    flag = cpp("2026-02-03")
    assert check_artefact(flag, as_of=date(2034, 4, 12)) == []
    [issue] = check_artefact(flag, as_of=date(2034, 4, 13))
    assert_business_warning(issue, "T11", "$.plan_end")
    assert "no end date on 2034-04-13" in issue.message


def test_t11_only_for_child_protection_plans() -> None:
    lac = make("child-protection-flag", plan_type="LAC")
    assert check_artefact(lac, as_of=date(2040, 1, 1)) == []
    ucpp = make(
        "child-protection-flag",
        plan_type="UCPP",
        subject=MOTHER,
        expected_delivery_date="2026-05-01",
    )
    assert check_artefact(ucpp, as_of=date(2040, 1, 1)) == []
    # and a UCPP flag, about the mother, joins no child's case
    assert check_case([ucpp, move("2026-12-14")], as_of=date(2027, 6, 1), complete=True) == []


# --- B01 strategy discussion: social care, health and police at least ----------------------


def test_b01_strategy_agencies() -> None:
    def report(agencies: list[str]) -> ArtefactBase:
        return make("strategy-discussion-health-report", participating_agencies=agencies)

    as_of = date(2026, 6, 1)
    assert check_artefact(report(["la-social-care", "health", "police"]), as_of=as_of) == []
    # not recorded: said to be unchecked, never passed over in silence
    [unchecked] = check_artefact(report([]), as_of=as_of)
    assert (unchecked.rule_id, unchecked.severity) == ("B01", Severity.INFORMATION)
    assert unchecked.message.startswith("not checked: the agencies that took part")
    [issue] = check_artefact(report(["health", "education"]), as_of=as_of)
    assert_business_warning(issue, "B01", "$.participating_agencies")
    assert "la-social-care, police" in issue.message
    assert "2026-03-10" in issue.message


# --- B02 every factor of the travel risk assessment ----------------------------------------


def _assessment(factors: list[TravelRiskFactor], **changes: Any) -> dict[str, Any]:
    """A risk assessment recording ``factors`` and the three factors kept as text."""
    assessment = {
        "assessed_on": "2026-06-02",
        "assessed_by": PRACTITIONER,
        "expected_time_away": "Three weeks",
        "transport_mode": "Direct flight",
        "family_views_and_wishes": "Parents wish to visit family.",
        "findings": [{"factor": f.value, "answer": "yes"} for f in factors],
    }
    assessment.update(changes)
    return {k: v for k, v in assessment.items() if v is not None}


def _alert_with_factors(factors: list[TravelRiskFactor], **changes: Any) -> ArtefactBase:
    return make("travel-alert", risk_assessment=_assessment(factors), **changes)


def test_b02_risk_assessment_factors() -> None:
    as_of = date(2026, 6, 5)
    assert check_artefact(_alert_with_factors(list(TravelRiskFactor)), as_of=as_of) == []
    assert check_artefact(make("travel-alert"), as_of=as_of) == []  # no assessment yet
    recorded = [TravelRiskFactor.HEALTHCARE_AT_DESTINATION, TravelRiskFactor.HEALTH_INSURANCE]
    [issue] = check_artefact(_alert_with_factors(recorded), as_of=as_of)
    assert_business_warning(issue, "B02", "$.risk_assessment.findings")
    missing = [f.value for f in TravelRiskFactor if f not in recorded]
    assert f"{len(missing)} factor(s)" in issue.message
    assert ", ".join(missing) in issue.message


# --- B03 a retrospective alert's departure is not in the future ----------------------------


def test_b03_departure_not_after_as_of() -> None:
    alert = make("travel-alert", scenario="travelled", departure_date="2026-06-10")
    assert of_rule(check_artefact(alert, as_of=date(2026, 6, 10)), "B03") == []
    [issue] = of_rule(check_artefact(alert, as_of=date(2026, 6, 9)), "B03")
    assert issue.severity is Severity.ERROR
    assert issue.code is IssueCode.BUSINESS_RULE
    assert (issue.rule_id, issue.location) == ("B03", "$.departure_date")
    assert "2026-06-10" in issue.message
    planned = make("travel-alert", departure_date="2026-06-10")
    assert check_artefact(planned, as_of=date(2026, 6, 1)) == []


# --- editions ------------------------------------------------------------------------------


def test_edition_sources() -> None:
    late = [s47("2026-03-20"), meeting("initial-conference", "2026-04-15", "HNC-0001")]
    as_of = date(2026, 12, 1)
    [wt2026] = check_case(late, as_of=as_of)
    [wt2013] = check_case(late, as_of=as_of, edition="2013")
    assert RULES["T06"].lines_for("2026") == "002_7a8cd4b31029ee68.txt L1816"
    assert RULES["T06"].lines_for("2013") == "004_ceaca56681b35788.txt L2001"
    # users read the document's name and section, never a corpus file
    assert wt2026.rule_source == (
        "Working Together to Safeguard Children 2026 (March 2026 edition, HM Government), "
        "chapter 3, 'Outcome of section 47 enquiries'"
    )
    assert wt2013.rule_source == (
        "Working Together to Safeguard Children 2013 (March 2013 edition, HM Government), "
        "chapter 1, 'Outcome of section 47 enquiries'"
    )
    with pytest.raises(ValueError, match="2023"):  # no 2023 text among the sources
        check_case(late, as_of=as_of, edition="2023")
    assert {r.id for r in rules_for("2013")} == set(RULES)


def test_edition_filters_rules(monkeypatch: pytest.MonkeyPatch) -> None:
    only_2026 = dataclasses.replace(RULES["B01"], editions=frozenset({"2026"}))
    monkeypatch.setitem(br.RULES, "B01", only_2026)
    report = make("strategy-discussion-health-report", participating_agencies=["health"])
    as_of = date(2026, 6, 1)
    assert [i.rule_id for i in check_artefact(report, as_of=as_of)] == ["B01"]
    assert check_artefact(report, as_of=as_of, edition="2013") == []
    assert "B01" not in {r.id for r in rules_for("2013")}


def test_unknown_edition() -> None:
    with pytest.raises(ValueError, match="2018"):
        check_case([], as_of=date(2026, 1, 1), edition="2018")
    with pytest.raises(ValueError, match="2018"):
        check_artefact(cpp("2026-02-03"), as_of=date(2026, 1, 1), edition="2018")


# --- everything at once: locations, privacy, fixtures --------------------------------------


def _everything_late() -> list[ArtefactBase]:
    return [
        s47("2026-03-20", participating_agencies=["health"]),
        meeting("initial-conference", "2026-04-15", "HNC-0001"),
        meeting("core-group", "2026-05-15", "HNC-0002"),
        meeting("review-conference", "2026-08-15", "HNC-0003"),
        cpp("2026-04-15", "2034-05-01"),
        move("2026-12-14"),
        make("travel-alert", local_id="TA-0002", scenario="travelled", departure_date="2027-09-01"),
        _alert_with_factors([]),
    ]


def test_check_artefacts_reports_every_rule_and_never_personal_data() -> None:
    issues = check_artefacts(_everything_late(), as_of=date(2027, 6, 1), complete=True)
    assert {i.rule_id for i in issues} == {
        "T06", "T07", "T08", "T09", "T10", "T11", "B01", "B02", "B03", "B07",
    }  # fmt: skip
    for issue in issues:
        assert issue.code is IssueCode.BUSINESS_RULE
        assert issue.rule_source
        assert ":$." in issue.location  # prefixed by the artefact's local id
        text = issue.describe()
        for secret in (CHILD["nhs_number"], CHILD["given_name"], CHILD["family_name"]):
            assert secret not in text
        assert CHILD["date_of_birth"] not in text
        assert SOCIAL_WORKER["name"] not in text
        assert LA["name"] not in text


def test_valid_fixtures_check_without_leaking() -> None:
    artefacts = []
    for fixture in artefact_fixtures(expect="valid"):
        artefact = parse_artefact(fixture.read_bytes()).artefact
        assert artefact is not None
        artefacts.append(artefact)
    issues = check_artefacts(artefacts, as_of=date(2026, 11, 23))
    for artefact in artefacts:
        person = getattr(artefact, "child", None) or getattr(artefact, "subject", None)
        assert person is not None
        for issue in issues:
            text = issue.describe()
            assert person.nhs_number not in text
            assert person.given_name not in text
            assert person.family_name not in text
