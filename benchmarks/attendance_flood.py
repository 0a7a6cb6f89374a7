"""Attendance rules under a flood: 10,000 ADT messages, 5% malformed, over 4 MLLP connections.

Run: ``.venv/bin/python benchmarks/attendance_flood.py [--count 10000] [--window 1]``
(about a minute with the servers' start-up). Prints one line per measurement; copy changed
figures into benchmarks/README.md with the date and machine.

What runs, all on 127.0.0.1: the listener (``MllpServer`` with the attendance rules, wired as
``interop listen mllp --config`` wires them, the dispatcher in its background thread), a real
mesh-sandbox (the LA's mailbox), two FHIR sandboxes (the LA's, the trust's). The flag source is
a CP-IS stand-in register of 200 flagged children; 30% of the attendances are theirs, the rest
are 2,000 children without a flag. Each sender waits for every ACK (``--window 1``: original
mode, as trust interface engines send) unless told otherwise.

It checks what the acceptance test checks, at ten times the size: every message acknowledged
with the code it must get, no handler failure, and each flagged child's LA told exactly once
(MESH and FHIR) and the trust alerted exactly once.
"""

from __future__ import annotations

import argparse
import logging
import os
import random
import statistics
import sys
import tempfile
import threading
import time
from datetime import date
from pathlib import Path

TESTS = Path(__file__).resolve().parent.parent / "tests"
sys.path.insert(0, str(TESTS))

from attendance_support import flood_messages, register_plans, write_config  # noqa: E402
from mesh_server import running_sandbox  # noqa: E402

from interop.codes import PlanType  # noqa: E402
from interop.config import MeshSettings, Secret  # noqa: E402
from interop.cpis.messages import read_access_notification  # noqa: E402
from interop.hl7v2.ack import read_ack  # noqa: E402
from interop.jobs import build_attendance  # noqa: E402
from interop.sandbox.cpis_spine import RegisterFlags  # noqa: E402
from interop.sandbox.fhir_server.running import running_server  # noqa: E402
from interop.synthetic import nhs_numbers  # noqa: E402
from interop.transport.fhir_client import FhirClient  # noqa: E402
from interop.transport.mesh import MeshTransport  # noqa: E402
from interop.transport.mllp import MllpClient, MllpServer, ServerThread  # noqa: E402


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--count", type=int, default=10_000)
    parser.add_argument("--connections", type=int, default=4)
    parser.add_argument("--window", type=int, default=1)
    args = parser.parse_args()
    # the malformed messages' warnings would drown the figures; errors still show
    logging.basicConfig(level=logging.ERROR)
    with tempfile.TemporaryDirectory() as scratch:
        run(Path(scratch), args.count, args.connections, args.window)


def run(root: Path, count: int, connections: int, window: int) -> None:
    rng = random.Random(3)
    numbers = nhs_numbers(rng)
    flagged = [next(numbers) for _ in range(200)]
    unflagged = [next(numbers) for _ in range(2000)]
    register_plans(
        root / "register.sqlite", [(n, PlanType.CPP, date(2026, 1, 5), None) for n in flagged]
    )
    messages, expected, valid = flood_messages(count, flagged, unflagged, seed=4)
    with (
        running_sandbox(root / "mesh") as sandbox,
        running_server() as la_fhir,
        running_server() as trust_fhir,
    ):
        base, env = sandbox.write_config(root / "mesh-config", party="cpis")
        os.environ.update(env)
        workflow = sandbox.workflows["access_notification"]
        config, settings = write_config(
            root / "listener",
            {
                "la-mesh": {"kind": "mesh", "mailbox": sandbox.la_mailbox, "workflow_id": workflow},
                "la-fhir": {"kind": "fhir", "url": la_fhir},
                "trust-fhir": {"kind": "fhir", "url": trust_fhir},
            },
            base_text=base.read_text(encoding="utf-8"),
            attendance={
                "flag_source": "stand-in",
                "register": "../register.sqlite",
                "notify": ["la-mesh", "la-fhir"],
                "alert": "trust-fhir",
            },
        )
        assert settings is not None
        service = build_attendance(
            config, settings, root / "state.sqlite", stand_in_flags=RegisterFlags
        )
        server = MllpServer(service.handle)
        shares = [list(range(n, count, connections)) for n in range(connections)]
        acks: dict[int, list[bytes]] = {}
        latencies: list[float] = []
        with ServerThread(server) as (host, port):
            service.start()

            def send(share: int) -> None:
                with MllpClient(host, port, timeout=120) as client:
                    if window > 1:
                        acks[share] = client.send_all([messages[i] for i in shares[share]], window)
                        return
                    got = []
                    for index in shares[share]:
                        began = time.perf_counter()
                        got.append(client.send(messages[index]))
                        latencies.append(time.perf_counter() - began)
                    acks[share] = got

            started = time.perf_counter()
            workers = [threading.Thread(target=send, args=(n,)) for n in range(connections)]
            for worker in workers:
                worker.start()
            for worker in workers:
                worker.join()
            acked = time.perf_counter() - started
            while True:
                counts = service.store.counts()
                if counts["pending"] == counts["sending"] == 0:
                    break
                time.sleep(0.05)
            sent = time.perf_counter() - started
        service.close()
        codes = {
            index: read_ack(data).code
            for share, indexes in enumerate(shares)
            for index, data in zip(indexes, acks[share], strict=True)
        }
        assert [codes[i] for i in range(count)] == expected, "an ACK code differs"
        assert server.stats.handler_failures == 0
        accessed = {n for n, e, kind in valid if n in flagged and e != "A03" and kind != "11"}
        alerted = {n for n, e, _ in valid if n in flagged and e != "A03"}
        la = MeshSettings(
            endpoint=sandbox.base_url,
            mailbox=sandbox.la_mailbox,
            password=Secret("bench", sandbox.la_password),
            shared_key=Secret("bench", sandbox.shared_key),
        )
        with MeshTransport(la) as inbox:
            told = [
                read_access_notification(inbox.download(i).data).nhs_number
                for i in inbox.inbox(workflow)
            ]
        with FhirClient(la_fhir) as client:
            notes = list(client.search("Communication", {"_count": "1000"}))
        with FhirClient(trust_fhir) as client:
            flags = list(client.search("Flag", {"_count": "1000"}))
        assert sorted(told) == sorted(accessed), "MESH: a notification lost or doubled"
        assert len(notes) == len(accessed), "FHIR: a notification lost or doubled"
        assert len(flags) == len(alerted), "trust alerts: one lost or doubled"
    flagged_messages = sum(1 for n, _, _ in valid if n in flagged)
    print(
        f"messages: {count:,} over {connections} connections (window {window}), "
        f"{count - len(valid):,} malformed, {flagged_messages:,} of flagged children"
    )
    print(f"all acknowledged in {acked:.1f} s = {count / acked:,.0f} msg/s; codes as expected")
    if latencies:
        ordered = sorted(latencies)
        print(
            f"ACK latency: median {statistics.median(ordered) * 1000:.1f} ms, "
            f"p99 {ordered[int(len(ordered) * 0.99)] * 1000:.1f} ms, "
            f"max {ordered[-1] * 1000:.1f} ms"
        )
    print(
        f"every notification delivered {sent:.1f} s after the first message: "
        f"{len(told)} MESH + {len(notes)} FHIR access notifications, {len(flags)} trust Flags, "
        "each exactly once"
    )


if __name__ == "__main__":
    main()
