"""Racing pushes: two artefacts of one new child pushed at the same moment by two clients."""

from __future__ import annotations

import threading
from pathlib import Path
from typing import Any

import httpx

from interop.domain import ArtefactBase
from interop.transport.fhir_client import FhirClient
from interop.transport.fhir_records import PushOutcome

__all__ = ["RACING", "Gate", "for_child", "nhs_number", "push_at_once"]

JSON = dict[str, Any]
_VALID = Path(__file__).resolve().parents[1] / "fixtures" / "artefacts" / "valid"
#: two artefacts of one child, of two kinds (their own Patients have different ids)
RACING = (
    _VALID / "child-protection-flag" / "cpp-active.json",
    _VALID / "referral" / "s47-diabetes-neglect.json",
)


def nhs_number(serial: int) -> str:
    """A synthetic NHS number (9xx range) with a valid modulus 11 check digit."""
    for n in range(serial, serial + 100):
        stem = f"{970000000 + n:09d}"
        check = 11 - sum(int(d) * (10 - i) for i, d in enumerate(stem)) % 11
        if check != 10:
            return stem + str(check % 11)
    raise AssertionError("no NHS number")  # pragma: no cover - one in eleven stems fails


def for_child(artefact: ArtefactBase, nhs: str) -> ArtefactBase:
    """The artefact about another child, with local ids of its own."""
    field = "child" if getattr(artefact, "child", None) is not None else "subject"
    person = getattr(artefact, field).model_copy(update={"nhs_number": nhs})
    return artefact.model_copy(update={field: person, "local_id": f"{artefact.local_id}-{nhs}"})


class Gate(httpx.HTTPTransport):
    """The real network, holding each transaction (a push's write, after its reads) at a
    barrier shared by the racing pushes: every push has searched for the child's Patient, and
    found none, before any of them writes."""

    def __init__(self, barrier: threading.Barrier) -> None:
        super().__init__()
        self.barrier = barrier

    def handle_request(self, request: httpx.Request) -> httpx.Response:
        if request.method == "POST" and b'"transaction"' in request.content:
            self.barrier.wait(timeout=30)
        return super().handle_request(request)


def push_at_once(base: str, bundles: list[JSON], write: str) -> list[PushOutcome]:
    """Push each bundle from a thread of its own with a client of its own, their writes
    released together (``Gate``); each push's outcome for the child's Patient."""
    barrier = threading.Barrier(len(bundles))
    statuses: list[PushOutcome] = []
    errors: list[BaseException] = []

    def work(n: int) -> None:
        try:
            with FhirClient(base, write=write, transport=Gate(barrier)) as client:  # type: ignore[arg-type]
                result = client.push(bundles[n])
            (patient,) = [o for o in result.outcomes if o.resource.startswith("Patient/")]
            statuses.append(patient)
        except BaseException as exc:  # pragma: no cover - reported below
            barrier.abort()
            errors.append(exc)

    threads = [threading.Thread(target=work, args=(n,)) for n in range(len(bundles))]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(60)
    assert errors == []
    return statuses
