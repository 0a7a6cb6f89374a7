"""Where the attendance rules keep their state: which setting wins, and a PostgreSQL state
shared by the listener and two dispatchers, run as an operator runs them.

Real parts: ``interop listen mllp`` and ``interop listen dispatch`` in subprocesses, a real
PostgreSQL server (tests/pg_server.py), an MLLP client on 127.0.0.1, and a trust's MLLP
receiver that counts every alert it is sent: a notification sent twice would be counted twice
(an MLLP receiver has no conditional create to hide a repeat).
"""

from __future__ import annotations

import itertools
import random
import signal
import subprocess
import sys
from datetime import date
from pathlib import Path

import pytest
from attendance_support import OruReceiver, adt, register_plans, write_config

from interop.codes import PlanType
from interop.hl7v2.ack import read_ack
from interop.hl7v2.er7 import read_er7
from interop.state import open_state
from interop.synthetic import nhs_numbers
from interop.transport.mllp import MllpClient

SCRIPT = str(Path(sys.executable).with_name("interop"))
TIMEOUT = 60.0  # a safety net for a hung test, never an assertion
CHILDREN = 12


def closed_port() -> int:
    import socket

    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
    return port


def attendance_config(folder: Path, trust_port: int, **attendance: str) -> Path:
    """An interop.toml whose [attendance] alerts the trust over MLLP at ``trust_port`` (the LA's
    FHIR endpoint is a closed port: a planned admission tells only the ward)."""
    endpoints = {
        "la-fhir": {"kind": "fhir", "url": f"http://127.0.0.1:{closed_port()}/fhir"},
        "trust": {"kind": "mllp", "url": f"mllp://127.0.0.1:{trust_port}"},
    }
    table = {
        "flag_source": "stand-in",
        "register": "../register.sqlite",
        "notify": ["la-fhir"],
        "alert": "trust",
        **attendance,
    }
    write_config(folder, endpoints, attendance=table)
    return folder / "interop.toml"


def outbox(url: str) -> list[tuple[str, str, str, bool]]:
    """The outbox rows in the database: (kind, endpoint, state, payload kept)."""
    with open_state(url) as state:
        rows = state.execute(
            "SELECT kind, endpoint, state, payload IS NOT NULL FROM attendance_outbox"
            " ORDER BY row_id"
        ).fetchall()
    return [(str(r[0]), str(r[1]), str(r[2]), bool(r[3])) for r in rows]


@pytest.mark.integration
@pytest.mark.slow
def test_a_listener_queues_in_postgresql_and_two_dispatchers_send_each_alert_once(
    tmp_path: Path, postgres_url: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    from transport.test_mllp import Listener  # tests/ is on sys.path

    flagged = list(itertools.islice(nhs_numbers(random.Random(13)), CHILDREN))
    register_plans(
        tmp_path / "register.sqlite", [(n, PlanType.CPP, date(2026, 1, 5), None) for n in flagged]
    )
    run = tmp_path / "run"  # the jobs' working directory: no state file may appear in it
    run.mkdir()
    monkeypatch.chdir(run)

    # the listener reads its state from [attendance] state; the trust is down meanwhile
    config = attendance_config(tmp_path / "listener", closed_port(), state=postgres_url)
    listener = Listener("--port", "0", "--config", str(config))
    try:
        address = listener.wait_for("listening on 127.0.0.1:").split("listening on ")[1]
        port = int(address.strip().rsplit(":", 1)[1])
        with MllpClient("127.0.0.1", port, timeout=TIMEOUT) as trust:
            for index, number in enumerate(flagged):
                # a planned admission of a flagged child: the ward is alerted, nobody else
                message = adt(
                    f"PG{index}", number, event="A01", patient_class="I", admission_type="11"
                )
                ack = trust.send(message)
                assert read_ack(ack).code == "AA", ack
        listener.process.send_signal(signal.SIGTERM)
        assert listener.process.wait(TIMEOUT) == 0
    finally:
        listener.stop()
    log = "".join(listener.seen)
    assert "Traceback" not in log
    assert not any(number in log for number in flagged)

    queued = outbox(postgres_url)  # recorded before each ACK, in the database
    assert len(queued) == CHILDREN
    assert {(kind, endpoint) for kind, endpoint, _, _ in queued} == {("trust-alert", "trust")}
    assert all(state != "sent" and kept for _, _, state, kept in queued)
    assert list(run.iterdir()) == []  # no SQLite state or dispatch lock beside the jobs
    assert not list(tmp_path.rglob("*dispatch-lock*"))

    # two dispatchers at once, given the database with --state: each alert reaches the trust once
    receiver = OruReceiver()
    try:
        config = attendance_config(tmp_path / "dispatch", receiver.port)
        command = [SCRIPT, "listen", "dispatch", "--config", str(config), "--state", postgres_url]
        workers = [
            subprocess.Popen(command, stdout=subprocess.PIPE, stderr=subprocess.PIPE, text=True)
            for _ in range(2)
        ]
        finished = [(w.wait(TIMEOUT), *w.communicate(timeout=TIMEOUT)) for w in workers]
        shares = []
        for code, out, err in finished:
            # one may finish while the other still sends its share: in hand, not left behind
            assert code == 0, finished
            assert "still queued 0" in out, finished
            assert "Traceback" not in err
            shares.append(int(out.split("sent ", 1)[1].split(",", 1)[0]))
        assert sum(shares) == CHILDREN, finished  # each says what it sent, not the total
        again = subprocess.run(command, capture_output=True, text=True, timeout=TIMEOUT)
        assert again.returncode == 0, again.stdout + again.stderr
        assert f"sent 0, still queued 0 ({CHILDREN} sent in all)" in again.stdout
    finally:
        receiver.close()
    control_ids = [read_er7(frame).msh.component(10) for frame in receiver.received]
    assert len(control_ids) == CHILDREN, "an alert was sent twice, or lost"
    assert len(set(control_ids)) == CHILDREN
    assert {row[2:] for row in outbox(postgres_url)} == {("sent", False)}
    assert list(run.iterdir()) == []


def test_the_state_key_of_attendance_may_be_a_postgresql_url(tmp_path: Path) -> None:
    from interop.config.attendance import read_attendance_settings

    url = "postgresql://interop@db.example/interop"
    table = {"flag_source": "ledger", "notify": ["la-fhir"], "state": url, "ledger": url}
    settings = read_attendance_settings(table, tmp_path)
    assert settings.state == settings.ledger == url
    settings = read_attendance_settings({**table, "state": "a.sqlite"}, tmp_path)
    assert settings.state == tmp_path / "a.sqlite"


def test_the_option_then_the_attendance_key_then_the_top_level_state_is_used(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """As every other job: without --state and [attendance] state, the top-level ``state``."""
    from interop.cli.listen_cmd import build_attendance

    register_plans(tmp_path / "register.sqlite", [])
    monkeypatch.chdir(tmp_path)
    top = 'state = "shared.sqlite"\n'
    for attendance, option, expected in [
        ({}, None, "shared.sqlite"),
        ({"state": "own.sqlite"}, None, "own.sqlite"),
        ({"state": "own.sqlite"}, tmp_path / "given.sqlite", "given.sqlite"),
    ]:
        folder = tmp_path / "site"
        table = {"flag_source": "stand-in", "register": "../register.sqlite", **attendance}
        endpoints = {"la-fhir": {"kind": "fhir", "url": "http://127.0.0.1:1/fhir"}}
        config, settings = write_config(
            folder, endpoints, base_text=top, attendance={**table, "notify": ["la-fhir"]}
        )
        assert settings is not None
        service = build_attendance(config, settings, option)
        try:
            assert Path(service.store.db.location).name == expected
        finally:
            service.close()
    assert not (tmp_path / "interop-state.sqlite").exists()


@pytest.mark.integration
def test_on_sqlite_listen_dispatch_beside_the_running_listener_is_refused(
    tmp_path: Path,
) -> None:
    """docs/operations.md: on a SQLite state only one process sends attendance notifications."""
    from transport.test_mllp import Listener  # tests/ is on sys.path

    register_plans(tmp_path / "register.sqlite", [])
    config = attendance_config(tmp_path / "site", closed_port())
    state = tmp_path / "state.sqlite"
    dispatch = [SCRIPT, "listen", "dispatch", "--config", str(config), "--state", str(state)]
    listener = Listener("--port", "0", "--config", str(config), "--state", str(state))
    try:
        listener.wait_for("listening on 127.0.0.1:")
        refused = subprocess.run(dispatch, capture_output=True, text=True, timeout=TIMEOUT)
        listener.process.send_signal(signal.SIGTERM)
        assert listener.process.wait(TIMEOUT) == 0
    finally:
        listener.stop()
    assert refused.returncode == 2, refused.stdout + refused.stderr
    assert "another dispatcher (a running listener?) is sending from" in refused.stderr
    assert "Traceback" not in refused.stderr
    alone = subprocess.run(dispatch, capture_output=True, text=True, timeout=TIMEOUT)
    assert alone.returncode == 0, alone.stdout + alone.stderr
    assert "sent 0, still queued 0 (0 sent in all)" in alone.stdout
