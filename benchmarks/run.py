"""Reproducible timings: CLI start-up, artefact reading, NHS number checks.

Run with ``make bench`` (or ``.venv/bin/python benchmarks/run.py``). Prints one line per
measurement; copy changed figures into benchmarks/README.md with the date and machine.
"""

from __future__ import annotations

import json
import statistics
import subprocess
import sys
import time
from collections.abc import Callable
from pathlib import Path


def best_of(runs: int, action: Callable[[], object]) -> tuple[float, float]:
    """Median and minimum wall time of ``action`` over ``runs`` runs, in seconds."""
    times = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return statistics.median(times), min(times)


def cli_startup() -> None:
    script = str(Path(sys.executable).with_name("interop"))
    median, low = best_of(20, lambda: subprocess.run([script, "--help"], capture_output=True))
    print(f"interop --help start-up: median {median * 1000:.0f} ms, best {low * 1000:.0f} ms")


def artefact_reading() -> None:
    from interop.artefact_json import artefact_adapter, parse_artefact
    from interop.fixtures import load_manifest

    artefact_adapter()  # build the validator once, as a long-running process would
    documents = [f.read_bytes() for f in load_manifest() if f.expect == "valid"]
    rounds = 200
    median, _ = best_of(3, lambda: [parse_artefact(d) for _ in range(rounds) for d in documents])
    count = rounds * len(documents)
    size = sum(len(d) for d in documents) / len(documents)
    print(
        f"artefact JSON read + validate: {count / median:,.0f} artefacts/s "
        f"({len(documents)} valid fixtures of {size:,.0f} bytes on average, x{rounds})"
    )


def nhs_number_checks() -> None:
    from nhs_number import REGION_SYNTHETIC, generate

    from interop.identifiers import check_nhs_number

    numbers = generate(for_region=REGION_SYNTHETIC, quantity=10_000)
    median, _ = best_of(5, lambda: [check_nhs_number(n) for n in numbers])
    print(f"NHS number check: {len(numbers) / median:,.0f} numbers/s")


def large_artefact() -> None:
    """A treatment plan with the maximum list sizes: the worst case a single file can be."""
    from interop.artefact_json import parse_artefact
    from interop.fixtures import load_manifest

    plan = next(
        f for f in load_manifest() if f.kind == "health-treatment-plan" and f.expect == "valid"
    )
    base = json.loads(plan.read_bytes())
    trigger = base["escalation_triggers"][0]
    base["escalation_triggers"] = [trigger] * 100
    base["key_treatment_facts"] = ["x" * 2000] * 100
    data = json.dumps(base).encode()
    median, _ = best_of(10, lambda: parse_artefact(data))
    print(f"large treatment plan ({len(data) / 1024:,.0f} KiB): {median * 1000:.1f} ms to read")


if __name__ == "__main__":
    print(f"python {sys.version.split()[0]} on {sys.platform}")
    cli_startup()
    artefact_reading()
    nhs_number_checks()
    large_artefact()
