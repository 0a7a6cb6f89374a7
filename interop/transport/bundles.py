"""Bundles on the wire: an artefact's Bundle as a transaction, and resources back into Bundles.

Pure functions on FHIR JSON: no I/O, no domain mapping.

``to_transaction`` turns the toolkit's document, message or collection Bundle into a
transaction of ``PUT Type/id`` entries. The toolkit's resource ids are deterministic (a hash of
the artefact's business identity and the resource's role), so the same artefact always writes
the same resources: a repeated push updates in place and never duplicates. References between
the Bundle's resources (``urn:uuid:<id>``) are rewritten to ``Type/id`` so the server stores
plain relative references whatever its transaction processing does.

``assemble`` does the reverse for resources read back from a server: it groups them by the
references that join them (each artefact's resources, its Patient included, have ids of their
own, so each artefact is one connected group) and gives each group as a Bundle that the
toolkit's mappings read: a ``document`` when it holds a Composition, a ``message`` when it holds
a MessageHeader, else a ``collection``.
"""

from __future__ import annotations

import copy
import re
from collections.abc import Iterable, Iterator
from typing import Any

__all__ = [
    "PATIENT_LINKED_TYPES",
    "BundleError",
    "assemble",
    "dependency_order",
    "is_idempotent_transaction",
    "patient_references",
    "patients_in",
    "references",
    "relative_reference",
    "resource_key",
    "to_transaction",
]

JSON = dict[str, Any]

#: resource types the toolkit writes that point at the child (subject, patient or for): a
#: patient's record is found by searching each of them by NHS number
PATIENT_LINKED_TYPES: tuple[str, ...] = (
    "Flag",
    "CareTeam",
    "CarePlan",
    "Composition",
    "Communication",
    "Condition",
    "Encounter",
    "MedicationStatement",
    "Observation",
    "QuestionnaireResponse",
    "RiskAssessment",
    "Task",
)

_PATIENT_FIELDS = ("subject", "patient", "for", "beneficiary")
_RELATIVE = re.compile(r"(?:^|/)([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})(?:/_history/[^/]+)?$")
_UUID = re.compile(r"[0-9a-f]{8}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{4}-[0-9a-f]{12}")
_IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE"})


class BundleError(ValueError):
    """A Bundle that cannot be pushed as it is (an entry without a resource, type or id)."""


def resource_key(resource: JSON) -> str:
    """``Type/id`` of a resource."""
    return f"{resource.get('resourceType')}/{resource.get('id')}"


def references(value: Any) -> Iterator[str]:
    """Every ``reference`` string anywhere inside a resource (contained resources included)."""
    if isinstance(value, dict):
        for key, item in value.items():
            if key == "reference" and isinstance(item, str):
                yield item
            else:
                yield from references(item)
    elif isinstance(value, list):
        for item in value:
            yield from references(item)


def relative_reference(reference: str) -> str | None:
    """``Type/id`` of a relative, absolute or versioned reference; None for others
    (``urn:uuid:``, ``#contained``, logical references)."""
    if reference.startswith(("urn:", "#")):
        return None
    match = _RELATIVE.search(reference)
    return f"{match.group(1)}/{match.group(2)}" if match else None


def patient_references(resource: JSON) -> list[str]:
    """``Patient/id`` of the patient a resource is about (its subject, patient or for)."""
    found: list[str] = []
    for name in _PATIENT_FIELDS:
        target = resource.get(name)
        if isinstance(target, dict) and isinstance(target.get("reference"), str):
            relative = relative_reference(target["reference"])
            if relative is not None and relative.startswith("Patient/"):
                found.append(relative)
    return found


def _entries(bundle: JSON) -> list[JSON]:
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise BundleError("expected a FHIR Bundle")
    entries = bundle.get("entry")
    if not isinstance(entries, list) or not entries:
        raise BundleError("the Bundle has no entries")
    resources: list[JSON] = []
    for i, entry in enumerate(entries):
        resource = entry.get("resource") if isinstance(entry, dict) else None
        if not isinstance(resource, dict):
            raise BundleError(f"Bundle.entry[{i}] has no resource")
        kind, rid = resource.get("resourceType"), resource.get("id")
        if not isinstance(kind, str) or not isinstance(rid, str) or not rid:
            raise BundleError(f"Bundle.entry[{i}].resource has no resourceType or id")
        resources.append(entry)
    return resources


def _rewrite(value: Any, targets: dict[str, str]) -> None:
    """Replace in place every reference found in ``targets`` by its target."""
    if isinstance(value, dict):
        reference = value.get("reference")
        if isinstance(reference, str) and reference in targets:
            value["reference"] = targets[reference]
        for item in value.values():
            if isinstance(item, dict | list):
                _rewrite(item, targets)
    elif isinstance(value, list):
        for item in value:
            _rewrite(item, targets)


def to_transaction(bundle: JSON) -> JSON:
    """The artefact ``bundle`` as a transaction Bundle of ``PUT Type/id`` entries.

    The input is not changed. ``BundleError`` when an entry has no resource, type or id.
    """
    entries = _entries(bundle)
    targets: dict[str, str] = {}
    for entry in entries:
        key = resource_key(entry["resource"])
        targets[key] = key
        full_url = entry.get("fullUrl")
        if isinstance(full_url, str):
            targets[full_url] = key
    out: list[JSON] = []
    for entry in entries:
        resource = copy.deepcopy(entry["resource"])
        _rewrite(resource, targets)
        key = resource_key(resource)
        item: JSON = {"resource": resource, "request": {"method": "PUT", "url": key}}
        if isinstance(entry.get("fullUrl"), str):
            item["fullUrl"] = entry["fullUrl"]
        out.append(item)
    return {"resourceType": "Bundle", "type": "transaction", "entry": out}


def is_idempotent_transaction(bundle: JSON) -> bool:
    """Whether sending ``bundle`` (a transaction or batch) twice has the effect of sending it
    once: every entry a GET, HEAD, PUT or DELETE, or a POST with ``ifNoneExist``."""
    entries = bundle.get("entry")
    if not isinstance(entries, list):
        return False
    for entry in entries:
        request = entry.get("request") if isinstance(entry, dict) else None
        if not isinstance(request, dict):
            return False
        method = str(request.get("method", "")).upper()
        if method in _IDEMPOTENT_METHODS:
            continue
        if method == "POST" and request.get("ifNoneExist"):
            continue
        return False
    return True


def dependency_order(bundle: JSON) -> list[JSON]:
    """The transaction's entries with every referenced resource before those pointing at it
    (for servers that check references on each write); cycles keep their Bundle order."""
    entries = bundle.get("entry") or []
    by_key = {resource_key(e["resource"]): e for e in entries}
    done: dict[str, JSON] = {}
    visiting: set[str] = set()

    def visit(key: str) -> None:
        if key in done or key in visiting:
            return
        visiting.add(key)
        for reference in references(by_key[key]["resource"]):
            target = relative_reference(reference)
            if target in by_key and target != key:
                visit(target)
        visiting.discard(key)
        done[key] = by_key[key]

    for key in by_key:
        visit(key)
    return list(done.values())


def patients_in(bundle: JSON) -> int:
    """How many Patient resources a Bundle holds: an artefact's Bundle has exactly one, so an
    assembled group with more is several artefacts joined by a resource they share."""
    return sum(
        1
        for entry in bundle.get("entry") or []
        if isinstance(entry, dict)
        and (entry.get("resource") or {}).get("resourceType") == "Patient"
    )


def assemble(resources: Iterable[JSON]) -> list[JSON]:
    """Group resources read from a server into one Bundle per connected group (see module).

    References are normalised to relative ``Type/id`` (absolute and versioned ones included),
    which the toolkit's mappings resolve. Groups come out in the order their first resource
    came in, and resources keep their order within a group (a Composition or MessageHeader
    first). Several resources of one type (an artefact's medications, say) keep the order the
    server returned them in: a server that returns them in creation order, as the sandbox does,
    gives back the artefact's own order.
    """
    by_key: dict[str, JSON] = {}
    for resource in resources:
        if isinstance(resource, dict) and resource.get("resourceType") and resource.get("id"):
            by_key.setdefault(resource_key(resource), copy.deepcopy(resource))
    parent = {key: key for key in by_key}

    def root(key: str) -> str:
        while parent[key] != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    for key, resource in by_key.items():
        renames: dict[str, str] = {}
        for reference in references(resource):
            target = relative_reference(reference)
            if target is None or target not in by_key:
                continue
            if target != reference:
                renames[reference] = target
            a, b = root(key), root(target)
            if a != b:
                parent[b] = a
        if renames:
            _rewrite(resource, renames)
    groups: dict[str, list[JSON]] = {}
    for key, resource in by_key.items():
        groups.setdefault(root(key), []).append(resource)
    return [_bundle(group) for group in groups.values()]


def _entry(resource: JSON) -> JSON:
    # the toolkit's ids are UUIDs, and its Bundles name entries urn:uuid:<id>; a server's own
    # ids are not, and BundleIndex resolves Type/id references without a fullUrl
    if _UUID.fullmatch(str(resource["id"])):
        return {"fullUrl": f"urn:uuid:{resource['id']}", "resource": resource}
    return {"resource": resource}


def _bundle(group: list[JSON]) -> JSON:
    types = {r["resourceType"] for r in group}
    first = "Composition" if "Composition" in types else "MessageHeader"
    kind = {"Composition": "document", "MessageHeader": "message"}.get(first, "collection")
    if first not in types:
        kind = "collection"
    ordered = sorted(group, key=lambda r: r["resourceType"] != first)
    bundle: JSON = {"resourceType": "Bundle", "type": kind, "entry": [_entry(r) for r in ordered]}
    head = ordered[0]
    when = head.get("date") if kind == "document" else head.get("meta", {}).get("lastUpdated")
    if kind != "collection" and isinstance(when, str):
        bundle["timestamp"] = when if "T" in when else f"{when}T00:00:00Z"
    return bundle
