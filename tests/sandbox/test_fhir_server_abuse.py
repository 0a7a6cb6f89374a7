"""The FHIR sandbox under abuse, on 127.0.0.1 and bounded in time and size: Bundles with too
many entries, answers that would grow without bound, request paths that try to forge a log
line or carry an NHS number."""

from __future__ import annotations

import logging
import time
from collections.abc import Iterator

import httpx
import pytest

from interop.sandbox.fhir_server import bundles
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
