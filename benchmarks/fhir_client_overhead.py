"""What the FHIR client adds to each request, against a minimal local HTTP server.

Run: ``.venv/bin/python benchmarks/fhir_client_overhead.py`` (options: ``--requests N`` per
round, ``--rounds N``).

A minimal HTTP/1.1 keep-alive server (asyncio, in a child process so it does not share the
client's interpreter lock) answers every request with the same small FHIR Patient. The same
requests are timed three ways over one kept-alive connection:

- **bare httpx**: ``httpx.Client.get`` / ``put`` and ``json.loads`` of the body: the floor;
- **FhirClient**: ``read`` / ``update``: request id, headers, bearer token, the retry loop,
  streamed body with its size limit, the hardened JSON reader, the resource type check;
- the difference is the client's overhead per request (target: under 2 ms).

Figures are medians over the rounds, in microseconds per request.
"""

from __future__ import annotations

import argparse
import asyncio
import json
import socket
import statistics
import subprocess
import sys
import time
from collections.abc import Callable

import httpx

from interop.transport.auth import BearerToken
from interop.transport.fhir_client import FhirClient

PATIENT = {
    "resourceType": "Patient",
    "id": "2acb94bb-e346-5576-80b5-197cb2e744e2",
    "meta": {"versionId": "1", "lastUpdated": "2026-11-23T12:00:00Z"},
    "identifier": [{"system": "https://fhir.nhs.uk/Id/nhs-number", "value": "9434765919"}],
    "name": [{"use": "official", "family": "Tranter", "given": ["Maisie"]}],
    "gender": "female",
    "birthDate": "2014-02-17",
}


def serve(port: int) -> None:
    """The minimal server: every request gets the Patient (the request body is read first)."""
    body = json.dumps(PATIENT).encode()
    head = (
        b"HTTP/1.1 200 OK\r\nContent-Type: application/fhir+json\r\n"
        b"Content-Length: " + str(len(body)).encode() + b"\r\n\r\n"
    )
    answer = head + body

    async def handle(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                request = await reader.readuntil(b"\r\n\r\n")
                length = 0
                for line in request.split(b"\r\n"):
                    if line.lower().startswith(b"content-length:"):
                        length = int(line.split(b":", 1)[1])
                if length:
                    await reader.readexactly(length)
                writer.write(answer)
                await writer.drain()
        except (asyncio.IncompleteReadError, ConnectionError):
            writer.close()

    async def main() -> None:
        server = await asyncio.start_server(handle, "127.0.0.1", port)
        async with server:
            await server.serve_forever()

    asyncio.run(main())


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return int(probe.getsockname()[1])


def timed(call: Callable[[], object], count: int) -> float:
    """Microseconds per call over ``count`` calls."""
    start = time.perf_counter()
    for _ in range(count):
        call()
    return (time.perf_counter() - start) / count * 1e6


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--requests", type=int, default=2000, help="requests per round")
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--serve", type=int, help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve:
        serve(args.serve)
        return

    port = free_port()
    child = subprocess.Popen([sys.executable, __file__, "--serve", str(port)])
    base = f"http://127.0.0.1:{port}/fhir"
    try:
        deadline = time.monotonic() + 10
        while True:
            try:
                httpx.get(f"{base}/metadata", timeout=1)
                break
            except httpx.TransportError:
                if time.monotonic() > deadline:
                    raise
                time.sleep(0.05)
        bare = httpx.Client(headers={"Accept": "application/fhir+json"})
        client = FhirClient(base, auth=BearerToken("benchmark-token"), ods_code="X26")
        url = f"{base}/Patient/{PATIENT['id']}"
        payload = json.dumps(PATIENT).encode()
        cases: dict[str, Callable[[], object]] = {
            "bare httpx GET + json.loads": lambda: json.loads(bare.get(url).content),
            "FhirClient.read": lambda: client.read("Patient", str(PATIENT["id"])),
            "bare httpx PUT + json.loads": lambda: json.loads(
                bare.put(
                    url, content=payload, headers={"Content-Type": "application/fhir+json"}
                ).content
            ),
            "FhirClient.update": lambda: client.update(PATIENT),
        }
        for call in cases.values():  # warm up: connections, imports, caches
            timed(call, 200)
        results: dict[str, list[float]] = {name: [] for name in cases}
        for _ in range(args.rounds):
            for name, call in cases.items():
                results[name].append(timed(call, args.requests))
        medians = {name: statistics.median(values) for name, values in results.items()}
        print(f"{args.requests} requests x {args.rounds} rounds, medians (microseconds/request)")
        for name, value in medians.items():
            print(f"  {name:32} {value:8.0f}")
        for verb, bare_name, client_name in (
            ("GET", "bare httpx GET + json.loads", "FhirClient.read"),
            ("PUT", "bare httpx PUT + json.loads", "FhirClient.update"),
        ):
            overhead = medians[client_name] - medians[bare_name]
            verdict = "under" if overhead < 2000 else "OVER"
            print(f"client overhead per {verb}: {overhead:.0f} us ({verdict} the 2 ms target)")
        bare.close()
        client.close()
    finally:
        child.terminate()
        child.wait(timeout=10)


if __name__ == "__main__":
    main()
