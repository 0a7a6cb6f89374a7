"""The travel protocol's and the missing-child briefing's rules about one travel alert.

B02 and B04-B09 (ids, texts and sources in ``interop.validators.business_rules.RULES``):
the risk assessment's completeness (000 L38-47), the referral's timing after a significant
risk (000 L32, L50-52) and its date against the alert's, an assessment due by departure
(000 L30, L38), a retrospective assessment overdue (000 L34, L59), the two conditions of a
significant risk (000 L50), and the reasonable efforts to locate a family before a case is
closed (003 L31-44).

"Immediate" and "as soon as possible" are given no number of days by the guidance; the
toolkit reads them as working days after the trigger (``IMMEDIATE_WORKING_DAYS``,
``RETROSPECTIVE_WORKING_DAYS``), a convention stated with the rules.
"""

from __future__ import annotations

from collections.abc import Iterator
from datetime import date

from interop.codes import LocateEffort, TravelOutcome, TravelScenario
from interop.domain import TravelAlert
from interop.validators.findings import Finding
from interop.validators.working_days import add_working_days, working_days_between

#: "Immediate contact": on the day of the finding or the next working day (toolkit convention).
IMMEDIATE_WORKING_DAYS = 1
#: "As soon as possible" for a retrospective assessment, counted from the alert (convention).
RETROSPECTIVE_WORKING_DAYS = 5

#: The efforts to locate the 003 briefing lists (L35-42). Following up leads is left out: it
#: is owed only when the other efforts turned some up.
EXPECTED_EFFORTS: tuple[LocateEffort, ...] = tuple(
    e for e in LocateEffort if e is not LocateEffort.LEADS_FOLLOWED_UP
)

#: The factors the risk assessment records as text (000 L39, L45, L30 and L47), by field.
_TEXT_FACTORS: tuple[tuple[str, str], ...] = (
    ("expected_time_away", "the expected length of time away"),
    ("transport_mode", "the mode of transport"),
    ("family_views_and_wishes", "the family's views and wishes"),
)


def travel_findings(alert: TravelAlert, as_of: date) -> Iterator[Finding]:
    """Every travel and missing-child rule broken by ``alert`` on ``as_of``."""
    yield from _b02_risk_factors(alert)
    yield from _b03_departed(alert, as_of)
    yield from _b04_referral_immediate(alert)
    yield from _b05_referral_after_alert(alert)
    yield from _b06_assessed_before_departure(alert, as_of)
    yield from _b07_retrospective_overdue(alert, as_of)
    yield from _b08_significant_risk_conditions(alert)
    yield from _b09_efforts_before_closure(alert)


def _b02_risk_factors(alert: TravelAlert) -> Iterator[Finding]:
    assessment = alert.risk_assessment
    if assessment is None:
        return
    missing = assessment.missing_factors()
    if missing:
        yield Finding(
            "B02",
            "$.risk_assessment.findings",
            f"the risk assessment of {assessment.assessed_on} does not record "
            f"{len(missing)} factor(s) of the protocol: {', '.join(f.value for f in missing)}",
        )
    for field, what in _TEXT_FACTORS:
        if getattr(assessment, field) is None:
            yield Finding(
                "B02",
                f"$.risk_assessment.{field}",
                f"the risk assessment of {assessment.assessed_on} does not record {what}",
            )


def _b03_departed(alert: TravelAlert, as_of: date) -> Iterator[Finding]:
    departed = alert.departure_date
    if alert.scenario is TravelScenario.TRAVELLED and departed is not None and departed > as_of:
        yield Finding(
            "B03",
            "$.departure_date",
            f"the child is recorded as having travelled, but the departure date {departed} "
            f"is after {as_of}",
        )


def _b04_referral_immediate(alert: TravelAlert) -> Iterator[Finding]:
    referral, assessment = alert.social_care_referral, alert.risk_assessment
    if alert.outcome is not TravelOutcome.SIGNIFICANT_RISK or referral is None or not assessment:
        return
    due = add_working_days(assessment.assessed_on, IMMEDIATE_WORKING_DAYS)
    if referral.made_on > due:
        yield Finding(
            "B04",
            "$.social_care_referral.made_on",
            f"the referral to children's social care on {referral.made_on} came "
            f"{working_days_between(assessment.assessed_on, referral.made_on)} working days "
            f"after the risk assessment of {assessment.assessed_on} found a significant risk: "
            f"contact must be immediate (by {due})",
        )


def _b05_referral_after_alert(alert: TravelAlert) -> Iterator[Finding]:
    referral = alert.social_care_referral
    if referral is not None and referral.made_on < alert.raised_on:
        yield Finding(
            "B05",
            "$.social_care_referral.made_on",
            f"the referral to children's social care is dated {referral.made_on}, before the "
            f"alert was raised on {alert.raised_on}: it follows the alert's risk assessment",
        )


def _b06_assessed_before_departure(alert: TravelAlert, as_of: date) -> Iterator[Finding]:
    departure = alert.departure_date
    if (
        alert.scenario is TravelScenario.PLANNED
        and alert.risk_assessment is None
        and departure is not None
        and departure <= as_of
    ):
        yield Finding(
            "B06",
            "$.risk_assessment",
            f"the planned departure on {departure} has come by {as_of} with no risk "
            "assessment recorded: the journey must be assessed before the child travels",
        )


def _b07_retrospective_overdue(alert: TravelAlert, as_of: date) -> Iterator[Finding]:
    if alert.scenario is not TravelScenario.TRAVELLED or alert.risk_assessment is not None:
        return
    due = add_working_days(alert.raised_on, RETROSPECTIVE_WORKING_DAYS)
    if as_of > due:
        yield Finding(
            "B07",
            "$.risk_assessment",
            f"no retrospective risk assessment is recorded by {as_of}, "
            f"{working_days_between(alert.raised_on, as_of)} working days after the alert of "
            f"{alert.raised_on} that the child had travelled: it must be done as soon as "
            f"possible (the toolkit expects it by {due})",
        )


def _b08_significant_risk_conditions(alert: TravelAlert) -> Iterator[Finding]:
    # a retrospective finding needs no refusal by the family (000 L34, L59): only planned travel
    if (
        alert.scenario is TravelScenario.PLANNED
        and alert.outcome is TravelOutcome.SIGNIFICANT_RISK
        and alert.family_following_health_advice is True
    ):
        yield Finding(
            "B08",
            "$.family_following_health_advice",
            "the outcome is a significant risk of harm while the family is recorded as "
            "following the health professionals' advice: the protocol's significant-risk "
            "route is for a family choosing not to follow it or not to make appropriate "
            "travel arrangements",
        )


def _b09_efforts_before_closure(alert: TravelAlert) -> Iterator[Finding]:
    closure = alert.closure
    if alert.scenario is not TravelScenario.WHEREABOUTS_UNKNOWN or closure is None:
        return
    made = {a.effort for a in alert.locate_attempts if a.done_on <= closure.closed_on}
    if alert.missing_alert_recipients:
        made.add(LocateEffort.MISSING_ALERT)
    missing = [e for e in EXPECTED_EFFORTS if e not in made]
    if missing:
        yield Finding(
            "B09",
            "$.closure",
            f"the case was closed on {closure.closed_on} without {len(missing)} of the "
            f"reasonable efforts to locate the family: {', '.join(e.value for e in missing)}",
        )
