"""The attendance rules, piece by piece: settings, flag and plan look-ups, what is due, the
24-hour window, the state file, and the dispatcher's recovery after crashes and failures.

Real parts throughout: a CP-IS stand-in register and an LA ledger in SQLite, the FHIR sandbox
on 127.0.0.1, a real mesh-sandbox for the MESH send left in doubt.
"""

from __future__ import annotations

import dataclasses
import json
import logging
import socket
import sqlite3
from collections.abc import Iterator
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from attendance_support import (
    FLAGGED,
    LA_NAME,
    LA_ODS,
    UNFLAGGED,
    OruReceiver,
    adt,
    event_of,
    register_plans,
    treatment_plan,
    write_config,
)
from echoing_server import echoing_server
from mesh_server import MeshSandbox

from interop.attendance.dispatch import Dispatcher, FhirChannel
from interop.attendance.messages import NOTIFICATION_ID_SYSTEM, access_notification_xml
from interop.attendance.service import AttendanceService, Router, decide
from interop.attendance.settings import (
    AttendanceSettingsError,
    endpoint_problems,
    read_attendance_settings,
)
from interop.attendance.sources import FlagFact, LedgerFlags, LookupFailed
from interop.attendance.store import AttendanceStore
from interop.cli.listen_cmd import build_attendance
from interop.codes import PlanType
from interop.cpis.codec import validate_cpis_xml
from interop.cpis.model import CpisRecord, SubjectKind
from interop.fhir.structure import check_structure
from interop.hl7v2.ack import read_ack
from interop.hl7v2.adt import HandlerOutcome
from interop.hl7v2.er7 import read_er7
from interop.hl7v2.full_validation import hl7apy_issues
from interop.mappings.fhir import artefact_to_fhir
from interop.sandbox.fhir_server.running import running_server
from interop.state import open_state
from interop.sync.ledger import Ledger, PlannedRecord, record_to_json
from interop.transport.fhir_client import FhirClient
from interop.transport.mesh import MeshTransport
from interop.transport.mllp import MllpClient, MllpServer, ServerThread

JSON = dict[str, Any]


@pytest.fixture(scope="module")
def fhir() -> Iterator[str]:
    with running_server() as base:
        yield base


def closed_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def service(
    tmp_path: Path,
    endpoints: dict[str, dict[str, str]] | None = None,
    *,
    plans: list[tuple[str, PlanType, date, date | None]] | None = None,
    base_text: str = "",
    **attendance: Any,
) -> AttendanceService:
    """The rules as the listener wires them (``build_attendance``), over a stand-in register
    holding a CPP for FLAGGED unless told otherwise."""
    tmp_path.mkdir(parents=True, exist_ok=True)
    register = tmp_path / "register.sqlite"
    if not register.exists():
        register_plans(register, plans or [(FLAGGED, PlanType.CPP, date(2026, 2, 3), None)])
    dead = f"http://127.0.0.1:{closed_port()}/fhir"
    endpoints = endpoints or {"la-fhir": {"kind": "fhir", "url": dead}}
    table = {"flag_source": "stand-in", "register": "register.sqlite", "notify": ["la-fhir"]}
    table.update(attendance)
    config, settings = write_config(tmp_path, endpoints, base_text=base_text, attendance=table)
    assert settings is not None
    return build_attendance(config, settings, tmp_path / "state.sqlite")


def kinds(svc: AttendanceService) -> list[tuple[str, str]]:
    return sorted((row.kind, row.endpoint) for row in svc.store.rows())


# -- settings ----------------------------------------------------------------------------------


def test_settings_are_read_with_their_defaults_and_paths_from_the_file(tmp_path: Path) -> None:
    settings = read_attendance_settings(
        {
            "flag_source": "endpoint:cpis",
            "notify": ["la-mesh", "la-fhir"],
            "plan_source": "la-fhir",
            "alert": "trust",
            "state": "attendance.sqlite",
            "dedupe_hours": 12,
        },
        tmp_path,
    )
    assert settings.flag_source == "endpoint"
    assert settings.flag_endpoint == "cpis"
    assert settings.notify == ("la-mesh", "la-fhir")
    assert settings.state == tmp_path / "attendance.sqlite"
    assert (settings.dedupe_hours, settings.retry_initial, settings.retry_max) == (12, 2, 300)
    assert settings.route_by_directory is True
    assert settings.endpoint_names() == ("cpis", "la-fhir", "la-mesh", "trust")


def test_settings_errors_name_every_key(tmp_path: Path) -> None:
    with pytest.raises(AttendanceSettingsError) as caught:
        read_attendance_settings(
            {
                "flag_source": "cpis",
                "notify": [],
                "colour": "blue",
                "dedupe_hours": 0,
                "key_worker_workflow_id": "not a workflow",
                "retry_initial": 10,
                "retry_max": 1,
                "route_by_directory": "yes",
            },
            tmp_path,
        )
    paths = {path for path, _ in caught.value.problems}
    assert paths == {
        "attendance.flag_source",
        "attendance.notify",
        "attendance.colour",
        "attendance.dedupe_hours",
        "attendance.key_worker_workflow_id",
        "attendance.retry_max",
        "attendance.route_by_directory",
    }
    with pytest.raises(AttendanceSettingsError, match=r"attendance\.register"):
        read_attendance_settings({"flag_source": "stand-in", "notify": ["x"]}, tmp_path)


def test_endpoint_problems_name_missing_and_wrong_kinds(tmp_path: Path) -> None:
    config, settings = write_config(
        tmp_path,
        {
            "la-fhir": {"kind": "fhir", "url": "http://127.0.0.1:1/fhir"},
            "trust": {"kind": "mllp", "url": "mllp://127.0.0.1:2575"},
        },
        attendance={
            "flag_source": "endpoint:trust",
            "notify": ["la-fhir", "nowhere"],
            "plan_source": "trust",
            "alert": "la-fhir",
        },
    )
    assert settings is not None
    problems = endpoint_problems(settings, config.endpoints, has_mesh=False)
    assert problems == [
        ("attendance.flag_source", "endpoint 'trust' is mllp, not fhir"),
        ("attendance.plan_source", "endpoint 'trust' is mllp, not fhir"),
        ("attendance.notify", "no endpoint 'nowhere' in [endpoints]"),
    ]
    with pytest.raises(AttendanceSettingsError):
        build_attendance(config, settings, tmp_path / "state.sqlite")


# -- flag found / not found --------------------------------------------------------------------


def test_a_child_without_a_flag_leaves_nothing_behind(tmp_path: Path) -> None:
    svc = service(tmp_path)
    try:
        for message in (
            adt("N1", UNFLAGGED),
            adt("N2", None),  # no NHS number: nobody to look up
            adt("N3", FLAGGED, event="A03", patient_class="I"),  # a discharge tells nobody
        ):
            result = svc.handle(event_of(message))
            assert result.outcome is HandlerOutcome.NOTHING_TO_DO
        assert svc.store.rows() == []
        assert tuple(svc.store.db.execute("SELECT COUNT(*) FROM attendance_event").fetchone()) == (
            0,
        )
    finally:
        svc.close()


def test_a_flagged_attendance_queues_each_message_for_each_endpoint(tmp_path: Path) -> None:
    dead = f"http://127.0.0.1:{closed_port()}/fhir"
    svc = service(
        tmp_path,
        {
            "la-fhir": {"kind": "fhir", "url": dead},
            "la-fhir-2": {"kind": "fhir", "url": dead},
            "trust": {"kind": "mllp", "url": f"mllp://127.0.0.1:{closed_port()}"},
        },
        notify=["la-fhir", "la-fhir-2"],
        alert="trust",
    )
    try:
        result = svc.handle(event_of(adt("F1")))
        assert result.outcome is HandlerOutcome.RECORDED
        assert kinds(svc) == [
            ("access-notification", "la-fhir"),
            ("access-notification", "la-fhir-2"),
            ("trust-alert", "trust"),
        ]
        rows = {row.endpoint: row for row in svc.store.rows()}
        assert all(row.state == "pending" for row in rows.values())
        communication = json.loads(rows["la-fhir"].payload or b"")
        assert check_structure(communication) == []
        assert communication["recipient"][0]["identifier"]["value"] == LA_ODS
        assert communication["identifier"] == [
            {"system": NOTIFICATION_ID_SYSTEM, "value": rows["la-fhir"].notification_id}
        ]
        text = " ".join(p["contentString"] for p in communication["payload"])
        assert "Child protection plan" in text
        assert "01/03/2026 10:15" in text
        assert "RR801" in text
        alert = rows["trust"].payload or b""
        assert hl7apy_issues(read_er7(alert)) == []
        assert b"ORU^R01" in alert
        assert b"9434765919^^^NHS^NH" in alert
    finally:
        svc.close()


def test_the_cpis_access_notification_is_valid_against_the_toolkits_xsd(tmp_path: Path) -> None:
    config, settings = write_config(
        tmp_path,
        {"la": {"kind": "fhir", "url": "http://127.0.0.1:1/fhir"}},
        attendance={"flag_source": "ledger", "notify": ["la"]},
    )
    assert settings is not None
    flag = FlagFact(PlanType.LAC, LA_ODS, LA_NAME, date(2025, 1, 1))
    event = event_of(adt("X1"))
    router = Router(settings, config.endpoints)
    [decision] = decide(event, [flag], None, router, event.recorded_at)
    xml = access_notification_xml(decision.notice)
    assert validate_cpis_xml(xml) == []
    assert b'code="LACI"' in xml
    assert b'code="emergency-department"' in xml
    # the same message decided again (a resend) gives the same id: MESH local id, identifier
    [again] = decide(event_of(adt("X1")), [flag], None, router, event.recorded_at)
    assert again.notice.notification_id == decision.notice.notification_id
    [other] = decide(event_of(adt("X2")), [flag], None, router, event.recorded_at)
    assert other.notice.notification_id != decision.notice.notification_id


# -- the 24-hour window ------------------------------------------------------------------------


@pytest.mark.parametrize(
    ("second", "site", "notified"),
    [
        ("20260302101459", "RR801", False),  # 23:59:59 later
        ("20260302101500", "RR801", True),  # exactly 24 h later: a new access
        ("20260228101501", "RR801", False),  # 23:59:59 earlier, arriving after
        ("20260228101500", "RR801", True),  # exactly 24 h earlier
        ("20260301101500", "RQ301", True),  # same time, another organisation
    ],
)
def test_one_notification_per_child_and_organisation_within_24_hours(
    tmp_path: Path, second: str, site: str, notified: bool
) -> None:
    svc = service(tmp_path)
    try:
        first = svc.handle(event_of(adt("W1", occurred="20260301101500")))
        assert first.outcome is HandlerOutcome.RECORDED
        again = svc.handle(event_of(adt("W2", occurred=second, site=site)))
        assert (again.outcome is HandlerOutcome.RECORDED) is notified
        assert len(svc.store.rows()) == (2 if notified else 1)
    finally:
        svc.close()


def test_a_resent_message_is_recognised_and_changes_nothing(tmp_path: Path) -> None:
    svc = service(tmp_path, dedupe_hours=0.1)  # a short window: only the message key stops it
    try:
        message = adt("R1", occurred="20260301101500")
        assert svc.handle(event_of(message)).outcome is HandlerOutcome.RECORDED
        later = adt("R1", occurred="20260305101500")  # same control id, another day
        result = svc.handle(event_of(later))
        assert (result.outcome, result.detail) == (HandlerOutcome.NOTHING_TO_DO, "already recorded")
        assert len(svc.store.rows()) == 1
    finally:
        svc.close()


def test_keys_hold_a_keyed_hash_never_the_nhs_number(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    caplog.set_level(logging.DEBUG)
    svc = service(tmp_path)
    try:
        svc.handle(event_of(adt("K1")))
        svc.handle(event_of(adt("K2")))
        svc.drain()  # fails: the endpoint is down, and says so
        db = svc.store.db
        for table in ("attendance_event", "attendance_notified"):
            for row in db.execute(f"SELECT * FROM {table}"):
                assert FLAGGED not in " ".join(map(str, row))
        assert svc.store.child_key(FLAGGED) != svc.store.child_key(UNFLAGGED)
        assert FLAGGED not in svc.store.child_key(FLAGGED)
    finally:
        svc.close()
    other = AttendanceStore(tmp_path / "other.sqlite")
    assert other.child_key(FLAGGED) != AttendanceStore(tmp_path / "state.sqlite").child_key(FLAGGED)
    assert FLAGGED not in caplog.text
    assert "failed" in caplog.text


def listened(svc: AttendanceService, message: bytes) -> str:
    """The acknowledgement code of ``message`` sent to a real MLLP listener on 127.0.0.1
    handing attendances to ``svc``."""
    thread = ServerThread(MllpServer(svc.handle))
    host, port = thread.start()
    try:
        with MllpClient(host, port, timeout=30) as trust:
            return read_ack(trust.send(message)).code
    finally:
        thread.stop(30)


@pytest.mark.integration
@pytest.mark.parametrize(
    "control_id", [f"ADT{FLAGGED}001", f"{FLAGGED}-1", "943 476 5919", "A943-476-5919"]
)
def test_no_log_line_of_the_listener_and_the_rules_holds_the_nhs_number(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, control_id: str
) -> None:
    """A sender's MSH-10 built on the child's NHS number (PID-3 holds it too), a flag lookup
    whose server quotes the search back in its error, a send that fails the same way: every
    line the MLLP listener, the rules and the dispatcher log is there, the number masked."""
    caplog.set_level(logging.DEBUG)
    with echoing_server(500) as failing:
        down = {"kind": "fhir", "url": failing}
        looked_up = service(
            tmp_path / "lookup", {"la-fhir": down, "cpis": down}, flag_source="endpoint:cpis"
        )
        flagged = service(tmp_path / "send", {"la-fhir": down})  # the stand-in register flags
        try:
            assert listened(looked_up, adt(control_id)) == "AE"  # lookup failed: resend later
            assert listened(flagged, adt(control_id)) == "AA"
            assert flagged.drain()["pending"] == 1  # the LA's server answered 500
        finally:
            looked_up.close()
            flagged.close()
    logged = caplog.text
    assert "lookup failed for A04" in logged
    assert "failed (attempt 1; next in" in logged
    assert "from 127.0.0.1" in logged  # the listener's lines
    assert "*** *** 5919" in logged
    digits = "".join(ch for ch in logged if ch.isdigit() or ch == "\n")
    assert FLAGGED not in digits


# -- flag sources ------------------------------------------------------------------------------


def test_an_ended_plan_still_held_notifies_the_la_but_raises_no_ward_alert(tmp_path: Path) -> None:
    svc = service(
        tmp_path,
        {
            "la-fhir": {"kind": "fhir", "url": "http://127.0.0.1:1/fhir"},
            "trust": {"kind": "fhir", "url": "http://127.0.0.1:1/fhir"},
        },
        plans=[(FLAGGED, PlanType.CPP, date(2025, 1, 1), date(2026, 1, 10))],
        alert="trust",
    )
    try:
        svc.handle(event_of(adt("E1", occurred="20260301101500")))
        assert kinds(svc) == [("access-notification", "la-fhir")]
        # a year after the end CP-IS no longer holds it
        result = svc.handle(event_of(adt("E2", occurred="20270111101500")))
        assert result.detail == "no flag"
    finally:
        svc.close()


def ledger_with(path: Path | str, nhs_number: str) -> Ledger:
    ledger = Ledger(path)
    record = CpisRecord(
        record_id="LA-1",
        subject_kind=SubjectKind.CHILD,
        nhs_number=nhs_number,
        date_of_birth=date(2015, 4, 2),
        plan_type=PlanType.CPP,
        start_date=date(2026, 2, 3),
    )
    ledger.plan_upload(
        "U1", "X26", "Test Borough Council", [PlannedRecord(record, record_to_json(record), "h1")]
    )
    return ledger


def test_the_ledger_source_follows_the_ledger_as_it_changes(tmp_path: Path, state_url: str) -> None:
    # on either back end: a PostgreSQL state serves the listener too
    ledger = ledger_with(state_url, FLAGGED)
    flags = LedgerFlags(state_url, la_phones=("0113 496 0000", None))
    try:
        [fact] = flags.flags_for(FLAGGED, date(2026, 3, 1))
        assert (fact.plan_type, fact.la_ods, fact.emergency_duty_phone) == (
            PlanType.CPP,
            "X26",
            "0113 496 0000",
        )
        assert flags.flags_for(UNFLAGGED, date(2026, 3, 1)) == []
        assert flags.flags_for(FLAGGED, date(2026, 2, 2)) == []  # before the plan
        # CP-IS rejects it (no PDS match): CP-IS does not hold it, so neither does the source
        ledger.record_acknowledgement("M1", "U1", "CPF04", [("LA-1", "CPR01", None)], {})
        assert flags.flags_for(FLAGGED, date(2026, 3, 1)) == []
    finally:
        flags.close()
        ledger.close()
    with pytest.raises(LookupFailed, match="does not exist"):
        LedgerFlags(tmp_path / "missing.sqlite")
    if state_url.startswith("postgresql://"):
        with open_state(state_url) as db:
            db.execute("DROP TABLE records CASCADE")
        with pytest.raises(LookupFailed, match="holds no CP-IS sync ledger"):
            LedgerFlags(state_url)


def test_the_ledger_source_through_the_listener_wiring(tmp_path: Path) -> None:
    ledger_with(tmp_path / "state.sqlite", FLAGGED).close()  # one file: ledger and state
    svc = service(tmp_path, flag_source="ledger")
    try:
        assert svc.handle(event_of(adt("L1"))).outcome is HandlerOutcome.RECORDED
        assert svc.handle(event_of(adt("L2", UNFLAGGED))).detail == "no flag"
    finally:
        svc.close()


def test_a_flag_source_that_cannot_answer_gives_failed_and_records_nothing(
    tmp_path: Path,
) -> None:
    dead = f"http://127.0.0.1:{closed_port()}/fhir"
    svc = service(
        tmp_path,
        {"la-fhir": {"kind": "fhir", "url": dead}, "cpis": {"kind": "fhir", "url": dead}},
        flag_source="endpoint:cpis",
    )
    try:
        result = svc.handle(event_of(adt("D1")))
        assert (result.outcome, result.detail) == (HandlerOutcome.FAILED, "lookup failed")
        assert svc.store.rows() == []
    finally:
        svc.close()


# -- treatment plans: unplanned and planned admissions -----------------------------------------


def push(base: str, artefact: Any) -> None:
    with FhirClient(base) as client:
        client.push(artefact_to_fhir(artefact))


@pytest.mark.integration
@pytest.mark.parametrize(
    ("message", "expected"),
    [
        (  # an unplanned admission (emergency, via A&E): all three
            adt("P1", event="A01", patient_class="I", admission_type="21"),
            ["access-notification", "key-worker", "trust-alert"],
        ),
        (  # a planned admission (waiting list): the ward is told, nobody else
            adt("P2", event="A01", patient_class="I", admission_type="11"),
            ["trust-alert"],
        ),
        (  # an A&E attendance is not an admission: no key worker notification
            adt("P3", event="A04", patient_class="E"),
            ["access-notification", "trust-alert"],
        ),
    ],
)
def test_a_treatment_plan_and_an_unplanned_admission_tell_the_key_social_worker(
    tmp_path: Path, fhir: str, message: bytes, expected: list[str]
) -> None:
    push(fhir, treatment_plan())
    svc = service(
        tmp_path,
        {"la-fhir": {"kind": "fhir", "url": fhir}, "trust": {"kind": "fhir", "url": fhir}},
        plan_source="la-fhir",
        alert="trust",
    )
    try:
        assert svc.handle(event_of(message)).outcome is HandlerOutcome.RECORDED
        rows = {row.kind: row for row in svc.store.rows()}
        assert sorted(rows) == expected
        alert = json.loads(rows["trust-alert"].payload or b"")
        assert check_structure(alert) == []
        assert alert["status"] == "active"
        assert "additional-child-safeguards" in json.dumps(alert["code"])
        assert "Blood glucose above 20" in alert["text"]["div"]  # the ward sees the triggers
        if "key-worker" in rows:
            note = json.loads(rows["key-worker"].payload or b"")
            assert check_structure(note) == []
            assert note["contained"][0]["telecom"][0]["value"] == "0113 496 0100"
            assert note["recipient"][0]["display"] == "Dana Whitfield (key social worker)"
            text = " ".join(p["contentString"] for p in note["payload"])
            assert "Dr Imran Qureshi" in text
            assert "0113 496 0200" in text
            assert "Two missed diabetes clinic appointments" in text
            assert "Safe Discharge Planning Meeting" in text
    finally:
        svc.close()


@pytest.mark.integration
def test_without_a_key_social_worker_the_la_is_told(tmp_path: Path, fhir: str) -> None:
    other = "9876543210"
    register_plans(tmp_path / "register.sqlite", [(other, PlanType.LAC, date(2025, 5, 1), None)])
    push(fhir, treatment_plan(with_worker=False, nhs_number=other))
    svc = service(tmp_path, {"la-fhir": {"kind": "fhir", "url": fhir}}, plan_source="la-fhir")
    try:
        svc.handle(event_of(adt("S1", other, event="A01", patient_class="I", admission_type="22")))
        [note] = [json.loads(r.payload or b"") for r in svc.store.rows() if r.kind == "key-worker"]
        assert [r["identifier"]["value"] for r in note["recipient"]] == [LA_ODS]
        assert "names no key social worker" in json.dumps(note["payload"])
    finally:
        svc.close()


# -- the dispatcher: crashes and failures ------------------------------------------------------


def communications(base: str, notification: str) -> list[JSON]:
    with FhirClient(base) as client:
        query = {"identifier": f"{NOTIFICATION_ID_SYSTEM}|{notification}"}
        return list(client.search("Communication", query))


@pytest.mark.integration
def test_a_crash_between_recording_and_sending_sends_once_on_the_next_run(
    tmp_path: Path, fhir: str
) -> None:
    endpoints = {"la-fhir": {"kind": "fhir", "url": fhir}}
    first = service(tmp_path, endpoints)
    assert first.handle(event_of(adt("C1", site="RQ302"))).outcome is HandlerOutcome.RECORDED
    [row] = first.store.rows()
    first.close()  # the process ends before its dispatcher sent anything
    assert communications(fhir, row.notification_id) == []

    second = service(tmp_path, endpoints)
    try:
        # the trust resends the message (its ACK may have been lost): recognised
        assert second.handle(event_of(adt("C1", site="RQ302"))).detail == "already recorded"
        assert second.drain() == {"pending": 0, "sending": 0, "sent": 1}
        assert second.drain() == {"pending": 0, "sending": 0, "sent": 1}
        [sent] = second.store.rows()
        assert sent.payload is None  # nothing personal left behind once sent
        assert sent.remote_id is not None
        assert sent.remote_id.startswith("Communication/")
    finally:
        second.close()
    assert len(communications(fhir, row.notification_id)) == 1


@pytest.mark.integration
def test_a_fhir_send_left_in_doubt_is_not_duplicated(tmp_path: Path, fhir: str) -> None:
    svc = service(tmp_path, {"la-fhir": {"kind": "fhir", "url": fhir}})
    try:
        svc.handle(event_of(adt("C2", site="RQ303")))
        [row] = svc.store.rows()
        # the crash came after the server stored it, before the outcome was recorded
        with FhirClient(fhir) as client:
            client.create(json.loads(row.payload or b""))
        svc.store.mark_sending(row.row_id)
        assert svc.drain()["sent"] == 1
    finally:
        svc.close()
    assert len(communications(fhir, row.notification_id)) == 1


@pytest.mark.integration
def test_a_mesh_send_left_in_doubt_is_resolved_by_its_local_id(
    tmp_path: Path, mesh_sandbox: MeshSandbox, monkeypatch: pytest.MonkeyPatch
) -> None:
    base, env = mesh_sandbox.write_config(tmp_path / "mesh", party="cpis")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    text = base.read_text(encoding="utf-8")
    workflow = mesh_sandbox.workflows["access_notification"]
    svc = service(
        tmp_path,
        {"la-mesh": {"kind": "mesh", "mailbox": mesh_sandbox.la_mailbox, "workflow_id": workflow}},
        base_text=text,
        notify=["la-mesh"],
    )
    config, _ = write_config(tmp_path / "again", {}, base_text=text)
    try:
        svc.handle(event_of(adt("M1", site="RQ304")))
        [row] = svc.store.rows()
        assert row.channel == "mesh"
        with MeshTransport(config.mesh) as sender:
            message_id = sender.send(
                mesh_sandbox.la_mailbox, workflow, row.payload or b"", local_id=row.row_id
            )
        svc.store.mark_sending(row.row_id)  # ... and then the process died
        assert svc.drain()["sent"] == 1
        [sent] = svc.store.rows()
        assert sent.remote_id == message_id  # found by local id, not sent again
    finally:
        svc.close()
    la_mailbox, la_password = mesh_sandbox.mailbox("la")
    la_settings = dataclasses.replace(
        config.mesh,
        mailbox=la_mailbox,
        password=dataclasses.replace(config.mesh.password, value=la_password),
    )
    with MeshTransport(la_settings) as inbox:
        mine = [
            m
            for m in (inbox.download(i) for i in inbox.inbox(workflow))
            if m.local_id == row.row_id
        ]
        for message in mine:
            inbox.acknowledge(message.message_id)
    assert len(mine) == 1
    assert validate_cpis_xml(mine[0].data) == []


@pytest.mark.integration
def test_a_failing_endpoint_keeps_rows_pending_and_retries_with_backoff(
    tmp_path: Path, fhir: str
) -> None:
    svc = service(tmp_path)  # la-fhir is a closed port
    now = [1_000_000.0]
    try:
        svc.handle(event_of(adt("B1", site="RQ305")))
        assert svc.dispatcher is not None
        channels = svc.dispatcher.channels
        dispatcher = Dispatcher(
            AttendanceStore(tmp_path / "state.sqlite"),
            channels,
            retry_initial=2,
            retry_max=5,
            clock=lambda: now[0],
        )
        dispatcher.store.db.execute("UPDATE attendance_outbox SET next_attempt=0")

        def row() -> Any:
            [found] = dispatcher.store.rows()
            return found

        assert dispatcher.drain() == {"pending": 1, "sending": 0, "sent": 0}
        assert (row().attempts, row().next_attempt) == (1, now[0] + 2)
        assert "la-fhir" in (row().last_error or "")
        dispatcher.drain()  # not due yet: not tried
        assert row().attempts == 1
        now[0] += 2
        dispatcher.drain()
        assert (row().attempts, row().next_attempt) == (2, now[0] + 4)
        now[0] += 4
        dispatcher.drain()
        assert (row().attempts, row().next_attempt) == (3, now[0] + 5)  # capped at retry_max
        # the endpoint comes back (here: the same rows, a working endpoint)
        dispatcher.channels["la-fhir"] = FhirChannel(FhirClient(fhir))
        now[0] += 5
        assert dispatcher.drain() == {"pending": 0, "sending": 0, "sent": 1}
        dispatcher.stop()
    finally:
        svc.close()


def test_a_bad_state_file_is_refused_clearly(tmp_path: Path) -> None:
    from interop.attendance.store import StateError

    bad = tmp_path / "state.sqlite"
    bad.write_bytes(b"not a database" * 100)
    with pytest.raises(StateError, match="not a usable state file"):
        AttendanceStore(bad)
    newer = tmp_path / "newer.sqlite"
    AttendanceStore(newer).close()
    with sqlite3.connect(newer) as db:
        db.execute("UPDATE meta SET value='9' WHERE key='attendance_schema'")
    with pytest.raises(StateError, match="schema 9"):
        AttendanceStore(newer)


# -- the command line --------------------------------------------------------------------------


@pytest.mark.integration
def test_listen_dispatch_sends_what_is_queued_and_says_what_is_left(
    tmp_path: Path, fhir: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from click.testing import CliRunner

    import interop.cli.listen_cmd as listen_cmd

    svc = service(tmp_path, {"la-fhir": {"kind": "fhir", "url": fhir}})
    svc.handle(event_of(adt("CLI1", site="RQ306")))
    svc.close()
    settings = read_attendance_settings(
        {"flag_source": "stand-in", "register": "register.sqlite", "notify": ["la-fhir"]},
        tmp_path,
    )
    # Config.attendance is wired by interop.config; here the section is handed in directly
    monkeypatch.setattr(listen_cmd, "attendance_settings", lambda config: settings)
    runner = CliRunner()
    args = ["dispatch", "--config", str(tmp_path / "interop.toml")]
    args += ["--state", str(tmp_path / "state.sqlite")]
    result = runner.invoke(listen_cmd.listen, args)
    assert result.exit_code == 0, result.output
    assert "sent 1, still queued 0 (1 sent in all)" in result.output
    assert len(by_identifier(fhir, "CLI1", "RQ306")) == 1
    again = runner.invoke(listen_cmd.listen, args)  # the same state: nothing left to send
    assert again.exit_code == 0, again.output
    assert "sent 0, still queued 0 (1 sent in all)" in again.output
    assert len(by_identifier(fhir, "CLI1", "RQ306")) == 1

    down = tmp_path / "down"
    svc = service(down)  # la-fhir is a closed port
    svc.handle(event_of(adt("CLI2")))
    svc.close()
    settings = dataclasses.replace(settings, register=down / "register.sqlite")
    args = ["dispatch", "--config", str(down / "interop.toml"), "--state"]
    result = runner.invoke(listen_cmd.listen, [*args, str(down / "state.sqlite")])
    assert result.exit_code == 3, result.output
    assert "sent 0, still queued 1 (0 sent in all)" in result.output
    monkeypatch.setattr(listen_cmd, "attendance_settings", lambda config: None)
    result = runner.invoke(listen_cmd.listen, [*args, str(down / "state.sqlite")])
    assert result.exit_code == 2
    assert "no [attendance] section" in result.output


def by_identifier(base: str, control_id: str, site: str) -> list[JSON]:
    event = event_of(adt(control_id, site=site))
    from interop.attendance.service import ACCESS_NOTIFICATION, notification_id

    return communications(base, notification_id(event, ACCESS_NOTIFICATION, LA_ODS))


def test_one_dispatcher_per_state_file(tmp_path: Path) -> None:
    from interop.attendance.dispatch import DispatcherBusy

    first = service(tmp_path)
    try:
        with pytest.raises(DispatcherBusy, match="another dispatcher"):
            service(tmp_path)
    finally:
        first.close()
    service(tmp_path).close()  # released with the first


def test_the_listener_never_logs_request_urls() -> None:
    from interop.cli.listen_cmd import configure_logging

    loggers = [logging.getLogger(name) for name in ("", "httpx", "httpcore")]
    saved = [logger.level for logger in loggers]
    try:
        configure_logging("debug")
        # httpx logs each request's URL at INFO: with a search's query, the NHS number
        assert not logging.getLogger("httpx").isEnabledFor(logging.INFO)
        assert not logging.getLogger("httpcore").isEnabledFor(logging.INFO)
        assert logging.getLogger("httpx").isEnabledFor(logging.WARNING)
    finally:
        for logger, level in zip(loggers, saved, strict=True):
            logger.setLevel(level)  # setLevel also clears the loggers' caches


@pytest.mark.integration
def test_the_v2_alert_reaches_the_trusts_mllp_listener_and_a_refusal_keeps_it(
    tmp_path: Path,
) -> None:
    refusing, accepting = OruReceiver("AR"), OruReceiver()
    try:
        svc = service(
            tmp_path,
            {
                "la-fhir": {"kind": "fhir", "url": "http://127.0.0.1:1/fhir"},
                "trust": {"kind": "mllp", "url": f"mllp://127.0.0.1:{refusing.port}"},
            },
            alert="trust",
        )
        try:
            svc.handle(event_of(adt("V1", event="A01", patient_class="I", admission_type="11")))
            [row] = svc.store.rows()  # a planned admission: only the ward's alert
            assert row.kind == "trust-alert"
            svc.drain()
            [kept] = svc.store.rows()
            assert (kept.state, kept.attempts) == ("pending", 1)
            assert "answered AR" in (kept.last_error or "")
            assert svc.dispatcher is not None
            from interop.attendance.dispatch import MllpChannel

            svc.dispatcher.channels["trust"] = MllpChannel("127.0.0.1", accepting.port, 10)
            assert svc.drain(everything=True)["sent"] == 1
        finally:
            svc.close()
    finally:
        refusing.close()
        accepting.close()
    assert len(refusing.received) == len(accepting.received) == 1
    # the same control id both times: the receiver can tell a repeat
    assert read_er7(refusing.received[0]).msh.component(10) == read_er7(
        accepting.received[0]
    ).msh.component(10)
    assert hl7apy_issues(read_er7(accepting.received[0])) == []
