"""Working Together's timescales from a referral: T01 (decision), T04 (assessment), T05
(section 47 outcome to initial conference).

- T01, about one referral: the decision on the response within 1 working day of receipt
  (002 L1119). Both days are England's (Europe/London), whatever offset a time was recorded in.
- T04, across a child's artefacts: an assessment concludes within 45 working days of the
  referral (002 L1134); the referral is the one the assessment names (``referral_id``), else
  the child's latest referral received on or before the assessment started. An assessment
  longer than that with its reasons recorded follows the guidance, and is told as information.
- T05, across a child's artefacts: when section 47 enquiries substantiate the concerns and a
  conference is convened, the initial child protection conference takes place within 15
  working days of the strategy discussion at which the enquiries were initiated (002 L1816).
  The conference is the first initial-conference checklist after that discussion, else the
  day the outcome convened it for. A section 47 outcome is the better record of that
  discussion than its strategy report (it says whether a conference was called), so T06 leaves
  a discussion with an outcome to T05.

Ids, texts and sources are in ``interop.validators.business_rules.RULES``.
"""

from __future__ import annotations

from collections.abc import Iterator, Sequence
from datetime import date

from interop.codes import Section47Outcome
from interop.domain import Assessment, HealthNeedsChecklist, Referral, Section47EnquiryOutcome
from interop.issues import Severity
from interop.validators.findings import Finding
from interop.validators.working_days import add_working_days, working_days_between

DECISION_WORKING_DAYS = 1
ASSESSMENT_WORKING_DAYS = 45
CONFERENCE_WORKING_DAYS = 15


def _at(local_id: str, path: str) -> str:
    return f"{local_id}:{path}"


def t01_referral_decision(referral: Referral, as_of: date) -> Iterator[Finding]:
    """T01: the decision on a referral within 1 working day of its receipt."""
    received = referral.received_on
    if received > as_of:
        return
    due = add_working_days(received, DECISION_WORKING_DAYS)
    decided = referral.decided_on
    if decided is not None and decided > due:
        yield Finding(
            "T01",
            "$.decided_at",
            f"the decision on {decided} is {working_days_between(received, decided)} working "
            f"days after the referral was received on {received}: it should be within 1 "
            f"working day, by {due}",
        )
    elif decided is None and as_of > due:
        yield Finding(
            "T01",
            "$.decision",
            f"no decision is recorded by {as_of}, {working_days_between(received, as_of)} "
            f"working days after the referral was received on {received}: it was due within "
            f"1 working day, by {due}",
        )


def _referral_of(assessment: Assessment, referrals: Sequence[Referral]) -> Referral | None:
    if assessment.referral_id is not None:
        return next((r for r in referrals if r.local_id == assessment.referral_id), None)
    before = [r for r in referrals if r.received_on <= assessment.started_on]
    return max(before, key=lambda r: r.received_at) if before else None


def t04_assessment(
    assessments: Sequence[Assessment], referrals: Sequence[Referral], as_of: date
) -> Iterator[Finding]:
    """T04: each assessment concludes within 45 working days of its referral."""
    for assessment in assessments:
        if assessment.started_on > as_of:
            continue
        referral = _referral_of(assessment, referrals)
        if referral is None:
            named = f" {assessment.referral_id}" if assessment.referral_id else ""
            yield Finding(
                "T04",
                _at(assessment.local_id, "$.referral_id"),
                f"not checked: the referral{named} the assessment follows is not among the "
                "files given, so the 45 working days cannot be counted",
                severity=Severity.INFORMATION,
            )
            continue
        received = referral.received_on
        due = add_working_days(received, ASSESSMENT_WORKING_DAYS)
        done = assessment.completed_on
        if (done is not None and done <= due) or (done is None and as_of <= due):
            continue
        end = done if done is not None else as_of
        took = working_days_between(received, end)
        what = (
            f"the assessment concluded on {done}, {took} working days"
            if done is not None
            else f"the assessment is still open on {as_of}, {took} working days"
        )
        message = (
            f"{what} after the referral received on {received} ({referral.local_id}): it "
            f"should conclude within 45 working days, by {due}"
        )
        if assessment.reasons_exceeding is not None:
            yield Finding(
                "T04",
                _at(assessment.local_id, "$.reasons_exceeding"),
                f"{message}; the reasons for exceeding it are recorded, as the guidance asks",
                severity=Severity.INFORMATION,
            )
        else:
            yield Finding(
                "T04",
                _at(assessment.local_id, "$.completed_on"),
                f"{message}, and the reasons for exceeding it should be recorded",
            )


def t05_conference_after_enquiries(
    outcomes: Sequence[Section47EnquiryOutcome],
    conferences: Sequence[HealthNeedsChecklist],
    as_of: date,
) -> Iterator[Finding]:
    """T05: an initial conference within 15 working days of the strategy discussion at which
    substantiated section 47 enquiries were initiated. ``conferences`` are the child's initial
    conferences in date order."""
    for outcome in outcomes:
        if outcome.outcome is not Section47Outcome.CONFERENCE or outcome.decided_on > as_of:
            continue
        discussed = outcome.strategy_discussion_date
        due = add_working_days(discussed, CONFERENCE_WORKING_DAYS)
        held = [c for c in conferences if c.meeting_day >= discussed]
        if held:
            day = held[0].meeting_day
            where = _at(held[0].local_id, "$.meeting_at")
        elif outcome.conference_date is not None:
            day = outcome.conference_date
            where = _at(outcome.local_id, "$.conference_date")
        else:
            if as_of > due:
                yield Finding(
                    "T05",
                    _at(outcome.local_id, "$.outcome"),
                    f"no initial conference is recorded by {as_of}, "
                    f"{working_days_between(discussed, as_of)} working days after the strategy "
                    f"discussion on {discussed} at which the substantiated section 47 enquiries "
                    f"were initiated: it was due within 15 working days, by {due}",
                    unseen=f"no initial conference after the strategy discussion on {discussed}",
                )
            continue
        if day > due:
            yield Finding(
                "T05",
                where,
                f"the initial conference on {day} is {working_days_between(discussed, day)} "
                f"working days after the strategy discussion on {discussed} at which the "
                f"section 47 enquiries ({outcome.local_id}) were initiated: it should be within "
                f"15 working days, by {due}",
            )
