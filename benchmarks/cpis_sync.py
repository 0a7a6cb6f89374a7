"""The CP-IS sync job on a national-size export: 150,000 children.

    .venv/bin/python benchmarks/cpis_sync.py [--rows 150000]

1. full run: read and check the export, plan the uploads in a fresh ledger, build every upload
   file and validate it against the XSD (everything but the MESH send);
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

from interop.cpis.codec import check_own_upload, write_upload
from interop.domain import ResponsibleLocalAuthority
from interop.la_export import ExportReader, ExportRow, UnchangedRow
from interop.mappings.cpis import flag_to_record
from interop.sync.cpis_sync import CpisSync, batch_gc
from interop.sync.ledger import Ledger
from interop.synthetic import export_csv

LA = ResponsibleLocalAuthority(ods_code="LA380", name="Example City Council")


def peak_mb() -> float:
    """Peak resident memory of this process so far, in MB."""
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024


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
        with Ledger(state) as ledger:
            job = CpisSync(
                ledger,
                to_record=flag_to_record,
                write_upload=write_upload,
                check_upload=check_own_upload,  # every file XSD-validated, as before a send
            )
            with batch_gc():  # as `interop sync cpis` runs
                rows = (r for r in ExportReader(LA).read_file(export) if isinstance(r, ExportRow))
                counts = job.plan(rows)
            files = 0
            for upload in ledger.uploads("planned"):
                job.build_file(upload)
                files += 1
        full = time.perf_counter() - started
        print(
            f"full run: {counts.new:,} records in {files} upload file(s), built and "
            f"XSD-validated in {full:.1f} s; peak memory {peak_mb():.0f} MB"
        )

        started = time.perf_counter()
        with Ledger(state) as ledger:
            job = CpisSync(ledger, to_record=flag_to_record, write_upload=write_upload)
            reader = ExportReader(LA, job.unchanged())  # as `interop sync cpis` reads it
            with batch_gc():
                rows = (
                    r for r in reader.read_file(export) if isinstance(r, ExportRow | UnchangedRow)
                )
                again = job.plan(rows)
        rerun = time.perf_counter() - started
        assert again.to_send == 0
        print(
            f"unchanged re-run: {again.unchanged:,} unchanged, nothing to send, {rerun:.1f} s; "
            f"peak memory {peak_mb():.0f} MB"
        )


if __name__ == "__main__":
    main()
