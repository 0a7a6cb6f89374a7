"""The CP-IS stand-in: each Spine rule on its own, the file codes, the register, notifications."""

from __future__ import annotations

import io
from dataclasses import replace
from datetime import UTC, date, datetime
from pathlib import Path

import pytest

from interop.codes import CpisFileResponse, CpisRecordResponse, PlanType
from interop.cpis.codec import (
    read_access_notification,
    read_acknowledgement,
    read_inactive_notification,
    validate_cpis_xml,
    write_access_notification,
    write_acknowledgement,
    write_inactive_notification,
    write_upload,
)
from interop.cpis.model import Accessor, Acknowledgement, CpisRecord, SubjectKind, UploadHeader
from interop.sandbox.cpis_spine import (
    UNKNOWN_FILE_ID,
    CpisRecordResponseDetail,
    PdsDirectory,
    Register,
    access_notification,
    check_record,
    inactive_notification,
    process_upload,
)

NOW = datetime(2026, 11, 24, 9, 30, tzinfo=UTC)
HEADER = UploadHeader(
    "LAUFI-7", datetime(2026, 11, 24, 2, 0, tzinfo=UTC), "LA380", "Leeds City Council"
)
CHILD = CpisRecord(
    record_id="LDS-CP-1",
    subject_kind=SubjectKind.CHILD,
    nhs_number="9434765919",
    date_of_birth=date(2016, 2, 29),
    plan_type=PlanType.CPP,
    start_date=date(2026, 6, 9),
    given_name="Zoë",
    family_name="Nowak",
)
MOTHER = CpisRecord(
    record_id="LDS-UCP-2",
    subject_kind=SubjectKind.UNBORN_CHILD_MOTHER,
    nhs_number="9749023706",
    date_of_birth=date(2002, 8, 11),
    plan_type=PlanType.UCPP,
    start_date=date(2026, 9, 29),
    expected_delivery_date=date(2027, 1, 18),
)
SENSITIVE, SUPERSEDED, UNKNOWN = "9290164905", "9127641856", "9404405434"
PDS = PdsDirectory(
    known={CHILD.nhs_number, MOTHER.nhs_number},
    sensitive={SENSITIVE},
    superseded={SUPERSEDED},
)


def upload(*records: CpisRecord, header: UploadHeader = HEADER) -> bytes:
    out = io.BytesIO()
    write_upload(header, records, out)
    return out.getvalue()


def process(data: bytes, register: Register | None = None) -> Acknowledgement:
    ack = process_upload(data, register or Register(), PDS, message_id="ACK-1", now=NOW)
    written = write_acknowledgement(ack)
    assert validate_cpis_xml(written) == []
    assert read_acknowledgement(written) == ack
    return ack


def codes_of(ack: Acknowledgement) -> list[tuple[str, str, str | None]]:
    return [(r.record_id, r.code.value, r.detail) for r in ack.records]


# --- one rule at a time ----------------------------------------------------------------------


@pytest.mark.parametrize(
    "nhs_number", ["943476591", "94347659190", "9434765918", "943 476 5919", "ABC 1234"]
)
def test_number_not_ten_digits_or_failing_modulus_11_is_cpr04(nhs_number: str) -> None:
    assert check_record(replace(CHILD, nhs_number=nhs_number), PDS) == (
        CpisRecordResponse.OLD_FORMAT,
        None,
    )


def test_number_unknown_to_pds_is_cpr01() -> None:
    assert (
        check_record(replace(CHILD, nhs_number=UNKNOWN), PDS)[0] is CpisRecordResponse.NO_PDS_MATCH
    )


def test_sensitive_record_is_cpr02() -> None:
    assert (
        check_record(replace(CHILD, nhs_number=SENSITIVE), PDS)[0] is CpisRecordResponse.SENSITIVE
    )


def test_superseded_number_is_cpr05() -> None:
    assert (
        check_record(replace(CHILD, nhs_number=SUPERSEDED), PDS)[0] is CpisRecordResponse.SUPERSEDED
    )


@pytest.mark.parametrize(
    ("record", "detail"),
    [
        (replace(MOTHER, expected_delivery_date=None), CpisRecordResponseDetail.EDD_MISSING),
        (replace(CHILD, end_date=date(2026, 6, 8)), CpisRecordResponseDetail.END_BEFORE_START),
        (
            replace(CHILD, end_date=date(2026, 8, 1), delete_date=date(2026, 7, 31)),
            CpisRecordResponseDetail.DELETE_BEFORE_END,
        ),
    ],
)
def test_inconsistent_plan_is_cpr07_with_a_detail(
    record: CpisRecord, detail: CpisRecordResponseDetail
) -> None:
    assert check_record(record, PDS) == (CpisRecordResponse.UNSUCCESSFUL, detail)


def test_good_records_are_cpr06() -> None:
    assert check_record(CHILD, PDS) == (CpisRecordResponse.SUCCESS, None)
    assert check_record(MOTHER, PDS) == (CpisRecordResponse.SUCCESS, None)
    leap = replace(CHILD, start_date=date(2024, 2, 29), end_date=date(2024, 2, 29))
    assert check_record(leap, PDS) == (CpisRecordResponse.SUCCESS, None)


def test_format_is_checked_before_pds() -> None:
    assert check_record(replace(CHILD, nhs_number="12345"), PdsDirectory(known={"12345"}))[0] is (
        CpisRecordResponse.OLD_FORMAT
    )


# --- whole files -----------------------------------------------------------------------------


def test_all_records_uploaded_is_cpf02() -> None:
    register = Register()
    ack = process(upload(CHILD, MOTHER), register)
    assert ack.file_code is CpisFileResponse.ALL_UPLOADED
    assert ack.file_id == "LAUFI-7"
    assert ack.message_id == "ACK-1"
    assert ack.created == NOW
    assert codes_of(ack) == [("LDS-CP-1", "CPR06", None), ("LDS-UCP-2", "CPR06", None)]
    [plan] = register.plans_for(CHILD.nhs_number)
    assert (plan.plan_type, plan.la_ods_code, plan.la_name) == (
        PlanType.CPP,
        "LA380",
        "Leeds City Council",
    )
    assert (plan.record_id, plan.file_id, plan.start_date) == (
        "LDS-CP-1",
        "LAUFI-7",
        date(2026, 6, 9),
    )
    [held] = register.plans_for(MOTHER.nhs_number)
    assert held.subject_kind is SubjectKind.UNBORN_CHILD_MOTHER
    assert held.expected_delivery_date == date(2027, 1, 18)


def test_some_records_uploaded_is_cpf03_and_only_those_are_held() -> None:
    register = Register()
    bad = replace(CHILD, record_id="LDS-CP-9", nhs_number="943476591")
    ack = process(upload(CHILD, bad, replace(MOTHER, expected_delivery_date=None)), register)
    assert ack.file_code is CpisFileResponse.PARTIAL
    assert codes_of(ack) == [
        ("LDS-CP-1", "CPR06", None),
        ("LDS-CP-9", "CPR04", None),
        ("LDS-UCP-2", "CPR07", "EDD-MISSING"),
    ]
    assert ack.records[1].nhs_number == "943476591"  # echoed as supplied
    assert register.plans_for(MOTHER.nhs_number) == []


def test_no_records_uploaded_is_cpf04() -> None:
    ack = process(upload(replace(CHILD, nhs_number=UNKNOWN), replace(MOTHER, nhs_number=SENSITIVE)))
    assert ack.file_code is CpisFileResponse.NONE_UPLOADED
    assert codes_of(ack) == [("LDS-CP-1", "CPR01", None), ("LDS-UCP-2", "CPR02", None)]
    assert process(upload()).file_code is CpisFileResponse.NONE_UPLOADED


@pytest.mark.parametrize(
    ("data", "file_id"),
    [
        (b"not xml at all", UNKNOWN_FILE_ID),
        (upload(CHILD)[:-30], "LAUFI-7"),  # truncated: the header was still readable
        (upload(CHILD).replace(b'code="CPPIU"', b'code="CPPXX"'), "LAUFI-7"),
        (upload(CHILD).replace(b'value="20260609"', b'value="20260631"'), "LAUFI-7"),
        (upload(CHILD).replace(b'extension="LA380"', b'extension="?"'), UNKNOWN_FILE_ID),
        (b"<!DOCTYPE x>" + upload(CHILD).split(b"?>", 1)[1], UNKNOWN_FILE_ID),
    ],
)
def test_malformed_or_invalid_file_is_cpf01_with_no_records(data: bytes, file_id: str) -> None:
    register = Register()
    ack = process(data, register)
    assert ack.file_code is CpisFileResponse.MALFORMED
    assert ack.records == ()
    assert ack.file_id == file_id
    assert register.plans_for(CHILD.nhs_number) == []


# --- the register ----------------------------------------------------------------------------


def test_a_new_upload_replaces_the_authoritys_plan() -> None:
    register = Register()
    process(upload(CHILD), register)
    process(upload(replace(CHILD, start_date=date(2026, 7, 1), record_id="LDS-CP-1b")), register)
    [plan] = register.plans_for(CHILD.nhs_number)
    assert (plan.start_date, plan.record_id) == (date(2026, 7, 1), "LDS-CP-1b")


def test_plans_are_kept_per_plan_type_and_authority() -> None:
    register = Register()
    other_la = replace(HEADER, la_ods_code="LA465", la_name="Leicester City Council")
    process(upload(CHILD), register)
    process(upload(CHILD, header=other_la), register)
    process(upload(replace(CHILD, plan_type=PlanType.LAC)), register)
    plans = register.plans_for(CHILD.nhs_number)
    assert [(p.plan_type, p.la_ods_code) for p in plans] == [
        (PlanType.CPP, "LA380"),
        (PlanType.CPP, "LA465"),
        (PlanType.LAC, "LA380"),
    ]


def test_an_ended_plan_stays_until_its_delete_date() -> None:
    register = Register()
    ended = replace(CHILD, end_date=date(2026, 11, 1), delete_date=date(2027, 11, 1))
    process(upload(ended), register)
    [plan] = register.plans_for(CHILD.nhs_number)
    assert plan.end_date == date(2026, 11, 1)
    assert register.plans_for(CHILD.nhs_number, on=date(2027, 10, 31)) == [plan]
    assert register.plans_for(CHILD.nhs_number, on=date(2027, 11, 1)) == []
    assert register.purge(date(2027, 11, 1)) == 1
    assert register.plans_for(CHILD.nhs_number) == []


def test_an_end_without_a_delete_date_keeps_twelve_months() -> None:
    register = Register()
    process(upload(replace(CHILD, end_date=date(2026, 11, 1))), register)
    [plan] = register.plans_for(CHILD.nhs_number)
    assert plan.delete_date == date(2027, 11, 1)


def test_a_past_delete_date_removes_the_plan() -> None:
    register = Register()
    process(upload(CHILD), register)
    removal = replace(
        CHILD, end_date=date(2025, 1, 1), delete_date=date(2026, 1, 1), start_date=date(2024, 2, 29)
    )
    ack = process(upload(removal), register)
    assert codes_of(ack) == [("LDS-CP-1", "CPR06", None)]
    assert register.plans_for(CHILD.nhs_number) == []


def test_the_register_persists_in_a_file(tmp_path: Path) -> None:
    path = tmp_path / "cpis.sqlite"
    register = Register(path)
    process(upload(CHILD), register)
    register.close()
    reopened = Register(path)
    assert [p.record_id for p in reopened.plans_for(CHILD.nhs_number)] == ["LDS-CP-1"]
    reopened.close()


# --- notifications on request ----------------------------------------------------------------

NURSE = Accessor(
    "RR8", "Leeds Teaching Hospitals", "123456789012", "555566667777", "R8000", "Ama Owusu"
)


def test_access_notification_is_built_and_logged() -> None:
    register = Register()
    process(upload(CHILD), register)
    notification, la = access_notification(
        register,
        CHILD.nhs_number,
        NURSE,
        message_id="ASN-1",
        now=NOW,
        care_setting="emergency-department",
    )
    assert la == "LA380"
    assert notification.plan_type is PlanType.CPP
    assert notification.accessed_at == NOW
    data = write_access_notification(notification)
    assert validate_cpis_xml(data) == []
    assert read_access_notification(data) == notification
    assert register.accesses_for(CHILD.nhs_number) == [("ASN-1", "CPP", "LA380", NOW.isoformat())]


def test_no_notification_without_a_held_plan() -> None:
    register = Register()
    with pytest.raises(LookupError):
        access_notification(register, CHILD.nhs_number, NURSE, message_id="ASN-1", now=NOW)
    process(upload(CHILD), register)
    with pytest.raises(LookupError):
        access_notification(
            register, CHILD.nhs_number, NURSE, message_id="ASN-1", now=NOW, plan_type=PlanType.LAC
        )
    assert register.accesses_for(CHILD.nhs_number) == []


def test_inactive_notification_for_a_number() -> None:
    notification = inactive_notification(SUPERSEDED, message_id="INA-1", now=NOW)
    assert notification.nhs_numbers == (SUPERSEDED,)
    data = write_inactive_notification(notification)
    assert validate_cpis_xml(data) == []
    assert read_inactive_notification(data) == notification
    assert inactive_notification(
        (SUPERSEDED, UNKNOWN), message_id="INA-2", now=NOW
    ).nhs_numbers == (
        SUPERSEDED,
        UNKNOWN,
    )
