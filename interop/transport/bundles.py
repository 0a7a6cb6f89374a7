"""Bundles on the wire: an artefact's Bundle as a transaction, and resources back into Bundles.

Pure functions on FHIR JSON: no I/O, no domain mapping.

``to_transaction`` turns the toolkit's document, message or collection Bundle into a
transaction of ``PUT Type/id`` entries. The toolkit's resource ids are deterministic (a hash of
the artefact's business identity and the resource's role), so the same artefact always writes
the same resources: a repeated push updates in place and never duplicates. References between
the Bundle's resources (``urn:uuid:<id>``) are rewritten to ``Type/id`` so the server stores
plain relative references whatever its transaction processing does.

Every resource but the Patient also carries the toolkit's own identifier of it
(``RESOURCE_KEY_SYSTEM`` and the deterministic id): a server that assigns ids of its own (the
``conditional`` and ``create`` write modes) finds the resource again by it. The child's Patient
is found by NHS number instead: one Patient per child on the server, shared by all the child's
artefacts (``fhir_records.push_bundle``).

``assemble`` does the reverse for resources read back from a server: it groups them by the
references that join them, except references to a Patient (the child's one Patient is shared
by all their artefacts; each artefact's other resources are its own, so each artefact is one
connected group), adds to each group a copy of the Patients it refers to, leaves out the
toolkit's resource identifiers, and gives each group as a Bundle that the toolkit's mappings
read: a ``document`` when it holds a Composition, a ``message`` when it holds a MessageHeader,
else a ``collection``.
"""

from __future__ import annotations

import copy
import re
import uuid
from collections.abc import Callable, Iterable, Iterator
from typing import Any

from interop.identifiers import NHS_NUMBER_SYSTEM

__all__ = [
    "ARTEFACT_TAG_SYSTEM",
    "PATIENT_LINKED_TYPES",
    "RESOURCE_KEY_SYSTEM",
    "BundleError",
    "assemble",
    "dependency_order",
    "is_idempotent_transaction",
    "patient_references",
    "patients_in",
    "references",
    "relative_reference",
    "resource_key",
    "retarget",
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

#: the system of the identifier the toolkit gives each resource it writes (the Patient aside):
#: the value is the resource's deterministic id (a hash of the artefact's business identity and
#: the resource's role, never of personal data), so the resource is found again on a server
#: that chose its id
RESOURCE_KEY_SYSTEM = "https://fhir.safeguarding-interop.org/Id/resource"
_KEY = RESOURCE_KEY_SYSTEM
#: the tag each resource of an artefact carries (the child's shared Patient aside): its code is
#: the same for all of them (derived from the artefact's first resource's deterministic id), so
#: an artefact read back is one group even when only its Patient joins its resources
ARTEFACT_TAG_SYSTEM = "https://fhir.safeguarding-interop.org/CodeSystem/artefact"
#: R4 resource types without an ``identifier`` element: only ever written at their ids
_WITHOUT_IDENTIFIER = frozenset(
    {
        "AuditEvent",
        "Binary",
        "CapabilityStatement",
        "CompartmentDefinition",
        "GraphDefinition",
        "ImplementationGuide",
        "Linkage",
        "MedicationKnowledge",
        "MessageHeader",
        "NamingSystem",
        "OperationDefinition",
        "OperationOutcome",
        "Parameters",
        "Provenance",
        "SearchParameter",
        "Subscription",
        "TerminologyCapabilities",
        "VerificationResult",
    }
)
#: R4 resource types whose ``identifier`` is one Identifier, not a list: the one they carry is
#: what they are found by (the toolkit's resource identifier when they carry none)
_ONE_IDENTIFIER = frozenset(
    {
        "AdverseEvent",
        "Bundle",
        "Composition",
        "ConceptMap",
        "QuestionnaireResponse",
        "SpecimenDefinition",
        "TestReport",
        "TestScript",
    }
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
    """The artefact ``bundle`` as a transaction Bundle of ``PUT Type/id`` entries, each
    resource with the toolkit's identifier of it (``identity_token``) and, the child's Patient
    aside, the artefact's tag (``ARTEFACT_TAG_SYSTEM``).

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
    # the artefact's resources are joined on the server by references to its Patient, which
    # the child's other artefacts share: the tag keeps them one artefact
    artefact = str(uuid.uuid5(uuid.NAMESPACE_URL, resource_key(entries[0]["resource"])))
    out: list[JSON] = []
    for entry in entries:
        resource = copy.deepcopy(entry["resource"])
        _rewrite(resource, targets)
        _add_key_identifier(resource)
        if not _is_childs_patient(resource):
            meta = resource.setdefault("meta", {})
            meta["tag"] = [*meta.get("tag", []), {"system": ARTEFACT_TAG_SYSTEM, "code": artefact}]
        key = resource_key(resource)
        item: JSON = {"resource": resource, "request": {"method": "PUT", "url": key}}
        if isinstance(entry.get("fullUrl"), str):
            item["fullUrl"] = entry["fullUrl"]
        out.append(item)
    return {"resourceType": "Bundle", "type": "transaction", "entry": out}


def _is_childs_patient(resource: JSON) -> bool:
    """Whether the resource is a Patient with an NHS number: the child's one Patient on the
    server, shared by all their artefacts."""
    return resource.get("resourceType") == "Patient" and any(
        isinstance(i, dict) and i.get("system") == NHS_NUMBER_SYSTEM
        for i in resource.get("identifier") or []
    )


def _artefact_of(resource: JSON) -> str | None:
    """The code of the resource's ``ARTEFACT_TAG_SYSTEM`` tag, which is removed (in place)."""
    meta = resource.get("meta")
    tags = meta.get("tag") if isinstance(meta, dict) else None
    if not isinstance(tags, list) or not isinstance(meta, dict):
        return None
    found = [t for t in tags if isinstance(t, dict) and t.get("system") == ARTEFACT_TAG_SYSTEM]
    kept = [t for t in tags if t not in found]
    if kept:
        meta["tag"] = kept
    else:
        del meta["tag"]
        if not meta:
            del resource["meta"]
    return str(found[0].get("code")) if found else None


def identity_token(resource: JSON) -> str | None:
    """``system|value`` of the identifier a server finds the resource by when it chose the
    resource's id: the NHS number of a Patient that has one, the one identifier of a type that
    has a single one, else the toolkit's ``RESOURCE_KEY_SYSTEM`` identifier (None when it has
    none of these: a type without identifiers, as a MessageHeader)."""
    kind, identifiers = resource.get("resourceType"), resource.get("identifier")
    listed = identifiers if isinstance(identifiers, list) else [identifiers]
    found = [i for i in listed if isinstance(i, dict) and i.get("system") and i.get("value")]
    if kind in _ONE_IDENTIFIER and found:
        return f"{_escape(found[0]['system'])}|{_escape(found[0]['value'])}"
    for system in (NHS_NUMBER_SYSTEM, _KEY) if kind == "Patient" else (_KEY,):
        for identifier in found:
            if identifier["system"] == system:
                return f"{_escape(system)}|{_escape(identifier['value'])}"
    return None


def _escape(value: object) -> str:
    """A token part with FHIR search's separators escaped (http.html#escaping)."""
    return str(value).replace("\\", "\\\\").replace(",", "\\,").replace("|", "\\|")


def _add_key_identifier(resource: JSON) -> None:
    """Give the resource the toolkit's identifier of it, unless it is found by another (an
    NHS number, its one identifier) or can carry none."""
    kind, identifiers = resource.get("resourceType"), resource.get("identifier")
    key = {"system": _KEY, "value": resource["id"]}
    if kind in _WITHOUT_IDENTIFIER or kind == "Bundle" or identity_token(resource) is not None:
        return
    if kind in _ONE_IDENTIFIER:
        resource["identifier"] = key
    else:
        resource["identifier"] = [*(identifiers if isinstance(identifiers, list) else []), key]


def _drop_key_identifier(resource: JSON) -> None:
    identifiers = resource.get("identifier")
    if isinstance(identifiers, dict) and identifiers.get("system") == _KEY:
        del resource["identifier"]
    if not isinstance(identifiers, list):
        return
    kept = [i for i in identifiers if not (isinstance(i, dict) and i.get("system") == _KEY)]
    if kept:
        resource["identifier"] = kept
    else:
        del resource["identifier"]


def retarget(transaction: JSON, renames: dict[str, str]) -> None:
    """Point every reference of the transaction's resources found in ``renames`` (a
    ``Type/id`` or ``urn:uuid:``) at its new target, in place."""
    for entry in transaction.get("entry") or []:
        _rewrite(entry.get("resource"), renames)


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
    gives back the artefact's own order. A Patient joins no group: each group that refers to it
    gets a copy (one referred to by nothing comes out alone).
    """
    by_key: dict[str, JSON] = {}
    for resource in resources:
        if isinstance(resource, dict) and resource.get("resourceType") and resource.get("id"):
            by_key.setdefault(resource_key(resource), copy.deepcopy(resource))
    root, patients_of = _join(by_key)
    referred = {target for targets in patients_of.values() for target in targets}
    groups: dict[str, list[JSON]] = {}
    for key, resource in by_key.items():
        if key not in referred:
            groups.setdefault(root(key), []).append(resource)
    wanted: dict[str, dict[str, None]] = {}
    for key, targets in patients_of.items():
        wanted.setdefault(root(key), {}).update(dict.fromkeys(targets))
    for group_root, patients in wanted.items():
        groups[group_root].extend(copy.deepcopy(by_key[t]) for t in patients)
    return [_bundle(group) for group in groups.values()]


def _join(by_key: dict[str, JSON]) -> tuple[Callable[[str], str], dict[str, list[str]]]:
    """Union the resources by their references (rewritten to ``Type/id`` in place) and by
    their artefact tag (the tag and the toolkit's resource identifiers dropped), Patients
    aside: the root of each resource's group, and the Patients each resource refers to."""
    parent = {key: key for key in by_key}

    def root(key: str) -> str:
        while parent[key] != key:
            parent[key] = parent[parent[key]]
            key = parent[key]
        return key

    def union(a: str, b: str) -> None:
        a, b = root(a), root(b)
        if a != b:
            parent[b] = a

    patients_of: dict[str, list[str]] = {}
    artefacts: dict[str, str] = {}
    for key, resource in by_key.items():
        artefact = _artefact_of(resource)
        if artefact is not None and not key.startswith("Patient/"):
            union(artefacts.setdefault(artefact, key), key)
        for target in _targets(resource, by_key):
            if key.startswith("Patient/"):
                continue  # the child's Patient is shared by all their artefacts: it joins none
            if target.startswith("Patient/"):
                patients_of.setdefault(key, []).append(target)
            else:
                union(key, target)
        _drop_key_identifier(resource)
    return root, patients_of


def _targets(resource: JSON, by_key: dict[str, JSON]) -> list[str]:
    """The ``Type/id`` of each resource of ``by_key`` that ``resource`` refers to; its
    references to them rewritten to that form (in place)."""
    found: list[str] = []
    renames: dict[str, str] = {}
    for reference in references(resource):
        target = relative_reference(reference)
        if target is None or target not in by_key:
            continue
        if target != reference:
            renames[reference] = target
        found.append(target)
    if renames:
        _rewrite(resource, renames)
    return found


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
