"""The invariants stage against a bare R4B parse, on every FHIR fixture of the toolkit.

Run with ``.venv/bin/python benchmarks/invariants.py``. For each valid FHIR fixture (JSON, and
the XML twins once read into JSON) it times, in the same process and run:

- the invariants stage as the validation chain runs it (``invariants_stage``, R4 core
  constraints of each resource's type; the toolkit's profiles declare none), with the fast path;
- the same with every expression evaluated by fhirpathpy (``fast_path=False``);
- ``fhir.resources`` R4B ``Bundle.model_validate`` of the same Bundles.

Figures are per fixture file and per resource (a Bundle and each of its entries count one);
each is the best of several rounds, the machine being shared. Copy changed figures into
benchmarks/README.md with the date.
"""

from __future__ import annotations

import statistics
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from interop.fhir.structure import model_class
from interop.fhir.wire import read_fhir_json, read_fhir_xml
from interop.fixtures import load_manifest
from interop.validators.constraint import Constraint
from interop.validators.invariants import check_invariants, core_constraints, invariants_stage

JSON = dict[str, Any]
ROUNDS = 7


@dataclass(frozen=True)
class _NoProfiles:
    """The stage's context with no profile constraints (the toolkit's profiles have none)."""

    profiles: tuple[str, ...] = ()

    @property
    def registry(self) -> _NoProfiles:
        return self

    def constraints(self, url: str) -> list[Constraint]:
        return []


def best(action: Callable[[], object], rounds: int = ROUNDS) -> tuple[float, float]:
    """Minimum and median wall time of ``action`` in seconds."""
    times = []
    for _ in range(rounds):
        started = time.perf_counter()
        action()
        times.append(time.perf_counter() - started)
    return min(times), statistics.median(times)


def fixtures() -> list[tuple[str, JSON]]:
    found = []
    for f in load_manifest():
        if f.expect != "valid" or f.format not in ("fhir-json", "fhir-xml"):
            continue
        data = f.read_bytes()
        found.append(
            (f.path, read_fhir_json(data) if f.format == "fhir-json" else read_fhir_xml(data))
        )
    return found


def constraints_of(bundle: JSON) -> list[Constraint]:
    types = {bundle["resourceType"]} | {e["resource"]["resourceType"] for e in bundle["entry"]}
    return [c for t in sorted(types) for c in core_constraints(t)]


def main() -> None:
    bundles = fixtures()
    resources = sum(1 + len(b.get("entry", [])) for _, b in bundles)
    files = len(bundles)
    context = _NoProfiles()
    parse = model_class("Bundle")
    assert parse is not None
    everything = [(b, constraints_of(b)) for _, b in bundles]

    # warm up: compile the expressions, build the R4B validators
    for bundle, constraints in everything:
        invariants_stage(bundle, context)
        check_invariants(bundle, constraints, fast_path=False)
        parse.model_validate(bundle)

    stage, stage_median = best(lambda: [invariants_stage(b, context) for b, _ in everything])
    slow, _ = best(
        lambda: [check_invariants(b, c, fast_path=False) for b, c in everything], rounds=3
    )
    r4b, r4b_median = best(lambda: [parse.model_validate(b) for b, _ in everything])

    def line(name: str, seconds: float) -> str:
        return (
            f"{name:<42} {seconds / files * 1e6:8,.0f} µs/file {seconds / resources * 1e6:7,.0f}"
            f" µs/resource"
        )

    print(f"{files} valid FHIR fixtures (JSON and XML twins), {resources} resources in all")
    print(line("invariants stage, fast path", stage))
    print(line("invariants, every expression in fhirpathpy", slow))
    print(line("R4B Bundle.model_validate", r4b))
    print(
        f"stage ÷ R4B parse: {stage / r4b:.2f} (medians {stage_median / r4b_median:.2f}); "
        f"fast path speed-up: {slow / stage:.1f}×"
    )


if __name__ == "__main__":
    main()
