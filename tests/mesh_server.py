"""A real MESH server for the tests: NHS England's mesh-sandbox, run by uvicorn on loopback.

The session fixture ``mesh_sandbox`` starts ``python -m uvicorn`` in a subprocess with
``STORE_MODE=file`` (messages on disk in a temporary ``MAILBOXES_DATA_DIR``), ``AUTH_MODE=full``
(every request is checked with the real NHSMESH HMAC: mailbox, password, shared key) and a
random ``SHARED_KEY``, waits for ``/health`` and stops the server at the end of the session,
whether the tests passed or not.

The sandbox reads its mailboxes and workflows from ``mailboxes.jsonl`` and ``workflows.jsonl``
in its own package folder (the Docker image replaces that folder with a volume). To seed our
own, the server is started through ``seeded_sandbox_app``, a uvicorn app factory that points
the sandbox's store at ``MAILBOXES_DATA_DIR`` for those two files; nothing else is changed.
(This module is imported by that subprocess too, which is why it must not be called
``mesh_sandbox``: that name is the installed package.)
"""

from __future__ import annotations

import json
import os
import secrets
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Literal

import pytest

__all__ = [
    "MeshSandbox",
    "fresh_mesh_sandbox",
    "mesh_sandbox",
    "running_sandbox",
    "seeded_sandbox_app",
]

TESTS_DIR = Path(__file__).resolve().parent
START_TIMEOUT = 30.0

# Test ids only: the real CP-IS mailbox and workflow ids come from NHS England onboarding.
LA_MAILBOX = "X26LA0001"
CPIS_MAILBOX = "X26CPIS01"
OTHER_LA_MAILBOX = "X26LA0002"
WORKFLOWS = {
    "upload": "TEST_CPIS_LA_UPLOAD",
    "acknowledgement": "TEST_CPIS_LA_UPLOAD_ACK",
    "access_notification": "TEST_CPIS_ACCESS_NOTIFICATION",
    "inactive_nhs_number": "TEST_CPIS_INACTIVE_NHS_NUMBER",
}

Party = Literal["la", "cpis"]


@dataclass(frozen=True)
class MeshSandbox:
    """A running sandbox: where it is and the credentials of its mailboxes."""

    base_url: str
    data_dir: Path
    log_file: Path
    shared_key: str
    la_mailbox: str
    la_password: str
    cpis_mailbox: str
    cpis_password: str
    workflows: dict[str, str]

    def mailbox(self, party: Party) -> tuple[str, str]:
        """(mailbox id, password) of the LA or of CP-IS."""
        if party == "la":
            return self.la_mailbox, self.la_password
        return self.cpis_mailbox, self.cpis_password

    def write_config(
        self, directory: Path, *, party: Party = "la", password: str | None = None
    ) -> tuple[Path, dict[str, str]]:
        """Write an interop.toml for ``party``'s mailbox with env-var secrets.

        Returns the file and the environment variables it needs (set them, e.g. with
        ``monkeypatch.setenv``); ``password`` overrides the right one (to test a wrong one).
        """
        mailbox, right_password = self.mailbox(party)
        prefix = f"INTEROP_TEST_{party.upper()}_MESH"
        env = {
            f"{prefix}_PASSWORD": password if password is not None else right_password,
            f"{prefix}_SHARED_KEY": self.shared_key,
        }
        w = self.workflows
        text = f"""\
[environment]
name = "test"

[local_authority]
ods_code = "X26"
name = "Test Borough Council"
emergency_duty_phone = "0113 496 0000"

[mesh]
endpoint = "{self.base_url}"
mailbox = "{mailbox}"
password = {{ env = "{prefix}_PASSWORD" }}
shared_key = {{ env = "{prefix}_SHARED_KEY" }}
timeout = 20
max_retries = 2
retry_budget = 5

[cpis]
mailbox = "{self.cpis_mailbox}"
upload_workflow_id = "{w["upload"]}"
acknowledgement_workflow_id = "{w["acknowledgement"]}"
access_notification_workflow_id = "{w["access_notification"]}"
inactive_nhs_number_workflow_id = "{w["inactive_nhs_number"]}"
"""
        directory.mkdir(parents=True, exist_ok=True)
        path = directory / f"interop-{party}.toml"
        path.write_text(text, encoding="utf-8")
        return path, env


def seeded_sandbox_app() -> Any:
    """uvicorn app factory (run in the server process): the sandbox, seeded from our files."""
    from mesh_sandbox.store.canned_store import CannedStore  # type: ignore[import-untyped]

    original = CannedStore.initialise

    def initialise(self: Any) -> None:
        self._canned_data_dir = os.environ["MAILBOXES_DATA_DIR"]
        original(self)

    CannedStore.initialise = initialise
    from mesh_sandbox.api import app  # type: ignore[import-untyped]

    return app


def _seed(data_dir: Path, passwords: dict[str, str]) -> None:
    """Write the mailboxes and workflows the sandbox serves (its JSONL formats)."""
    names = {LA_MAILBOX: "TEST LA", CPIS_MAILBOX: "TEST CPIS", OTHER_LA_MAILBOX: "TEST LA 2"}
    mailboxes = [
        {
            "mailbox_id": mailbox,
            "mailbox_name": name,
            "billing_entity": "England",
            "ods_code": "X26",
            "org_code": "X26",
            "password": passwords[mailbox],
        }
        for mailbox, name in names.items()
    ]
    to_cpis = {"senders": [LA_MAILBOX, OTHER_LA_MAILBOX], "receivers": [CPIS_MAILBOX]}
    to_la = {"senders": [CPIS_MAILBOX], "receivers": [LA_MAILBOX, OTHER_LA_MAILBOX]}
    workflows = [{"workflow_id": WORKFLOWS["upload"], **to_cpis}] + [
        {"workflow_id": WORKFLOWS[name], **to_la}
        for name in ("acknowledgement", "access_notification", "inactive_nhs_number")
    ]
    for file, rows in (("mailboxes.jsonl", mailboxes), ("workflows.jsonl", workflows)):
        lines = "".join(json.dumps(row) + "\n" for row in rows)
        (data_dir / file).write_text(lines, encoding="utf-8")


def _free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _wait_until_up(process: subprocess.Popen[bytes], base_url: str, log_file: Path) -> None:
    deadline = time.monotonic() + START_TIMEOUT
    while time.monotonic() < deadline:
        if process.poll() is not None:
            break
        try:
            with urllib.request.urlopen(f"{base_url}/health", timeout=1) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            time.sleep(0.1)
    log = log_file.read_text(encoding="utf-8", errors="replace")[-3000:]
    raise RuntimeError(f"mesh-sandbox did not start (exit code {process.poll()}):\n{log}")


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=10)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=10)


@contextmanager
def running_sandbox(root: Path) -> Iterator[MeshSandbox]:
    """A mesh-sandbox with its own mailboxes under ``root``, stopped on exit."""
    data_dir = root / "mailboxes"
    data_dir.mkdir(parents=True)
    passwords = {mb: secrets.token_hex(8) for mb in (LA_MAILBOX, CPIS_MAILBOX, OTHER_LA_MAILBOX)}
    _seed(data_dir, passwords)
    shared_key = secrets.token_hex(12)
    port = _free_port()
    base_url = f"http://127.0.0.1:{port}"
    env = {
        **os.environ,
        "STORE_MODE": "file",
        "AUTH_MODE": "full",  # anything but "none"/"canned" checks the HMAC token
        "SHARED_KEY": shared_key,
        "MAILBOXES_DATA_DIR": str(data_dir),
        "ENV": "local",
    }
    command = [
        sys.executable,
        "-m",
        "uvicorn",
        "--factory",
        "mesh_server:seeded_sandbox_app",
        "--app-dir",
        str(TESTS_DIR),
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
    ]
    log_file = root / "server.log"
    with log_file.open("wb") as log:
        process = subprocess.Popen(command, env=env, stdout=log, stderr=subprocess.STDOUT)
    try:
        _wait_until_up(process, base_url, log_file)
        yield MeshSandbox(
            base_url=base_url,
            data_dir=data_dir,
            log_file=log_file,
            shared_key=shared_key,
            la_mailbox=LA_MAILBOX,
            la_password=passwords[LA_MAILBOX],
            cpis_mailbox=CPIS_MAILBOX,
            cpis_password=passwords[CPIS_MAILBOX],
            workflows=dict(WORKFLOWS),
        )
    finally:
        _stop(process)


@pytest.fixture(scope="session")
def mesh_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MeshSandbox]:
    """Start mesh-sandbox for the session (one per xdist worker) and stop it afterwards."""
    with running_sandbox(tmp_path_factory.mktemp("mesh-sandbox")) as sandbox:
        yield sandbox


@pytest.fixture
def fresh_mesh_sandbox(tmp_path: Path) -> Iterator[MeshSandbox]:
    """A sandbox of the test's own, with empty mailboxes."""
    with running_sandbox(tmp_path / "mesh-sandbox") as sandbox:
        yield sandbox
