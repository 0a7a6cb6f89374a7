"""Push 10,000 artefacts into the FHIR sandbox as transaction Bundles, over real HTTP.

    .venv/bin/python benchmarks/fhir_server_push.py [--artefacts 10000] [--clients 2] [--db FILE]

The 25 valid artefact fixtures are re-identified (a fresh synthetic NHS number from the test
block and a fresh local id each, so every artefact has its own deterministic resource ids),
mapped to their FHIR Bundles and turned into transactions; then plain httpx clients POST them
to ``running_server`` (uvicorn on 127.0.0.1, in this process) and the server validates every
resource (the structure check), resolves references and stores it in SQLite.

``--no-validation`` accepts every resource unchecked, to tell the server's own cost (HTTP,
JSON, references, SQLite) from the structure check's. Prints artefacts/s and resources/s for
the first push, for the same push again (every PUT unchanged: no new versions), and the
latency of a CP-IS CareTeam lookup by NHS number afterwards. Preparing the Bundles is timed
apart and not counted.
"""

from __future__ import annotations

import argparse
import json
import random
import resource
import statistics
import tempfile
import time
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import httpx

from interop.artefact_json import parse_artefact
from interop.domain import ArtefactBase
from interop.fixtures import artefact_fixtures
from interop.identifiers import NHS_NUMBER_SYSTEM
from interop.mappings.fhir import artefact_to_fhir
from interop.sandbox.fhir_server.bundles import to_transaction
from interop.sandbox.fhir_server.running import running_server
from interop.synthetic import nhs_numbers

HEADERS = {"Content-Type": "application/fhir+json"}


def _person_field(artefact: ArtefactBase) -> str:
    return "subject" if hasattr(artefact, "subject") else "child"


def prepare(count: int, seed: int = 7) -> tuple[list[bytes], list[str], int]:
    """``count`` transaction Bundles (JSON bytes), the NHS number of each, and the number of
    resources they hold."""
    templates = []
    for fixture in artefact_fixtures(expect="valid"):
        artefact = parse_artefact(fixture.read_bytes()).artefact
        assert artefact is not None, fixture.path
        templates.append(artefact)
    numbers = nhs_numbers(random.Random(seed))
    bodies, children, resources = [], [], 0
    for i in range(count):
        template = templates[i % len(templates)]
        field = _person_field(template)
        number = next(numbers)
        person = getattr(template, field).model_copy(update={"nhs_number": number})
        artefact = template.model_copy(
            update={field: person, "local_id": f"{template.local_id}-B{i:05d}"}
        )
        transaction = to_transaction(artefact_to_fhir(artefact))
        resources += len(transaction["entry"])
        bodies.append(json.dumps(transaction).encode("utf-8"))
        children.append(number)
    return bodies, children, resources


def push(base: str, bodies: list[bytes], clients: int) -> tuple[float, list[float]]:
    """POST every body; wall time and each request's latency. Fails on any non-200."""

    def send(chunk: list[bytes]) -> list[float]:
        latencies = []
        with httpx.Client(base_url=base, headers=HEADERS, timeout=120) as client:
            for body in chunk:
                started = time.perf_counter()
                response = client.post("", content=body)
                latencies.append(time.perf_counter() - started)
                if response.status_code != 200:
                    raise RuntimeError(f"{response.status_code}: {response.text[:500]}")
        return latencies

    chunks = [bodies[i::clients] for i in range(clients)]
    started = time.perf_counter()
    with ThreadPoolExecutor(clients) as pool:
        latencies = [x for part in pool.map(send, chunks) for x in part]
    return time.perf_counter() - started, latencies


def report(label: str, wall: float, latencies: list[float], artefacts: int, resources: int) -> None:
    cuts = statistics.quantiles(latencies, n=100)
    print(
        f"{label}: {wall:.1f} s, {artefacts / wall:,.0f} artefacts/s, "
        f"{resources / wall:,.0f} resources/s; per transaction p50 {cuts[49] * 1000:.1f} ms, "
        f"p95 {cuts[94] * 1000:.1f} ms"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--artefacts", type=int, default=10_000)
    parser.add_argument("--clients", type=int, default=2)
    parser.add_argument("--db", type=Path, help="SQLite file (default: a temporary file)")
    parser.add_argument(
        "--no-validation",
        action="store_true",
        help="accept every resource unchecked (to see the server's own cost)",
    )
    args = parser.parse_args()

    started = time.perf_counter()
    bodies, children, resources = prepare(args.artefacts)
    size = sum(len(b) for b in bodies)
    print(
        f"prepared {len(bodies):,} transactions, {resources:,} resources, "
        f"{size / 1e6:.0f} MB in {time.perf_counter() - started:.1f} s"
    )
    with tempfile.TemporaryDirectory() as folder:
        db = args.db or Path(folder) / "sandbox.sqlite"
        validator = (lambda resource: []) if args.no_validation else None
        with running_server(db, validator=validator) as base:
            wall, latencies = push(base, bodies, args.clients)
            report("first push", wall, latencies, len(bodies), resources)
            wall, latencies = push(base, bodies, args.clients)
            report("same push again (no new versions)", wall, latencies, len(bodies), resources)
            with httpx.Client(base_url=base, timeout=60) as client:
                patients = client.get("/Patient", params={"_count": "0"}).json()["total"]
                lookups = []
                for number in random.Random(3).sample(children, 200):
                    t0 = time.perf_counter()
                    found = client.get(
                        "/CareTeam",
                        params={"patient:identifier": f"{NHS_NUMBER_SYSTEM}|{number}"},
                    )
                    lookups.append(time.perf_counter() - t0)
                    assert found.status_code == 200
            assert patients == len(bodies), (patients, len(bodies))
            cuts = statistics.quantiles(lookups, n=100)
            print(
                f"CareTeam?patient:identifier lookups over {patients:,} children: "
                f"p50 {cuts[49] * 1000:.1f} ms, p95 {cuts[94] * 1000:.1f} ms"
            )
        print(f"database {db.stat().st_size / 1e6:.0f} MB")
    peak = resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024
    print(f"peak memory {peak:.0f} MB (the Bundles, the client and the server in one process)")


if __name__ == "__main__":
    main()
