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
    from interop.fixtures import artefact_fixtures

    artefact_adapter()  # build the validator once, as a long-running process would
    documents = [f.read_bytes() for f in artefact_fixtures(expect="valid")]
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
    from interop.fixtures import artefact_fixtures

    plan = artefact_fixtures("health-treatment-plan", "valid")[0]
    base = json.loads(plan.read_bytes())
    trigger = base["escalation_triggers"][0]
    base["escalation_triggers"] = [trigger] * 100
    base["key_treatment_facts"] = ["x" * 2000] * 100
    data = json.dumps(base).encode()
    median, _ = best_of(10, lambda: parse_artefact(data))
    print(f"large treatment plan ({len(data) / 1024:,.0f} KiB): {median * 1000:.1f} ms to read")


def fhir_mapping_of(kind: str, rounds: int = 100) -> None:
    """Artefact → FHIR Bundle → JSON for one kind, against fhir.resources R4B parsing it."""
    from fhir.resources.R4B.bundle import Bundle

    from interop.artefact_json import parse_artefact
    from interop.fixtures import artefact_fixtures
    from interop.mappings.fhir import artefact_to_fhir, mapping

    artefacts = [parse_artefact(f.read_bytes()).artefact for f in artefact_fixtures(kind, "valid")]
    bundles = [artefact_to_fhir(a) for a in artefacts if a is not None]
    read = mapping(kind).from_fhir
    to_json, _ = best_of(
        3, lambda: [json.dumps(artefact_to_fhir(a)) for _ in range(rounds) for a in artefacts]
    )
    back, _ = best_of(3, lambda: [read(b) for _ in range(rounds) for b in bundles])
    r4b, _ = best_of(3, lambda: [Bundle.model_validate(b) for _ in range(rounds) for b in bundles])
    count = rounds * len(bundles)
    print(
        f"{kind:<36} to FHIR JSON {count / to_json:>6,.0f}/s, from FHIR {count / back:>6,.0f}/s, "
        f"R4B parse {count / r4b:>5,.0f}/s (to FHIR JSON: {r4b / to_json:.1f}x the R4B rate)"
    )


if __name__ == "__main__":
    print(f"python {sys.version.split()[0]} on {sys.platform}")
    cli_startup()
    artefact_reading()
    nhs_number_checks()
    large_artefact()
    from interop.domain import ARTEFACT_KINDS

    for kind in ARTEFACT_KINDS:
        fhir_mapping_of(kind)
