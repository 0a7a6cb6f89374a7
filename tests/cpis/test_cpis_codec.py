"""The CP-IS HL7 v3 codec: round trips of every message, XSD validity, hostile input, streaming."""

from __future__ import annotations

import dataclasses
import io
import json
import re
import tracemalloc
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from datetime import UTC, date, datetime, timedelta, timezone
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st
from lxml import etree
from strategies import LOCAL_IDS, NAMES, NHS_NUMBERS, ODS_CODES, TEXT, dates, optional

from interop.codes import CpisFileResponse, CpisRecordResponse, PlanType
from interop.cpis.codec import (
    CpisInputError,
    CpisLimits,
    OwnUploadChecks,
    check_own_upload,
    message_type,
    read_access_notification,
    read_acknowledgement,
    read_inactive_notification,
    read_upload,
    validate_cpis_xml,
    write_access_notification,
    write_acknowledgement,
    write_inactive_notification,
    write_upload,
)
from interop.cpis.hl7 import NSMAP, format_datetime, parse_datetime, q
from interop.cpis.model import (
    AccessNotification,
    Accessor,
    Acknowledgement,
    CpisRecord,
    InactiveNhsNumberNotification,
    RecordResponse,
    SubjectKind,
    UploadHeader,
)
from interop.cpis.upload import ROOT as UPLOAD_ROOT
from interop.cpis.upload import (
    UploadReader,
    _header_elements,
    fast_record_element,
    record_element,
)
from interop.issues import IssueCode
from interop.sync.ledger import record_from_json, record_to_json

XSD = "{http://www.w3.org/2001/XMLSchema}"
HEADER = UploadHeader("LAUFI-0001", datetime(2026, 11, 24, 2, 0, tzinfo=UTC), "LA465", "Leicester")
CHILD = CpisRecord(
    record_id="LCC-CP-1",
    subject_kind=SubjectKind.CHILD,
    nhs_number="9434765919",
    date_of_birth=date(2016, 2, 29),
    plan_type=PlanType.CPP,
    start_date=date(2026, 6, 9),
    given_name="Zoë",
    family_name="O'Brien",
)
MOTHER = CpisRecord(
    record_id="LCC-UCP-2",
    subject_kind=SubjectKind.UNBORN_CHILD_MOTHER,
    nhs_number="9749023706",
    date_of_birth=date(2002, 8, 11),
    plan_type=PlanType.UCPP,
    start_date=date(2026, 9, 29),
    end_date=date(2026, 12, 1),
    delete_date=date(2027, 12, 1),
    expected_delivery_date=date(2027, 1, 18),
)
ENDED_LAC = CpisRecord(
    record_id="LCC-LAC-3",
    subject_kind=SubjectKind.CHILD,
    nhs_number="9290164905",
    date_of_birth=date(2012, 1, 31),
    plan_type=PlanType.LAC,
    start_date=date(2024, 2, 29),
    end_date=date(2025, 2, 28),
    family_name="Łukasiewicz",
)


def upload_bytes(records: list[CpisRecord], header: UploadHeader = HEADER) -> bytes:
    out = io.BytesIO()
    assert write_upload(header, records, out) == len(records)
    return out.getvalue()


def read_all(data: bytes | Any) -> tuple[UploadHeader, list[CpisRecord]]:
    header, records = read_upload(data)
    return header, list(records)


# --- strategies ------------------------------------------------------------------------------

ZONES = st.sampled_from(
    [
        None,
        UTC,
        timezone(timedelta(hours=1)),
        timezone(timedelta(hours=-5, minutes=-30)),
        timezone(timedelta(hours=14)),
    ]
)
TIMES = st.datetimes(datetime(2000, 1, 1), datetime(2030, 12, 31), timezones=ZONES)
SUPPLIED_NHS = st.one_of(
    NHS_NUMBERS, st.from_regex(r"[0-9]{1,9}|[A-Z]{3} [0-9]{4}", fullmatch=True)
)


@st.composite
def records(draw: st.DrawFn, record_id: str | None = None) -> CpisRecord:
    """Any record the message can carry: every plan, ended or not, names in or out."""
    plan = draw(st.sampled_from(list(PlanType)))
    unborn = plan is PlanType.UCPP
    return CpisRecord(
        record_id=record_id if record_id is not None else draw(LOCAL_IDS),
        subject_kind=SubjectKind.UNBORN_CHILD_MOTHER if unborn else SubjectKind.CHILD,
        nhs_number=draw(SUPPLIED_NHS),
        date_of_birth=draw(dates(date(1980, 1, 1), date(2026, 12, 31))),
        plan_type=plan,
        start_date=draw(dates()),
        end_date=draw(optional(dates())),
        delete_date=draw(optional(dates())),
        expected_delivery_date=draw(optional(dates())) if unborn else None,
        given_name=draw(optional(NAMES)),
        family_name=draw(optional(NAMES)),
    )


@st.composite
def uploads(draw: st.DrawFn) -> tuple[UploadHeader, list[CpisRecord]]:
    ids = draw(st.lists(LOCAL_IDS, max_size=6, unique=True))
    header = UploadHeader(draw(LOCAL_IDS), draw(TIMES), draw(ODS_CODES), draw(TEXT))
    return header, [draw(records(record_id)) for record_id in ids]


@st.composite
def acknowledgements(draw: st.DrawFn) -> Acknowledgement:
    responses = tuple(
        RecordResponse(
            record_id=draw(LOCAL_IDS),
            nhs_number=draw(SUPPLIED_NHS),
            code=code,
            detail=draw(st.from_regex(r"[A-Z][A-Z0-9\-]{0,20}", fullmatch=True))
            if code is CpisRecordResponse.UNSUCCESSFUL
            else None,
        )
        for code in draw(st.lists(st.sampled_from(list(CpisRecordResponse)), max_size=8))
    )
    return Acknowledgement(
        message_id=draw(LOCAL_IDS),
        file_id=draw(LOCAL_IDS),
        created=draw(TIMES),
        file_code=draw(st.sampled_from(list(CpisFileResponse))),
        records=responses,
    )


SDS_IDS = st.from_regex(r"[0-9]{12}", fullmatch=True)


@st.composite
def accessors(draw: st.DrawFn) -> Accessor:
    org = (draw(ODS_CODES), draw(TEXT))
    if draw(st.booleans()):
        return Accessor(*org, asid=draw(SDS_IDS), responsible_person=draw(optional(NAMES)))
    return Accessor(
        *org,
        sds_user_id=draw(optional(SDS_IDS)),
        sds_role_profile_id=draw(optional(SDS_IDS)),
        job_role=draw(optional(st.one_of(st.just("R8000"), TEXT))),
        person_name=draw(optional(NAMES)),
    )


@st.composite
def access_notifications(draw: st.DrawFn) -> AccessNotification:
    return AccessNotification(
        message_id=draw(LOCAL_IDS),
        nhs_number=draw(NHS_NUMBERS),
        accessed_at=draw(TIMES),
        plan_type=draw(st.sampled_from(list(PlanType))),
        accessor=draw(accessors()),
        care_setting=draw(optional(st.sampled_from(["emergency-department", "maternity"]))),
    )


@st.composite
def inactive_notifications(draw: st.DrawFn) -> InactiveNhsNumberNotification:
    return InactiveNhsNumberNotification(
        message_id=draw(LOCAL_IDS),
        created=draw(TIMES),
        nhs_numbers=tuple(draw(st.lists(NHS_NUMBERS, max_size=5))),
    )


# --- round trips -----------------------------------------------------------------------------


def test_upload_round_trip_of_every_subject_and_plan() -> None:
    data = upload_bytes([CHILD, MOTHER, ENDED_LAC])
    assert validate_cpis_xml(data) == []
    assert read_all(data) == (HEADER, [CHILD, MOTHER, ENDED_LAC])
    assert message_type(data) == "upload"


def test_upload_uses_the_cpis_names_and_codes() -> None:
    text = upload_bytes([CHILD, MOTHER, ENDED_LAC]).decode()
    for expected in (
        'extension="REPC_MT000002GB01"',
        'extension="COCT_TP145101GB01#ChildSubject"',
        'extension="COCT_TP145100GB01#UnbornChildSubject"',
        '<code code="MTH" codeSystem="2.16.840.1.113883.5.111"/>',
        'root="2.16.840.1.113883.2.1.4.1" extension="9434765919"',
        "<CPPInformation>",
        'code="CPPIU"',
        "<UCPInformation>",
        'code="UCPIU"',
        "<LACInformation>",
        'code="LACIU"',
        '<CPPStartDate><code code="CPPSD"',
        '<UCPDeleteDate><code code="UCPDD"',
        '<LACEndDate><code code="LACED"',
        '<code code="LAUFI"',
        "<value>LAUFI-0001</value>",
        'extension="LCC-CP-1"',
    ):
        assert expected in text
    # One record per line, so that a line number names a record.
    assert sum(line.startswith("<component") for line in text.splitlines()) == 3


@pytest.mark.slow
@settings(max_examples=200, deadline=None)
@given(uploads())
def test_generated_uploads_round_trip_and_validate(
    upload: tuple[UploadHeader, list[CpisRecord]],
) -> None:
    header, items = upload
    data = upload_bytes(items, header)
    assert validate_cpis_xml(data) == []
    assert read_all(data) == (header, items)
    assert read_all(io.BytesIO(data)) == (header, items)


@settings(max_examples=100, deadline=None)
@given(records())
def test_template_writer_equals_element_writer(record: CpisRecord) -> None:
    fast = etree.tostring(fast_record_element(record))
    assert fast == etree.tostring(record_element(record))


def element_by_element(header: UploadHeader, records: list[CpisRecord]) -> bytes:
    """An upload file as lxml writes it from ``record_element``, the reference writer."""
    buffer = io.BytesIO()
    with etree.xmlfile(buffer, encoding="UTF-8") as xf:
        xf.write_declaration()
        with xf.element(q(UPLOAD_ROOT), nsmap=NSMAP):
            for element in _header_elements(header):
                xf.write("\n")
                xf.write(element)
            for record in records:
                xf.write("\n")
                xf.write(record_element(record))
            xf.write("\n")
    return buffer.getvalue()


# any character at all, XML's markup characters, controls and non-ASCII among them
ANY_TEXT = st.text(alphabet=st.characters(exclude_categories=("Cs",)), max_size=8) | st.text(
    alphabet="&<>\"' \t\r\nÉé\x00\x0b\x1b\x7f\x85\ufffe\ufdd0\U0001f600a", max_size=8
)


def test_files_checked_in_several_threads_each_get_their_own_errors() -> None:
    """The sync job checks upload files in two worker threads at once: each check reports its
    own file's errors, never the other's (a compiled schema keeps its last error log), and
    finds what the one-at-a-time check finds."""
    valid = upload_bytes(list(many(200)))
    bad_code = valid.replace(b' code="01" ', b' code="01" bogus="1" ', 1)
    bad_time = re.sub(
        rb'<effectiveTime([^>]*) value="[^"]*"', rb'<effectiveTime\1 value="x"', valid, count=1
    )
    assert bad_code != valid
    assert bad_time != valid
    checks = OwnUploadChecks(2)
    with ThreadPoolExecutor(max_workers=4) as pool:
        found = list(pool.map(checks, [bad_code, bad_time, valid] * 30))
    for problems, expected in zip(found, ["bogus", "effectiveTime", None] * 30, strict=True):
        if expected is None:
            assert problems == []
        else:
            assert problems
            assert all(expected in p for p in problems), problems
    for data in (valid, bad_code, bad_time):
        assert checks(data) == check_own_upload(data)
    with pytest.raises(ValueError, match="at least one"):
        OwnUploadChecks(0)


@settings(max_examples=300, deadline=None)
@given(st.lists(records(), max_size=4), ANY_TEXT, ANY_TEXT, ANY_TEXT, st.integers(0, 3))
def test_upload_bytes_equal_the_reference_writer_for_any_value(
    items: list[CpisRecord], given_name: str, family_name: str, record_id: str, which: int
) -> None:
    """Records whose values need no escaping are written from byte templates, the others by
    lxml: either way the file is byte for byte the reference's, or both refuse the value."""
    if items:
        odd = dataclasses.replace(
            items[which % len(items)],
            given_name=given_name,
            family_name=family_name,
            record_id=record_id,
        )
        items = [*items[: which % len(items)], odd, *items[which % len(items) + 1 :]]
    try:
        expected: bytes | None = element_by_element(HEADER, items)
    except ValueError:
        expected = None
    buffer = io.BytesIO()
    if expected is None:
        with pytest.raises(ValueError, match=r"XML compatible|record"):
            write_upload(HEADER, items, buffer)
    else:
        assert write_upload(HEADER, items, buffer) == len(items)
        assert buffer.getvalue() == expected


@settings(max_examples=300, deadline=None)
@given(records())
def test_ledger_fingerprint_text_never_changes(record: CpisRecord) -> None:
    """Every ledger holds this text as each record's fingerprint: a different text for the
    same record would make a national re-run send all 150,000 records again."""
    fields = {f.name: getattr(record, f.name) for f in dataclasses.fields(record)}
    canonical = json.dumps(fields, sort_keys=True, default=str, separators=(",", ":"))
    assert record_to_json(record) == canonical
    assert record_from_json(canonical) == record


@settings(max_examples=200, deadline=None)
@given(acknowledgements())
def test_acknowledgement_round_trip(ack: Acknowledgement) -> None:
    data = write_acknowledgement(ack)
    assert validate_cpis_xml(data) == []
    assert message_type(data) == "acknowledgement"
    assert read_acknowledgement(data) == ack


@settings(max_examples=200, deadline=None)
@given(access_notifications())
def test_access_notification_round_trip(notification: AccessNotification) -> None:
    data = write_access_notification(notification)
    assert validate_cpis_xml(data) == []
    assert message_type(data) == "access-notification"
    assert read_access_notification(data) == notification


@settings(max_examples=100, deadline=None)
@given(inactive_notifications())
def test_inactive_notification_round_trip(notification: InactiveNhsNumberNotification) -> None:
    data = write_inactive_notification(notification)
    assert validate_cpis_xml(data) == []
    assert message_type(data) == "inactive-nhs-number"
    assert read_inactive_notification(data) == notification


def test_acknowledgement_carries_file_record_and_detail_codes() -> None:
    ack = Acknowledgement(
        "ACK-1",
        "LAUFI-0001",
        datetime(2026, 11, 24, 2, 5, tzinfo=UTC),
        CpisFileResponse.PARTIAL,
        (
            RecordResponse("R1", "9434765919", CpisRecordResponse.SUCCESS),
            RecordResponse("R2", "12345", CpisRecordResponse.OLD_FORMAT),
            RecordResponse("R3", "9749023706", CpisRecordResponse.UNSUCCESSFUL, "EDD-MISSING"),
        ),
    )
    text = write_acknowledgement(ack).decode()
    assert 'code="CPF03" codeSystem="2.16.840.1.113883.2.1.3.2.4.17.474"' in text
    assert 'code="CPR04" codeSystem="2.16.840.1.113883.2.1.3.2.4.17.473"' in text
    assert '<reasonCode code="EDD-MISSING"/>' in text
    assert read_acknowledgement(text.encode()) == ack


def test_access_notification_person_and_device() -> None:
    person = Accessor(
        "RR8", "Leeds Teaching Hospitals", "123456789012", "555566667777", "R8000", "Dr Ama Owusu"
    )
    device = Accessor("RYJ", "NHS 111", asid="200000000117", responsible_person="Sam Patel")
    when = datetime(2026, 11, 24, 3, 4, 5, 250000, tzinfo=timezone(timedelta(hours=1)))
    for accessor, agent in ((person, "AgentPersonSDS"), (device, "AgentSystemSDS")):
        notification = AccessNotification(
            "ASN-1", "9434765919", when, PlanType.UCPP, accessor, "maternity"
        )
        data = write_access_notification(notification)
        assert f"<{agent}>" in data.decode()
        assert 'code="UCPI"' in data.decode()
        assert read_access_notification(data) == notification


def test_times_keep_fraction_and_offset() -> None:
    when = datetime(
        2024, 2, 29, 23, 59, 59, 120000, tzinfo=timezone(timedelta(hours=-5, minutes=-30))
    )
    assert format_datetime(when) == "20240229235959.120000-0530"
    assert parse_datetime("20240229235959.12-0530") == when
    assert parse_datetime("20240229235959") == datetime(2024, 2, 29, 23, 59, 59)


# --- what the writers refuse -----------------------------------------------------------------


@pytest.mark.parametrize(
    "record",
    [
        CpisRecord(
            "R", SubjectKind.CHILD, "9434765919", date(2010, 1, 1), PlanType.UCPP, date(2026, 1, 1)
        ),
        CpisRecord(
            "R",
            SubjectKind.UNBORN_CHILD_MOTHER,
            "9434765919",
            date(2000, 1, 1),
            PlanType.CPP,
            date(2026, 1, 1),
        ),
        CpisRecord(
            "R",
            SubjectKind.CHILD,
            "9434765919",
            date(2010, 1, 1),
            PlanType.LAC,
            date(2026, 1, 1),
            expected_delivery_date=date(2026, 5, 1),
        ),
    ],
)
def test_writer_refuses_a_record_the_message_cannot_carry(record: CpisRecord) -> None:
    with pytest.raises(ValueError, match="record R"):
        write_upload(HEADER, [record], io.BytesIO())


def test_accessor_is_a_person_or_a_device() -> None:
    mixed = Accessor("RR8", "Leeds", sds_user_id="123456789012", asid="200000000117")
    notification = AccessNotification("A", "9434765919", datetime(2026, 1, 1), PlanType.CPP, mixed)
    with pytest.raises(ValueError, match="person"):
        write_access_notification(notification)


# --- message type and wrong messages ---------------------------------------------------------


def test_message_type_refuses_what_is_no_cpis_message() -> None:
    with pytest.raises(CpisInputError) as foreign:
        message_type(b'<Bundle xmlns="http://hl7.org/fhir"/>')
    assert foreign.value.issues[0].code is IssueCode.STRUCTURE
    assert "HL7 v3 namespace" in foreign.value.issues[0].message
    with pytest.raises(CpisInputError) as unknown:
        message_type(b'<QUPC_IN000006GB01 xmlns="urn:hl7-org:v3"/>')
    assert unknown.value.issues[0].code is IssueCode.NOT_SUPPORTED
    assert unknown.value.issues[0].location == "/QUPC_IN000006GB01"
    with pytest.raises(CpisInputError):
        message_type(b"not xml")


def test_reading_one_message_as_another_is_refused() -> None:
    ack = write_acknowledgement(
        Acknowledgement("A", "F", datetime(2026, 1, 1), CpisFileResponse.ALL_UPLOADED)
    )
    with pytest.raises(CpisInputError, match="acknowledgement message, not an upload"):
        read_upload(ack)
    with pytest.raises(CpisInputError, match="not access-notification"):
        read_access_notification(ack)
    with pytest.raises(CpisInputError, match="not a CP-IS message"):
        read_upload(b'<Bundle xmlns="urn:hl7-org:v3"><component/></Bundle>')


# --- located problems ------------------------------------------------------------------------


def test_xsd_problems_name_the_record_and_line() -> None:
    data = upload_bytes([CHILD, MOTHER, ENDED_LAC])
    broken = data.replace(b'code="LACIU"', b'code="LACXX"')
    [issue] = validate_cpis_xml(broken)
    assert issue.code is IssueCode.VALUE
    assert issue.location == "/LocalAuthorityUpload/component[3]/LACInformation/code"
    assert issue.line == 10  # declaration, root, five header lines, then one line per record
    _, items = read_upload(broken)
    assert next(items) == CHILD  # the records before the bad one are read
    assert next(items) == MOTHER
    with pytest.raises(CpisInputError) as caught:
        next(items)
    assert caught.value.issues == [issue]


def test_missing_element_is_required_and_values_are_not_quoted() -> None:
    data = upload_bytes([CHILD])
    no_birth = re.sub(rb'<birthTime value="\d+"/>', b"", data)
    [issue] = validate_cpis_xml(no_birth)
    assert issue.code is IssueCode.REQUIRED
    assert (
        issue.location
        == "/LocalAuthorityUpload/component[1]/CPPInformation/subject/ChildSubject/patientPerson"
    )
    bad_nhs = data.replace(b'extension="9434765919"', b'extension="94347/65919"')
    [issue] = validate_cpis_xml(bad_nhs)
    assert issue.location.endswith("/ChildSubject/id")
    assert "94347" not in issue.message  # the input's value is never quoted back


def test_impossible_date_is_a_value_issue() -> None:
    data = upload_bytes([CHILD]).replace(b'value="20260609"', b'value="20250229"')
    [issue] = validate_cpis_xml(data)
    assert issue.code is IssueCode.VALUE
    assert issue.location == (
        "/LocalAuthorityUpload/component[1]/CPPInformation/pertinentInformation1/CPPStartDate/value/@value"
    )


def test_duplicate_record_id_is_an_invariant_issue() -> None:
    data = upload_bytes([CHILD, CHILD])
    [issue] = validate_cpis_xml(data)
    assert issue.code is IssueCode.INVARIANT
    assert issue.location == "/LocalAuthorityUpload/component[2]/*/id/@extension"


def test_header_problems_stop_reading_at_once() -> None:
    data = upload_bytes([CHILD]).replace(b'extension="LA465"', b'extension="la 465"')
    issues = validate_cpis_xml(data)
    assert [i.location for i in issues] == ["/LocalAuthorityUpload/author/LocalAuthority/id"]
    with pytest.raises(CpisInputError):
        read_upload(data)


def test_only_records_follow_the_first_record() -> None:
    data = upload_bytes([CHILD, MOTHER])
    text = data.replace(b"</component>\n<component", b"</component>\nstray text<component")
    extra = data.replace(
        b"</LocalAuthorityUpload>", b"<note xmlns='urn:hl7-org:v3'/></LocalAuthorityUpload>"
    )
    assert [i.message for i in validate_cpis_xml(text)] == ["text is not allowed between records"]
    [issue] = validate_cpis_xml(extra)
    assert issue.location == "/LocalAuthorityUpload/note"
    assert "only records" in issue.message


def test_an_empty_upload_is_valid() -> None:
    data = upload_bytes([])
    assert validate_cpis_xml(data) == []
    assert read_all(data) == (HEADER, [])


def test_small_message_problems_are_located() -> None:
    ack = Acknowledgement("A", "F", datetime(2026, 1, 1), CpisFileResponse.ALL_UPLOADED)
    data = write_acknowledgement(ack).replace(b"CPF02", b"CPF09")
    [issue] = validate_cpis_xml(data)
    assert (
        issue.location == "/LAAcknowledgementResponse/pertinentInformation2/UploadFileResponse/code"
    )
    assert issue.line == 15
    with pytest.raises(CpisInputError):
        read_acknowledgement(data)
    bad_time = write_acknowledgement(ack).replace(
        b'value="20260101000000"', b'value="20260231000000"'
    )
    [issue] = validate_cpis_xml(bad_time)
    assert issue.location == "/LAAcknowledgementResponse/effectiveTime/@value"


# --- hostile input ---------------------------------------------------------------------------

ROOT = b'<LocalAuthorityUpload xmlns="urn:hl7-org:v3">'
BOMB = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    b'<!ENTITY lol1 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
    b'<!ENTITY lol2 "&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;&lol1;">]>'
    + ROOT
    + b"&lol2;</LocalAuthorityUpload>"
)
XXE = (
    b'<?xml version="1.0"?><!DOCTYPE r [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    + ROOT
    + b"&x;</LocalAuthorityUpload>"
)
LATE_DTD = b"<!--" + b" " * 10_000 + b"-->" + b"<!DOCTYPE r []>" + ROOT + b"</LocalAuthorityUpload>"
HOSTILE = {
    "dtd": (
        b"<!DOCTYPE LocalAuthorityUpload>" + ROOT + b"</LocalAuthorityUpload>",
        IssueCode.INVALID,
        "DTD",
    ),
    "entity bomb": (BOMB, IssueCode.INVALID, "DTD"),
    "external entity": (XXE, IssueCode.INVALID, "DTD"),
    "dtd after a long comment": (LATE_DTD, IssueCode.INVALID, "DTD"),
    "undeclared entity": (ROOT + b"&x;</LocalAuthorityUpload>", IssueCode.INVALID, "entity"),
    "utf-16": (
        '<?xml version="1.0" encoding="UTF-16"?><r/>'.encode("utf-16"),
        IssueCode.INVALID,
        "UTF-8",
    ),
    "latin-1 declared": (
        b'<?xml version="1.0" encoding="ISO-8859-1"?>' + ROOT + b"</LocalAuthorityUpload>",
        IssueCode.INVALID,
        "ISO-8859-1",
    ),
    "invalid utf-8 bytes": (
        ROOT + b"<x>\xff\xfe</x></LocalAuthorityUpload>",
        IssueCode.INVALID,
        "UTF-8",
    ),
    "truncated": (upload_bytes([CHILD])[:-40], IssueCode.INVALID, ""),
    "truncated at a tag end": (
        upload_bytes([CHILD]).rsplit(b"</", 1)[0],
        IssueCode.INVALID,
        "ends early",
    ),
    "deep nesting": (
        ROOT + b"<a>" * 10_000 + b"</a>" * 10_000 + b"</LocalAuthorityUpload>",
        IssueCode.TOO_COSTLY,
        "deeply",
    ),
    "empty": (b"", IssueCode.INVALID, "empty"),
    "not xml": (b"hello", IssueCode.INVALID, "empty or not XML"),
    "two roots": (upload_bytes([CHILD]) + ROOT, IssueCode.INVALID, "Extra content"),
}


@pytest.mark.parametrize("name", list(HOSTILE))
def test_hostile_input_gives_a_clear_issue(name: str) -> None:
    data, code, words = HOSTILE[name]
    issues = validate_cpis_xml(data)
    assert len(issues) == 1, issues
    assert issues[0].code is code
    assert words in issues[0].message
    with pytest.raises(CpisInputError) as caught:
        read_all(data)
    assert caught.value.issues[0].code is code


def test_oversized_input_is_refused_before_parsing() -> None:
    data = upload_bytes([CHILD] * 1).replace(b"\n<component", b"\n" + b" " * 5000 + b"<component")
    small = CpisLimits(max_bytes=2000)
    [issue] = validate_cpis_xml(data, limits=small)
    assert issue.code is IssueCode.TOO_COSTLY
    assert "2,000 bytes" in issue.message
    with pytest.raises(CpisInputError):
        read_upload(io.BytesIO(data), limits=small)  # a stream is counted as it is read
    assert CpisLimits().max_bytes == 200 * 1024 * 1024


def test_validation_stops_after_too_many_issues() -> None:
    data = upload_bytes([CHILD] * 30)  # every record after the first repeats its id
    issues = validate_cpis_xml(data, limits=CpisLimits(max_issues=10))
    assert len(issues) == 11
    assert issues[-1].code is IssueCode.TOO_COSTLY


# --- streaming -------------------------------------------------------------------------------


def many(count: int) -> Iterator[CpisRecord]:
    for index in range(count):
        base = MOTHER if index % 10 == 0 else CHILD
        yield CpisRecord(
            record_id=f"R{index:06d}",
            subject_kind=base.subject_kind,
            nhs_number=base.nhs_number,
            date_of_birth=base.date_of_birth,
            plan_type=base.plan_type,
            start_date=base.start_date + timedelta(days=index % 400),
            end_date=base.end_date,
            delete_date=base.delete_date,
            expected_delivery_date=base.expected_delivery_date,
            given_name=base.given_name,
            family_name=base.family_name,
        )


@pytest.mark.slow
def test_twenty_thousand_records_stream_in_bounded_memory(tmp_path: Path) -> None:
    path = tmp_path / "upload.xml"
    tracemalloc.start()
    try:
        with path.open("wb") as out:
            assert write_upload(HEADER, many(20_000), out) == 20_000
        _, writing_peak = tracemalloc.get_traced_memory()
        tracemalloc.reset_peak()
        with path.open("rb") as source:
            reader = UploadReader(source)
            header, issues = reader.header()
            assert header == HEADER
            assert issues == []
            count = held = 0
            for expected, result in zip(many(20_000), reader.records(), strict=True):
                assert result.record == expected
                count += 1
                held = max(held, reader.held)
        _, reading_peak = tracemalloc.get_traced_memory()
    finally:
        tracemalloc.stop()
    assert count == 20_000
    # The tree holds the header and what one 32 KiB parser chunk reads ahead, never the file.
    assert held < 100
    # 20,000 records as Python objects take over 5 MB; neither side keeps them. The reader's
    # one per-record state is the set of record ids seen (unique ids: about 100 bytes each).
    assert writing_peak < 2_000_000
    assert reading_peak < 4_500_000
    assert path.stat().st_size > 15_000_000
    assert validate_cpis_xml(path.read_bytes()) == []


# --- the XSDs --------------------------------------------------------------------------------


def schema_documents() -> dict[str, etree._ElementTree]:
    folder = files("interop.profiles") / "cpis"
    names = [entry.name for entry in folder.iterdir() if entry.name.endswith(".xsd")]
    parser = etree.XMLParser(resolve_entities=False, no_network=True)
    return {
        name: etree.parse(io.BytesIO((folder / name).read_bytes()), parser)
        for name in sorted(names)
    }


def test_there_is_one_schema_per_message_and_a_shared_one() -> None:
    assert set(schema_documents()) == {
        "cpis-types.xsd",
        "REPC_MT000002GB01.xsd",
        "REPC_MT000003GB01.xsd",
        "REPC_MT000004GB01.xsd",
        "REPC_MT000005GB01.xsd",
    }


def test_every_schema_element_and_type_is_documented() -> None:
    for name, document in schema_documents().items():
        for node in document.iter(f"{XSD}element", f"{XSD}complexType", f"{XSD}simpleType"):
            if node.tag == f"{XSD}simpleType" and node.get("name") is None:
                continue  # an anonymous restriction of a documented attribute
            if node.tag == f"{XSD}complexType" and node.get("name") is None:
                continue  # the anonymous type of a documented element
            text = node.findtext(f"{XSD}annotation/{XSD}documentation")
            assert (text or "").strip(), f"{name}: {node.get('name')} is not documented"


def test_schemas_import_nothing_remote() -> None:
    for name, document in schema_documents().items():
        assert not list(document.iter(f"{XSD}import")), name
        for include in document.iter(f"{XSD}include"):
            assert "://" not in include.get("schemaLocation", ""), name


def test_schema_enumerations_match_the_code_systems() -> None:
    ack = schema_documents()["REPC_MT000003GB01.xsd"]
    values = {e.get("value") for e in ack.iter(f"{XSD}enumeration")}
    assert {c.value for c in CpisFileResponse} | {c.value for c in CpisRecordResponse} == values
    asn = schema_documents()["REPC_MT000004GB01.xsd"]
    assert {e.get("value") for e in asn.iter(f"{XSD}enumeration")} == {
        p.cpis_information_code for p in PlanType
    }
    upload = etree.tostring(schema_documents()["REPC_MT000002GB01.xsd"]).decode()
    for plan in PlanType:
        assert f'fixed="{plan.cpis_upload_code}"' in upload
        for code in plan.cpis_date_codes:
            assert f'fixed="{code}"' in upload
