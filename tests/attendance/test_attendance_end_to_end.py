"""The attendance rules end to end: an MLLP client → the listener on 127.0.0.1 → the flag
found → the LA told in its MESH mailbox (a real mesh-sandbox) and at its FHIR server (the
toolkit's FHIR sandbox), the key social worker told of an unplanned admission, and the
trust's FHIR server given an alert Flag.

The listener runs the same wiring as ``interop listen mllp --config`` (``build_attendance``)
in a ``ServerThread``, with the dispatcher's background thread sending as messages arrive.
"""

from __future__ import annotations

import json
import logging
import random
import threading
import time
from collections.abc import Iterator
from dataclasses import dataclass
from datetime import date
from pathlib import Path
from typing import Any

import pytest
from attendance_support import (
    FLAGGED,
    LA_ODS,
    UNFLAGGED,
    adt,
    flood_messages,
    register_plans,
    treatment_plan,
    write_config,
)
from builders import CHILD, LA, doc
from mesh_server import MeshSandbox

from interop.attendance.messages import NOTIFICATION_ID_SYSTEM
from interop.attendance.service import AttendanceService
from interop.cli.listen_cmd import build_attendance
from interop.codes import PlanType
from interop.config import MeshSettings, Secret
from interop.cpis.codec import validate_cpis_xml
from interop.cpis.messages import read_access_notification
from interop.domain import ChildProtectionFlag
from interop.hl7v2.ack import read_ack
from interop.identifiers import NHS_NUMBER_SYSTEM
from interop.mappings.fhir import artefact_to_fhir
from interop.sandbox.fhir_server.running import running_server
from interop.synthetic import nhs_numbers
from interop.transport.fhir_client import FhirClient
from interop.transport.mesh import MeshTransport, ReceivedMessage
from interop.transport.mllp import MllpClient, MllpServer, ServerThread

pytestmark = pytest.mark.integration

JSON = dict[str, Any]
TIMEOUT = 60.0  # a safety net for a hung test, never an assertion


@dataclass
class World:
    """Everything an attendance meets on its way."""

    sandbox: MeshSandbox
    la_fhir: str
    trust_fhir: str
    directory: Path
    mesh_text: str

    def la_mesh(self) -> MeshSettings:
        config, _ = write_config(self.directory / "la-reader", {}, base_text=self.mesh_text)
        mailbox, password = self.sandbox.mailbox("la")
        mesh = config.mesh
        return MeshSettings(
            endpoint=mesh.endpoint,
            mailbox=mailbox,
            password=Secret("test", password),
            shared_key=mesh.shared_key,
            verify_tls=mesh.verify_tls,
            timeout=mesh.timeout,
        )

    def inbox(self) -> list[ReceivedMessage]:
        """What waits in the LA's mailbox on the access notification workflow."""
        workflow = self.sandbox.workflows["access_notification"]
        with MeshTransport(self.la_mesh()) as la:
            return [la.download(message_id) for message_id in la.inbox(workflow)]

    def listener(self, **attendance: Any) -> AttendanceService:
        """The rules as ``interop listen mllp`` wires them, sending as the CP-IS mailbox."""
        workflow = self.sandbox.workflows["access_notification"]
        endpoints = {
            "la-mesh": {
                "kind": "mesh",
                "mailbox": self.sandbox.la_mailbox,
                "workflow_id": workflow,
            },
            "la-fhir": {"kind": "fhir", "url": self.la_fhir},
            "trust-fhir": {"kind": "fhir", "url": self.trust_fhir},
        }
        table = {"notify": ["la-mesh", "la-fhir"], "alert": "trust-fhir", **attendance}
        config, settings = write_config(
            self.directory / "listener", endpoints, base_text=self.mesh_text, attendance=table
        )
        assert settings is not None
        return build_attendance(config, settings, self.directory / "state.sqlite")


@pytest.fixture
def world(
    tmp_path: Path, fresh_mesh_sandbox: MeshSandbox, monkeypatch: pytest.MonkeyPatch
) -> Iterator[World]:
    base, env = fresh_mesh_sandbox.write_config(tmp_path / "mesh", party="cpis")
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    with running_server() as la_fhir, running_server() as trust_fhir:
        yield World(
            fresh_mesh_sandbox, la_fhir, trust_fhir, tmp_path, base.read_text(encoding="utf-8")
        )


def wait_until_sent(service: AttendanceService) -> dict[str, int]:
    """Let the background dispatcher finish what is queued (a safety deadline, not a timing)."""
    deadline = time.monotonic() + TIMEOUT
    while time.monotonic() < deadline:
        counts = service.store.counts()
        if counts["pending"] == counts["sending"] == 0:
            return counts
        time.sleep(0.05)
    raise AssertionError(f"notifications still queued: {service.store.counts()}")


def by_patient(base: str, resource_type: str, nhs_number: str) -> list[JSON]:
    with FhirClient(base) as client:
        return list(client.search_by_patient(resource_type, nhs_number))


@pytest.fixture
def running(world: World) -> Iterator[tuple[AttendanceService, tuple[str, int]]]:
    service = world.listener(flag_source="endpoint:la-fhir", plan_source="la-fhir")
    thread = ServerThread(MllpServer(service.handle))
    address = thread.start()
    service.start()
    try:
        yield service, address
    finally:
        thread.stop(TIMEOUT)
        service.close()


def test_a_flagged_child_admitted_unplanned_is_notified_once_and_nobody_else_is(
    world: World,
    running: tuple[AttendanceService, tuple[str, int]],
    caplog: pytest.LogCaptureFixture,
) -> None:
    caplog.set_level(logging.DEBUG, logger="interop")
    # the flag as the CP-IS FHIR API shows it (a CareTeam), and the treatment plan
    flag = ChildProtectionFlag.model_validate(doc("child-protection-flag"))
    with FhirClient(world.la_fhir) as client:
        client.push(artefact_to_fhir(flag))
        client.push(artefact_to_fhir(treatment_plan()))
    service, (host, port) = running

    with MllpClient(host, port, timeout=TIMEOUT) as trust:
        admitted = trust.send(adt("E2E1", event="A01", patient_class="I", admission_type="21"))
        assert read_ack(admitted).code == "AA"
        wait_until_sent(service)

        [received] = world.inbox()
        assert received.sender == world.sandbox.cpis_mailbox
        assert validate_cpis_xml(received.data) == []
        notification = read_access_notification(received.data)
        assert notification.nhs_number == FLAGGED
        assert notification.plan_type is PlanType.CPP
        assert notification.accessor.organisation_ods == "RR801"
        assert notification.care_setting == "paediatric-ward"

        notes = by_patient(world.la_fhir, "Communication", FLAGGED)
        topics = sorted(note["topic"]["text"] for note in notes)
        assert topics == [
            "CP-IS access notification: a flagged child attended unscheduled care",
            "Unplanned hospital admission of a child under additional child safeguards",
        ]
        [key_worker] = [n for n in notes if n["priority"] == "urgent"]
        assert key_worker["contained"][0]["name"][0]["text"] == "Dana Whitfield"
        text = json.dumps(key_worker["payload"])
        assert "Take the child to the emergency department" in text
        assert "Dr Imran Qureshi" in text

        [alert] = by_patient(world.trust_fhir, "Flag", FLAGGED)
        assert alert["status"] == "active"
        assert alert["author"]["identifier"]["value"] == LA["ods_code"] == LA_ODS
        assert alert["period"]["start"].startswith("2026-03-01T10:15:00")

        # the same child in A&E three hours later: within 24 h, nobody is told again
        again = trust.send(adt("E2E2", event="A04", occurred="20260301131500"))
        assert read_ack(again).code == "AA"
        # a child without a flag: only the ACK
        other = trust.send(adt("E2E3", UNFLAGGED))
        assert read_ack(other).code == "AA"
        # a message with a wrong NHS number check digit: AE, nothing recorded
        wrong = trust.send(adt("E2E4", "9434765918"))
        assert read_ack(wrong).code == "AE"
        assert service.drain() == {"pending": 0, "sending": 0, "sent": 4}

    assert len(world.inbox()) == 1
    assert len(by_patient(world.la_fhir, "Communication", FLAGGED)) == 2
    assert len(by_patient(world.trust_fhir, "Flag", FLAGGED)) == 1
    assert by_patient(world.la_fhir, "Communication", UNFLAGGED) == []
    assert by_patient(world.trust_fhir, "Flag", UNFLAGGED) == []
    ours = [r.getMessage() for r in caplog.records if r.name.startswith("interop")]
    assert any("notification(s)" in line for line in ours)
    assert not any(FLAGGED in line or UNFLAGGED in line for line in ours)


def test_a_flood_over_4_connections_is_all_acknowledged_and_each_child_notified_once(
    world: World,
) -> None:
    rng = random.Random(5)
    numbers = nhs_numbers(rng)
    flagged = [next(numbers) for _ in range(40)]
    unflagged = [next(numbers) for _ in range(400)]
    register_plans(
        world.directory / "register.sqlite",
        [(n, PlanType.CPP, date(2026, 1, 5), None) for n in flagged],
    )
    messages, expected, valid = flood_messages(2000, flagged, unflagged, seed=9)
    service = world.listener(flag_source="stand-in", register="../register.sqlite")
    server = MllpServer(service.handle)
    thread = ServerThread(server)
    host, port = thread.start()
    service.start()
    acks: dict[int, list[bytes]] = {}
    shares = [list(range(n, len(messages), 4)) for n in range(4)]
    try:

        def send(share: int) -> None:
            with MllpClient(host, port, timeout=TIMEOUT) as client:
                acks[share] = client.send_all([messages[i] for i in shares[share]], window=25)

        workers = [threading.Thread(target=send, args=(n,)) for n in range(4)]
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join(TIMEOUT * 2)
        codes = {
            index: read_ack(data).code
            for share, indexes in enumerate(shares)
            for index, data in zip(indexes, acks[share], strict=True)
        }
        assert [codes[i] for i in range(len(messages))] == expected
        with MllpClient(host, port, timeout=TIMEOUT) as client:  # still serving
            assert read_ack(client.send(adt("ALIVE", UNFLAGGED))).code == "AA"
        wait_until_sent(service)
    finally:
        thread.stop(TIMEOUT)
        service.close()
    assert server.stats.messages == 2001
    assert server.stats.handler_failures == 0

    accessed = {n for n, event, kind in valid if n in flagged and event != "A03" and kind != "11"}
    alerted = {n for n, event, _ in valid if n in flagged and event != "A03"}
    assert len(accessed) > 30  # the mix reaches most of the flagged children
    inbox = world.inbox()
    told = [read_access_notification(m.data).nhs_number for m in inbox]
    assert sorted(told) == sorted(accessed)  # each once: none lost, none twice
    assert len({m.local_id for m in inbox}) == len(inbox)
    with FhirClient(world.la_fhir) as client:
        notes = list(client.search("Communication", {"_count": "1000"}))
    assert sorted(note["subject"]["identifier"]["value"] for note in notes) == sorted(accessed)
    assert {note["identifier"][0]["system"] for note in notes} == {NOTIFICATION_ID_SYSTEM}
    with FhirClient(world.trust_fhir) as client:
        flags = list(client.search("Flag", {"_count": "1000"}))
    assert sorted(f["subject"]["identifier"]["value"] for f in flags) == sorted(alerted)
    assert all(f["subject"]["identifier"]["system"] == NHS_NUMBER_SYSTEM for f in flags)
    assert CHILD["nhs_number"] not in flagged  # the synthetic children are the flood's own


def test_the_listen_command_with_an_attendance_section_notifies_then_stops_on_sigterm(
    world: World,
) -> None:
    """``interop listen mllp --config interop.toml`` as an operator runs it: a subprocess
    reading [attendance] from the file, its dispatcher sending while it listens."""
    import signal

    from transport.test_mllp import Listener, iter_lines  # tests/ is on sys.path

    flag = ChildProtectionFlag.model_validate(doc("child-protection-flag"))
    with FhirClient(world.la_fhir) as client:
        client.push(artefact_to_fhir(flag))
    # writes the listener's interop.toml; the service built in-process is not the one tested
    world.listener(
        flag_source="endpoint:la-fhir", state=str(world.directory / "cli.sqlite")
    ).close()
    config = world.directory / "listener" / "interop.toml"
    assert "[attendance]" in config.read_text(encoding="utf-8")
    listener = Listener("--port", "0", "--config", str(config))
    try:
        address = listener.wait_for("listening on 127.0.0.1:").split("listening on ")[1]
        port = int(address.strip().rsplit(":", 1)[1])
        with MllpClient("127.0.0.1", port, timeout=TIMEOUT) as trust:
            # a sender that builds its control id (MSH-10) on the NHS number
            ack = trust.send(adt(f"ADT{FLAGGED}001", event="A04"))
        assert read_ack(ack).code == "AA"
        deadline = time.monotonic() + TIMEOUT
        # both sends (FHIR and MESH) before SIGTERM: a row still queued at SIGTERM waits for
        # the next run, and the machine may be busy enough for the MESH one to come second
        while not (by_patient(world.la_fhir, "Communication", FLAGGED) and world.inbox()):
            assert time.monotonic() < deadline, "the notifications never arrived"
            time.sleep(0.1)
        listener.process.send_signal(signal.SIGTERM)
        assert listener.process.wait(TIMEOUT) == 0
    finally:
        listener.stop()
    [note] = by_patient(world.la_fhir, "Communication", FLAGGED)
    assert note["topic"]["text"].startswith("CP-IS access notification")
    assert len(world.inbox()) == 1
    log = "".join(listener.seen) + "".join(iter_lines(listener))
    assert "*** *** 5919001" in log  # the control id's line is there, masked
    assert FLAGGED not in log
