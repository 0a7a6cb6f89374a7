"""Business rules: the guidance's timescales and "should"s that need a date to check.

Consistency rules that need no date (C01-C17) are the domain models' own (interop.domain.rules);
this stage checks what depends on the day the check is run (``as_of``) or on several artefacts
about the same child:

- ``check_artefact`` runs the rules about one artefact (T01, T11, B01; the travel protocol's
  and missing-child briefing's B02-B09 in ``interop.validators.travel_rules``);
- ``check_case`` groups artefacts by the child's NHS number and runs the timescales between
  them (T04-T10; T01, T04 and T05 in ``interop.validators.referral_rules``). A UCPP flag's
  subject is the expectant mother, so it belongs to no child.

Conventions:

- Working days exclude weekends and England and Wales bank holidays; the trigger day is day 0
  (``interop.validators.working_days``). "Within 3 months" counts calendar months, clamped to
  the month's last day.
  A meeting's day is its date in England (Europe/London), whatever offset it was recorded in.
- "Must" in the guidance is an error, "should" a warning. Every timescale here is a "should".
- "As of": an artefact dated after ``as_of`` (a meeting, a strategy discussion, an alert raised)
  has not happened yet and is left out. A deadline that has not passed on ``as_of`` gives
  nothing; once it has passed with no meeting recorded, a warning says so, but only when the
  artefacts are the child's whole case (``complete``): otherwise the meeting may simply be in
  a file not given, and an information issue says what could not be checked.
- The toolkit has no record of a conference's decision, so "the child is the subject of a child
  protection plan" (which T07-T09 need before a missing meeting is reported) is read from the
  artefacts: a CPP flag starting on or after the initial conference, a core group or review
  conference, or a health treatment plan linked to a started CPP. Without such evidence only
  late meetings are reported, never missing ones. A CPP flag's end date ends the duty to meet.
- Rules are tagged with the Working Together editions they apply to: 2013 (004) and 2026
  (002), the editions whose text is among the sources (2026 replaced 2023, 002 L202). The
  timescales are the same in both; an issue cites the edition checked, by the document's name
  and section (``interop.sources``), while the table keeps file and line for maintainers.
- Messages give dates and working-day counts, never a name or an NHS number; a date of birth
  shows only as the year of the 18th birthday.
"""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Callable, Collection, Iterable, Iterator
from dataclasses import dataclass, field
from datetime import date

from interop.codes import (
    Agency,
    DestinationKind,
    MeetingType,
    Permanence,
    PlanType,
    StrategyOutcome,
)
from interop.domain import (
    ArtefactBase,
    Assessment,
    ChildProtectionFlag,
    HealthNeedsChecklist,
    HealthTreatmentPlan,
    Referral,
    Section47EnquiryOutcome,
    StrategyDiscussionHealthReport,
    TravelAlert,
)
from interop.domain.child_protection_flag import add_months
from interop.issues import Issue, IssueCode, Severity
from interop.sources import CONVENTION, for_people
from interop.validators.findings import Finding
from interop.validators.referral_rules import (
    t01_referral_decision,
    t04_assessment,
    t05_conference_after_enquiries,
)
from interop.validators.travel_rules import (
    IMMEDIATE_WORKING_DAYS,
    RETROSPECTIVE_WORKING_DAYS,
    travel_findings,
)
from interop.validators.working_days import add_working_days, working_days_between

#: Working Together editions a rule can be checked against, oldest first: those whose text is
#: among the sources (2023 is not: the 2026 edition replaced it, 002 L202).
EDITIONS: tuple[str, ...] = ("2013", "2026")
DEFAULT_EDITION = "2026"
_ALL = frozenset(EDITIONS)

WT2026 = "002_7a8cd4b31029ee68.txt"  # Working Together 2026
WT2013 = "004_ceaca56681b35788.txt"  # Lincolnshire pack: Working Together 2013 at L1414-2973
TRAVEL = "000_f1e2ca509ebfd4fe.txt"  # Leeds out-of-area travel protocol (edition-independent)
MISSING = "003_a5c554465bdd92c7.txt"  # LSCB briefing: children in need who moved away
NOT_CHECKABLE = "not checkable from the toolkit's artefacts"


@dataclass(frozen=True)
class BusinessRule:
    """A rule of the guidance: id, what it says, where, how bad, which editions it belongs to.

    ``lines`` cites the 2026 text (or the local protocol) by corpus file and line, for
    maintainers; ``edition_lines`` another edition's own text. ``words`` are words the cited
    lines contain (tests/validators/test_citations.py checks them). Users see ``source``:
    the document by its name, chapter and section. A rule with a ``note`` of ``NOT_CHECKABLE`` is
    registered for completeness and never reported.
    """

    id: str
    text: str
    lines: str
    severity: Severity
    editions: frozenset[str]
    edition_lines: dict[str, str] = field(default_factory=dict, hash=False, compare=False)
    note: str | None = None
    words: tuple[str, ...] = ()

    @property
    def source(self) -> str:
        """Where the rule is written (the 2026 edition), as a reader finds it."""
        return for_people(self.lines)

    @property
    def checkable(self) -> bool:
        """Whether the toolkit's artefacts carry the dates this rule needs."""
        return self.note != NOT_CHECKABLE

    def applies_to(self, edition: str) -> bool:
        """Whether the rule is in ``edition`` of Working Together."""
        return edition in self.editions

    def lines_for(self, edition: str) -> str:
        """The corpus file and lines of the rule in ``edition`` (the local protocol's when the
        rule is not Working Together's)."""
        return self.edition_lines.get(edition, self.lines)

    def source_for(self, edition: str) -> str:
        """Where the rule is written in ``edition``, as a reader finds it."""
        return for_people(self.lines_for(edition))


def _rule(
    rule_id: str,
    text: str,
    lines: str,
    *,
    words: tuple[str, ...],
    severity: Severity = Severity.WARNING,
    wt2013: str | None = None,
    note: str | None = None,
) -> BusinessRule:
    edition_lines = {"2013": f"{WT2013} {wt2013}"} if wt2013 else {}
    return BusinessRule(rule_id, text, lines, severity, _ALL, edition_lines, note, words)


RULES: dict[str, BusinessRule] = {
    r.id: r
    for r in (
        _rule(
            "T01",
            "A decision on the response to a referral within 1 working day of receiving it.",
            f"{WT2026} L1119",
            wt2013="L1805, L1851",
            words=("one working day", "referral"),
        ),
        _rule(
            "T04",
            "An assessment concludes within 45 working days of the referral; reasons are "
            "recorded if it takes longer.",
            f"{WT2026} L1134",
            wt2013="L1807",
            words=("45 working days",),
        ),
        _rule(
            "T05",
            "When section 47 enquiries substantiate the concerns and a conference is convened, "
            "the initial child protection conference takes place within 15 working days of the "
            "strategy discussion at which the enquiries were initiated (checked from the "
            "section 47 outcome).",
            f"{WT2026} L1812-1816",
            wt2013="L1999-2001",
            words=("substantiated", "15 working days"),
        ),
        _rule(
            "T06",
            "The initial child protection conference takes place within 15 working days of the "
            "strategy discussion at which section 47 enquiries were started.",
            f"{WT2026} L1816",
            wt2013="L2001",
            words=("initial child protection conference",),
        ),
        _rule(
            "T07",
            "The core group first meets within 10 working days of the initial conference.",
            f"{WT2026} L1917",
            wt2013="L2032",
            words=("10 working days", "initial child protection conference"),
        ),
        _rule(
            "T08",
            "The first review conference is held within 3 months of the initial conference.",
            f"{WT2026} L1911, L1936",
            wt2013="L2027, L2040",
            words=("review", "months"),
        ),
        _rule(
            "T09",
            "Later review conferences are held no more than 6 months apart while the plan lasts.",
            f"{WT2026} L1911, L1936",
            wt2013="L2027, L2040",
            words=("intervals", "months"),
        ),
        _rule(
            "T10",
            "The receiving local authority holds a child protection conference within 15 working "
            "days of being notified of a permanent move. The toolkit's reading: a travel alert "
            "for a permanent move to a UK local authority, raised on the day of notification, "
            "followed by a transfer-in conference checklist.",
            f"{WT2026} L1956",
            wt2013="L2052",
            words=("15 working days", "moved permanently"),
        ),
        _rule(
            "T11",
            "A child protection plan ends by the child's 18th birthday.",
            f"{WT2026} L1957",
            wt2013="L2053",
            words=("18",),
        ),
        _rule(
            "B01",
            "A strategy discussion involves, as a minimum, local authority social care, health "
            "and the police.",
            f"{WT2026} L1677",
            wt2013="L1935",
            words=("as a minimum", "police"),
        ),
        _rule(
            "B02",
            "A travel risk assessment considers and documents every factor of the protocol: "
            "the expected time away, healthcare at the destination and how to reach it, "
            "insurance, supplies for the whole trip, the mode of transport and managing the "
            "child's needs on the way, prior arrangements, and the family's understanding of "
            "the risks, views and wishes.",
            f"{TRAVEL} L38-47",
            words=("risk assessment", "views and wishes"),
        ),
        _rule(
            "B03",
            "A retrospective travel assessment is about a journey that has already begun: the "
            "departure date is not after the day of the check.",
            f"{TRAVEL} L34, L59; {CONVENTION}",
            severity=Severity.ERROR,
            words=("retrospective",),
        ),
        _rule(
            "B04",
            "After a risk assessment finds a significant risk of harm, contact with children's "
            "social care is immediate: the toolkit expects the referral on the day of the "
            f"assessment or within {IMMEDIATE_WORKING_DAYS} working day.",
            f"{TRAVEL} L32, L50-52",
            severity=Severity.ERROR,
            words=("immediate", "significant"),
        ),
        _rule(
            "B05",
            "The referral to children's social care is not dated before the alert it follows.",
            f"{TRAVEL} L27, L50-52",
            severity=Severity.ERROR,
            words=("aware", "immediate"),
        ),
        _rule(
            "B06",
            "Planned travel is risk assessed before the child departs.",
            f"{TRAVEL} L30, L38",
            severity=Severity.ERROR,
            words=("risk assessment", "journey"),
        ),
        _rule(
            "B07",
            "A child who travelled without a prior assessment has a retrospective risk "
            "assessment as soon as possible: the toolkit expects it within "
            f"{RETROSPECTIVE_WORKING_DAYS} working days of the alert.",
            f"{TRAVEL} L34, L59",
            severity=Severity.ERROR,
            words=("retrospective", "as soon as possible"),
        ),
        _rule(
            "B08",
            "A significant-risk outcome for planned travel is for a family choosing not to "
            "follow the health professionals' advice or make appropriate travel arrangements.",
            f"{TRAVEL} L32, L50",
            words=("significant risk", "not to follow"),
        ),
        _rule(
            "B09",
            "A missing child's case is closed only after the reasonable efforts to locate the "
            "family: two home visits (by appointment and speculative), a letter, housing, the "
            "police missing persons unit, Child Benefit checks, inter-agency networks and "
            "missing alerts to other local authorities.",
            f"{MISSING} L31-44",
            words=("reasonable efforts", "Head of Service"),
        ),
    )
}

#: Agencies a strategy discussion involves as a minimum (002 L1677).
STRATEGY_MINIMUM: tuple[Agency, ...] = (Agency.LA_SOCIAL_CARE, Agency.HEALTH, Agency.POLICE)


def rules_for(edition: str = DEFAULT_EDITION) -> list[BusinessRule]:
    """The rules of ``edition``, checkable or not."""
    _check_edition(edition)
    return [r for r in RULES.values() if r.applies_to(edition)]


def _check_edition(edition: str) -> None:
    if edition not in EDITIONS:
        raise ValueError(f"unknown Working Together edition {edition!r}; one of {EDITIONS}")


def _issues(findings: Iterable[Finding], edition: str, complete: bool = True) -> list[Issue]:
    issues = []
    for f in findings:
        rule = RULES[f.rule_id]
        if not (rule.checkable and rule.applies_to(edition)):
            continue
        severity, message = f.severity or rule.severity, f.message
        if f.unseen is not None and not complete:
            severity = Severity.INFORMATION
            message = (
                f"not checked: {f.unseen} is among the files given, which may not hold the "
                "child's whole case (validate the case folder with --case DIR to check it)"
            )
        issues.append(
            Issue(
                severity,
                IssueCode.BUSINESS_RULE,
                f.location,
                message,
                rule.id,
                rule.source_for(edition),
            )
        )
    return issues


# --- single-artefact rules ---------------------------------------------------------------


def eighteenth_birthday(date_of_birth: date) -> date:
    """The 18th birthday; a 29 February birthday falls on 1 March (as ``age_on`` counts it)."""
    try:
        return date_of_birth.replace(year=date_of_birth.year + 18)
    except ValueError:
        return date(date_of_birth.year + 18, 3, 1)


def _t11_plan_ends_by_18(flag: ChildProtectionFlag, as_of: date) -> Iterator[Finding]:
    if flag.plan_type is not PlanType.CPP:
        return
    birthday = eighteenth_birthday(flag.subject.date_of_birth)
    # the year only: the full birthday would give the child's date of birth away
    if flag.plan_end is not None and flag.plan_end > birthday:
        yield Finding(
            "T11",
            "$.plan_end",
            f"the child protection plan ends on {flag.plan_end}, after the child's 18th "
            f"birthday (in {birthday.year}): a plan should end by the 18th birthday",
        )
    elif flag.plan_end is None and birthday < as_of:
        yield Finding(
            "T11",
            "$.plan_end",
            f"the child protection plan (from {flag.plan_start}) has no end date on {as_of}, "
            f"but the child turned 18 (in {birthday.year}) "
            f"{working_days_between(birthday, as_of)} working day(s) earlier: a plan should "
            "end by the 18th birthday",
        )


def _b01_strategy_agencies(report: StrategyDiscussionHealthReport) -> Iterator[Finding]:
    if not report.participating_agencies:
        yield Finding(
            "B01",
            "$.participating_agencies",
            "not checked: the agencies that took part in the strategy discussion on "
            f"{report.strategy_discussion_date} are not recorded",
            severity=Severity.INFORMATION,
        )
        return
    missing = [a for a in STRATEGY_MINIMUM if a not in report.participating_agencies]
    if missing:
        yield Finding(
            "B01",
            "$.participating_agencies",
            f"the strategy discussion on {report.strategy_discussion_date} did not involve "
            f"{', '.join(a.value for a in missing)}: local authority social care, health and "
            "police should take part as a minimum",
        )


def _artefact_findings(artefact: ArtefactBase, as_of: date) -> Iterator[Finding]:
    if isinstance(artefact, ChildProtectionFlag):
        yield from _t11_plan_ends_by_18(artefact, as_of)
    elif isinstance(artefact, StrategyDiscussionHealthReport):
        yield from _b01_strategy_agencies(artefact)
    elif isinstance(artefact, TravelAlert):
        yield from travel_findings(artefact, as_of)
    elif isinstance(artefact, Referral):
        yield from t01_referral_decision(artefact, as_of)


def check_artefact(
    artefact: ArtefactBase, *, as_of: date, edition: str = DEFAULT_EDITION
) -> list[Issue]:
    """The business rules about one artefact on ``as_of``, for ``edition`` of the guidance."""
    _check_edition(edition)
    return _issues(_artefact_findings(artefact, as_of), edition)


# --- rules across a child's artefacts ------------------------------------------------------


def _meeting_day(checklist: HealthNeedsChecklist) -> date:
    return checklist.meeting_day


@dataclass
class _Case:
    """One child's artefacts dated on or before ``as_of``, each list in date order."""

    as_of: date
    s47: list[StrategyDiscussionHealthReport] = field(default_factory=list)
    meetings: list[HealthNeedsChecklist] = field(default_factory=list)
    flags: list[ChildProtectionFlag] = field(default_factory=list)  # CPP only
    plans: list[HealthTreatmentPlan] = field(default_factory=list)
    moves: list[TravelAlert] = field(default_factory=list)  # permanent, to a UK LA
    referrals: list[Referral] = field(default_factory=list)
    assessments: list[Assessment] = field(default_factory=list)
    outcomes: list[Section47EnquiryOutcome] = field(default_factory=list)

    def of_type(self, kind: MeetingType) -> list[HealthNeedsChecklist]:
        """The meetings of one type, in date order."""
        return [m for m in self.meetings if m.meeting_type is kind]


def child_nhs_number(artefact: ArtefactBase) -> str | None:
    """The NHS number of the child an artefact is about (none for a UCPP flag: the mother's)."""
    if isinstance(artefact, ChildProtectionFlag):
        return None if artefact.plan_type is PlanType.UCPP else artefact.subject.nhs_number
    if isinstance(
        artefact,
        StrategyDiscussionHealthReport
        | HealthNeedsChecklist
        | HealthTreatmentPlan
        | TravelAlert
        | Referral
        | Assessment
        | Section47EnquiryOutcome,
    ):
        return artefact.child.nhs_number
    return None


def _add_to_case(case: _Case, artefact: ArtefactBase) -> None:
    as_of = case.as_of
    if isinstance(artefact, StrategyDiscussionHealthReport):
        if artefact.outcome is StrategyOutcome.S47 and artefact.strategy_discussion_date <= as_of:
            case.s47.append(artefact)
    elif isinstance(artefact, HealthNeedsChecklist):
        if _meeting_day(artefact) <= as_of:
            case.meetings.append(artefact)
    elif isinstance(artefact, ChildProtectionFlag):
        if artefact.plan_type is PlanType.CPP and artefact.plan_start <= as_of:
            case.flags.append(artefact)
    else:
        _add_other_to_case(case, artefact)


def _add_other_to_case(case: _Case, artefact: ArtefactBase) -> None:
    as_of = case.as_of
    if isinstance(artefact, HealthTreatmentPlan):
        case.plans.append(artefact)
    elif isinstance(artefact, Referral):
        if artefact.received_on <= as_of:
            case.referrals.append(artefact)
    elif isinstance(artefact, Assessment):
        case.assessments.append(artefact)
    elif isinstance(artefact, Section47EnquiryOutcome):
        case.outcomes.append(artefact)
    elif isinstance(artefact, TravelAlert) and _moves_to_another_la(artefact, as_of):
        case.moves.append(artefact)


def _moves_to_another_la(alert: TravelAlert, as_of: date) -> bool:
    """A permanent move to a UK local authority, raised by ``as_of``."""
    return (
        alert.permanence is Permanence.PERMANENT
        and alert.destination is not None
        and alert.destination.kind is DestinationKind.UK_LOCAL_AUTHORITY
        and alert.raised_on <= as_of
    )


def _cases(artefacts: Iterable[ArtefactBase], as_of: date) -> dict[str, _Case]:
    by_child: dict[str, _Case] = defaultdict(lambda: _Case(as_of))
    for artefact in artefacts:
        nhs_number = child_nhs_number(artefact)
        if nhs_number is not None:
            _add_to_case(by_child[nhs_number], artefact)
    for case in by_child.values():
        case.s47.sort(key=lambda r: r.strategy_discussion_date)
        case.meetings.sort(key=_meeting_day)
        case.moves.sort(key=lambda a: a.raised_on)
        case.referrals.sort(key=lambda r: r.received_at)
    return dict(by_child)


def _at(artefact: ArtefactBase, path: str) -> str:
    return f"{artefact.local_id}:{path}"


def _t06_initial_conference(case: _Case) -> Iterator[Finding]:
    # a discussion whose section 47 outcome is in the case is T05's (the outcome says whether
    # a conference was called at all)
    with_outcome = {o.strategy_discussion_date for o in case.outcomes}
    for finding in _t06_from_reports(case):
        if finding.discussed not in with_outcome:
            yield finding.finding


@dataclass(frozen=True)
class _T06:
    discussed: date
    finding: Finding


def _t06_from_reports(case: _Case) -> Iterator[_T06]:
    previous = date.min
    for conference in case.of_type(MeetingType.INITIAL_CONFERENCE):
        held = _meeting_day(conference)
        # the discussion that started the enquiries: the first s47 one since the last conference
        started = [r for r in case.s47 if previous < r.strategy_discussion_date <= held]
        if started:
            discussed = started[0].strategy_discussion_date
            due = add_working_days(discussed, 15)
            if held > due:
                yield _T06(
                    discussed,
                    Finding(
                        "T06",
                        _at(conference, "$.meeting_at"),
                        f"the initial conference on {held} is "
                        f"{working_days_between(discussed, held)} working days after the "
                        f"strategy discussion on {discussed} ({started[0].local_id}) that "
                        f"started section 47 enquiries: it should be within 15 working days, "
                        f"by {due}",
                    ),
                )
        previous = held
    waiting = [r for r in case.s47 if r.strategy_discussion_date > previous]
    if waiting:
        discussed = waiting[0].strategy_discussion_date
        due = add_working_days(discussed, 15)
        if case.as_of > due:
            yield _T06(
                discussed,
                Finding(
                    "T06",
                    _at(waiting[0], "$.strategy_discussion_date"),
                    f"no initial conference is recorded by {case.as_of}, "
                    f"{working_days_between(discussed, case.as_of)} working days after the "
                    f"strategy discussion on {discussed} that started section 47 enquiries: it "
                    f"was due within 15 working days, by {due} (unless the enquiries did not "
                    "substantiate the concerns)",
                    unseen=f"no initial conference after the strategy discussion on {discussed}",
                ),
            )


@dataclass(frozen=True)
class _Episode:
    """An initial conference and what followed it, up to the next initial conference."""

    conference: HealthNeedsChecklist
    start: date
    core_groups: list[HealthNeedsChecklist]
    reviews: list[HealthNeedsChecklist]
    on_plan: bool  # the artefacts show the child became the subject of a CP plan
    plan_end: date | None  # when the plan ended, if a flag says so

    def open_on(self, day: date) -> bool:
        """Whether the plan (as far as the artefacts show) still lasted on ``day``."""
        return self.on_plan and (self.plan_end is None or self.plan_end > day)


def _episodes(case: _Case) -> list[_Episode]:
    conferences = case.of_type(MeetingType.INITIAL_CONFERENCE)
    episodes = []
    for i, conference in enumerate(conferences):
        start = _meeting_day(conference)
        end = _meeting_day(conferences[i + 1]) if i + 1 < len(conferences) else date.max
        core_groups = [
            m for m in case.of_type(MeetingType.CORE_GROUP) if start <= _meeting_day(m) < end
        ]
        reviews = [
            m for m in case.of_type(MeetingType.REVIEW_CONFERENCE) if start < _meeting_day(m) < end
        ]
        flags = [f for f in case.flags if start <= f.plan_start < end]
        plans = [
            p
            for p in case.plans
            if p.cp_plan.plan_type is PlanType.CPP
            and p.cp_plan.start_date is not None
            and start <= p.cp_plan.start_date < end
        ]
        plan_end = None
        if flags and all(f.plan_end is not None for f in flags):
            plan_end = max(f.plan_end for f in flags if f.plan_end is not None)
        on_plan = bool(flags or core_groups or reviews or plans)
        episodes.append(_Episode(conference, start, core_groups, reviews, on_plan, plan_end))
    return episodes


def _t07_core_group(episode: _Episode, as_of: date) -> Iterator[Finding]:
    due = add_working_days(episode.start, 10)
    if episode.core_groups:
        first = episode.core_groups[0]
        held = _meeting_day(first)
        if held > due:
            yield Finding(
                "T07",
                _at(first, "$.meeting_at"),
                f"the first core group on {held} is {working_days_between(episode.start, held)} "
                f"working days after the initial conference on {episode.start}: it should be "
                f"within 10 working days, by {due}",
            )
    elif as_of > due and episode.open_on(due):
        yield Finding(
            "T07",
            _at(episode.conference, "$.meeting_at"),
            f"no core group is recorded by {as_of}, "
            f"{working_days_between(episode.start, as_of)} working days after the initial "
            f"conference on {episode.start}: it was due within 10 working days, by {due}",
            unseen=f"no core group after the initial conference on {episode.start}",
        )


def _t08_first_review(episode: _Episode, as_of: date) -> Iterator[Finding]:
    due = add_months(episode.start, 3)
    if episode.reviews:
        first = episode.reviews[0]
        held = _meeting_day(first)
        if held > due:
            yield Finding(
                "T08",
                _at(first, "$.meeting_at"),
                f"the first review conference on {held} is more than 3 months after the "
                f"initial conference on {episode.start}: it was due by {due}",
            )
    elif as_of > due and episode.open_on(due):
        yield Finding(
            "T08",
            _at(episode.conference, "$.meeting_at"),
            f"no review conference is recorded by {as_of} since the initial conference on "
            f"{episode.start}: the first review was due within 3 months, by {due}",
            unseen=f"no review conference after the initial conference on {episode.start}",
        )


def _t09_later_reviews(episode: _Episode, as_of: date) -> Iterator[Finding]:
    for before, after in zip(episode.reviews, episode.reviews[1:], strict=False):
        previous, held = _meeting_day(before), _meeting_day(after)
        due = add_months(previous, 6)
        if held > due:
            yield Finding(
                "T09",
                _at(after, "$.meeting_at"),
                f"the review conference on {held} is more than 6 months after the previous "
                f"review on {previous}: it was due by {due}",
            )
    if episode.reviews:
        last = episode.reviews[-1]
        previous = _meeting_day(last)
        due = add_months(previous, 6)
        if as_of > due and episode.open_on(due):
            yield Finding(
                "T09",
                _at(last, "$.meeting_at"),
                f"no review conference is recorded by {as_of} since the review on {previous}: "
                f"the next was due within 6 months, by {due}",
                unseen=f"no review conference after the review on {previous}",
            )


def _on_plan_when_notified(case: _Case, notified: date) -> bool:
    if case.flags:
        return any(f.is_active_on(notified) for f in case.flags)
    return any(_meeting_day(m) <= notified for m in case.meetings)


def _t10_transfer_in(case: _Case) -> Iterator[Finding]:
    transfers = case.of_type(MeetingType.TRANSFER_IN_CONFERENCE)
    for alert in case.moves:
        notified = alert.raised_on
        due = add_working_days(notified, 15)
        after = [m for m in transfers if _meeting_day(m) >= notified]
        if after:
            held = _meeting_day(after[0])
            if held > due:
                yield Finding(
                    "T10",
                    _at(after[0], "$.meeting_at"),
                    f"the transfer-in conference on {held} is "
                    f"{working_days_between(notified, held)} working days after the permanent "
                    f"move was notified on {notified} ({alert.local_id}): it should be within "
                    f"15 working days, by {due}",
                )
        elif case.as_of > due and _on_plan_when_notified(case, notified):
            yield Finding(
                "T10",
                _at(alert, "$.raised_on"),
                f"no transfer-in conference is recorded by {case.as_of}, "
                f"{working_days_between(notified, case.as_of)} working days after the permanent "
                f"move was notified on {notified}: it was due within 15 working days, by {due}",
                unseen=f"no transfer-in conference after the move notified on {notified}",
            )


_EPISODE_RULES: tuple[Callable[[_Episode, date], Iterator[Finding]], ...] = (
    _t07_core_group,
    _t08_first_review,
    _t09_later_reviews,
)


def _case_findings(case: _Case) -> Iterator[Finding]:
    yield from t04_assessment(case.assessments, case.referrals, case.as_of)
    conferences = case.of_type(MeetingType.INITIAL_CONFERENCE)
    yield from t05_conference_after_enquiries(case.outcomes, conferences, case.as_of)
    yield from _t06_initial_conference(case)
    for episode in _episodes(case):
        for rule in _EPISODE_RULES:
            yield from rule(episode, case.as_of)
    yield from _t10_transfer_in(case)


def check_case(
    artefacts: Iterable[ArtefactBase],
    *,
    as_of: date,
    edition: str = DEFAULT_EDITION,
    complete: bool | Collection[str] = False,
) -> list[Issue]:
    """The timescales across each child's artefacts on ``as_of`` (T04-T10).

    Artefacts are grouped by the child's NHS number (a UCPP flag, about the mother, is left
    out); locations are prefixed with the local id of the artefact the issue is about.
    ``complete`` says whose case the artefacts hold in full: ``True`` for every child, or the
    NHS numbers of those children. A late meeting is reported whatever it is, since both
    dates are seen; a *missing* meeting is a breach only in a complete case, and otherwise an
    information issue saying what could not be checked.
    """
    _check_edition(edition)
    issues: list[Issue] = []
    for nhs_number, case in _cases(artefacts, as_of).items():
        whole = complete if isinstance(complete, bool) else nhs_number in complete
        issues.extend(_issues(_case_findings(case), edition, whole))
    return issues


def check_artefacts(
    artefacts: Iterable[ArtefactBase],
    *,
    as_of: date,
    edition: str = DEFAULT_EDITION,
    complete: bool | Collection[str] = False,
) -> list[Issue]:
    """Every business rule: each artefact's own, prefixed by its local id, then the case rules
    (``complete`` as for ``check_case``)."""
    items = list(artefacts)
    issues: list[Issue] = []
    for artefact in items:
        for issue in check_artefact(artefact, as_of=as_of, edition=edition):
            issues.append(_prefixed(issue, artefact.local_id))
    issues.extend(check_case(items, as_of=as_of, edition=edition, complete=complete))
    return issues


def _prefixed(issue: Issue, local_id: str) -> Issue:
    return Issue(
        issue.severity,
        issue.code,
        f"{local_id}:{issue.location}",
        issue.message,
        issue.rule_id,
        issue.rule_source,
    )
