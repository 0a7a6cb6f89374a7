"""Kill ``interop sync cpis`` at random moments; after re-running, every record is delivered
exactly once.

Each round changes the export (new children, ended plans), starts the real command in its own
process against a real mesh-sandbox, kills it with SIGKILL after a random delay, then runs it
again to completion. At the end CP-IS's mailbox is read: every version of every record must be
in exactly one upload, and nothing may be left in doubt.
"""

from __future__ import annotations

import os
import random
import signal
import subprocess
import sys
import time
from collections import Counter
from pathlib import Path

import pytest
from mesh_server import MeshSandbox

from interop.config import load_config
from interop.cpis.codec import read_upload
from interop.sync.ledger import Ledger, record_to_json
from interop.synthetic import export_csv
from interop.transport.mesh import MeshTransport

pytestmark = [pytest.mark.integration, pytest.mark.slow]

ROUNDS = 20
SCRIPT = str(Path(sys.executable).with_name("interop"))


def export_for_round(path: Path, round_number: int) -> None:
    """Round n: the first 8 + 4n children; those of earlier rounds unchanged, some now ended."""
    rows = export_csv(8 + 4 * round_number, seed=7).decode("utf-8-sig").splitlines()
    header, body = rows[0], rows[1:]
    ended = []
    for index, line in enumerate(body):
        cells = line.split(",")
        if index % 5 == 0 and index < 4 * round_number and not cells[7]:
            cells[7] = "2026-11-20"  # ended since the last export
        ended.append(",".join(cells))
    path.write_text("\n".join([header, *ended]) + "\n", encoding="utf-8")


def test_killed_at_random_points_every_record_arrives_exactly_once(
    fresh_mesh_sandbox: MeshSandbox, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    config_path, env = fresh_mesh_sandbox.write_config(tmp_path, party="la")
    with config_path.open("a", encoding="utf-8") as handle:
        handle.write("max_records_per_file = 1\n")  # many small uploads: many places to die
    run_env = {**os.environ, **env}
    export, state = tmp_path / "export.csv", tmp_path / "state.sqlite"
    command = [SCRIPT, "sync", "cpis", "--source", str(export), "--config", str(config_path)]
    command += ["--state", str(state)]
    rng = random.Random(20261123)
    kills, full_run = 0, 1.0
    for round_number in range(1, ROUNDS + 1):
        export_for_round(export, round_number)
        # only the first round may create the state: later a missing one would be an error
        first = ["--new-state"] if round_number == 1 else []
        process = subprocess.Popen(command + first, env=run_env, stdout=subprocess.DEVNULL)
        # anywhere in a run: start-up, reading, planning, between or inside sends
        time.sleep(rng.uniform(0.0, full_run))
        if process.poll() is None:
            process.send_signal(signal.SIGKILL)
            kills += 1
        process.wait(timeout=60)
        started = time.monotonic()
        finished = subprocess.run(
            command + first, env=run_env, capture_output=True, text=True, timeout=120
        )
        full_run = max(time.monotonic() - started, 0.3)
        assert finished.returncode == 0, finished.stdout + finished.stderr
    assert kills >= ROUNDS // 2, "most runs must actually be killed part-way"

    with Ledger(state) as ledger:
        assert ledger.uploads("planned", "sending") == [], "nothing left in doubt"
        expected = {
            (record.record_id, record_to_json(record))
            for upload in ledger.uploads()
            for record in ledger.upload_records(upload.upload_id)
        }

    # what CP-IS actually received
    cpis_path, cpis_env = fresh_mesh_sandbox.write_config(tmp_path / "cpis", party="cpis")
    for name, value in cpis_env.items():
        monkeypatch.setenv(name, value)
    delivered: Counter[tuple[str, str]] = Counter()
    with MeshTransport(load_config(cpis_path).mesh) as cpis:
        for message_id in cpis.inbox(fresh_mesh_sandbox.workflows["upload"]):
            _, records = read_upload(cpis.download(message_id).data)
            delivered.update((r.record_id, record_to_json(r)) for r in records)
    duplicates = [key for key, count in delivered.items() if count > 1]
    assert not duplicates, f"{len(duplicates)} record version(s) delivered more than once"
    assert set(delivered) == expected
    children = {record_id for record_id, _ in delivered}
    assert len(children) == 8 + 4 * ROUNDS
