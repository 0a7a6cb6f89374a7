"""An independent FHIR R4 engine for the tests: Medplum's ``@medplum/fhir-router`` with its
in-memory repository, behind the minimal HTTP adapter of ``tests/fhir_engine/server.mjs``.

Nobody here wrote its search, write or transaction semantics, so the client's scenarios run
against it beside the toolkit's own sandbox. ``.ci/run`` installs it (``npm ci --prefix
tests/fhir_engine``); without ``node_modules`` the tests that need it are skipped with a
message saying how to install it, except under ``CI=true`` where they fail.
"""

from __future__ import annotations

import os
import select
import shutil
import subprocess
from collections.abc import Iterator
from pathlib import Path

import httpx
import pytest

__all__ = ["ENGINE_DIR", "fhir_engine", "start_engine"]

ENGINE_DIR = Path(__file__).resolve().parent / "fhir_engine"
START_TIMEOUT = 60.0  # loading the R4 definitions takes a few seconds on a busy machine


def _unavailable(reason: str) -> None:
    if os.environ.get("CI", "").lower() == "true":
        pytest.fail(f"the independent FHIR engine is needed under CI: {reason}")
    pytest.skip(f"{reason} (install it with: npm ci --prefix tests/fhir_engine)")


def start_engine() -> tuple[subprocess.Popen[str], str]:
    """Start the engine on a free loopback port; the process and its base URL."""
    node = shutil.which("node")
    if node is None:
        _unavailable("node is not installed")
    if not (ENGINE_DIR / "node_modules" / "@medplum" / "fhir-router").is_dir():
        _unavailable("tests/fhir_engine/node_modules is absent")
    process = subprocess.Popen(
        [str(node), "server.mjs", "0"],
        cwd=ENGINE_DIR,
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
        text=True,
    )
    assert process.stdout is not None
    # "listening <port>" once the definitions are loaded
    ready, _, _ = select.select([process.stdout], [], [], START_TIMEOUT)
    line = process.stdout.readline() if ready else ""
    if not line.startswith("listening "):
        process.kill()
        process.wait()
        raise RuntimeError(f"the FHIR engine did not start: {line!r}")
    return process, f"http://127.0.0.1:{int(line.split()[1])}/fhir"


@pytest.fixture(scope="session")
def _engine_process() -> Iterator[str]:
    process, base = start_engine()
    try:
        yield base
    finally:
        process.terminate()
        try:
            process.wait(10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait()


@pytest.fixture
def fhir_engine(_engine_process: str) -> str:
    """The engine's base URL (one process per session and xdist worker), emptied for the test."""
    httpx.post(f"{_engine_process}/__reset", timeout=10).raise_for_status()
    return _engine_process
