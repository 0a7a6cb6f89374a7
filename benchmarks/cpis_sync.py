"""The CP-IS sync job on a national-size export: 150,000 children.

    .venv/bin/python benchmarks/cpis_sync.py [--rows 150000]

Both phases run ``interop.jobs.run_cpis_sync``, the job ``interop sync cpis`` runs, with a
MESH stand-in that takes every upload:

1. full run: read and check the export, plan the uploads in a fresh ledger, build every upload
   file and validate it against the XSD (everything but the MESH send itself);
2. unchanged re-run: the same export against the ledger (nothing to send).
Prints wall time and peak memory (ru_maxrss) of each phase. Targets (issue 5): full run under
15 s, unchanged re-run under 3 s, peak memory under 500 MB.
"""

from __future__ import annotations

import argparse
import resource
import tempfile
import time
from pathlib import Path

from interop.domain import ResponsibleLocalAuthority
from interop.jobs import CpisSyncResult, run_cpis_sync
from interop.jobs.state import StateOptions
from interop.synthetic import export_csv

LA = ResponsibleLocalAuthority(ods_code="LA380", name="Example City Council")


class NoMesh:
    """Takes every upload and keeps nothing: the benchmark measures all but the MESH send."""

    def __init__(self) -> None:
        self.sent = 0

    def send(self, recipient: str, workflow_id: str, data: bytes, **_: object) -> str:
        self.sent += 1
        return f"BENCH-{self.sent}"

    def find_by_local_id(self, local_id: str) -> object | None:
        return None


def peak_mb() -> float:
    """Peak resident memory of this process so far, in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


def sync(export: Path, state: Path, mesh: NoMesh) -> CpisSyncResult:
    """``interop sync cpis``'s job, as the command runs it, minus MESH."""
    return run_cpis_sync(
        export,
        state=state,
        local_authority=LA,
        recipient="X26",
        workflow_id="BENCH",
        transport=mesh,
        state_options=StateOptions(new=True),
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rows", type=int, default=150_000)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as folder:
        export = Path(folder) / "export.csv"
        export.write_bytes(export_csv(args.rows, seed=42))
        print(f"export: {args.rows:,} rows, {export.stat().st_size / 1e6:.1f} MB")
        state = Path(folder) / "state.sqlite"

        started = time.perf_counter()
        mesh = NoMesh()
        full = sync(export, state, mesh)
        seconds = time.perf_counter() - started
        print(
            f"full run: {full.counts.new:,} records in {mesh.sent} upload file(s), built and "
            f"XSD-validated in {seconds:.1f} s; peak memory {peak_mb():.0f} MB"
        )

        started = time.perf_counter()
        again = sync(export, state, NoMesh())
        rerun = time.perf_counter() - started
        assert again.counts.to_send == 0
        assert again.pending == 0
        print(
            f"unchanged re-run: {again.counts.unchanged:,} unchanged, nothing to send, "
            f"{rerun:.1f} s; peak memory {peak_mb():.0f} MB"
        )


if __name__ == "__main__":
    main()
