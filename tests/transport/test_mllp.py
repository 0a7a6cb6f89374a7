"""MLLP: the framing codec, and the listener on 127.0.0.1 over real sockets.

The listener runs in a background thread (``ServerThread``) or, for the SIGTERM test, as the
real CLI in a subprocess. Nothing here waits a fixed time to see that something did not
happen: tests wait for an ACK, a closed connection or a log line.
"""

from __future__ import annotations

import json
import logging
import os
import queue
import random
import signal
import socket
import subprocess
import sys
import threading
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

import pytest
from hypothesis import given
from hypothesis import strategies as st

from interop.fixtures import fixtures_root
from interop.hl7v2.ack import read_ack
from interop.hl7v2.adt import AttendanceEvent, HandlerOutcome, HandlerResult
from interop.transport.mllp import (
    Frame,
    FrameProblem,
    MllpClient,
    MllpDecoder,
    MllpError,
    MllpServer,
    ServerThread,
    frame,
)

ROOT = Path(str(fixtures_root())) / "hl7v2"
MANIFEST: list[dict[str, Any]] = json.loads((ROOT / "manifest.json").read_text("utf-8"))["fixtures"]
VALID = [f for f in MANIFEST if f["path"].startswith("valid/")]
INVALID = [f for f in MANIFEST if f["path"].startswith("invalid/")]
TIMEOUT = 30.0  # a safety net for a hung test, never an assertion


def fixture_bytes(name: str) -> bytes:
    return (ROOT / name).read_bytes()


def adt(control_id: str, nhs_number: str = "9434765919", version: str = "2.5") -> bytes:
    return (
        f"MSH|^~\\&|PAS|RR801|INTEROP|X26|20260301101500||ADT^A04^ADT_A01|{control_id}|P|"
        f"{version}\rEVN|A04|20260301101500\r"
        f"PID|1||{nhs_number}^^^NHS^NH~D1^^^RR8^MR||SYNTHETIC^ALEX||20150402|M\r"
        "PV1|1|E|ED^^^RR801\r"
    ).encode()


# -- framing -----------------------------------------------------------------------------------


def payloads(items: list[Frame | FrameProblem]) -> list[bytes]:
    return [i.payload for i in items if isinstance(i, Frame)]


def test_frames_split_across_reads_byte_by_byte() -> None:
    decoder = MllpDecoder()
    stream = frame(b"one") + frame(b"two")
    found: list[Frame | FrameProblem] = []
    for byte in stream:
        found += decoder.feed(bytes([byte]))
    assert payloads(found) == [b"one", b"two"]
    assert not decoder.in_frame


def test_several_frames_in_one_read_and_an_end_block_split_from_its_cr() -> None:
    decoder = MllpDecoder()
    stream = frame(b"a") + frame(b"b") + frame(b"c")
    first = decoder.feed(stream[:-1])  # the last frame's CR is still to come
    assert payloads(first) == [b"a", b"b"]
    assert decoder.in_frame
    assert payloads(decoder.feed(stream[-1:])) == [b"c"]


def test_a_missing_cr_after_the_end_block_is_forgiven() -> None:
    decoder = MllpDecoder()
    assert payloads(decoder.feed(b"\x0bone\x1c\x0btwo\x1c\r")) == [b"one", b"two"]


def test_junk_outside_frames_is_reported_and_whitespace_is_not() -> None:
    decoder = MllpDecoder()
    found = decoder.feed(b"\r\n  " + frame(b"a") + b"noise" + frame(b"b"))
    assert payloads(found) == [b"a", b"b"]
    assert [(p.kind, p.size) for p in found if isinstance(p, FrameProblem)] == [("junk", 5)]


def test_a_frame_without_an_end_block_before_the_next_start() -> None:
    decoder = MllpDecoder()
    found = decoder.feed(b"\x0bpartial\x0bwhole\x1c\r")
    assert isinstance(found[0], FrameProblem)
    assert (found[0].kind, found[0].head) == ("no-end-block", b"partial")
    assert payloads(found) == [b"whole"]


@pytest.mark.parametrize("with_end", [True, False])
def test_an_oversized_frame_breaks_the_stream(with_end: bool) -> None:
    decoder = MllpDecoder(max_frame=100)
    data = b"\x0b" + b"x" * 150 + (b"\x1c\r" if with_end else b"")
    found = decoder.feed(data)
    assert [type(i).__name__ for i in found] == ["FrameProblem"]
    assert isinstance(found[0], FrameProblem)
    assert found[0].kind == "oversized"
    assert decoder.broken
    assert decoder.feed(frame(b"ok")) == []


@given(
    st.lists(st.binary(max_size=40).map(lambda b: b.translate(None, b"\x0b\x1c")), max_size=8),
    st.lists(st.integers(1, 50), min_size=1, max_size=20),
)
def test_any_split_of_a_stream_gives_the_same_frames(
    messages: list[bytes], sizes: list[int]
) -> None:
    stream = b"".join(frame(m) for m in messages)
    decoder = MllpDecoder()
    found: list[Frame | FrameProblem] = []
    position, turn = 0, 0
    while position < len(stream):
        size = sizes[turn % len(sizes)]
        found += decoder.feed(stream[position : position + size])
        position, turn = position + size, turn + 1
    assert payloads(found) == messages
    assert all(isinstance(item, Frame) for item in found)


def test_pending_holds_the_start_of_an_incomplete_frame() -> None:
    decoder = MllpDecoder()
    decoder.feed(b"\x0bMSH|^~\\&|A")
    assert decoder.pending == b"MSH|^~\\&|A"
    assert decoder.pending_size() == 10


# -- the listener ------------------------------------------------------------------------------


class Recorder:
    """A handler that records events in memory (a stand-in for the ledger's durable write)."""

    def __init__(self) -> None:
        self.events: list[AttendanceEvent] = []
        self.lock = threading.Lock()

    def __call__(self, event: AttendanceEvent) -> HandlerResult:
        with self.lock:
            self.events.append(event)
        return HandlerResult(HandlerOutcome.RECORDED)


@pytest.fixture
def listen() -> Iterator[Callable[..., tuple[str, int, MllpServer]]]:
    threads: list[ServerThread] = []

    def start(handler: Any = None, **options: Any) -> tuple[str, int, MllpServer]:
        server = MllpServer(handler, host="127.0.0.1", port=0, **options)
        thread = ServerThread(server)
        threads.append(thread)
        host, port = thread.start()
        return host, port, server

    yield start
    for thread in threads:
        thread.stop(TIMEOUT)
        assert thread.stopped


@pytest.mark.integration
def test_a_valid_message_is_recorded_before_it_is_acknowledged(
    listen: Callable[..., tuple[str, int, MllpServer]],
) -> None:
    recorder = Recorder()
    host, port, _ = listen(recorder)
    with MllpClient(host, port, timeout=TIMEOUT) as client:
        ack = read_ack(client.send(adt("C1")))
        assert recorder.events  # the ACK came after the handler returned
    assert (ack.code, ack.control_id) == ("AA", "C1")
    assert recorder.events[0].nhs_number == "9434765919"
    assert recorder.events[0].control_id == "C1"


@pytest.mark.integration
def test_every_fixture_over_mllp_gets_the_manifest_ack(
    listen: Callable[..., tuple[str, int, MllpServer]],
) -> None:
    recorder = Recorder()
    host, port, _ = listen(recorder)
    with MllpClient(host, port, timeout=TIMEOUT) as client:
        acks = [read_ack(client.send(fixture_bytes(f["path"]))) for f in MANIFEST]
    assert [a.code for a in acks] == [f["ack_code"] for f in MANIFEST]
    assert [[e.location for e in a.errors] for a in acks] == [f["err_locations"] for f in MANIFEST]
    assert len(recorder.events) == len(VALID)


@pytest.mark.integration
def test_a_message_split_over_writes_and_several_in_one_write(
    listen: Callable[..., tuple[str, int, MllpServer]],
) -> None:
    host, port, _ = listen(Recorder())
    with MllpClient(host, port, timeout=TIMEOUT) as client:
        whole = frame(adt("S1"))
        for start in range(0, len(whole), 7):
            client.send_raw(whole[start : start + 7])
        assert read_ack(client.receive()).control_id == "S1"
        client.send_raw(b"".join(frame(adt(f"M{i}")) for i in range(20)))
        ids = [read_ack(client.receive()).control_id for _ in range(20)]
    assert ids == [f"M{i}" for i in range(20)]


@pytest.mark.integration
def test_handler_failures_give_ae_and_the_listener_carries_on(
    listen: Callable[..., tuple[str, int, MllpServer]],
) -> None:
    def handler(event: AttendanceEvent) -> HandlerResult:
        if event.control_id == "RAISE":
            raise RuntimeError("database is locked for 9434765919")
        if event.control_id == "FAIL":
            return HandlerResult(HandlerOutcome.FAILED, "ledger unavailable")
        if event.control_id == "WRONG":
            return "not a result"  # type: ignore[return-value]
        return HandlerResult()

    host, port, server = listen(handler)
    with MllpClient(host, port, timeout=TIMEOUT) as client:
        acks = [read_ack(client.send(adt(c))) for c in ("RAISE", "FAIL", "WRONG", "OK")]
    assert [a.code for a in acks] == ["AE", "AE", "AE", "AA"]
    assert [e.code for e in acks[0].errors] == ["207"]
    assert "9434765919" not in acks[0].text
    assert server.stats.handler_failures == 3


@pytest.mark.integration
def test_an_async_handler_is_awaited(listen: Callable[..., tuple[str, int, MllpServer]]) -> None:
    seen: list[str] = []

    async def handler(event: AttendanceEvent) -> HandlerResult:
        seen.append(event.control_id)
        return HandlerResult()

    host, port, _ = listen(handler)
    with MllpClient(host, port, timeout=TIMEOUT) as client:
        assert read_ack(client.send(adt("A1"))).code == "AA"
    assert seen == ["A1"]


@pytest.mark.integration
def test_a_frame_without_end_block_gets_ar_and_the_next_frame_is_read(
    listen: Callable[..., tuple[str, int, MllpServer]],
) -> None:
    host, port, _ = listen(Recorder())
    with MllpClient(host, port, timeout=TIMEOUT) as client:
        client.send_raw(b"\x0b" + adt("LOST")[:100] + frame(adt("NEXT")))
        first, second = read_ack(client.receive()), read_ack(client.receive())
    assert (first.code, first.control_id) == ("AR", "LOST")
    assert "end block" in first.errors[0].message
    assert (second.code, second.control_id) == ("AA", "NEXT")


@pytest.mark.integration
def test_an_oversized_frame_gets_ar_and_the_connection_closes(
    listen: Callable[..., tuple[str, int, MllpServer]],
) -> None:
    host, port, _ = listen(Recorder(), max_frame=4096)
    with MllpClient(host, port, timeout=TIMEOUT) as client:
        client.send_raw(b"\x0b" + adt("BIG") + b"NTE|1||" + b"x" * 5000)
        ack = read_ack(client.receive())
        with pytest.raises(MllpError, match="closed"):
            client.receive()
    assert (ack.code, ack.control_id) == ("AR", "BIG")
    assert "4,096" in ack.text


@pytest.mark.integration
def test_idle_connections_are_closed_and_an_incomplete_frame_gets_ar(
    listen: Callable[..., tuple[str, int, MllpServer]],
) -> None:
    host, port, _ = listen(Recorder(), idle_timeout=0.2)
    with MllpClient(host, port, timeout=TIMEOUT) as quiet, pytest.raises(MllpError, match="closed"):
        quiet.receive()
    with MllpClient(host, port, timeout=TIMEOUT) as halfway:
        halfway.send_raw(b"\x0b" + adt("HALF")[:100])
        ack = read_ack(halfway.receive())
        with pytest.raises(MllpError, match="closed"):
            halfway.receive()
    assert (ack.code, ack.control_id) == ("AR", "HALF")


@pytest.mark.integration
def test_junk_and_invalid_bytes_never_stop_the_listener(
    listen: Callable[..., tuple[str, int, MllpServer]],
) -> None:
    host, port, server = listen(Recorder())
    with MllpClient(host, port, timeout=TIMEOUT) as client:
        client.send_raw(b"GET / HTTP/1.1\r\n\r\n")
        assert read_ack(client.send(b"\xff\xfe\x00garbage")).code == "AR"
        assert read_ack(client.send(b"")).code == "AR"
        assert read_ack(client.send(adt("AFTER"))).code == "AA"
    assert server.stats.junk_bytes > 0


@pytest.mark.integration
def test_connections_beyond_the_limit_are_closed_at_once(
    listen: Callable[..., tuple[str, int, MllpServer]],
) -> None:
    host, port, server = listen(Recorder(), max_connections=2)
    with MllpClient(host, port) as one, MllpClient(host, port) as two:
        assert read_ack(one.send(adt("1"))).code == "AA"
        assert read_ack(two.send(adt("2"))).code == "AA"
        with MllpClient(host, port, timeout=TIMEOUT) as three, pytest.raises(MllpError):
            three.send(adt("3"))
        assert read_ack(one.send(adt("4"))).code == "AA"
    assert server.stats.refused_connections == 1


@pytest.mark.integration
def test_many_concurrent_connections(listen: Callable[..., tuple[str, int, MllpServer]]) -> None:
    recorder = Recorder()
    host, port, _ = listen(recorder)
    results: dict[int, list[str]] = {}

    def talk(number: int) -> None:
        with MllpClient(host, port, timeout=TIMEOUT) as client:
            acks = [read_ack(client.send(adt(f"{number}-{i}"))) for i in range(5)]
        results[number] = [a.code for a in acks]

    workers = [threading.Thread(target=talk, args=(n,)) for n in range(40)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(TIMEOUT)
    assert results == {n: ["AA"] * 5 for n in range(40)}
    assert len(recorder.events) == 200


def flood_messages(count: int, seed: int) -> tuple[list[bytes], list[str]]:
    """``count`` messages, 5% malformed (the invalid fixtures, each with a fresh control id
    where it has one); and the ACK code each must get."""
    rng = random.Random(seed)
    messages, expected = [], []
    for index in range(count):
        if index % 20 == 7:
            fixture = rng.choice(INVALID)
            messages.append(fixture_bytes(fixture["path"]))
            expected.append(fixture["ack_code"])
        else:
            number = rng.choice(["9434765919", "9434765870", "9876543210"])
            messages.append(adt(f"F{index}", number, rng.choice(["2.4", "2.5"])))
            expected.append("AA")
    return messages, expected


@pytest.mark.integration
def test_flood_of_2000_messages_over_4_connections_5_percent_malformed(
    listen: Callable[..., tuple[str, int, MllpServer]],
) -> None:
    recorder = Recorder()
    host, port, server = listen(recorder)
    messages, expected = flood_messages(2000, seed=7)
    shares = [list(range(n, len(messages), 4)) for n in range(4)]
    acks: dict[int, list[bytes]] = {}

    def send(share: int) -> None:
        with MllpClient(host, port, timeout=TIMEOUT) as client:
            acks[share] = client.send_all([messages[i] for i in shares[share]], window=25)

    workers = [threading.Thread(target=send, args=(n,)) for n in range(4)]
    for worker in workers:
        worker.start()
    for worker in workers:
        worker.join(TIMEOUT * 4)
    codes: dict[int, str] = {}
    for share, indexes in enumerate(shares):
        for index, data in zip(indexes, acks[share], strict=True):
            ack = read_ack(data)
            codes[index] = ack.code
            if expected[index] == "AA":
                assert ack.control_id == f"F{index}"
    assert [codes[i] for i in range(len(messages))] == expected
    assert len(recorder.events) == expected.count("AA")
    assert server.stats.messages == 2000
    with MllpClient(host, port, timeout=TIMEOUT) as client:  # still serving
        assert read_ack(client.send(adt("ALIVE"))).code == "AA"


class LogWatcher(logging.Handler):
    """Sets an event when a log line containing ``text`` is emitted."""

    def __init__(self, text: str) -> None:
        super().__init__()
        self.text = text
        self.seen = threading.Event()

    def emit(self, record: logging.LogRecord) -> None:
        if self.text in record.getMessage():
            self.seen.set()


@pytest.mark.integration
def test_stop_finishes_the_message_in_flight_and_refuses_new_connections() -> None:
    started, release = threading.Event(), threading.Event()

    def slow(event: AttendanceEvent) -> HandlerResult:
        started.set()
        release.wait(TIMEOUT)
        return HandlerResult()

    watcher = LogWatcher("stopped accepting connections")
    logger = logging.getLogger("interop.mllp")
    logger.addHandler(watcher)
    level = logger.level
    logger.setLevel(logging.INFO)
    thread = ServerThread(MllpServer(slow, port=0))
    try:
        host, port = thread.start()
        with MllpClient(host, port, timeout=TIMEOUT) as client:
            client.send_raw(frame(adt("INFLIGHT")))
            assert started.wait(TIMEOUT)
            thread.request_stop()
            assert watcher.seen.wait(TIMEOUT)
            with pytest.raises(ConnectionRefusedError):
                socket.create_connection((host, port), timeout=TIMEOUT).close()
            release.set()
            ack = read_ack(client.receive())
            with pytest.raises(MllpError, match="closed"):
                client.receive()
        assert (ack.code, ack.control_id) == ("AA", "INFLIGHT")
        thread.stop(TIMEOUT)
        assert thread.stopped
    finally:
        release.set()
        logger.removeHandler(watcher)
        logger.setLevel(level)
        thread.stop(TIMEOUT)


# -- the real CLI ------------------------------------------------------------------------------


class Listener:
    """``interop listen mllp`` in a subprocess, its standard error read line by line."""

    def __init__(self, *args: str) -> None:
        command = "from interop.cli.listen_cmd import listen; listen(prog_name='interop listen')"
        self.process = subprocess.Popen(
            [sys.executable, "-c", command, "mllp", *args],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.DEVNULL,
            stderr=subprocess.PIPE,
            text=True,
            env={**os.environ, "PYTHONUNBUFFERED": "1"},
        )
        self.lines: queue.Queue[str] = queue.Queue()
        self.seen: list[str] = []
        threading.Thread(target=self._read, daemon=True).start()

    def _read(self) -> None:
        assert self.process.stderr is not None
        for line in self.process.stderr:
            self.lines.put(line)
        self.lines.put("")

    def wait_for(self, text: str) -> str:
        while True:
            line = self.lines.get(timeout=TIMEOUT)
            self.seen.append(line)
            if not line:
                raise AssertionError(f"listener ended without {text!r}: {''.join(self.seen)}")
            if text in line:
                return line

    def stop(self) -> None:
        if self.process.poll() is None:
            self.process.kill()
        self.process.wait(TIMEOUT)


@pytest.mark.integration
def test_cli_sigterm_finishes_the_frame_begun_then_exits_0() -> None:
    listener = Listener("--port", "0", "--log-level", "debug")
    try:
        address = listener.wait_for("listening on 127.0.0.1:").split("listening on ")[1]
        port = int(address.strip().rsplit(":", 1)[1])
        with (
            MllpClient("127.0.0.1", port, timeout=TIMEOUT) as busy,
            MllpClient("127.0.0.1", port, timeout=TIMEOUT) as idle,
        ):
            assert read_ack(idle.send(adt("IDLE"))).code == "AA"
            assert read_ack(busy.send(adt("FIRST"))).code == "AA"
            second = frame(adt("SECOND"))
            busy.send_raw(second[:50])
            listener.wait_for("incomplete frame")
            listener.process.send_signal(signal.SIGTERM)
            listener.wait_for("stopped accepting connections")
            with pytest.raises(ConnectionRefusedError):
                socket.create_connection(("127.0.0.1", port), timeout=TIMEOUT).close()
            with pytest.raises(MllpError, match="closed"):
                idle.receive()  # at a frame boundary: closed at once
            busy.send_raw(second[50:])
            ack = read_ack(busy.receive())
            with pytest.raises(MllpError, match="closed"):
                busy.receive()
        assert (ack.code, ack.control_id) == ("AA", "SECOND")
        assert listener.process.wait(TIMEOUT) == 0
        log = "".join(listener.seen) + "".join(iter_lines(listener))
        assert "9434765919" not in log
        assert "*** *** 5919" in log
    finally:
        listener.stop()


def iter_lines(listener: Listener) -> Iterator[str]:
    while True:
        line = listener.lines.get(timeout=TIMEOUT)
        if not line:
            return
        yield line


@pytest.mark.integration
def test_cli_exits_2_when_the_port_is_taken_or_the_config_is_bad(tmp_path: Path) -> None:
    with socket.socket() as taken:
        taken.bind(("127.0.0.1", 0))
        taken.listen()
        port = taken.getsockname()[1]
        busy = Listener("--port", str(port))
        assert busy.process.wait(TIMEOUT) == 2
        assert "cannot listen on 127.0.0.1" in "".join(iter_lines(busy))
    bad = tmp_path / "interop.toml"
    bad.write_text("[mesh\n")
    config = Listener("--port", "0", "--config", str(bad))
    assert config.process.wait(TIMEOUT) == 2
    assert "configuration error" in "".join(iter_lines(config))


@pytest.mark.integration
def test_a_frame_trickling_in_is_refused_at_its_deadline_and_frees_the_slot(
    listen: Callable[..., tuple[str, int, MllpServer]],
) -> None:
    """A slow client sending a byte every 0.1 s never lets the 2 s idle timeout fire: the
    3 s frame deadline still ends it (AR, connection closed), and a real sender gets the slot.

    The idle timeout is 20 times the gap between bytes so that a loaded CI machine, which can
    stall this thread for a few hundred milliseconds, does not fire it instead."""
    import time

    host, port, _server = listen(
        Recorder(), max_connections=1, idle_timeout=2.0, frame_deadline=3.0
    )
    slow = socket.create_connection((host, port), timeout=TIMEOUT)
    started = time.monotonic()
    slow.sendall(b"\x0bMSH|^~\\&|")
    while time.monotonic() - started < 2.5:  # stop before the deadline: no write races the AR
        slow.sendall(b"X")
        time.sleep(0.1)
    slow.settimeout(TIMEOUT)
    answer = b""
    while b"\x1c" not in answer:
        chunk = slow.recv(4096)
        if not chunk:
            break
        answer += chunk
    slow.close()
    assert b"MSA|AR" in answer
    assert b"not complete within 3 s" in answer  # the deadline's AR, not the idle one
    assert time.monotonic() - started < 3 + 5  # ended by the deadline, not by the client
    with MllpClient(host, port, timeout=TIMEOUT) as real:
        assert read_ack(real.send(adt("REAL"))).code == "AA"


NOT_ER7 = [
    pytest.param(
        b'{"resourceType": "Patient", "id": "p1"}', "FHIR JSON, not HL7 v2 ER7", id="fhir-json"
    ),
    pytest.param(
        b'<Patient xmlns="http://hl7.org/fhir"><id value="p1"/></Patient>',
        "XML, not HL7 v2 ER7",
        id="fhir-xml",
    ),
    pytest.param(b'{"kind": "travel-alert", "subject": {}}', "JSON, not HL7 v2 ER7", id="artefact"),
    pytest.param(
        b'<?xml version="1.0"?><REPC_IN000001GB01 xmlns="urn:hl7-org:v3"/>',
        "CP-IS XML is not read on this listener",
        id="cpis",
    ),
    pytest.param(
        "MSH|^~\\&|PAS".encode("utf-16"),
        "the message is UTF-16 (it starts with a UTF-16 byte order mark)",
        id="utf-16",
    ),
    pytest.param(
        b"hello, is this the right port?",
        "the message is not a format the toolkit reads (it reads",
        id="text",
    ),
]


@pytest.mark.integration
@pytest.mark.parametrize(("payload", "reason"), NOT_ER7)
def test_a_frame_that_is_not_er7_gets_ar_with_the_sniffers_reason(
    listen: Callable[..., tuple[str, int, MllpServer]], payload: bytes, reason: str
) -> None:
    """The listener asks the toolkit's one format sniffer before the ER7 reader: any other
    format is answered AR as an unreadable message is, saying what it is."""
    recorder = Recorder()
    host, port, server = listen(recorder)
    with MllpClient(host, port, timeout=TIMEOUT) as client:
        ack = read_ack(client.send(payload))
        after = read_ack(client.send(adt("NEXT")))
    assert ack.code == "AR"
    assert [(e.code, e.severity) for e in ack.errors] == [("100", "E")]
    assert reason in ack.text  # MSA-3: the first error's message (ERR-8 from v2.5 only)
    assert (after.code, after.control_id) == ("AA", "NEXT")
    assert [e.control_id for e in recorder.events] == ["NEXT"]
    assert server.stats.acks["AR"] == 1


@pytest.mark.integration
def test_one_address_cannot_take_every_connection(
    listen: Callable[..., tuple[str, int, MllpServer]],
) -> None:
    host, port, server = listen(Recorder(), max_connections=10, max_per_peer=2)
    mine = [socket.create_connection((host, port), timeout=TIMEOUT) for _ in range(2)]
    extra = socket.create_connection((host, port), timeout=TIMEOUT)
    extra.settimeout(TIMEOUT)
    try:
        closed = extra.recv(10) == b""
    except ConnectionResetError:
        closed = True
    assert closed  # closed at once
    # another address (the rest of 127/8 is loopback too) still gets in
    other = socket.create_connection((host, port), timeout=TIMEOUT, source_address=("127.0.0.2", 0))
    try:
        other.sendall(frame(adt("OTHER")))
        other.settimeout(TIMEOUT)
        assert b"MSA|AA|OTHER" in other.recv(4096)
    finally:
        for sock in (*mine, extra, other):
            sock.close()
    assert server.stats.refused_connections == 1


def test_a_utf8_bom_before_msh_is_accepted(
    listen: Callable[..., tuple[str, int, MllpServer]],
) -> None:
    recorder = Recorder()
    host, port, _ = listen(recorder)
    with MllpClient(host, port, timeout=TIMEOUT) as client:
        ack = read_ack(client.send(b"\xef\xbb\xbf" + adt("BOM")))
    assert (ack.code, ack.control_id) == ("AA", "BOM")
    assert recorder.events[0].nhs_number == "9434765919"


@pytest.mark.integration
@pytest.mark.parametrize(
    "control_id",
    ["9434765919", "A-943 476 5919", "943-476-5919X", "ADT9434765919001", "9434765919-1"],
)
def test_nhs_numbers_in_msh_10_are_masked_in_the_listener_log(
    listen: Callable[..., tuple[str, int, MllpServer]],
    caplog: pytest.LogCaptureFixture,
    control_id: str,
) -> None:
    recorder = Recorder()
    host, port, _ = listen(recorder)
    caplog.set_level(logging.INFO, logger="interop.mllp")
    with MllpClient(host, port, timeout=TIMEOUT) as client:
        good = read_ack(client.send(adt(control_id)))
        refused = read_ack(client.send(adt(control_id, nhs_number="9434765918")))
    assert (good.code, good.control_id) == ("AA", control_id)  # the ACK echoes it unchanged
    assert refused.code != "AA"
    logged = caplog.text
    assert "*** *** 5919" in logged  # the lines are there, the numbers masked
    digits = "".join(ch for ch in logged if ch.isdigit() or ch == "\n")
    for number in ("9434765919", "9434765918"):
        assert number not in digits
