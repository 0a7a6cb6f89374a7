"""Hypothesis strategies for the shared parts of artefacts: synthetic people, organisations,
practitioners, contacts. Each kind's tests compose them into whole artefacts."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from hypothesis import strategies as st

from interop.codes import CodedEnum
from interop.identifiers import verhoeff_check_digit

# Names with non-ASCII letters, apostrophes, hyphens and spaces, as real registers hold them.
_LETTERS = "abcdefghijklmnopqrstuvwxyzàáâäçèéêëìíîïñòóôöùúûüýÿøåæœßłśźżčďěňřšťůžğışăţ"
NAMES = st.builds(
    lambda first, rest, sep, tail: (first.upper() + rest + sep + tail).strip(),
    st.sampled_from(_LETTERS),
    st.text(alphabet=_LETTERS, min_size=1, max_size=12),
    st.sampled_from(["", "", "", "-", "'", " "]),
    st.text(alphabet=_LETTERS, max_size=8),
).filter(lambda s: s and s[-1] not in "-' ")

TEXT = st.text(
    alphabet=st.characters(
        codec="utf-8",
        categories=("L", "N", "P", "Zs", "S"),
        exclude_characters="\u2028\u2029",
    ),
    min_size=1,
    max_size=60,
).filter(lambda s: s.strip() == s and s != "")

LEAP_DAYS = st.sampled_from(
    [date(2008, 2, 29), date(2012, 2, 29), date(2016, 2, 29), date(2024, 2, 29)]
)


def dates(
    start: date = date(2005, 1, 1), end: date = date(2027, 12, 31)
) -> st.SearchStrategy[date]:
    """Dates in a range, leap days included often."""
    return st.one_of(st.dates(start, end), LEAP_DAYS.filter(lambda d: start <= d <= end))


def _check_digit(nine: str) -> int:
    total = sum(int(d) * w for d, w in zip(nine, range(10, 1, -1), strict=True))
    return (11 - total % 11) % 11


NHS_NUMBERS = (
    st.integers(min_value=900_000_000, max_value=999_999_999)
    .map(str)
    .filter(lambda nine: _check_digit(nine) != 10)
    .map(lambda nine: f"{nine}{_check_digit(nine)}")
)
ODS_CODES = st.from_regex(r"[A-Z][A-Z0-9]{2,5}", fullmatch=True)
PHONES = st.builds(lambda n: f"0113 496 {n:04d}", st.integers(0, 999))
EMAILS = st.builds(
    lambda u: f"{u}@example.org", st.from_regex(r"[a-z]{1,10}(\.[a-z]{1,10})?", fullmatch=True)
)
# SNOMED CT concept ids: an item id, a short (00) or long, namespaced (10) concept partition,
# and the Verhoeff check digit; 6 to 18 digits in all.
SNOMED_CONCEPT_IDS = st.builds(
    lambda item, partition: f"{item}{partition}{verhoeff_check_digit(item + partition)}",
    st.from_regex(r"[1-9][0-9]{2,14}", fullmatch=True),
    st.sampled_from(["00", "10"]),
)
#: A condition entry as artefact JSON holds one: the bare name, or a name with its code.
CONDITION_ENTRIES = st.one_of(
    TEXT, st.fixed_dictionaries({"name": TEXT, "snomed_code": SNOMED_CONCEPT_IDS})
)
LOCAL_IDS = st.from_regex(r"[A-Za-z0-9][A-Za-z0-9._:\-]{0,20}", fullmatch=True)


def codes(enum: type[CodedEnum]) -> st.SearchStrategy[str]:
    """A code value of a code system."""
    return st.sampled_from([m.value for m in enum])


def optional(strategy: st.SearchStrategy[Any]) -> st.SearchStrategy[Any]:
    """The value or None (the field left out)."""
    return st.one_of(st.none(), strategy)


def without_none(value: Any) -> Any:
    """A document without None values, as JSON artefacts leave them out."""
    if isinstance(value, dict):
        return {k: without_none(v) for k, v in value.items() if v is not None}
    if isinstance(value, list):
        return [without_none(v) for v in value]
    return value


@st.composite
def people(draw: st.DrawFn, born: st.SearchStrategy[date] | None = None) -> dict[str, Any]:
    """A PersonIdentity document."""
    from interop.codes import AdministrativeGender, NhsNumberVerificationStatus

    return without_none(
        {
            "nhs_number": draw(NHS_NUMBERS),
            "nhs_number_verification": draw(optional(codes(NhsNumberVerificationStatus))),
            "given_name": draw(NAMES),
            "family_name": draw(NAMES),
            "date_of_birth": draw(
                born if born is not None else dates(date(2009, 1, 1), date(2025, 12, 31))
            ).isoformat(),
            "gender": draw(optional(codes(AdministrativeGender))),
            "local_identifier": draw(optional(LOCAL_IDS)),
        }
    )


@st.composite
def organisations(draw: st.DrawFn) -> dict[str, Any]:
    """An Organisation document."""
    return {"ods_code": draw(ODS_CODES), "name": draw(TEXT)}


@st.composite
def practitioners(draw: st.DrawFn) -> dict[str, Any]:
    """A Practitioner document, optional parts drawn in or left out."""
    from interop.codes import CareSetting

    return without_none(
        {
            "name": draw(NAMES),
            "role": draw(TEXT),
            "setting": draw(optional(codes(CareSetting))),
            "organisation": draw(optional(organisations())),
            "phone": draw(optional(PHONES)),
            "email": draw(optional(EMAILS)),
            "sds_user_id": draw(optional(st.from_regex(r"\d{12}", fullmatch=True))),
        }
    )


@st.composite
def social_workers(draw: st.DrawFn) -> dict[str, Any]:
    """A SocialWorkerContact document."""
    return without_none(
        {
            "name": draw(NAMES),
            "phone": draw(PHONES),
            "email": draw(optional(EMAILS)),
            "organisation": draw(optional(organisations())),
        }
    )


@st.composite
def sharing(draw: st.DrawFn) -> dict[str, Any] | None:
    """An InformationSharing document, or None for the default (nothing withheld)."""
    from interop.codes import WithholdingReason

    if not draw(st.booleans()):
        return None
    return without_none(
        {
            "withheld_from_family": True,
            "withheld_reason": draw(codes(WithholdingReason)),
            "note": draw(optional(TEXT)),
        }
    )


def after(day: date, max_days: int = 800) -> st.SearchStrategy[date]:
    """A date on or after ``day``."""
    return st.integers(0, max_days).map(lambda n: day + timedelta(days=n))


# --- the referral, the assessment and the section 47 outcome (whole artefact documents) ------

#: UTC offsets a sender may record a time in: England's two, and others a system may use.
_OFFSETS = st.sampled_from([timedelta(0), timedelta(hours=1), timedelta(hours=-5, minutes=-30)])


def instants(start: date = date(2024, 1, 1), end: date = date(2027, 12, 31)) -> Any:
    """An aware datetime (whole seconds) in a random offset, around England's clock changes."""
    from datetime import datetime, timezone

    return st.builds(
        lambda day, seconds, offset: (
            datetime.combine(day, datetime.min.time()).replace(tzinfo=timezone(offset))
            + timedelta(seconds=seconds)
        ),
        dates(start, end),
        st.integers(0, 86_399),
        _OFFSETS,
    )


@st.composite
def referrals(draw: st.DrawFn) -> dict[str, Any]:
    """A referral document: undecided, or decided at or after its receipt."""
    from interop.codes import ReferralDecision

    received = draw(instants())
    decided = draw(st.booleans())
    decided_at = received + timedelta(seconds=draw(st.integers(0, 40 * 86_400)))
    return without_none(
        {
            "kind": "referral",
            "local_id": draw(LOCAL_IDS),
            "child": draw(people()),
            "received_at": received.isoformat(),
            "received_by": draw(organisations()),
            "referrer": draw(optional(practitioners())),
            "reason": draw(TEXT),
            "decision": draw(codes(ReferralDecision)) if decided else None,
            "decided_at": decided_at.isoformat() if decided else None,
            "decided_by": draw(optional(practitioners())),
            "decision_reason": draw(optional(TEXT)),
            "sharing": draw(sharing()),
        }
    )


@st.composite
def assessments(draw: st.DrawFn) -> dict[str, Any]:
    """An assessment document, open or completed."""
    from interop.codes import AssessmentType

    started = draw(dates(date(2024, 1, 1), date(2027, 12, 31)))
    completed = draw(optional(after(started, 200)))
    return without_none(
        {
            "kind": "assessment",
            "local_id": draw(LOCAL_IDS),
            "child": draw(people()),
            "assessment_type": draw(codes(AssessmentType)),
            "referral_id": draw(optional(LOCAL_IDS)),
            "started_on": started.isoformat(),
            "completed_on": completed.isoformat() if completed else None,
            "local_authority": draw(organisations()),
            "lead_practitioner": draw(optional(practitioners())),
            "outcome": draw(optional(TEXT)) if completed else None,
            "reasons_exceeding": draw(optional(TEXT)),
            "sharing": draw(sharing()),
        }
    )


@st.composite
def section_47_outcomes(draw: st.DrawFn) -> dict[str, Any]:
    """A section 47 outcome document; a conference date only with a conference."""
    from interop.codes import Section47Outcome

    discussed = draw(dates(date(2024, 1, 1), date(2027, 12, 31)))
    outcome = draw(st.sampled_from(list(Section47Outcome)))
    conference = (
        draw(optional(after(discussed, 60))) if outcome is Section47Outcome.CONFERENCE else None
    )
    return without_none(
        {
            "kind": "section-47-outcome",
            "local_id": draw(LOCAL_IDS),
            "child": draw(people()),
            "strategy_discussion_date": discussed.isoformat(),
            "strategy_report_id": draw(optional(LOCAL_IDS)),
            "outcome": outcome.value,
            "decided_on": draw(after(discussed, 60)).isoformat(),
            "conference_date": conference.isoformat() if conference else None,
            "local_authority": draw(organisations()),
            "lead_practitioner": draw(optional(practitioners())),
            "reasons": draw(optional(TEXT)),
            "sharing": draw(sharing()),
        }
    )
