"""HL7 v2 ADT throughput: parse + rule + ACK, the fast path against hl7apy, and an MLLP flood.

Run: ``.venv/bin/python benchmarks/hl7v2_throughput.py`` (about 30 seconds). Prints one line per
measurement; copy changed figures into benchmarks/README.md with the date and machine.

1. In one process, the same message mix through three pipelines, each ending in the ACK's bytes:
   - hl7apy's plain full parse (``parse_message``, QUIET, groups found) and nothing else;
   - hl7apy's full parse, the NHS number taken from its tree, the rule, an ACK built with
     hl7apy (``Message("ACK")``): what a receiver built on hl7apy alone does;
   - the fast path: ``read_adt`` (MSH, EVN, PID, PV1 only, with its checks), the rule,
     ``build_ack`` + ``encode_ack``.
   The rule is a stub: the NHS number looked up in a dict of flagged children (the real rules
   come later). Figures are medians of 3 runs.
2. An MLLP flood: 10,000 messages, 5% malformed (the invalid fixtures), over 4 connections to a
   real listener on 127.0.0.1 with the stub rule as its handler; once with each sender
   waiting for every ACK (original mode, as hospital interface engines send) and once with 25
   messages in flight per connection. Every message must be acknowledged with the code its
   fixture's manifest expects (AA for the generated ones).
"""

from __future__ import annotations

import argparse
import json
import logging
import random
import statistics
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

from interop.fixtures import fixtures_root
from interop.hl7v2.ack import build_ack, encode_ack, read_ack
from interop.hl7v2.adt import AttendanceEvent, HandlerOutcome, HandlerResult, read_adt
from interop.transport.mllp import MllpClient, MllpServer, ServerThread

ROOT = Path(str(fixtures_root())) / "hl7v2"
MANIFEST: list[dict[str, Any]] = json.loads((ROOT / "manifest.json").read_text("utf-8"))["fixtures"]
INVALID = [f for f in MANIFEST if f["path"].startswith("invalid/")]

#: the stub rule's "flag register": a few thousand synthetic test-block numbers
FLAGGED = {f"94347{n:05d}": "CPP" for n in range(0, 5000)} | {"9434765919": "CPP"}
NHS_NUMBERS = ["9434765919", "9434765870", "9876543210"]


def stub_rule(event: AttendanceEvent) -> HandlerResult:
    """Look the child up; what the real rules would record is left out."""
    if event.nhs_number is not None and event.nhs_number in FLAGGED:
        return HandlerResult(HandlerOutcome.RECORDED, "flagged")
    return HandlerResult(HandlerOutcome.NOTHING_TO_DO)


def adt_message(index: int, rng: random.Random) -> bytes:
    """A realistic A01/A04/A08 with the segments NHS trusts send (PD1, NK1, AL1, a Z segment)."""
    event = rng.choice(["A01", "A04", "A08", "A03"])
    version = rng.choice(["2.4", "2.5"])
    structure = "ADT_A03" if event == "A03" else "ADT_A01"
    patient_class, method = rng.choice([("E", ""), ("I", "21"), ("I", "11"), ("O", "")])
    number = rng.choice(NHS_NUMBERS)
    segments = [
        f"MSH|^~\\&|PAS|RR801|INTEROP|X26|20260301101500||ADT^{event}^{structure}|F{index}|P|"
        f"{version}|||AL|NE|GBR|UNICODE UTF-8",
        f"EVN|{event}|20260301101500|||C123^SYNTHETIC^CLERK|20260301100000|RR801",
        f"PID|1||{number}^^^NHS^NH~D{index:06d}^^^RR8^MR||SYNTHETIC^ALEX^JAMIE^^^^L||20150402|M|||"
        "1 TEST STREET^^LEEDS^^LS1 1AA^GBR^H||0113 000 0000^PRN^PH|||||||||||||||||",
        "PD1|||LEEDS TEST PRACTICE^^12345|G9999998^SYNTHETIC^GP",
        "NK1|1|SYNTHETIC^SAM|MTH^Mother^HL70063|1 TEST STREET^^LEEDS^^LS1 1AA^GBR^H|0113 000 0000",
        pv1(patient_class, method, index),
        "AL1|1|DA|PENICILLIN^Penicillin|SV",
        "ZU1|1|local|extension",
    ]
    return ("\r".join(segments) + "\r").encode()


def pv1(patient_class: str, method: str, index: int) -> str:
    """PV1 with its fields where HL7 puts them (2 class, 3 location, 4 admission type,
    7 attending doctor, 10 hospital service, 14 admit source, 19 visit number, 44 admitted)."""
    fields = [""] * 45
    fields[:5] = ["PV1", "1", patient_class, "WARD12^BAY2^BED3^RR801", method]
    fields[7] = "C1234567^SYNTHETIC^CONSULTANT"
    fields[10] = "180"
    fields[14] = "19"
    fields[19] = f"V{index:07d}"
    fields[44] = "20260301093000"
    return "|".join(fields)


def message_mix(count: int, seed: int) -> tuple[list[bytes], list[str]]:
    """``count`` messages, every 20th malformed (an invalid fixture); the ACK code each needs."""
    rng = random.Random(seed)
    messages, expected = [], []
    for index in range(count):
        if index % 20 == 7:
            fixture = rng.choice(INVALID)
            messages.append((ROOT / fixture["path"]).read_bytes())
            expected.append(fixture["ack_code"])
        else:
            messages.append(adt_message(index, rng))
            expected.append("AA")
    return messages, expected


def median_rate(runs: int, count: int, action: Callable[[], object]) -> float:
    """Messages per second, median over ``runs``."""
    rates = []
    for _ in range(runs):
        started = time.perf_counter()
        action()
        rates.append(count / (time.perf_counter() - started))
    return statistics.median(rates)


# -- in-process pipelines ---------------------------------------------------------------------


def fast_path(data: bytes) -> bytes:
    reading = read_adt(data)
    code = reading.ack_code
    if reading.event is not None and stub_rule(reading.event).outcome is HandlerOutcome.FAILED:
        code = "AE"
    return encode_ack(build_ack(reading.header, code, reading.issues), reading.header)


def hl7apy_parse_only(data: bytes) -> object:
    from hl7apy.consts import VALIDATION_LEVEL
    from hl7apy.parser import parse_message

    text = data.decode("utf-8", errors="replace").replace("\n", "\r")
    try:
        return parse_message(text, validation_level=VALIDATION_LEVEL.QUIET, find_groups=True)
    except Exception:  # a malformed message: a receiver would reject it
        return None


def hl7apy_pipeline(data: bytes) -> bytes:
    from hl7apy.core import Message

    parsed = hl7apy_parse_only(data)
    code = "AR"
    control_id, version, trigger = "", "2.4", ""
    if parsed is not None:
        try:
            control_id = parsed.msh.msh_10.to_er7()
            version = parsed.msh.msh_12.to_er7() or "2.4"
            trigger = parsed.msh.msh_9.msh_9_2.to_er7()
            number = next(
                (r.cx_1.to_er7() for r in parsed.pid.pid_3 if r.cx_5.to_er7() == "NH"), None
            )
            code = "AA"
            if number is not None:
                FLAGGED.get(number)
        except Exception:
            code = "AE"
    ack = Message("ACK", version=version if version in ("2.4", "2.5") else "2.4")
    ack.msh.msh_3 = "INTEROP"
    ack.msh.msh_9 = f"ACK^{trigger}^ACK" if trigger else "ACK^^ACK"
    ack.msh.msh_10 = "ACK1"
    ack.msa.msa_1 = code
    ack.msa.msa_2 = control_id
    return bytes(ack.to_er7().encode())


def in_process(results: dict[str, Any]) -> None:
    messages, _ = message_mix(10_000, seed=1)
    apy_messages = messages[:200]
    apy_parse = median_rate(
        3, len(apy_messages), lambda: [hl7apy_parse_only(m) for m in apy_messages]
    )
    apy_full = median_rate(3, len(apy_messages), lambda: [hl7apy_pipeline(m) for m in apy_messages])
    fast = median_rate(3, len(messages), lambda: [fast_path(m) for m in messages])
    size = sum(len(m) for m in messages) / len(messages)
    results.update(
        hl7apy_full_parse_per_s=round(apy_parse),
        hl7apy_parse_rule_ack_per_s=round(apy_full),
        fast_path_parse_rule_ack_per_s=round(fast),
        ratio_vs_hl7apy_full_parse=round(fast / apy_parse, 1),
        mean_message_bytes=round(size),
    )
    print(f"messages: {len(messages):,} ({size:,.0f} bytes on average, 5% malformed)")
    print(f"hl7apy full parse only:                    {apy_parse:10,.0f} msg/s")
    print(f"hl7apy full parse + rule + hl7apy ACK:     {apy_full:10,.0f} msg/s")
    print(
        f"fast path (read_adt) + rule + ACK:         {fast:10,.0f} msg/s "
        f"= {fast / apy_parse:,.1f}x hl7apy's full parse"
    )


# -- MLLP flood -------------------------------------------------------------------------------


def flood(results: dict[str, Any], count: int, connections: int, window: int) -> None:
    messages, expected = message_mix(count, seed=2)
    server = MllpServer(stub_rule, port=0)
    shares = [list(range(n, count, connections)) for n in range(connections)]
    acks: dict[int, list[bytes]] = {}
    failures: list[BaseException] = []
    with ServerThread(server) as (host, port):

        def send(share: int) -> None:
            try:
                with MllpClient(host, port, timeout=60) as client:
                    acks[share] = client.send_all([messages[i] for i in shares[share]], window)
            except BaseException as exc:
                failures.append(exc)

        workers = [threading.Thread(target=send, args=(n,)) for n in range(connections)]
        started = time.perf_counter()
        for worker in workers:
            worker.start()
        for worker in workers:
            worker.join()
        elapsed = time.perf_counter() - started
    if failures:
        raise SystemExit(f"flood failed: {failures[0]!r}")
    codes = {}
    for share, indexes in enumerate(shares):
        for index, data in zip(indexes, acks[share], strict=True):
            codes[index] = read_ack(data).code
    wrong = sum(1 for i in range(count) if codes.get(i) != expected[i])
    counts = {c: list(codes.values()).count(c) for c in ("AA", "AE", "AR")}
    label = "original mode" if window == 1 else f"{window} in flight per connection"
    key = f"mllp_flood_window_{window}"
    results[key] = {
        "messages": count,
        "connections": connections,
        "acknowledged": len(codes),
        "unexpected_ack_codes": wrong,
        "acks": counts,
        "seconds": round(elapsed, 2),
        "per_s": round(count / elapsed),
        "server_stopped_cleanly": True,
    }
    print(
        f"MLLP flood, {count:,} messages over {connections} connections ({label}): "
        f"{count / elapsed:,.0f} msg/s in {elapsed:.1f} s; acknowledged {len(codes):,}/{count:,} "
        f"(AA {counts['AA']:,}, AE {counts['AE']:,}, AR {counts['AR']:,}), "
        f"{wrong} unexpected, listener stopped cleanly"
    )


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--messages", type=int, default=10_000, help="messages in the flood")
    parser.add_argument("--json", type=Path, help="also write the figures to this file")
    args = parser.parse_args()
    # the listener logs every refused message; the figures are what this run prints
    logging.basicConfig(level=logging.ERROR)
    results: dict[str, Any] = {}
    in_process(results)
    flood(results, args.messages, connections=4, window=1)
    flood(results, args.messages, connections=4, window=25)
    if args.json:
        args.json.write_text(json.dumps(results, indent=2) + "\n")


if __name__ == "__main__":
    main()
