"""The FHIR sandbox under abuse, on 127.0.0.1 and bounded in time and size: Bundles with too
many entries, answers that would grow without bound, request paths that try to forge a log
line or carry an NHS number."""

from __future__ import annotations

import logging
import os
import socket
import subprocess
import sys
import time
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

from interop.sandbox.fhir_server import bundles
from interop.sandbox.fhir_server.connections import MAX_CONNECTIONS, GuardedH11Protocol
from interop.sandbox.fhir_server.running import running_server

pytestmark = pytest.mark.integration

FHIR_JSON = "application/fhir+json"


@pytest.fixture
def base() -> Iterator[str]:
    with running_server() as url:
        yield url


def test_a_bundle_over_the_entry_cap_is_refused_whole(base: str) -> None:
    batch = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [{"request": {"method": "GET", "url": "Patient/x"}}] * (bundles.MAX_ENTRIES + 1),
    }
    started = time.monotonic()
    answer = httpx.post(base, json=batch, headers={"Content-Type": FHIR_JSON}, timeout=30)
    assert answer.status_code == 413
    assert answer.json()["issue"][0]["code"] == "too-costly"
    assert time.monotonic() - started < 10


def test_a_batch_of_searches_cannot_grow_the_answer_without_bound(
    base: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(bundles, "MAX_RESPONSE_BYTES", 256 * 1024)  # the server is in-process
    people = {
        "resourceType": "Bundle",
        "type": "transaction",
        "entry": [
            {
                "resource": {"resourceType": "Patient", "name": [{"text": "x" * 1000}]},
                "request": {"method": "POST", "url": "Patient"},
            }
            for _ in range(100)
        ],
    }
    headers = {"Content-Type": FHIR_JSON}
    assert httpx.post(base, json=people, headers=headers, timeout=30).status_code == 200
    searches = {
        "resourceType": "Bundle",
        "type": "batch",
        "entry": [{"request": {"method": "GET", "url": "Patient?_count=1000"}}] * 1000,
    }
    started = time.monotonic()
    answer = httpx.post(base, json=searches, headers=headers, timeout=60)
    assert answer.status_code == 413
    assert len(answer.content) < 10_000
    assert time.monotonic() - started < 30


class _Lines(logging.Handler):
    def __init__(self) -> None:
        super().__init__(logging.INFO)
        self.lines: list[str] = []

    def emit(self, record: logging.LogRecord) -> None:
        self.lines.append(record.getMessage())


def test_request_paths_are_logged_without_forged_lines_or_nhs_numbers(base: str) -> None:
    # a handler on the sandbox's own logger: whatever else configures propagation
    logger = logging.getLogger("interop.sandbox.fhir_server")
    handler = _Lines()
    saved = logger.level
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    try:
        for path in (
            "/Patient/943-476-5919%0AINFO%20forged%20line",
            "/Patient/943%20476%205919",
            "/Patient/9434765919%0D%0A",
        ):
            httpx.get(base + path, timeout=10)
        deadline = time.monotonic() + 5
        while len(handler.lines) < 3 and time.monotonic() < deadline:
            time.sleep(0.05)
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved)
    lines = handler.lines
    assert len(lines) >= 3
    for line in lines:
        assert "\n" not in line
        assert "\r" not in line
        assert "5919" in line  # the last four digits tell records apart
        assert "9434765919" not in line
        assert "943-476-5919" not in line
        assert "943 476 5919" not in line
    assert any("\\x0a" in line for line in lines)


# -- half-open connections ------------------------------------------------------------------


def _open_fds(pid: int) -> int:
    return len(os.listdir(f"/proc/{pid}/fd"))


@pytest.mark.integration
@pytest.mark.skipif(not Path("/proc/self/fd").is_dir(), reason="counts file handles in /proc")
def test_thousands_of_half_open_connections_neither_exhaust_handles_nor_lock_out_a_client(
    tmp_path: Path,
) -> None:
    command = "from interop.cli.serve_cmd import serve; serve(prog_name='interop serve')"
    stderr = tmp_path / "stderr"
    with stderr.open("w") as err:
        process = subprocess.Popen(
            [sys.executable, "-c", command, "--port", "0", "--quiet", "--validation", "structure"],
            stdin=subprocess.DEVNULL,
            stdout=subprocess.PIPE,
            stderr=err,
            text=True,
        )
    held: list[socket.socket] = []
    try:
        assert process.stdout is not None
        base = process.stdout.readline().strip()
        assert base.startswith("http://127.0.0.1:"), base
        port = int(base.split(":")[2].split("/")[0])
        assert httpx.get(f"{base}/Patient?_count=0", timeout=30).status_code == 200
        before = _open_fds(process.pid)
        for n in range(2000):
            sock = socket.create_connection(("127.0.0.1", port), timeout=10)
            if n % 2:
                sock.sendall(b"GET /fhir/Patient HTTP/1.1\r\nHost: x\r\n")  # headers never end
            held.append(sock)
        time.sleep(1.0)  # let the server accept what the backlog holds
        answer = httpx.get(f"{base}/Patient?_count=0", timeout=30)
        assert answer.status_code == 200  # a real client is still answered
        assert _open_fds(process.pid) <= before + MAX_CONNECTIONS + 16
    finally:
        for sock in held:
            sock.close()
        process.terminate()
        process.wait(timeout=30)
    assert stderr.stat().st_size < 8192  # no traceback per connection


@pytest.mark.integration
def test_a_request_whose_headers_never_end_is_closed_at_the_deadline(
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    monkeypatch.setattr(GuardedH11Protocol, "header_timeout", 0.5)
    with running_server() as base:
        port = int(base.split(":")[2].split("/")[0])
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"GET /fhir/Patient HTTP/1.1\r\nHost: x\r\n")
            started = time.monotonic()
            assert sock.recv(1024) == b""  # closed, no answer
            assert 0.3 < time.monotonic() - started < 5
        with socket.create_connection(("127.0.0.1", port), timeout=10) as sock:
            sock.sendall(b"GET /fhir/Patient?_count=0 HTTP/1.1\r\nHost: x\r\n\r\n")
            assert sock.recv(1024).startswith(b"HTTP/1.1 200")  # complete headers in time
