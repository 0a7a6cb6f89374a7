"""Artefacts over FHIR REST: push an artefact's Bundle, read a patient's record, find what changed.

These are the toolkit's own uses of a FHIR server, built on the generic ``FhirClient`` (which
offers each as a method: ``client.push``, ``client.patient_record``, ``client.changed_since``):

- ``push_bundle`` writes an artefact's Bundle as one transaction of ``PUT Type/id`` entries, or
  resource by resource in dependency order (``push_mode = "resources"``); the ids are
  deterministic, so a repeated push updates in place and duplicates nothing;
- ``patient_record``: every resource of a patient's artefacts, found by NHS number, with
  everything they refer to;
- ``changed_since``: the artefacts with a resource changed after a watermark.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

import httpx

from interop.identifiers import NHS_NUMBER_SYSTEM, check_nhs_number
from interop.transport.bundles import (
    PATIENT_LINKED_TYPES,
    dependency_order,
    patient_references,
    references,
    relative_reference,
    resource_key,
    to_transaction,
)

if TYPE_CHECKING:
    from interop.transport.fhir_client import FhirClient

__all__ = [
    "ChangedResources",
    "PushMode",
    "PushOutcome",
    "PushResult",
    "changed_since",
    "etag_version",
    "nhs_number_token",
    "patient_record",
    "push_bundle",
]

JSON = dict[str, Any]
PushMode = Literal["transaction", "resources"]


@dataclass(frozen=True)
class PushOutcome:
    """What the server did with one resource: ``Flag/<id>``, ``201 Created``, version ``1``."""

    resource: str
    status: str
    version: str | None = None


@dataclass(frozen=True)
class PushResult:
    """The outcome of pushing one artefact's Bundle."""

    outcomes: tuple[PushOutcome, ...]
    request_ids: tuple[str, ...] = ()

    @property
    def created(self) -> int:
        """How many resources the server created."""
        return sum(o.status.startswith("201") for o in self.outcomes)


@dataclass
class ChangedResources:
    """The resources of every artefact with a resource changed after a watermark.

    ``changed`` holds the ``Type/id`` keys of the resources that changed; ``watermark`` is the
    latest ``meta.lastUpdated`` seen (the next pull's starting point), or None if none changed.
    """

    resources: list[JSON] = field(default_factory=list)
    changed: set[str] = field(default_factory=set)
    watermark: str | None = None


# --- push ------------------------------------------------------------------------------------


def push_bundle(client: FhirClient, bundle: JSON, *, mode: PushMode = "transaction") -> PushResult:
    """Write an artefact's Bundle (document, message or collection) to the server.

    ``transaction``: one atomic transaction of ``PUT Type/id`` entries. ``resources``: one
    ``PUT Type/id`` per resource, referenced resources first (not atomic: an interrupted
    push is completed by pushing again). Both are idempotent, so both are retried.
    """
    transaction = to_transaction(bundle)
    if mode == "transaction":
        answer = client.request("POST", "", body=transaction, idempotent=True)
        response = client.expect_resource(answer, "Bundle")
        outcomes = []
        sent = transaction["entry"]
        got = response.get("entry") or []
        for request_entry, response_entry in zip(sent, got, strict=False):
            result = response_entry.get("response") if isinstance(response_entry, dict) else {}
            outcomes.append(_outcome(request_entry["request"]["url"], result or {}))
        return PushResult(tuple(outcomes), (answer.request_id,))
    outcomes, ids = [], []
    for entry in dependency_order(transaction):
        resource = entry["resource"]
        answer = client.request(
            "PUT", resource_key(resource), body=resource, headers={"Prefer": "return=minimal"}
        )
        ids.append(answer.request_id)
        version = etag_version(answer.headers.get("ETag"))
        status = f"{answer.status} {httpx.codes.get_reason_phrase(answer.status)}"
        outcomes.append(PushOutcome(resource_key(resource), status, version))
    return PushResult(tuple(outcomes), tuple(ids))


# --- pull ------------------------------------------------------------------------------------


def patient_record(
    client: FhirClient, nhs_number: str, *, types: tuple[str, ...] = PATIENT_LINKED_TYPES
) -> list[JSON]:
    """Every resource of the patient's artefacts: those of ``types`` that point at the
    patient (by NHS number), then everything they refer to (Patient, Organization,
    Practitioner...), read by id."""
    token = nhs_number_token(nhs_number)
    found: dict[str, JSON] = {}
    for resource_type in types:
        for resource in client.search(resource_type, {"patient:identifier": token}):
            found.setdefault(resource_key(resource), resource)
    _add_referenced(client, found)
    return list(found.values())


def changed_since(
    client: FhirClient,
    since: str,
    *,
    types: tuple[str, ...] = (*PATIENT_LINKED_TYPES, "Patient"),
) -> ChangedResources:
    """The resources of every artefact with a resource of ``types`` changed after
    ``since`` (an ISO date or instant): the changed ones, then their patients' records.

    A change to a resource no patient-linked resource changed with (an Organization's
    phone number alone) is not seen: ``types`` lists what is searched.
    """
    result = ChangedResources()
    latest: tuple[datetime, str] | None = None
    patients: set[str] = set()
    for resource_type in types:
        for resource in client.search_since(resource_type, since):
            result.changed.add(resource_key(resource))
            stamp = (resource.get("meta") or {}).get("lastUpdated")
            when = _instant(stamp)
            if when is not None and (latest is None or when > latest[0]):
                latest = (when, str(stamp))
            if resource.get("resourceType") == "Patient":
                patients.add(resource_key(resource))
            patients.update(patient_references(resource))
    numbers: set[str] = set()
    for patient in client.read_many(sorted(patients)).values():
        numbers.update(_nhs_numbers(patient))
    records: dict[str, JSON] = {}
    for number in sorted(numbers):
        for resource in patient_record(client, number):
            records.setdefault(resource_key(resource), resource)
    result.resources = list(records.values())
    result.watermark = latest[1] if latest else None
    return result


def _add_referenced(client: FhirClient, found: dict[str, JSON]) -> None:
    """Read every resource referred to and not yet in ``found``, and what those refer to
    (a missing one is left out: the mapping then reports the reference it cannot resolve)."""
    missing: set[str] = set()
    frontier = list(found.values())
    while frontier:
        wanted = {
            target
            for resource in frontier
            for reference in references(resource)
            if (target := relative_reference(reference)) is not None
            and target not in found
            and target not in missing
        }
        if not wanted:
            return
        read = client.read_many(sorted(wanted))
        missing.update(wanted - set(read))
        found.update(read)
        frontier = list(read.values())


# --- helpers ---------------------------------------------------------------------------------


def nhs_number_token(nhs_number: str) -> str:
    """``<NHS number system>|<NHS number>``: the token of a search by the patient's identifier
    (``ValueError`` for a number that is not one)."""
    return f"{NHS_NUMBER_SYSTEM}|{check_nhs_number(nhs_number)}"


def etag_version(etag: object) -> str | None:
    """``W/"3"`` → ``3``."""
    if not isinstance(etag, str) or not etag:
        return None
    return etag.removeprefix("W/").strip('"') or None


def _nhs_numbers(patient: JSON) -> set[str]:
    found = set()
    for identifier in patient.get("identifier") or []:
        if isinstance(identifier, dict) and identifier.get("system") == NHS_NUMBER_SYSTEM:
            try:
                found.add(check_nhs_number(identifier.get("value")))
            except ValueError:
                continue
    return found


def _outcome(url: str, response: JSON) -> PushOutcome:
    return PushOutcome(url, str(response.get("status", "")), etag_version(response.get("etag")))


def _instant(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)
