"""What the store indexes of a resource when it is written, so that search is an SQL lookup.

Rows are ``(param, system, value)``:

- ``identifier``: each top-level identifier (system | value);
- ``status``: the top-level status code (no system);
- ``code`` / ``category``: each coding of the top-level element (a CodeableConcept, a list of
  them, a Coding or a bare code);
- ``patient``: the ``Reference.identifier`` of each reference to the patient the resource is
  about (its ``subject``, ``patient`` or ``for``; an AuditEvent's ``entity.what``): what FHIR's
  ``:identifier`` modifier matches, and nothing else;
- ``patient-chain``: each identifier of the stored Patient a literal ``Patient/{id}``
  reference points to (the chain ``patient.identifier``);
- ``patient-ref``: ``Patient/{id}`` for each literal patient reference, so a Patient written
  later (or changed) re-indexes the resources that point at it.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

JSON = dict[str, Any]
#: a Patient id → its identifiers as (system, value), empty when no such Patient is stored
PatientLookup = Callable[[str], list[tuple[str, str]]]
IndexRow = tuple[str, str, str]

PATIENT_ELEMENTS = ("subject", "patient", "for")
_PATIENT_REFERENCE = re.compile(r"(?:^|/)Patient/([A-Za-z0-9\-.]{1,64})(?:/_history/[^/]+)?$")


def _items(value: Any) -> list[Any]:
    return value if isinstance(value, list) else [value] if value is not None else []


def _codings(value: Any) -> Iterator[tuple[str, str]]:
    for item in _items(value):
        if isinstance(item, str):
            yield "", item
        elif isinstance(item, dict):
            codings = item.get("coding") if "coding" in item else [item]
            for coding in _items(codings):
                if isinstance(coding, dict) and isinstance(coding.get("code"), str):
                    system = coding.get("system")
                    yield (system if isinstance(system, str) else ""), coding["code"]


def patient_id(reference: Any) -> str | None:
    """The Patient id a literal reference string points to (relative or absolute), or None."""
    if not isinstance(reference, str):
        return None
    match = _PATIENT_REFERENCE.search(reference)
    return match[1] if match else None


def _patient_references(resource: JSON) -> list[JSON]:
    refs = [
        r for name in PATIENT_ELEMENTS for r in _items(resource.get(name)) if isinstance(r, dict)
    ]
    if resource.get("resourceType") == "AuditEvent":
        for entity in _items(resource.get("entity")):
            what = entity.get("what") if isinstance(entity, dict) else None
            if isinstance(what, dict):
                refs.append(what)
    return refs


def _patient_rows(reference: JSON, lookup: PatientLookup) -> Iterator[IndexRow]:
    target = patient_id(reference.get("reference"))
    if target is not None:
        yield "patient-ref", "", f"Patient/{target}"
        for system, value in lookup(target):
            yield "patient-chain", system, value
    identifier = reference.get("identifier")
    kind = reference.get("type")
    if isinstance(identifier, dict) and kind in (
        None,
        "Patient",
        "http://hl7.org/fhir/StructureDefinition/Patient",
    ):
        found_value = identifier.get("value")
        found_system = identifier.get("system")
        if isinstance(found_value, str):
            yield "patient", (found_system if isinstance(found_system, str) else ""), found_value


def identifiers_of(resource: JSON) -> list[tuple[str, str]]:
    """A resource's top-level identifiers as (system, value)."""
    found = []
    for ident in _items(resource.get("identifier")):
        if isinstance(ident, dict) and isinstance(ident.get("value"), str):
            system = ident.get("system")
            found.append((system if isinstance(system, str) else "", ident["value"]))
    return found


def index_rows(resource: JSON, lookup: PatientLookup) -> list[IndexRow]:
    """Every search index row of a resource (without duplicates, in a stable order)."""
    rows: list[IndexRow] = [("identifier", s, v) for s, v in identifiers_of(resource)]
    status = resource.get("status")
    if isinstance(status, str):
        rows.append(("status", "", status))
    for param in ("code", "category"):
        rows.extend((param, s, c) for s, c in _codings(resource.get(param)))
    if resource.get("resourceType") != "Patient":
        for reference in _patient_references(resource):
            rows.extend(_patient_rows(reference, lookup))
    return list(dict.fromkeys(rows))
