"""MeshTransport against the real mesh-sandbox (started by the ``mesh_sandbox`` fixture), and,
for faults the sandbox cannot produce (503, 429, resets, timeouts), against a tiny scripted
HTTP server on loopback."""

from __future__ import annotations

import json
import os
import socket
import struct
import threading
import time
import uuid
from collections.abc import Iterator
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path

import pytest
from mesh_server import MeshSandbox, Party

from interop.config import MeshSettings, Secret, load_config
from interop.transport import MeshTransport, TransportError

pytestmark = pytest.mark.integration

# -- against the real sandbox ------------------------------------------------------------------


def open_transport(
    sandbox: MeshSandbox,
    party: Party,
    directory: Path,
    monkeypatch: pytest.MonkeyPatch,
    *,
    password: str | None = None,
) -> MeshTransport:
    """A transport built the way the toolkit builds it: interop.toml → load_config → mesh."""
    path, env = sandbox.write_config(directory, party=party, password=password)
    for name, value in env.items():
        monkeypatch.setenv(name, value)
    return MeshTransport.from_config(load_config(path))


@pytest.fixture
def la(
    mesh_sandbox: MeshSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[MeshTransport]:
    with open_transport(mesh_sandbox, "la", tmp_path, monkeypatch) as transport:
        yield transport


@pytest.fixture
def cpis(
    mesh_sandbox: MeshSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> Iterator[MeshTransport]:
    with open_transport(mesh_sandbox, "cpis", tmp_path, monkeypatch) as transport:
        yield transport


def new_local_id() -> str:
    return f"LA-UPLOAD-{uuid.uuid4().hex[:12]}"


def test_handshake(la: MeshTransport, cpis: MeshTransport) -> None:
    la.handshake()
    cpis.handshake()


def test_send_list_download_acknowledge(
    la: MeshTransport, cpis: MeshTransport, mesh_sandbox: MeshSandbox
) -> None:
    upload, ack = mesh_sandbox.workflows["upload"], mesh_sandbox.workflows["acknowledgement"]
    data = bytes(range(256)) * 4 + b"\r\n\x00\x1f\x8b"  # every byte value, CRLF, a gzip magic
    local_id = new_local_id()
    message_id = la.send(
        cpis.mailbox, upload, data, local_id=local_id, subject="CP-IS upload", filename="u.xml"
    )

    assert message_id in cpis.inbox()
    assert message_id in cpis.inbox(workflow_id=upload)
    assert message_id not in cpis.inbox(workflow_id=ack)

    received = cpis.download(message_id)
    assert received.data == data
    assert (received.message_id, received.workflow_id, received.local_id) == (
        message_id,
        upload,
        local_id,
    )
    assert (received.sender, received.recipient) == (la.mailbox, cpis.mailbox)
    assert (received.subject, received.filename, received.message_type) == (
        "CP-IS upload",
        "u.xml",
        "DATA",
    )
    assert "\\x00" not in repr(received)  # the payload stays out of reprs and logs

    cpis.acknowledge(message_id)
    assert message_id not in cpis.inbox()
    assert la.track(message_id)["status"] == "acknowledged"
    cpis.acknowledge(message_id)  # acknowledging again is harmless (PUT is idempotent)


def test_two_megabyte_binary_payload(
    la: MeshTransport, cpis: MeshTransport, mesh_sandbox: MeshSandbox
) -> None:
    data = os.urandom(2 * 1024 * 1024)
    upload = mesh_sandbox.workflows["upload"]
    message_id = la.send(cpis.mailbox, upload, data, local_id=new_local_id())
    assert cpis.download(message_id).data == data
    cpis.acknowledge(message_id)


def test_reply_from_cpis_to_the_la(
    la: MeshTransport, cpis: MeshTransport, mesh_sandbox: MeshSandbox
) -> None:
    ack = mesh_sandbox.workflows["acknowledgement"]
    message_id = cpis.send(la.mailbox, ack, b"<ack/>", local_id=new_local_id())
    assert message_id in la.inbox(workflow_id=ack)
    assert la.download(message_id).data == b"<ack/>"
    la.acknowledge(message_id)
    assert message_id not in la.inbox()


def test_find_by_local_id(
    la: MeshTransport, cpis: MeshTransport, mesh_sandbox: MeshSandbox
) -> None:
    local_id = new_local_id()
    upload = mesh_sandbox.workflows["upload"]
    message_id = la.send(cpis.mailbox, upload, b"<upload/>", local_id=local_id)
    found = la.find_by_local_id(local_id)
    assert found is not None
    assert (found.message_id, found.local_id) == (message_id, local_id)
    assert (found.recipient, found.workflow_id) == (cpis.mailbox, upload)
    assert la.find_by_local_id(new_local_id()) is None
    assert cpis.find_by_local_id(local_id) is None  # tracking is per sending mailbox
    cpis.acknowledge(message_id)


def test_duplicate_local_id_is_reported(
    la: MeshTransport, cpis: MeshTransport, mesh_sandbox: MeshSandbox
) -> None:
    local_id = new_local_id()
    upload = mesh_sandbox.workflows["upload"]
    first = la.send(cpis.mailbox, upload, b"1", local_id=local_id)
    second = la.send(cpis.mailbox, upload, b"2", local_id=local_id)
    with pytest.raises(TransportError) as caught:
        la.find_by_local_id(local_id)
    assert caught.value.kind == "rejected"
    assert "more than one message" in str(caught.value)
    for message_id in (first, second):
        cpis.acknowledge(message_id)


def test_wrong_password_is_an_auth_error(
    mesh_sandbox: MeshSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    with open_transport(
        mesh_sandbox, "la", tmp_path, monkeypatch, password="not-the-password"
    ) as transport:
        with pytest.raises(TransportError) as caught:
            transport.handshake()
        assert (caught.value.kind, caught.value.status) == ("auth", 403)
        assert mesh_sandbox.la_mailbox in str(caught.value)
        # mesh-client turns a refused send into MeshError without a status: still "auth".
        with pytest.raises(TransportError) as caught:
            transport.send(
                mesh_sandbox.cpis_mailbox, "W", b"secret payload", local_id=new_local_id()
            )
        assert (caught.value.kind, caught.value.outcome_unknown) == ("auth", False)
        assert "secret payload" not in str(caught.value)
        assert "not-the-password" not in str(caught.value)


def test_unknown_recipient_and_message(la: MeshTransport, mesh_sandbox: MeshSandbox) -> None:
    with pytest.raises(TransportError) as caught:
        la.send("X26NOBODY", mesh_sandbox.workflows["upload"], b"x", local_id=new_local_id())
    assert (caught.value.kind, caught.value.status) == ("rejected", 417)
    assert "Unregistered to address" in str(caught.value)
    with pytest.raises(TransportError) as caught:
        la.download("NO0SUCH0MESSAGE")
    assert caught.value.kind == "not-found"
    assert "NO0SUCH0MESSAGE" in str(caught.value)


def test_bad_arguments_fail_before_any_request(la: MeshTransport) -> None:
    with pytest.raises(ValueError, match="non-empty"):
        la.send("X26CPIS01", "W", b"", local_id="a")
    with pytest.raises(ValueError, match="ASCII"):
        la.send("X26CPIS01", "W", b"x", local_id="a", subject="Café")
    with pytest.raises(ValueError, match="bare file name"):
        la.send("X26CPIS01", "W", b"x", local_id="a", filename="../etc/passwd")
    with pytest.raises(ValueError, match="exactly"):
        la.inbox(workflow_id="TEST*")


# -- fault injection: a scripted HTTP server on loopback -----------------------------------


@dataclass(frozen=True)
class Step:
    """What the server does with one request: answer, reset the connection, or stall."""

    status: int = 200
    body: object = None
    headers: dict[str, str] = field(default_factory=dict)
    reset: bool = False
    stall: float = 0.0


@dataclass(frozen=True)
class Seen:
    method: str
    path: str
    authorization: str
    at: float


class FaultServer:
    """Plays ``script`` one step per request, records every request."""

    def __init__(self, script: list[Step]) -> None:
        self.script = list(script)
        self.seen: list[Seen] = []
        server = self

        class Handler(BaseHTTPRequestHandler):
            protocol_version = "HTTP/1.1"

            def log_message(self, format: str, *args: object) -> None:
                pass

            def handle_one(self) -> None:
                length = int(self.headers.get("Content-Length") or 0)
                self.rfile.read(length)
                server.seen.append(
                    Seen(
                        self.command,
                        self.path,
                        self.headers.get("Authorization", ""),
                        time.monotonic(),
                    )
                )
                step = server.script.pop(0) if server.script else Step(status=500)
                if step.stall:
                    time.sleep(step.stall)
                if step.reset:
                    # SO_LINGER 0: close() sends a TCP RST instead of a clean FIN.
                    linger = struct.pack("ii", 1, 0)
                    self.connection.setsockopt(socket.SOL_SOCKET, socket.SO_LINGER, linger)
                    self.connection.close()
                    self.close_connection = True
                    return
                body = json.dumps(step.body).encode() if step.body is not None else b""
                try:
                    self.send_response(step.status)
                    for name, value in step.headers.items():
                        self.send_header(name, value)
                    self.send_header("Content-Type", "application/json")
                    self.send_header("Content-Length", str(len(body)))
                    self.end_headers()
                    self.wfile.write(body)
                except OSError:  # the client gave up (timeout)
                    self.close_connection = True

            do_GET = do_PUT = do_POST = handle_one

        self.httpd = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
        self.httpd.daemon_threads = True
        self.url = f"http://127.0.0.1:{self.httpd.server_address[1]}"
        self.thread = threading.Thread(target=self.httpd.serve_forever, args=(0.05,), daemon=True)
        self.thread.start()

    def methods(self) -> list[str]:
        return [seen.method for seen in self.seen]

    def close(self) -> None:
        self.httpd.shutdown()
        self.httpd.server_close()


class FakeTime:
    """A clock that only moves when the transport sleeps: retries cost no real time."""

    def __init__(self) -> None:
        self.now = 0.0
        self.sleeps: list[float] = []

    def clock(self) -> float:
        return self.now

    def sleep(self, seconds: float) -> None:
        self.sleeps.append(seconds)
        self.now += seconds


@pytest.fixture
def faults() -> Iterator[list[FaultServer]]:
    servers: list[FaultServer] = []
    yield servers
    for server in servers:
        server.close()


def faulty(
    faults: list[FaultServer],
    script: list[Step],
    *,
    fake_time: FakeTime | None = None,
    timeout: float = 5.0,
    max_retries: int = 2,
    retry_budget: float = 5.0,
) -> tuple[FaultServer, MeshTransport]:
    server = FaultServer(script)
    faults.append(server)
    settings = MeshSettings(
        endpoint=server.url,
        mailbox="X26LA0001",
        password=Secret("test", "password"),
        shared_key=Secret("test", "key"),
        timeout=timeout,
        max_retries=max_retries,
        retry_budget=retry_budget,
    )
    if fake_time is None:
        return server, MeshTransport(settings)
    return server, MeshTransport(settings, sleep=fake_time.sleep, clock=fake_time.clock)


INBOX = {"messages": ["MSG1"], "links": {}, "approx_inbox_count": 1}
UNAVAILABLE = Step(status=503, body={"detail": []})


def test_get_is_retried_after_503_with_a_fresh_token(faults: list[FaultServer]) -> None:
    fake = FakeTime()
    server, transport = faulty(faults, [UNAVAILABLE, Step(body=INBOX)], fake_time=fake)
    with transport:
        assert transport.inbox() == ["MSG1"]
    assert server.methods() == ["GET", "GET"]
    assert fake.sleeps == [0.5]
    first, second = (seen.authorization for seen in server.seen)
    assert first.startswith("NHSMESH X26LA0001:")
    assert first != second  # MESH tokens are single use: a retry must not replay one


def test_put_is_retried_after_a_reset(faults: list[FaultServer]) -> None:
    server, transport = faulty(faults, [Step(reset=True), Step()], fake_time=FakeTime())
    with transport:
        transport.acknowledge("MSG1")
    assert server.methods() == ["PUT", "PUT"]


@pytest.mark.parametrize("failure", [UNAVAILABLE, Step(reset=True)], ids=["503", "reset"])
def test_a_send_is_never_retried(faults: list[FaultServer], failure: Step) -> None:
    accepted = Step(status=202, body={"message_id": "MSG2"})
    server, transport = faulty(faults, [failure, accepted], fake_time=FakeTime())
    with transport, pytest.raises(TransportError) as caught:
        transport.send("X26CPIS01", "W", b"payload bytes", local_id="LA-1")
    assert server.methods() == ["POST"]
    error = caught.value
    assert (error.kind, error.outcome_unknown) == ("unavailable", True)
    assert "find_by_local_id" in str(error)
    assert "'LA-1'" in str(error)
    assert "payload bytes" not in str(error)


def test_a_send_refused_with_429_is_not_retried_and_not_stored(
    faults: list[FaultServer],
) -> None:
    busy = Step(status=429, body={"detail": []}, headers={"Retry-After": "1"})
    server, transport = faulty(faults, [busy], fake_time=FakeTime())
    with transport, pytest.raises(TransportError) as caught:
        transport.send("X26CPIS01", "W", b"x", local_id="LA-2")
    assert server.methods() == ["POST"]
    assert (caught.value.kind, caught.value.outcome_unknown) == ("unavailable", False)
    assert caught.value.retry_after == 1.0


def test_timeouts(faults: list[FaultServer]) -> None:
    stall = Step(stall=1.0, body=INBOX)
    server, transport = faulty(faults, [stall], timeout=0.25)
    with transport, pytest.raises(TransportError) as caught:
        transport.send("X26CPIS01", "W", b"x", local_id="LA-3")
    assert (caught.value.kind, caught.value.outcome_unknown) == ("timeout", True)
    assert server.methods() == ["POST"]

    fake = FakeTime()
    server, transport = faulty(faults, [stall, stall], timeout=0.25, max_retries=1, fake_time=fake)
    with transport, pytest.raises(TransportError) as caught:
        transport.inbox()
    assert caught.value.kind == "timeout"
    assert "after 2 attempts" in str(caught.value)
    assert server.methods() == ["GET", "GET"]


def test_retry_after_is_honoured(faults: list[FaultServer]) -> None:
    busy = Step(status=429, body={"detail": []}, headers={"Retry-After": "1"})
    server, transport = faulty(faults, [busy, Step(body=INBOX)])  # real time
    with transport:
        assert transport.inbox() == ["MSG1"]
    first, second = server.seen
    assert second.at - first.at >= 0.95


def test_retry_after_beyond_the_budget_is_not_waited_for(faults: list[FaultServer]) -> None:
    busy = Step(status=503, body={"detail": []}, headers={"Retry-After": "3600"})
    fake = FakeTime()
    server, transport = faulty(faults, [busy, Step(body=INBOX)], fake_time=fake)
    with transport, pytest.raises(TransportError) as caught:
        transport.inbox()
    assert (caught.value.kind, caught.value.retry_after) == ("unavailable", 3600.0)
    assert fake.sleeps == []
    assert server.methods() == ["GET"]


def test_retries_stop_at_max_retries_and_within_the_budget(faults: list[FaultServer]) -> None:
    fake = FakeTime()
    server, transport = faulty(faults, [UNAVAILABLE] * 5, fake_time=fake, max_retries=2)
    with transport, pytest.raises(TransportError, match="after 3 attempts"):
        transport.inbox()
    assert fake.sleeps == [0.5, 1.0]

    fake = FakeTime()
    server, transport = faulty(
        faults, [UNAVAILABLE] * 5, fake_time=fake, max_retries=5, retry_budget=1.0
    )
    with transport, pytest.raises(TransportError, match="after 2 attempts"):
        transport.inbox()
    assert fake.sleeps == [0.5]  # 0.5 + 1.0 would pass the 1 s budget
    assert server.methods() == ["GET", "GET"]


def test_auth_and_client_errors_are_not_retried(faults: list[FaultServer]) -> None:
    refused = Step(status=403, body={"detail": [{"msg": "Invalid Authentication Token"}]})
    server, transport = faulty(faults, [refused, Step(body=INBOX)], fake_time=FakeTime())
    with transport, pytest.raises(TransportError) as caught:
        transport.inbox()
    assert caught.value.kind == "auth"
    assert server.methods() == ["GET"]


def test_nothing_listening_is_unavailable() -> None:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port = sock.getsockname()[1]
    settings = MeshSettings(
        endpoint=f"http://127.0.0.1:{port}",
        mailbox="X26LA0001",
        password=Secret("test", "password"),
        shared_key=Secret("test", "key"),
        max_retries=0,
    )
    with MeshTransport(settings) as transport, pytest.raises(TransportError) as caught:
        transport.handshake()
    assert caught.value.kind == "unavailable"
    assert "ConnectionRefusedError" in str(caught.value)
