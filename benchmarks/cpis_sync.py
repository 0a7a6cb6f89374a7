"""The CP-IS sync job on a national-size export: 150,000 children.

    .venv/bin/python benchmarks/cpis_sync.py [--rows 150000] [--state postgresql://… | --postgres]

Both phases run ``interop.jobs.run_cpis_sync``, the job ``interop sync cpis`` runs, with a
MESH stand-in that takes every upload:

1. full run: read and check the export, plan the uploads in a fresh ledger, build every upload
   file and validate it against the XSD (everything but the MESH send itself);
2. unchanged re-run: the same export against the ledger (nothing to send).
Prints wall time, this process's CPU time (user + sys: the figure that holds on a shared
machine) and peak memory (ru_maxrss) of each phase, and those of the worker processes that
check a large export's rows beside the job (``interop.sync.export_workers``). Targets
(issue 13): full run under 10 s on SQLite and within 2x of that on PostgreSQL, unchanged
re-run under 3 s, peak memory under 500 MB. ``--state URL`` runs on an empty PostgreSQL
database you give; ``--postgres`` starts a throw-away server from Debian's package (durable
settings: fsync on, as in production) and stops it afterwards. A PostgreSQL server's own
CPU time is not in the process's figure.
"""

from __future__ import annotations

import argparse
import glob
import os
import pwd
import resource
import subprocess
import tempfile
import time
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

from interop.domain import ResponsibleLocalAuthority
from interop.jobs import CpisSyncResult, run_cpis_sync
from interop.jobs.state import StateOptions
from interop.synthetic import export_csv

LA = ResponsibleLocalAuthority(ods_code="LA380", name="Example City Council")
CHILDREN = resource.RUSAGE_CHILDREN  # the job's worker processes, once they have ended


class NoMesh:
    """Takes every upload and keeps nothing: the benchmark measures all but the MESH send."""

    def __init__(self) -> None:
        self.sent = 0

    def send(self, recipient: str, workflow_id: str, data: bytes, **_: object) -> str:
        self.sent += 1
        return f"BENCH-{self.sent}"

    def find_by_local_id(self, local_id: str) -> object | None:
        return None


def peak_mb(who: int = resource.RUSAGE_SELF) -> float:
    """Peak resident memory of this process (or of the largest of its ended worker processes:
    ``RUSAGE_CHILDREN``) so far, in MB."""
    return resource.getrusage(who).ru_maxrss / 1024


def cpu_seconds(who: int = resource.RUSAGE_SELF) -> float:
    """User + system CPU time of this process (or of its ended worker processes) so far."""
    usage = resource.getrusage(who)
    return usage.ru_utime + usage.ru_stime


@contextmanager
def throwaway_postgres() -> Iterator[str]:
    """A PostgreSQL server in a temporary folder (as the postgres user when run as root); yields
    a database URL on its unix socket."""
    bin_dir = Path(sorted(glob.glob("/usr/lib/postgresql/*/bin/initdb"))[-1]).parent
    folder = Path(tempfile.mkdtemp(prefix="bench-pg-"))
    prefix: list[str] = []
    if os.geteuid() == 0:
        user = pwd.getpwnam("postgres")
        os.chown(folder, user.pw_uid, user.pw_gid)
        prefix = ["runuser", "-u", "postgres", "--"]
    data, log = folder / "data", folder / "server.log"

    def run(*command: str) -> None:
        subprocess.run([*prefix, *command], check=True, capture_output=True, timeout=120)

    run(str(bin_dir / "initdb"), "-D", str(data), "-A", "trust", "-U", "interop", "-E", "UTF8")
    options = f"-k {folder} -c listen_addresses=''"
    run(str(bin_dir / "pg_ctl"), "-D", str(data), "-l", str(log), "-o", options, "-w", "start")
    try:
        run(str(bin_dir / "createdb"), "-h", str(folder), "-U", "interop", "bench")
        yield f"postgresql:///bench?host={folder}&user=interop"
    finally:
        run(str(bin_dir / "pg_ctl"), "-D", str(data), "-m", "fast", "stop")
        subprocess.run(["rm", "-rf", str(folder)], check=False)


def sync(export: Path, state: Path | str, mesh: NoMesh) -> CpisSyncResult:
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
    where = parser.add_mutually_exclusive_group()
    where.add_argument("--state", help="an empty PostgreSQL database: postgresql://…")
    where.add_argument("--postgres", action="store_true", help="start a throw-away PostgreSQL")
    args = parser.parse_args()
    if args.postgres:
        with throwaway_postgres() as url:
            measure(args.rows, url)
    else:
        measure(args.rows, args.state)


def measure(rows: int, url: str | None) -> None:
    """Both phases on ``url`` (None: a SQLite file in a temporary folder)."""
    with tempfile.TemporaryDirectory() as folder:
        export = Path(folder) / "export.csv"
        export.write_bytes(export_csv(rows, seed=42))
        state: Path | str = url or Path(folder) / "state.sqlite"
        backend = "PostgreSQL" if url else "SQLite"
        print(f"export: {rows:,} rows, {export.stat().st_size / 1e6:.1f} MB; state: {backend}")

        started, cpu, workers_cpu = time.perf_counter(), cpu_seconds(), cpu_seconds(CHILDREN)
        mesh = NoMesh()
        full = sync(export, state, mesh)
        seconds, cpu = time.perf_counter() - started, cpu_seconds() - cpu
        workers_cpu = cpu_seconds(CHILDREN) - workers_cpu
        print(
            f"full run: {full.counts.new:,} records in {mesh.sent} upload file(s), built and "
            f"XSD-validated in {seconds:.1f} s (CPU {cpu:.1f} s, and {workers_cpu:.1f} s in "
            f"worker processes); peak memory {peak_mb():.0f} MB, a worker's "
            f"{peak_mb(CHILDREN):.0f} MB"
        )

        started, cpu = time.perf_counter(), cpu_seconds()
        again = sync(export, state, NoMesh())
        rerun, cpu = time.perf_counter() - started, cpu_seconds() - cpu
        assert again.counts.to_send == 0
        assert again.pending == 0
        print(
            f"unchanged re-run: {again.counts.unchanged:,} unchanged, nothing to send, "
            f"{rerun:.1f} s (CPU {cpu:.1f} s); peak memory {peak_mb():.0f} MB"
        )


if __name__ == "__main__":
    main()
