"""Referral, assessment and section 47 outcome: their consistency rules, each at its field."""

from __future__ import annotations

import json
from datetime import date
from typing import Any

from builders import doc

from interop.artefact_json import parse_artefact
from interop.domain import Referral


def problems(document: dict[str, Any]) -> set[tuple[str, str | None]]:
    result = parse_artefact(json.dumps(document))
    return {(i.location, i.rule_id or i.code.value) for i in result.issues if i.is_error}


def test_a_referral_s_days_are_england_s() -> None:
    # 23:30 UTC on 30 June is 00:30 BST on 1 July in England
    referral = parse_artefact(
        json.dumps(
            doc(
                "referral",
                received_at="2026-06-30T23:30:00+00:00",
                decision="s17-assessment",
                decided_at="2026-07-01T08:00:00+00:00",
            )
        )
    ).artefact
    assert isinstance(referral, Referral)
    assert referral.received_on == date(2026, 7, 1)
    assert referral.decided_on == date(2026, 7, 1)


def test_a_decision_needs_its_time_and_a_time_its_decision() -> None:
    assert problems(doc("referral", decision="s47-enquiries")) == {("$.decided_at", "C17")}
    assert problems(doc("referral", decided_at="2026-03-02T10:00:00+00:00")) == {
        ("$.decision", "C17")
    }


def test_a_decision_before_the_referral_is_refused() -> None:
    document = doc("referral", decision="s17-assessment", decided_at="2026-03-02T09:29:00+00:00")
    assert problems(document) == {("$.decided_at", "C02")}


def test_a_referral_time_without_offset_is_refused() -> None:
    found = problems(doc("referral", received_at="2026-03-02T09:30:00"))
    assert [location for location, _ in found] == ["$.received_at"]


def test_unknown_decision_code_is_refused() -> None:
    found = problems(doc("referral", decision="maybe", decided_at="2026-03-02T10:00:00+00:00"))
    assert [location for location, _ in found] == ["$.decision"]


def test_an_assessment_cannot_end_before_it_starts_nor_have_an_outcome_while_open() -> None:
    assert problems(doc("assessment", completed_on="2026-03-03")) == {("$.completed_on", "C02")}
    assert problems(doc("assessment", outcome="No further action.")) == {("$.completed_on", "C17")}


def test_a_section_47_outcome_s_dates_follow_the_strategy_discussion() -> None:
    assert problems(doc("section-47-outcome", decided_on="2026-03-09")) == {("$.decided_on", "C02")}
    conference = doc(
        "section-47-outcome", outcome="initial-conference", conference_date="2026-03-09"
    )
    assert problems(conference) == {("$.conference_date", "C02")}


def test_a_conference_date_only_with_a_conference() -> None:
    document = doc("section-47-outcome", conference_date="2026-03-25")
    assert problems(document) == {("$.conference_date", "C17")}


def test_summaries_mask_the_child() -> None:
    for kind in ("referral", "assessment", "section-47-outcome"):
        artefact = parse_artefact(json.dumps(doc(kind))).artefact
        assert artefact is not None
        line = artefact.summary()
        for personal in ("9434765919", "Poppy", "Ashworth"):
            assert personal not in line
