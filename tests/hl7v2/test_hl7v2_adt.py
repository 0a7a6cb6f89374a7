"""HL7 v2 ADT: the fast-path reader, the acknowledgements, ER7 helpers and `interop validate`.

The fixtures in fixtures/hl7v2 are the conformance cases: each must be answered as its manifest
says. hl7apy is the oracle where it knows better than the fast path: every ACK built here must
pass its strict validation, and what the fast path reads must be what hl7apy reads.
"""

from __future__ import annotations

import json
import subprocess
import sys
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st

from interop.cli.main import cli
from interop.fixtures import fixtures_root
from interop.hl7v2.ack import ACK_VERSIONS, acknowledgement_code, build_ack, encode_ack, read_ack
from interop.hl7v2.adt import (
    Admission,
    EncounterSetting,
    admission_of,
    read_adt,
)
from interop.hl7v2.er7 import (
    Location,
    MessageHeader,
    escape,
    looks_like_er7,
    parse_ts,
    unescape,
)
from interop.hl7v2.full_validation import validate_er7
from interop.identifiers import TEST_BLOCK, check_nhs_number
from interop.issues import IssueCode, Severity

ROOT = Path(str(fixtures_root())) / "hl7v2"
MANIFEST: list[dict[str, Any]] = json.loads((ROOT / "manifest.json").read_text("utf-8"))["fixtures"]
VALID = [f for f in MANIFEST if f["path"].startswith("valid/")]


def fixture_bytes(name: str) -> bytes:
    return (ROOT / name).read_bytes()


def message(*segments: str) -> bytes:
    return "\r".join(segments).encode() + b"\r"


MSH_25 = "MSH|^~\\&|PAS|RR801|INTEROP|X26|20260301101500||ADT^A04^ADT_A01|C1|P|2.5"
EVN = "EVN|A04|20260301101500"
PID = "PID|1||9434765919^^^NHS^NH||SYNTHETIC^ALEX||20150402|M"
PV1 = "PV1|1|E|ED^^^RR801"


# -- the fixtures ------------------------------------------------------------------------------


def test_every_fixture_file_is_in_the_manifest() -> None:
    on_disk = {p.relative_to(ROOT).as_posix() for p in ROOT.rglob("*.hl7")}
    assert on_disk == {f["path"] for f in MANIFEST}
    assert len(VALID) >= 5
    assert len(MANIFEST) - len(VALID) >= 10


@pytest.mark.parametrize("fixture", MANIFEST, ids=lambda f: f["path"])
def test_fixture_is_acknowledged_as_the_manifest_says(fixture: dict[str, Any]) -> None:
    reading = read_adt(fixture_bytes(fixture["path"]))
    ack = read_ack(encode_ack(build_ack(reading.header, reading.ack_code, reading.issues), None))
    assert ack.code == fixture["ack_code"]
    assert [e.location for e in ack.errors] == fixture["err_locations"]
    assert [e.code for e in ack.errors] == fixture["err_codes"]
    assert (reading.event is not None) == (fixture["ack_code"] == "AA")


@pytest.mark.parametrize("fixture", MANIFEST, ids=lambda f: f["path"])
def test_every_ack_passes_hl7apy_strict_validation(fixture: dict[str, Any]) -> None:
    from hl7apy.consts import VALIDATION_LEVEL
    from hl7apy.exceptions import ValidationError
    from hl7apy.parser import parse_message

    reading = read_adt(fixture_bytes(fixture["path"]))
    for code in ("AA", "AE", "AR"):
        text = build_ack(reading.header, code, reading.issues)
        parsed = parse_message(text, validation_level=VALIDATION_LEVEL.STRICT, find_groups=True)
        if reading.header is not None and reading.header.control_id:
            assert parsed.validate()
        else:
            # MSA-2 echoes the control id; a message without one leaves it empty, which is the
            # only thing strict validation may find
            with pytest.raises(ValidationError, match="MSA_2"):
                parsed.validate()
        assert parsed.msh.msh_12.to_er7() in ACK_VERSIONS


@pytest.mark.parametrize("fixture", VALID, ids=lambda f: f["path"])
def test_fast_path_reads_what_hl7apy_reads(fixture: dict[str, Any]) -> None:
    from hl7apy.consts import VALIDATION_LEVEL
    from hl7apy.parser import parse_message

    data = fixture_bytes(fixture["path"])
    event = read_adt(data).event
    assert event is not None
    codec = "latin-1" if b"8859/1" in data else "utf-8"
    text = data.decode(codec).replace("\r\n", "\r").replace("\n", "\r")
    full = parse_message(text, validation_level=VALIDATION_LEVEL.QUIET, find_groups=False)
    assert full.msh.msh_9.msh_9_2.to_er7() == event.event_type
    assert full.msh.msh_10.to_er7() == event.control_id
    assert full.msh.msh_4.to_er7() == event.site_ods_code
    assert full.pv1.pv1_2.to_er7() == event.patient_class
    assert full.pv1.pv1_4.to_er7() == event.admission_type
    assert full.pv1.pv1_3.pv1_3_1.to_er7() == event.location.point_of_care
    identifiers = {rep.cx_5.to_er7(): rep.cx_1.to_er7() for rep in full.pid.pid_3}
    assert identifiers.get("NH") == event.nhs_number
    assert identifiers.get("MR") == event.local_patient_id


@pytest.mark.parametrize("fixture", VALID, ids=lambda f: f["path"])
def test_valid_fixtures_hold_only_test_block_nhs_numbers(fixture: dict[str, Any]) -> None:
    event = read_adt(fixture_bytes(fixture["path"])).event
    assert event is not None
    if event.nhs_number is not None:
        assert TEST_BLOCK[0] <= int(check_nhs_number(event.nhs_number)) <= TEST_BLOCK[1]


@pytest.mark.parametrize("fixture", MANIFEST, ids=lambda f: f["path"])
def test_issue_messages_quote_no_personal_data(fixture: dict[str, Any]) -> None:
    reading = read_adt(fixture_bytes(fixture["path"]))
    for issue in reading.issues:
        for personal in ("9434765918", "943476591", "SYNTH", "ALEX", "20150402", "20151332"):
            assert personal not in issue.message


# -- the event ---------------------------------------------------------------------------------


def test_ed_attendance_is_unplanned_emergency_care() -> None:
    event = read_adt(fixture_bytes("valid/a04-v24-ed-attendance.hl7")).event
    assert event is not None
    assert event.event_type == "A04"
    assert event.site_ods_code == "RR801"
    assert event.setting is EncounterSetting.EMERGENCY
    assert event.is_unplanned
    assert event.nhs_number == "9434765919"
    assert event.local_patient_id == "D100001"
    assert event.local_patient_id_authority == "RR8"
    assert event.date_of_birth == date(2015, 4, 2)
    assert str(event.location) == "RR801 / ED / MAJORS / CUB4"
    assert event.occurred_at == datetime(2026, 3, 1, 10, 5, tzinfo=UTC)  # GMT in March


def test_discharge_happens_at_the_discharge_time() -> None:
    event = read_adt(fixture_bytes("valid/a03-v25-discharge.hl7")).event
    assert event is not None
    assert event.discharged_at is not None
    assert event.occurred_at == event.discharged_at
    assert event.admitted_at is not None
    assert event.admitted_at < event.discharged_at


def test_times_without_offset_are_uk_local_time_with_summer_time() -> None:
    summer = MSH_25.replace("20260301101500", "20260701101500")
    event = read_adt(message(summer, EVN.replace("202603", "202607"), PID, PV1)).event
    assert event is not None
    assert event.recorded_at.utcoffset() == timedelta(hours=1)
    assert event.recorded_at.astimezone(UTC).hour == 9


def test_character_sets_are_read_as_msh_18_declares() -> None:
    elective = read_adt(fixture_bytes("valid/a01-v25-elective-admission.hl7"))
    latin = read_adt(fixture_bytes("valid/a04-v251-latin1-cr.hl7"))
    assert elective.event is not None
    assert latin.event is not None
    assert elective.event.admission is Admission.PLANNED
    assert latin.event.site_ods_code == "RXX01"


@pytest.mark.parametrize(
    ("patient_class", "admission_type", "expected"),
    [
        ("E", "", Admission.UNPLANNED),
        ("E", "11", Admission.UNPLANNED),  # class E wins: an A&E attendance is unscheduled
        ("I", "11", Admission.PLANNED),
        ("I", "12", Admission.PLANNED),
        ("I", "13", Admission.PLANNED),
        ("I", "21", Admission.UNPLANNED),
        ("I", "28", Admission.UNPLANNED),
        ("I", "2a", Admission.UNPLANNED),
        ("I", "31", Admission.UNKNOWN),
        ("I", "81", Admission.UNKNOWN),
        ("I", "C", Admission.PLANNED),
        ("O", "R", Admission.PLANNED),
        ("I", "A", Admission.UNPLANNED),
        ("I", "U", Admission.UNPLANNED),
        ("I", "L", Admission.UNKNOWN),
        ("I", "", Admission.UNKNOWN),
    ],
)
def test_admission_method_mapping(
    patient_class: str, admission_type: str, expected: Admission
) -> None:
    assert admission_of(patient_class, admission_type) is expected


def test_repr_and_summary_mask_the_nhs_number_and_leave_out_the_birth_date() -> None:
    event = read_adt(fixture_bytes("valid/a04-v24-ed-attendance.hl7")).event
    assert event is not None
    for text in (repr(event), event.summary(), str(event)):
        assert "9434765919" not in text
        assert "*** *** 5919" in text
        assert "2015" not in text
        assert "D100001" not in text


def test_no_nhs_number_is_a_warning_not_an_error() -> None:
    reading = read_adt(fixture_bytes("valid/a04-v25-no-nhs-number.hl7"))
    assert reading.ack_code == "AA"
    assert reading.event is not None
    assert reading.event.nhs_number is None
    assert [(i.severity, i.location) for i in reading.issues] == [(Severity.WARNING, "PID-3")]


def test_nhs_number_with_another_assigning_authority_is_read_with_a_warning() -> None:
    pid = PID.replace("^NHS^NH", "^RR8^NH")
    reading = read_adt(message(MSH_25, EVN, pid, PV1))
    assert reading.event is not None
    assert reading.event.nhs_number == "9434765919"
    assert [i.location for i in reading.issues] == ["PID-3[1].4"]


def test_two_different_nhs_numbers_are_an_error() -> None:
    pid = PID.replace("^NHS^NH", "^NHS^NH~9434765870^^^NHS^NH")
    reading = read_adt(message(MSH_25, EVN, pid, PV1))
    assert reading.ack_code == "AE"
    assert [i.location for i in reading.errors] == ["PID-3[2].1"]


def test_escaped_delimiters_in_a_location_are_unescaped() -> None:
    pv1 = "PV1|1|E|A\\T\\E\\S\\1^^^RR801"
    event = read_adt(message(MSH_25, EVN, PID, pv1)).event
    assert event is not None
    assert event.location.point_of_care == "A&E^1"


def test_a_cut_line_and_an_evn_disagreeing_with_msh() -> None:
    reading = read_adt(message(MSH_25, "EVN|A08|20260301101500", PID, PV1, "Z"))
    assert reading.ack_code == "AE"
    kinds = {(i.severity, i.code) for i in reading.issues}
    assert (Severity.WARNING, IssueCode.INVARIANT) in kinds  # EVN-1 A08 vs MSH-9 A04
    assert (Severity.ERROR, IssueCode.STRUCTURE) in kinds  # the line "Z"


@pytest.mark.parametrize(
    ("data", "location"),
    [
        (b"", "MSH"),
        (b"PID|1||9434765919", "MSH"),
        (b"MSH|^~", "MSH-2"),
        (b"MSHA^~\\&|X", "MSH-1"),
        (message(MSH_25, EVN, PID + "\x00", PV1), "PID-8"),
        (b"MSH|^~\\&|PAS|RR801|I|X|20260301||ADT^A04|C|P|2.5||||||\xff", "MSH-18"),
    ],
)
def test_unreadable_messages_are_rejected_with_a_location(data: bytes, location: str) -> None:
    reading = read_adt(data)
    assert reading.ack_code == "AR"
    assert reading.event is None
    assert reading.errors[0].location == location


@pytest.mark.parametrize(
    ("pid", "location", "code"),
    [
        ("PID|1||9434765919^^^NHS^NH||SYNTHETIC^AL\\X0B\\EX||20150402|M", "PID-5", "0x0B"),
        ("PID|1||9434765919^^^NHS^NH||SYN\\X00\\^ALEX||20150402|M", "PID-5", "0x00"),
        ("PID|1||9434765919^^^NHS^NH||SYNTHETIC^ALEX\\X411B\\||20150402|M", "PID-5", "0x1B"),
        ("PID|1||9434765919^^^NHS^NH||SYNTHETIC^ALEX\uffff||20150402|M", "PID-5", "U+FFFF"),
        ("PID|1||9434765919^^^NHS^NH||SYNTHETIC^ALEX||20150402|M|\ufffe", "PID-9", "U+FFFE"),
    ],
)
def test_characters_xml_and_fhir_forbid_are_refused_at_their_field(
    pid: str, location: str, code: str
) -> None:
    # raw or written as an HL7 hex escape: the field would be unescaped into a FHIR or XML
    # notification later, so the message is refused now, naming the field, not the value
    reading = read_adt(message(MSH_25, EVN, pid, PV1))
    assert reading.ack_code == "AR"
    assert reading.event is None
    assert reading.errors[0].location == location
    assert code in reading.errors[0].message
    assert "ALEX" not in reading.errors[0].message


def test_escaped_line_breaks_and_delimiters_are_still_read() -> None:
    pid = "PID|1||9434765919^^^NHS^NH||SYNTHETIC^ALEX||20150402|M"
    reading = read_adt(message(MSH_25, EVN, pid, "PV1|1|E|ED\\X0D0A\\\\F\\^^^RR801"))
    assert reading.event is not None
    assert reading.ack_code == "AA"


def test_a_message_over_the_size_limit_is_refused_before_it_is_read() -> None:
    reading = read_adt(message(MSH_25, EVN, PID, PV1, "NTE|1||" + "x" * 1_100_000))
    assert reading.ack_code == "AR"
    assert reading.errors[0].code is IssueCode.TOO_COSTLY


@settings(max_examples=300, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(st.data())
def test_mangled_messages_never_raise_and_are_always_acknowledged(data: st.DataObject) -> None:
    original = bytearray(fixture_bytes("valid/a01-v24-emergency-admission.hl7"))
    for _ in range(data.draw(st.integers(1, 6))):
        position = data.draw(st.integers(0, len(original) - 1))
        action = data.draw(st.sampled_from(["replace", "delete", "insert", "cut"]))
        byte = data.draw(st.sampled_from(b"|^~\\&\r\n\x00\x0b\x1c\xff\xc3A9 "))
        if action == "replace":
            original[position] = byte
        elif action == "delete":
            del original[position]
        elif action == "insert":
            original.insert(position, byte)
        else:
            del original[position:]
        if not original:
            break
    reading = read_adt(bytes(original))
    ack = read_ack(encode_ack(build_ack(reading.header, reading.ack_code, reading.issues), None))
    assert ack.code == reading.ack_code
    assert (reading.event is None) == any(i.is_error for i in reading.issues)


@settings(max_examples=300, deadline=None)
@given(
    st.sampled_from([b"", b"MSH", b"MSH|^~\\&|", b"MSH|^~\\&|A|RR8|B|C|2026||ADT^A04|"]),
    st.binary(),
)
def test_arbitrary_bytes_never_raise(prefix: bytes, tail: bytes) -> None:
    reading = read_adt(prefix + tail)
    assert reading.ack_code in ("AA", "AE", "AR")
    build_ack(reading.header, reading.ack_code, reading.issues)


# -- acknowledgements --------------------------------------------------------------------------


def test_ack_swaps_sender_and_receiver_and_echoes_the_control_id() -> None:
    reading = read_adt(fixture_bytes("valid/a04-v24-ed-attendance.hl7"))
    text = build_ack(reading.header, "AA", now=datetime(2026, 3, 1, 12, tzinfo=UTC))
    msh, msa = text.split("\r")[:2]
    fields = msh.split("|")
    assert fields[2:6] == ["INTEROP", "X26", "PAS", "RR801"]
    assert fields[6] == "20260301120000+0000"
    assert fields[8] == "ACK^A04^ACK"
    assert len(fields[9]) <= 20
    assert fields[11] == "2.4"
    assert msa == "MSA|AA|ED0001"


def test_ack_control_ids_are_unique() -> None:
    ids = {build_ack(None, "AA").split("\r")[0].split("|")[9] for _ in range(1000)}
    assert len(ids) == 1000


def test_ack_v25_carries_warnings_v24_does_not() -> None:
    reading = read_adt(fixture_bytes("valid/a04-v25-no-nhs-number.hl7"))
    header = reading.header
    assert header is not None
    v25 = read_ack(build_ack(header, "AA", reading.issues).encode())
    assert [(e.location, e.severity) for e in v25.errors] == [("PID^1^3", "W")]
    v24 = MessageHeader(**{**header.__dict__, "version": "2.4"})
    assert read_ack(build_ack(v24, "AA", reading.issues).encode()).errors == ()


def test_ae_without_an_issue_gets_an_internal_error_with_the_text() -> None:
    ack = read_ack(
        build_ack(MessageHeader(control_id="X", version="2.5"), "AE", text="resend").encode()
    )
    assert ack.code == "AE"
    assert ack.text == "resend"
    assert [(e.code, e.message) for e in ack.errors] == [("207", "resend")]


def test_ack_text_escapes_delimiters() -> None:
    header = MessageHeader(control_id="A|B^C", version="2.5")
    ack = read_ack(build_ack(header, "AE", text="bad ^ and | and \\ here").encode())
    assert ack.control_id == "A|B^C"
    assert ack.text == "bad ^ and | and \\ here"


def test_ack_answers_in_the_character_set_of_the_message() -> None:
    header = MessageHeader(control_id="Ä1", version="2.5", charset="8859/1")
    data = encode_ack(build_ack(header, "AA"), header)
    assert "Ä1".encode("latin-1") in data
    assert read_ack(data).control_id == "Ä1"


def test_acknowledgement_code_rules() -> None:
    reading = read_adt(fixture_bytes("invalid/bad-nhs-number-v24.hl7"))
    assert acknowledgement_code(reading.issues) == "AE"
    assert acknowledgement_code([]) == "AA"
    assert acknowledgement_code(read_adt(b"garbage").issues) == "AR"


# -- ER7 helpers -------------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("text", "erl"),
    [
        ("PID", ["PID", "1"]),
        ("PID-3", ["PID", "1", "3"]),
        ("PID-3[2].1", ["PID", "1", "3", "2", "1"]),
        ("PID-3.4", ["PID", "1", "3", "1", "4"]),
        ("OBX[2]-5[1].1.2", ["OBX", "2", "5", "1", "1", "2"]),
    ],
)
def test_locations_read_back_and_give_erls(text: str, erl: list[str]) -> None:
    location = Location.parse(text)
    assert location is not None
    assert location.erl() == erl
    assert Location.parse(str(location)) == location


def test_location_parse_refuses_other_paths() -> None:
    assert Location.parse("$.subject.nhs_number") is None
    assert Location.parse("") is None


@pytest.mark.parametrize(
    ("value", "expected", "digits"),
    [
        ("2026", datetime(2026, 1, 1, tzinfo=UTC), 4),
        ("20260301", datetime(2026, 3, 1, tzinfo=UTC), 8),
        ("202603011015", datetime(2026, 3, 1, 10, 15, tzinfo=UTC), 12),
        ("20260301101530.25+0100", datetime(2026, 3, 1, 9, 15, 30, 250000, tzinfo=UTC), 14),
        ("20260301101530-0500", datetime(2026, 3, 1, 15, 15, 30, tzinfo=UTC), 14),
    ],
)
def test_parse_ts(value: str, expected: datetime, digits: int) -> None:
    moment, count = parse_ts(value)
    assert moment == expected
    assert count == digits


@pytest.mark.parametrize(
    "value", ["", "2026030", "20261301", "20260230", "2026-03-01", "20260301+99"]
)
def test_parse_ts_refuses_what_is_not_a_timestamp(value: str) -> None:
    with pytest.raises(ValueError, match="not"):
        parse_ts(value)


@given(st.text(max_size=40))
def test_escape_then_unescape_is_identity_without_line_breaks(text: str) -> None:
    text = text.replace("\r", "").replace("\n", "")
    assert unescape(escape(text)) == text


def test_unescape_hex_and_line_break() -> None:
    assert unescape("A\\X0D0A\\B\\.br\\C\\H\\D") == "A\r\nB\nCD"


def test_looks_like_er7() -> None:
    assert looks_like_er7(b"\xef\xbb\xbfMSH|^~\\&")
    assert looks_like_er7(b"\x0bMSH|^~\\&")
    assert not looks_like_er7(b'{"resourceType": "Bundle"}')


# -- interop validate --------------------------------------------------------------------------


def test_validate_er7_of_a_valid_fixture() -> None:
    kind, issues = validate_er7(fixture_bytes("valid/a04-v24-ed-attendance.hl7"))
    assert kind == "HL7 v2.4 ADT^A04"
    assert not [i for i in issues if i.is_error]


def test_validate_er7_adds_hl7apy_full_structure_checks() -> None:
    """PID-5 (name) is required by the standard; the fast path does not read it, hl7apy does."""
    data = message(MSH_25, EVN, "PID|1||9434765919^^^NHS^NH", PV1)
    assert read_adt(data).ack_code == "AA"
    _, issues = validate_er7(data)
    assert [(i.location, i.code) for i in issues if i.is_error] == [("PID-5", IssueCode.REQUIRED)]
    assert issues[0].rule_source is not None
    assert "hl7apy" in issues[0].rule_source


def test_validate_er7_reports_the_fast_path_error_once() -> None:
    _, issues = validate_er7(fixture_bytes("invalid/missing-pid.hl7"))
    assert [i.location for i in issues if i.is_error] == ["PID"]


def test_validate_er7_reads_an_mllp_framed_file_and_refuses_a_batch() -> None:
    data = fixture_bytes("valid/a04-v24-ed-attendance.hl7")
    _, framed = validate_er7(b"\x0b" + data + b"\x1c\r")
    assert not [i for i in framed if i.is_error]
    _, batch = validate_er7(data + data)
    assert [i.location for i in batch if i.is_error] == ["MSH[2]"]
    assert read_adt(data + data).ack_code == "AR"


def test_validate_er7_of_unreadable_bytes() -> None:
    kind, issues = validate_er7(fixture_bytes("invalid/invalid-utf8.hl7"))
    assert kind == "HL7 v2.5 ADT^A04"
    assert [i.location for i in issues] == ["PID-5"]
    assert "0xFF" in issues[0].message


def test_interop_validate_accepts_er7_files() -> None:
    runner = CliRunner()
    good = runner.invoke(cli, ["validate", str(ROOT / "valid" / "a04-v24-ed-attendance.hl7")])
    assert good.exit_code == 0, good.output
    assert "HL7 v2.4 ADT^A04" in good.output
    bad = runner.invoke(cli, ["validate", str(ROOT / "invalid" / "bad-nhs-number-v25.hl7")])
    assert bad.exit_code == 1, bad.output
    assert "PID-3[2].1" in bad.output


@pytest.mark.integration
def test_interop_help_and_listen_help_do_not_import_hl7apy() -> None:
    code = (
        "import sys\n"
        "from interop.cli.main import cli\n"
        "from interop.cli.listen_cmd import listen\n"
        "runs = ((cli, ['--help']), (listen, ['--help']), (listen, ['mllp', '--help']))\n"
        "for command, args in runs:\n"
        "    try:\n"
        "        command.main(args, prog_name='interop')\n"
        "    except SystemExit:\n"
        "        pass\n"
        "print('hl7apy' in sys.modules)\n"
    )
    result = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    )
    assert result.stdout.strip().splitlines()[-1] == "False"
    assert "--port" in result.stdout
