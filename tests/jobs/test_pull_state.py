"""``pull cpis`` and ``pull --since`` hold the state as docs/operations.md says: each job (each
endpoint's ``--since`` pull) has a lease of its own, so a second run of the same job exits 75
having done nothing, ``--wait`` waits for it, another job runs meanwhile, and a missing state
is refused (exit 2) unless ``--new-state``.

Real parts: the installed ``interop`` command in subprocesses, a real SQLite state, a real
mesh-sandbox (``pull cpis``) and the FHIR sandbox on 127.0.0.1 (``pull --since``).
"""

from __future__ import annotations

import os
import subprocess
import sys
import threading
from collections.abc import Iterator
from datetime import timedelta
from pathlib import Path

import pytest
from builders import doc
from mesh_server import MeshSandbox

from interop.domain import ChildProtectionFlag
from interop.mappings.fhir import artefact_to_fhir
from interop.sandbox.fhir_server.running import running_server
from interop.state import Lease, acquire_lease, open_state
from interop.synthetic import export_csv
from interop.transport.fhir_client import FhirClient

pytestmark = pytest.mark.integration

SCRIPT = str(Path(sys.executable).with_name("interop"))
EXIT_BUSY = 75


def interop(*args: str, env: dict[str, str] | None = None) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [SCRIPT, *args], env=env, capture_output=True, text=True, timeout=120, check=False
    )


class Holder:
    """Another run of a job, holding its lease (this process: alive, renewing) until
    ``release()``, which a timer may call before the test's own ``finally`` does."""

    def __init__(self, state: Path, lease: str, label: str) -> None:
        self.state = open_state(state)
        self.lease: Lease | None = acquire_lease(self.state, lease, label=label)
        self._lock = threading.Lock()

    def release(self) -> None:
        with self._lock:
            if self.lease is not None:
                self.lease.release()
                self.state.close()
                self.lease = None


def test_pull_cpis_runs_one_at_a_time_beside_other_jobs(
    fresh_mesh_sandbox: MeshSandbox, tmp_path: Path
) -> None:
    config, secrets = fresh_mesh_sandbox.write_config(tmp_path, party="la")
    env = {**os.environ, **secrets}
    state = tmp_path / "state.sqlite"
    out = tmp_path / "replies"
    pull = ["pull", "cpis", "--config", str(config), "--state", str(state), "--out", str(out)]

    missing = interop(*pull, env=env)
    assert missing.returncode == 2, missing.stdout + missing.stderr
    assert f"no state at {state}" in missing.stderr
    assert not state.exists()
    assert not out.exists()
    first = interop(*pull, "--new-state", env=env)
    assert first.returncode == 0, first.stdout + first.stderr

    other = Holder(state, "cpis-pull", "interop pull cpis")
    try:
        busy = interop(*pull, env=env)
        assert busy.returncode == EXIT_BUSY, busy.stdout + busy.stderr
        assert "is in use by interop pull cpis pid" in busy.stderr
        assert "this run did nothing" in busy.stderr
        assert "Traceback" not in busy.stderr
        assert busy.stdout == ""
        # another job has a lease of its own: the sync runs meanwhile
        export = tmp_path / "export.csv"
        export.write_bytes(export_csv(5, seed=2))
        sync = ["sync", "cpis", "--source", str(export), "--config", str(config)]
        synced = interop(*sync, "--state", str(state), env=env)
        assert synced.returncode == 0, synced.stdout + synced.stderr
        assert "sent 1 upload(s), 5 record(s)" in synced.stdout
        threading.Timer(1.5, other.release).start()
        waited = interop(*pull, "--wait", "60", env=env)
    finally:
        other.release()
    assert waited.returncode == 0, waited.stdout + waited.stderr


def watermarks(state: Path) -> dict[str, str]:
    with open_state(state) as opened:
        rows = opened.execute("SELECT endpoint, since FROM fhir_watermarks").fetchall()
    return {str(row[0]): str(row[1]) for row in rows}


@pytest.fixture
def fhir_with_a_flag() -> Iterator[str]:
    with running_server() as base:
        with FhirClient(base) as client:
            client.push(
                artefact_to_fhir(ChildProtectionFlag.model_validate(doc("child-protection-flag")))
            )
        yield base


def test_each_endpoints_pull_since_runs_one_at_a_time(
    fhir_with_a_flag: str, tmp_path: Path
) -> None:
    config = tmp_path / "interop.toml"
    config.write_text(
        '[environment]\nname = "test"\n\n'
        f'[endpoints.trust-fhir]\nkind = "fhir"\nurl = "{fhir_with_a_flag}"\n\n'
        f'[endpoints.la-fhir]\nkind = "fhir"\nurl = "{fhir_with_a_flag}"\n',
        encoding="utf-8",
    )
    state = tmp_path / "state.sqlite"

    def pull(endpoint: str, since: str, *extra: str) -> subprocess.CompletedProcess[str]:
        out = tmp_path / endpoint
        return interop(
            "pull", "--endpoint", endpoint, "--config", str(config), "--since", since,
            "--state", str(state), "--out", str(out), *extra,
        )  # fmt: skip

    missing = pull("trust-fhir", "2026-01-01")
    assert missing.returncode == 2, missing.stdout + missing.stderr
    assert f"no state at {state}" in missing.stderr
    assert not (tmp_path / "trust-fhir").exists()
    first = pull("trust-fhir", "2026-01-01", "--new-state")
    assert first.returncode == 0, first.stdout + first.stderr
    assert list((tmp_path / "trust-fhir").rglob("*.json"))
    marks = watermarks(state)
    assert marks

    other = Holder(state, "fhir-pull:trust-fhir", "interop pull --endpoint trust-fhir")
    try:
        busy = pull("trust-fhir", "last")
        assert busy.returncode == EXIT_BUSY, busy.stdout + busy.stderr
        assert "is in use by interop pull --endpoint trust-fhir pid" in busy.stderr
        assert "Traceback" not in busy.stderr
        assert watermarks(state) == marks  # the refused run moved nothing
        # the other endpoint's pull is another lease: it runs meanwhile
        beside = pull("la-fhir", "2026-01-01")
        assert beside.returncode == 0, beside.stdout + beside.stderr
        threading.Timer(1.5, other.release).start()
        waited = pull("trust-fhir", "last", "--wait", "60")
    finally:
        other.release()
    assert waited.returncode == 0, waited.stdout + waited.stderr


def test_a_pull_that_cannot_write_its_output_keeps_the_watermark(
    fhir_with_a_flag: str, tmp_path: Path
) -> None:
    """docs/operations.md, after a crash: ``pull --since last`` stores the watermark only
    after writing its output, so a pull that failed starts again from the same point."""
    config = tmp_path / "interop.toml"
    config.write_text(
        '[environment]\nname = "test"\n\n'
        f'[endpoints.trust-fhir]\nkind = "fhir"\nurl = "{fhir_with_a_flag}"\n',
        encoding="utf-8",
    )
    state = tmp_path / "state.sqlite"

    def pull(since: str, out: Path, *extra: str) -> subprocess.CompletedProcess[str]:
        return interop(
            "pull", "--endpoint", "trust-fhir", "--config", str(config), "--since", since,
            "--state", str(state), "--out", str(out), *extra,
        )  # fmt: skip

    first = pull("2026-01-01", tmp_path / "first", "--new-state")
    assert first.returncode == 0, first.stdout + first.stderr
    marks = watermarks(state)
    flag = ChildProtectionFlag.model_validate(doc("child-protection-flag"))
    ended = flag.model_copy(update={"plan_end": flag.plan_start + timedelta(days=30)})
    with FhirClient(fhir_with_a_flag) as client:
        client.push(artefact_to_fhir(ended))  # a change since the first pull

    blocked = tmp_path / "blocked"
    blocked.mkdir()
    (blocked / "child-protection-flag").write_text("a file where the folder goes\n")
    failed = pull("last", blocked)
    assert failed.returncode == 2, failed.stdout + failed.stderr
    assert "cannot write" in failed.stderr
    assert "Traceback" not in failed.stderr
    assert watermarks(state) == marks

    again = pull("last", tmp_path / "again")
    assert again.returncode == 0, again.stdout + again.stderr
    [written] = (tmp_path / "again").rglob("*.json")
    assert '"plan_end": "' in written.read_text(encoding="utf-8")  # the change, not lost
    assert watermarks(state)["trust-fhir"] > marks["trust-fhir"]
