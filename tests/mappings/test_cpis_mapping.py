"""Child protection flag ⇄ CP-IS record: what travels, what CP-IS does not carry, errors."""

from __future__ import annotations

import io
from dataclasses import fields, replace
from datetime import UTC, date, datetime
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import (
    LOCAL_IDS,
    TEXT,
    after,
    codes,
    dates,
    optional,
    people,
    sharing,
    without_none,
)

from interop.artefact_json import parse_artefact
from interop.codes import AbuseCategory, LacLegalBasis, PlanEndReason, PlanType
from interop.cpis.codec import read_upload, write_upload
from interop.cpis.model import CpisRecord, SubjectKind, UploadHeader
from interop.domain import ChildProtectionFlag, ResponsibleLocalAuthority
from interop.domain.common import InformationSharing
from interop.fixtures import artefact_fixtures
from interop.issues import IssueCode
from interop.mappings.cpis import MappingError, flag_to_record, record_to_flag

FIXTURES = artefact_fixtures("child-protection-flag", "valid")


def load(fixture: Any) -> ChildProtectionFlag:
    result = parse_artefact(fixture.read_bytes())
    assert isinstance(result.artefact, ChildProtectionFlag)
    return result.artefact


def carried(flag: ChildProtectionFlag) -> ChildProtectionFlag:
    """The flag as CP-IS can give it back: the mapping's module docstring lists what is dropped."""
    subject = flag.subject.model_copy(
        update={"nhs_number_verification": None, "gender": None, "local_identifier": None}
    )
    return flag.model_copy(
        update={
            "subject": subject,
            "delete_date": flag.effective_delete_date,
            "abuse_category": None,
            "sharing": InformationSharing(),
            "end_reason": None,
            "end_reason_text": None,
            "lac_legal_basis": None,
        }
    )


@st.composite
def flags(draw: st.DrawFn) -> ChildProtectionFlag:
    """Flags of every plan type, ended or not, with every optional part drawn in or out."""
    plan = draw(st.sampled_from(list(PlanType)))
    if plan is PlanType.UCPP:
        subject = draw(people(born=dates(date(1985, 1, 1), date(2008, 12, 31))))
        start = draw(dates(date(2024, 1, 1), date(2026, 12, 31)))
    else:
        subject = draw(people(born=dates(date(2009, 1, 1), date(2024, 12, 31))))
        born = date.fromisoformat(subject["date_of_birth"])
        start = draw(dates(max(born, date(2024, 1, 1)), date(2026, 12, 31)))
    end = draw(optional(after(start)))
    reason = draw(optional(codes(PlanEndReason))) if end else None
    document = {
        "kind": "child-protection-flag",
        "local_id": draw(LOCAL_IDS),
        "plan_type": plan.value,
        "subject": subject,
        "expected_delivery_date": draw(after(start, 280)).isoformat()
        if plan is PlanType.UCPP
        else None,
        "plan_start": start.isoformat(),
        "plan_end": end.isoformat() if end else None,
        "delete_date": draw(after(end)).isoformat() if end and draw(st.booleans()) else None,
        "end_reason": reason,
        "end_reason_text": draw(TEXT) if reason == "other" else draw(optional(TEXT)),
        "responsible_la": LA.model_dump(mode="json", exclude_none=True),
        "lac_legal_basis": draw(optional(codes(LacLegalBasis))) if plan is PlanType.LAC else None,
        "abuse_category": draw(optional(codes(AbuseCategory)))
        if plan is not PlanType.LAC
        else None,
        "sharing": draw(sharing()),
    }
    return ChildProtectionFlag.model_validate(without_none(document))


LA = ResponsibleLocalAuthority(
    ods_code="LA380",
    name="Leeds City Council",
    emergency_duty_phone="0113 496 0100",
    office_hours_phone="0113 496 0101",
    secure_email="cpis.duty.leeds@example.gov.uk",
)


def test_fixtures_exist() -> None:
    assert len(FIXTURES) >= 6


@pytest.mark.parametrize("fixture", FIXTURES, ids=lambda f: f.path.rsplit("/", 1)[-1])
def test_fixture_round_trip(fixture: Any) -> None:
    flag = load(fixture)
    record = flag_to_record(flag)
    assert record_to_flag(record, flag.responsible_la) == carried(flag)


@pytest.mark.parametrize("fixture", FIXTURES, ids=lambda f: f.path.rsplit("/", 1)[-1])
def test_fixture_round_trip_through_the_upload_xml(fixture: Any) -> None:
    flag = load(fixture)
    out = io.BytesIO()
    header = UploadHeader(
        "F1", datetime(2026, 11, 24, tzinfo=UTC), flag.responsible_la.ods_code, "LA"
    )
    write_upload(header, [flag_to_record(flag)], out)
    _, records = read_upload(out.getvalue())
    [record] = list(records)
    assert record_to_flag(record, flag.responsible_la) == carried(flag)


@settings(max_examples=300, deadline=None)
@given(flags())
def test_generated_round_trip(flag: ChildProtectionFlag) -> None:
    assert record_to_flag(flag_to_record(flag), LA) == carried(flag)


def test_record_fields_are_only_what_cpis_holds() -> None:
    names = {f.name for f in fields(CpisRecord)}
    assert not names & {"abuse_category", "sharing", "end_reason", "lac_legal_basis", "gender"}
    ucpp = next(load(f) for f in FIXTURES if f.path.endswith("ucpp-expectant-mother.json"))
    assert ucpp.abuse_category is not None
    record = flag_to_record(ucpp)
    out = io.BytesIO()
    write_upload(UploadHeader("F1", datetime(2026, 1, 1), "LA380", "Leeds"), [record], out)
    assert ucpp.abuse_category.value.encode() not in out.getvalue().split(b"<component", 1)[1]


def test_ucpp_is_the_mothers_record_with_the_expected_delivery_date() -> None:
    flag = next(load(f) for f in FIXTURES if f.path.endswith("ucpp-expectant-mother.json"))
    record = flag_to_record(flag)
    assert record.subject_kind is SubjectKind.UNBORN_CHILD_MOTHER
    assert record.expected_delivery_date == flag.expected_delivery_date
    assert record.nhs_number == flag.subject.nhs_number
    assert record.record_id == flag.local_id


def test_delete_date_defaults_to_twelve_months_after_the_end() -> None:
    flag = next(load(f) for f in FIXTURES if f.path.endswith("lac-ended-other.json"))
    assert flag.delete_date is None
    record = flag_to_record(flag)
    assert record.end_date == date(2026, 8, 7)
    assert record.delete_date == date(2027, 8, 7)
    assert flag_to_record(flag.model_copy(update={"plan_end": None})).delete_date is None


def test_leap_day_end_keeps_a_valid_delete_date() -> None:
    flag = next(load(f) for f in FIXTURES if f.path.endswith("cpp-ended.json"))
    leap = flag.model_copy(update={"plan_end": date(2028, 2, 29), "delete_date": None})
    assert flag_to_record(leap).delete_date == date(2029, 2, 28)


# --- records that cannot become a flag -------------------------------------------------------

RECORD = CpisRecord(
    record_id="LDS-CP-1",
    subject_kind=SubjectKind.CHILD,
    nhs_number="9434765919",
    date_of_birth=date(2016, 2, 29),
    plan_type=PlanType.CPP,
    start_date=date(2026, 3, 1),
    given_name="Zoë",
    family_name="Ní Bhriain",
)


def problems(record: CpisRecord) -> list[tuple[str, IssueCode]]:
    with pytest.raises(MappingError) as caught:
        record_to_flag(record, LA)
    return [(issue.location, issue.code) for issue in caught.value.issues]


def test_a_good_record_becomes_a_flag() -> None:
    flag = record_to_flag(RECORD, LA)
    assert flag.subject.given_name == "Zoë"
    assert flag.responsible_la == LA
    assert flag.abuse_category is None


def test_record_without_names_cannot_become_a_flag() -> None:
    assert problems(replace(RECORD, given_name=None, family_name=None)) == [
        ("CpisRecord.given_name", IssueCode.REQUIRED),
        ("CpisRecord.family_name", IssueCode.REQUIRED),
    ]


def test_bad_nhs_number_is_located() -> None:
    assert problems(replace(RECORD, nhs_number="9434765918")) == [
        ("CpisRecord.nhs_number", IssueCode.VALUE)
    ]


def test_subject_kind_must_fit_the_plan() -> None:
    assert problems(replace(RECORD, subject_kind=SubjectKind.UNBORN_CHILD_MOTHER)) == [
        ("CpisRecord.subject_kind", IssueCode.INVARIANT)
    ]


def test_the_flags_own_rules_apply() -> None:
    ended_before_start = replace(RECORD, end_date=date(2026, 2, 1))
    assert problems(ended_before_start) == [("CpisRecord.end_date", IssueCode.INVARIANT)]
    ucpp_without_edd = replace(
        RECORD, plan_type=PlanType.UCPP, subject_kind=SubjectKind.UNBORN_CHILD_MOTHER
    )
    assert problems(ucpp_without_edd) == [
        ("CpisRecord.expected_delivery_date", IssueCode.INVARIANT)
    ]
