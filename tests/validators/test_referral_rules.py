"""T01, T04 and T05 over referrals, assessments and section 47 outcomes: each breach and
non-breach, with days taken in England (Europe/London) and bank holidays skipped."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from builders import doc

from interop.artefact_json import parse_artefact
from interop.domain import ArtefactBase
from interop.issues import Severity
from interop.validators.business_rules import check_artefacts

AS_OF = date(2026, 12, 1)


def art(kind: str, **changes: Any) -> ArtefactBase:
    artefact = parse_artefact(json.dumps(doc(kind, **changes))).artefact
    assert artefact is not None
    return artefact


def found(
    *artefacts: ArtefactBase, rule: str, complete: bool = True, as_of: date = AS_OF
) -> list[tuple[Severity, str]]:
    issues = check_artefacts(artefacts, as_of=as_of, complete=complete)
    return [(i.severity, i.location) for i in issues if i.rule_id == rule]


def referral(received: str, decided: str | None = None, **changes: Any) -> ArtefactBase:
    return art(
        "referral",
        received_at=received,
        decision="s17-assessment" if decided else None,
        decided_at=decided,
        **changes,
    )


# --- T01 -------------------------------------------------------------------------------------


def test_t01_decision_the_next_working_day_is_on_time() -> None:
    # Friday 6 March 2026 → Monday 9 March is one working day
    on_time = referral("2026-03-06T16:00:00+00:00", "2026-03-09T17:00:00+00:00")
    assert found(on_time, rule="T01") == []


def test_t01_decision_two_working_days_later_is_late() -> None:
    late = referral("2026-03-06T16:00:00+00:00", "2026-03-10T09:00:00+00:00")
    assert found(late, rule="T01") == [(Severity.WARNING, "REF-0001:$.decided_at")]


def test_t01_counts_the_day_in_england_not_the_recorded_offset() -> None:
    # received 23:30 UTC on Tuesday 30 June = 00:30 BST on Wednesday 1 July in England;
    # decided Thursday 2 July: one working day after 1 July, on time
    assert (
        found(referral("2026-06-30T23:30:00+00:00", "2026-07-02T09:00:00+01:00"), rule="T01") == []
    )
    # received 22:30 UTC on 30 June = 23:30 BST on 30 June; decided 2 July: two days, late
    late = referral("2026-06-30T22:30:00+00:00", "2026-07-02T09:00:00+01:00")
    assert found(late, rule="T01") == [(Severity.WARNING, "REF-0001:$.decided_at")]


def test_t01_skips_bank_holidays() -> None:
    # Thursday 24 December 2026 → Tuesday 29 December (25, 28 December are bank holidays)
    ok = referral("2026-12-24T12:00:00+00:00", "2026-12-29T12:00:00+00:00")
    assert found(ok, rule="T01", as_of=date(2027, 1, 31)) == []


def test_t01_undecided_referral_is_late_once_the_day_has_passed() -> None:
    waiting = referral("2026-11-27T10:00:00+00:00")  # Friday
    assert found(waiting, rule="T01", as_of=date(2026, 11, 30)) == []
    assert found(waiting, rule="T01", as_of=date(2026, 12, 1)) == [
        (Severity.WARNING, "REF-0001:$.decision")
    ]


def test_t01_ignores_a_referral_received_after_the_check_day() -> None:
    assert found(referral("2026-12-05T10:00:00+00:00"), rule="T01") == []


# --- T04 -------------------------------------------------------------------------------------


def assessment(started: str, completed: str | None = None, **changes: Any) -> ArtefactBase:
    return art("assessment", started_on=started, completed_on=completed, **changes)


def test_t04_within_45_working_days_of_the_referral() -> None:
    # received Monday 2 March 2026; 45 working days (Good Friday and Easter Monday skipped)
    # end on Thursday 7 May
    ref = referral("2026-03-02T09:30:00+00:00", "2026-03-02T15:00:00+00:00")
    done = assessment("2026-03-04", "2026-05-07", referral_id="REF-0001")
    assert found(ref, done, rule="T04") == []


def test_t04_one_day_over_without_reasons_is_a_warning() -> None:
    ref = referral("2026-03-02T09:30:00+00:00", "2026-03-02T15:00:00+00:00")
    late = assessment("2026-03-04", "2026-05-08", referral_id="REF-0001")
    assert found(ref, late, rule="T04") == [(Severity.WARNING, "ASM-0001:$.completed_on")]


def test_t04_over_with_reasons_recorded_is_information() -> None:
    ref = referral("2026-03-02T09:30:00+00:00", "2026-03-02T15:00:00+00:00")
    late = assessment(
        "2026-03-04",
        "2026-05-20",
        referral_id="REF-0001",
        reasons_exceeding="The family was abroad for three weeks.",
    )
    assert found(ref, late, rule="T04") == [(Severity.INFORMATION, "ASM-0001:$.reasons_exceeding")]


def test_t04_an_open_assessment_past_45_working_days_is_a_warning() -> None:
    ref = referral("2026-03-02T09:30:00+00:00", "2026-03-02T15:00:00+00:00")
    still_open = assessment("2026-03-04")
    assert found(ref, still_open, rule="T04", as_of=date(2026, 5, 7)) == []
    assert found(ref, still_open, rule="T04", as_of=date(2026, 5, 8)) == [
        (Severity.WARNING, "ASM-0001:$.completed_on")
    ]


def test_t04_counts_from_the_referral_named_not_another() -> None:
    earlier = referral("2026-01-05T09:30:00+00:00", "2026-01-05T15:00:00+00:00")
    named = art(
        "referral",
        local_id="REF-0002",
        received_at="2026-03-02T09:30:00+00:00",
        decision="s17-assessment",
        decided_at="2026-03-02T15:00:00+00:00",
    )
    done = assessment("2026-03-04", "2026-05-07", referral_id="REF-0002")
    assert found(earlier, named, done, rule="T04") == []


def test_t04_without_the_referral_says_what_it_could_not_check() -> None:
    done = assessment("2026-03-04", "2026-09-01", referral_id="REF-0009")
    assert found(done, rule="T04") == [(Severity.INFORMATION, "ASM-0001:$.referral_id")]


def test_t04_only_matches_the_same_child() -> None:
    other = {**doc("referral")["child"], "nhs_number": "9000000009"}
    ref = referral("2026-01-05T09:30:00+00:00", "2026-01-05T15:00:00+00:00", child=other)
    done = assessment("2026-03-04", "2026-09-01")
    assert found(ref, done, rule="T04") == [(Severity.INFORMATION, "ASM-0001:$.referral_id")]


# --- T05 -------------------------------------------------------------------------------------


def outcome(**changes: Any) -> ArtefactBase:
    # strategy discussion Wednesday 20 May 2026: 15 working days (Spring bank holiday on
    # 25 May skipped) end on Thursday 11 June
    base = {
        "strategy_discussion_date": "2026-05-20",
        "outcome": "initial-conference",
        "decided_on": "2026-06-03",
    }
    return art("section-47-outcome", **{**base, **changes})


def conference(at: str) -> ArtefactBase:
    return art(
        "health-needs-checklist",
        local_id="HNC-0009",
        meeting_type="initial-conference",
        meeting_at=at,
    )


def test_t05_conference_on_the_15th_working_day_is_on_time() -> None:
    assert found(outcome(), conference("2026-06-11T14:00:00+01:00"), rule="T05") == []


def test_t05_conference_on_the_16th_working_day_is_late() -> None:
    late = conference("2026-06-12T10:00:00+01:00")
    assert found(outcome(), late, rule="T05") == [(Severity.WARNING, "HNC-0009:$.meeting_at")]


def test_t05_takes_the_conference_day_in_england() -> None:
    # 23:30 UTC on 11 June is 00:30 BST on 12 June in England: one day late
    late = conference("2026-06-11T23:30:00+00:00")
    assert found(outcome(), late, rule="T05") == [(Severity.WARNING, "HNC-0009:$.meeting_at")]


def test_t05_a_conference_convened_late_is_reported_from_the_outcome_alone() -> None:
    assert found(outcome(conference_date="2026-06-15"), rule="T05") == [
        (Severity.WARNING, "S47-0001:$.conference_date")
    ]
    assert found(outcome(conference_date="2026-06-11"), rule="T05") == []


def test_t05_missing_conference_is_a_breach_only_in_a_whole_case() -> None:
    assert found(outcome(), rule="T05", complete=True) == [(Severity.WARNING, "S47-0001:$.outcome")]
    assert found(outcome(), rule="T05", complete=False) == [
        (Severity.INFORMATION, "S47-0001:$.outcome")
    ]
    assert found(outcome(), rule="T05", as_of=date(2026, 6, 11)) == []


def test_t05_no_conference_needed_when_not_substantiated() -> None:
    assert found(outcome(outcome="not-substantiated"), rule="T05") == []
    assert found(outcome(outcome="no-conference"), rule="T05") == []


def test_t06_leaves_a_discussion_with_a_section_47_outcome_to_t05() -> None:
    report = art(
        "strategy-discussion-health-report",
        strategy_discussion_date="2026-05-20",
        outcome="s47",
        social_worker={"name": "Dana Whitfield", "phone": "0113 496 0100"},
    )
    # on its own, the strategy report's missing conference is T06's
    assert found(report, rule="T06") == [(Severity.WARNING, "SD-0001:$.strategy_discussion_date")]
    # with an outcome saying the concerns were not substantiated, nothing is missing
    cleared = outcome(outcome="not-substantiated")
    assert found(report, cleared, rule="T06") == []
    assert found(report, cleared, rule="T05") == []
