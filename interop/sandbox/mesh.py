"""A real MESH server on loopback: NHS England's mesh-sandbox, run by uvicorn in a subprocess.

``running_sandbox(root)`` starts ``python -m uvicorn`` with ``STORE_MODE=file`` (messages on
disk under ``root``), ``AUTH_MODE=full`` (every request checked with the real NHSMESH HMAC:
mailbox, password, shared key) and a random ``SHARED_KEY``, waits for ``/health`` and stops
the server when the block ends, whatever happened inside it.

The sandbox reads its mailboxes and workflows from ``mailboxes.jsonl`` and ``workflows.jsonl``
in its own package folder (its Docker image mounts a volume there). To seed our own, the
server is started through ``seeded_sandbox_app``, a uvicorn app factory that points the
sandbox's store at ``MAILBOXES_DATA_DIR`` for those two files; nothing else is changed.

The mailboxes: an LA (``X26LA0001``), CP-IS (``X26CPIS01``) and a second LA; the workflows:
the LA's upload to CP-IS and CP-IS's three replies. Test ids only: the real CP-IS mailbox and
workflow ids come from NHS England onboarding.
"""

from __future__ import annotations

import importlib.util
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

__all__ = [
    "CPIS_MAILBOX",
    "LA_MAILBOX",
    "OTHER_LA_MAILBOX",
    "WORKFLOWS",
    "MeshSandbox",
    "SandboxUnavailable",
    "free_port",
    "installed",
    "running_sandbox",
    "seeded_sandbox_app",
]

START_TIMEOUT = 30.0
STOP_TIMEOUT = 10.0

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
SecretStyle = Literal["env", "file"]


class SandboxUnavailable(RuntimeError):
    """mesh-sandbox is not installed, or did not start (the message says which, and why)."""


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
    pid: int = 0

    @property
    def port(self) -> int:
        """The loopback port it listens on."""
        return int(self.base_url.rsplit(":", 1)[1])

    def mailbox(self, party: Party) -> tuple[str, str]:
        """(mailbox id, password) of the LA or of CP-IS."""
        if party == "la":
            return self.la_mailbox, self.la_password
        return self.cpis_mailbox, self.cpis_password

    def config_text(
        self, party: Party, *, password: str, shared_key: str, with_la: bool = True
    ) -> str:
        """An interop.toml for ``party``'s mailbox; ``password`` and ``shared_key`` are the
        TOML of the secret references (``{ env = "..." }`` or ``{ file = "..." }``)."""
        mailbox, _ = self.mailbox(party)
        w = self.workflows
        authority = (
            '[local_authority]\nods_code = "X26"\nname = "Test Borough Council"\n'
            'emergency_duty_phone = "0113 496 0000"\n\n'
            if with_la
            else ""
        )
        return f"""\
[environment]
name = "test"

{authority}[mesh]
endpoint = "{self.base_url}"
mailbox = "{mailbox}"
password = {password}
shared_key = {shared_key}
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

    def write_config(
        self,
        directory: Path,
        *,
        party: Party = "la",
        password: str | None = None,
        secrets_in: SecretStyle = "env",
    ) -> tuple[Path, dict[str, str]]:
        """Write ``interop-<party>.toml`` for ``party``'s mailbox into ``directory``.

        ``secrets_in="env"``: the secrets are environment variables, returned as the dict to
        set; ``"file"``: they are written to files beside it (mode 0600) and the dict is empty.
        ``password`` replaces the right one (to test a wrong one).
        """
        _, right_password = self.mailbox(party)
        value = password if password is not None else right_password
        directory.mkdir(parents=True, exist_ok=True)
        env: dict[str, str] = {}
        if secrets_in == "env":
            prefix = f"INTEROP_TEST_{party.upper()}_MESH"
            env = {f"{prefix}_PASSWORD": value, f"{prefix}_SHARED_KEY": self.shared_key}
            refs = (f'{{ env = "{prefix}_PASSWORD" }}', f'{{ env = "{prefix}_SHARED_KEY" }}')
        else:
            refs = self.secret_files(directory, party, password=value)
        path = directory / f"interop-{party}.toml"
        path.write_text(
            self.config_text(party, password=refs[0], shared_key=refs[1]), encoding="utf-8"
        )
        return path, env

    def secret_files(
        self, directory: Path, party: Party, *, password: str | None = None
    ) -> tuple[str, str]:
        """Write ``party``'s MESH password and the shared key into files in ``directory``
        (mode 0600); their TOML references ``({ file = "..." }, { file = "..." })``."""
        directory.mkdir(parents=True, exist_ok=True)
        value = password if password is not None else self.mailbox(party)[1]
        refs = []
        for name, secret in (
            (f"{party}-mesh-password", value),
            ("mesh-shared-key", self.shared_key),
        ):
            _write_secret(directory / name, secret)
            refs.append(f'{{ file = "{name}" }}')
        return refs[0], refs[1]


def _write_secret(path: Path, value: str) -> None:
    descriptor = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    with os.fdopen(descriptor, "w", encoding="utf-8") as handle:
        handle.write(value + "\n")


def installed() -> bool:
    """Whether NHS England's mesh-sandbox package can be run here."""
    return importlib.util.find_spec("mesh_sandbox") is not None


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


def free_port() -> int:
    """A TCP port free on 127.0.0.1 right now (for a server that must bind it itself)."""
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        port: int = sock.getsockname()[1]
        return port


def _log_tail(log_file: Path) -> str:
    try:
        return log_file.read_text(encoding="utf-8", errors="replace")[-3000:]
    except OSError:
        return "(no log)"


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
            time.sleep(0.05)
    raise SandboxUnavailable(
        f"mesh-sandbox did not start (exit code {process.poll()}):\n{_log_tail(log_file)}"
    )


def _stop(process: subprocess.Popen[bytes]) -> None:
    if process.poll() is None:
        process.terminate()
        try:
            process.wait(timeout=STOP_TIMEOUT)
        except subprocess.TimeoutExpired:
            process.kill()
            process.wait(timeout=STOP_TIMEOUT)


@contextmanager
def running_sandbox(root: Path) -> Iterator[MeshSandbox]:
    """A mesh-sandbox with its own mailboxes under ``root``, stopped on exit.

    ``SandboxUnavailable`` when mesh-sandbox is not installed or does not start in time.
    """
    if not installed():
        raise SandboxUnavailable(
            "mesh-sandbox is not installed: pip install 'safeguarding-interop[demo]' "
            "(make demo does it)"
        )
    data_dir = root / "mailboxes"
    data_dir.mkdir(parents=True)
    passwords = {mb: secrets.token_hex(8) for mb in (LA_MAILBOX, CPIS_MAILBOX, OTHER_LA_MAILBOX)}
    _seed(data_dir, passwords)
    shared_key = secrets.token_hex(12)
    port = free_port()
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
        f"{__name__}:seeded_sandbox_app",
        "--host",
        "127.0.0.1",
        "--port",
        str(port),
        "--log-level",
        "warning",
    ]
    log_file = root / "mesh-sandbox.log"
    with log_file.open("wb") as log:
        process = subprocess.Popen(
            command, env=env, stdout=log, stderr=subprocess.STDOUT, stdin=subprocess.DEVNULL
        )
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
            pid=process.pid,
        )
    finally:
        _stop(process)
