"""CP-IS upload at national scale: build a synthetic 150,000-record export and XSD-validate it.

Run: ``.venv/bin/python benchmarks/cpis_build.py`` (options: ``--records N``, ``--per-file N``
to split the export into several upload files, ``--seed N``, ``--keep DIR`` to keep the files).

Records come from a seeded generator (synthetic NHS numbers from the 9000000000-9999999999
block, non-ASCII names, every plan type, ended plans with delete dates, leap days). Each file
is written with ``write_upload`` (streaming) and checked with ``validate_cpis_xml`` on its
bytes. Prints the time of each phase and the process's peak memory (``ru_maxrss``: all of it,
libxml2 included). Targets (CP-IS issue): build + XSD-validate under 15 s, peak memory under
500 MB.
"""

from __future__ import annotations

import argparse
import random
import resource
import sys
import tempfile
import time
from collections.abc import Iterator
from datetime import UTC, date, datetime, timedelta
from pathlib import Path

from interop.codes import PlanType
from interop.cpis.codec import validate_cpis_xml, write_upload
from interop.cpis.model import CpisRecord, SubjectKind, UploadHeader

GIVEN = ["Maisie", "Kacper", "Zoë", "Siobhán", "Ayaan", "Freya", "Théo", "Łucja", "Oisín", "Amelia"]
FAMILY = [
    "Tranter",
    "Nowak",
    "O'Brien",
    "Hussain",
    "Lambert",
    "Müller",
    "Ní Bhriain",
    "Smith-Jones",
]


def synthetic_nhs_number(rng: random.Random) -> str:
    """A valid NHS number from the synthetic block (modulus 11 check digit, never 10)."""
    while True:
        nine = str(rng.randint(900_000_000, 999_999_999))
        check = (
            11 - sum(int(d) * w for d, w in zip(nine, range(10, 1, -1), strict=True)) % 11
        ) % 11
        if check != 10:
            return nine + str(check)


def synthetic_records(count: int, seed: int) -> Iterator[CpisRecord]:
    """``count`` records from a seeded generator: 60% CPP, 30% LAC, 10% UCPP."""
    rng = random.Random(seed)
    for index in range(count):
        roll = rng.random()
        plan = PlanType.CPP if roll < 0.6 else PlanType.LAC if roll < 0.9 else PlanType.UCPP
        unborn = plan is PlanType.UCPP
        born = date(1990 if unborn else 2008, 1, 1) + timedelta(days=rng.randint(0, 6500))
        start = max(born, date(2024, 1, 1)) + timedelta(days=rng.randint(0, 700))
        end = start + timedelta(days=rng.randint(30, 400)) if rng.random() < 0.3 else None
        yield CpisRecord(
            record_id=f"REC-{index:07d}",
            subject_kind=SubjectKind.UNBORN_CHILD_MOTHER if unborn else SubjectKind.CHILD,
            nhs_number=synthetic_nhs_number(rng),
            date_of_birth=born,
            plan_type=plan,
            start_date=start,
            end_date=end,
            delete_date=end + timedelta(days=365) if end else None,
            expected_delivery_date=start + timedelta(days=120) if unborn else None,
            given_name=rng.choice(GIVEN) if rng.random() < 0.9 else None,
            family_name=rng.choice(FAMILY),
        )


def peak_mb() -> float:
    """Peak resident memory of this process so far, in MB (Linux reports kB)."""
    scale = 1 if sys.platform == "darwin" else 1024
    return resource.getrusage(resource.RUSAGE_SELF).ru_maxrss * scale / 1_000_000


def main() -> None:
    """Build, validate, report."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--records", type=int, default=150_000)
    parser.add_argument("--per-file", type=int, default=0, help="records per file (0: one file)")
    parser.add_argument("--seed", type=int, default=20261124)
    parser.add_argument("--keep", type=Path, default=None, help="folder to keep the files in")
    args = parser.parse_args()
    per_file = args.per_file or args.records
    folder = args.keep or Path(tempfile.mkdtemp(prefix="cpis-bench-"))
    folder.mkdir(parents=True, exist_ok=True)

    records = synthetic_records(args.records, args.seed)
    started = time.perf_counter()
    paths: list[Path] = []
    written = 0
    while written < args.records:
        batch = min(per_file, args.records - written)
        path = folder / f"upload-{len(paths) + 1:03d}.xml"
        header = UploadHeader(
            f"LAUFI-{len(paths) + 1:03d}",
            datetime(2026, 11, 24, 2, 0, tzinfo=UTC),
            "LA465",
            "Leicester City Council",
        )
        with path.open("wb") as out:
            written += write_upload(header, (next(records) for _ in range(batch)), out)
        paths.append(path)
    built = time.perf_counter()
    size = sum(p.stat().st_size for p in paths)
    print(f"build: {written:,} records in {len(paths)} file(s), {size / 1e6:,.1f} MB", end=", ")
    print(f"{built - started:.2f} s")

    issues = 0
    for path in paths:
        issues += len(validate_cpis_xml(path.read_bytes()))
    validated = time.perf_counter()
    print(f"XSD validation: {validated - built:.2f} s, {issues} issues")
    total = validated - started
    print(f"total build + validate: {total:.2f} s (target < 15 s)", end="; ")
    print(f"peak memory {peak_mb():,.0f} MB (target < 500 MB)")
    if args.keep is None:
        for path in paths:
            path.unlink()
        folder.rmdir()


if __name__ == "__main__":
    main()
