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

import hashlib
import json
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal

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
from interop.transport.fhir_errors import FhirError, OutcomeIssue, outcome_issues

if TYPE_CHECKING:
    from interop.transport.fhir_client import FhirClient

__all__ = [
    "PATIENT_SEARCHES",
    "SEARCH_FORMS_EXTENSION",
    "ChangedResources",
    "PatientSearch",
    "PushConflict",
    "PushMode",
    "PushOutcome",
    "PushResult",
    "SearchStyle",
    "changed_since",
    "etag_version",
    "nhs_number_token",
    "patient_record",
    "push_bundle",
    "search_style",
]

JSON = dict[str, Any]
PushMode = Literal["transaction", "resources"]
#: how a child's resources are searched (``FhirClient.patient_params``); ``auto``: as the
#: server's CapabilityStatement says it can be (``search_style``)
PatientSearch = Literal["auto", "identifier", "chain", "resolve"]
SearchStyle = Literal["identifier", "chain", "resolve"]
PATIENT_SEARCHES: tuple[PatientSearch, ...] = ("auto", "identifier", "chain", "resolve")
#: the extension on a CapabilityStatement's ``patient`` search parameter that lists the forms
#: a server supports beyond ``patient=Patient/id`` (valueCode ``identifier``: the
#: ``:identifier`` modifier; ``chain``: ``patient.identifier``). R4 has no element for a
#: parameter's modifiers or chains, so a server without it is searched the way every standard
#: server supports (``resolve``).
SEARCH_FORMS_EXTENSION = "https://fhir.safeguarding-interop.org/StructureDefinition/search-forms"
#: the resource types whose ``patient`` parameter tells how the child's resources are searched
_SEARCHED_TYPES = ("CareTeam", "Flag")


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


def push_bundle(
    client: FhirClient, bundle: JSON, *, mode: PushMode = "transaction", force: bool = False
) -> PushResult:
    """Write an artefact's Bundle (document, message or collection) to the server.

    The resources at their deterministic ids are read first (one batch): those the server
    holds unchanged are not written (so a repeated push makes no new version on any server,
    whether or not it skips identical updates itself); the others are written with ``PUT``,
    an update with ``If-Match`` on the version this client last wrote or, failing that, the
    version just read. A server-side edit since this client's last write is a conflict
    (``PushConflict``, nothing written) unless ``force``.

    ``transaction``: one atomic transaction. ``resources``: one ``PUT`` per resource,
    referenced resources first (not atomic: an interrupted push is completed by pushing
    again). Every entry of the answer is read: a failed one fails the push (``FhirError``
    naming the resources), even inside a 200 answer.
    """
    transaction = to_transaction(bundle)
    entries = transaction["entry"]
    current = client.read_many([e["request"]["url"] for e in entries])
    outcomes, writes, conflicts = _plan_writes(client, entries, current, force)
    if conflicts:
        raise PushConflict(client.name, tuple(conflicts))
    if not writes:
        return PushResult(tuple(outcomes[e["request"]["url"]] for e in entries))
    if mode == "transaction":
        ids = _send_transaction(client, transaction, writes, current, outcomes)
    else:
        ids = _send_each(client, writes, current, outcomes)
    for key, outcome in outcomes.items():
        if outcome.version is not None:
            client.written_versions[key] = outcome.version
    return PushResult(tuple(outcomes[e["request"]["url"]] for e in entries), tuple(ids))


def _plan_writes(
    client: FhirClient, entries: list[JSON], current: dict[str, JSON], force: bool
) -> tuple[dict[str, PushOutcome], list[JSON], list[str]]:
    """What is unchanged on the server, what to write (with ``If-Match``), what conflicts."""
    outcomes: dict[str, PushOutcome] = {}
    writes: list[JSON] = []
    conflicts: list[str] = []
    for entry in entries:
        key = entry["request"]["url"]
        held = current.get(key)
        _stamp(entry["resource"])
        if held is not None and _same_content(held, entry["resource"]):
            version = _version_of(held)
            outcomes[key] = PushOutcome(key, "200 unchanged", version)
            client.written_versions[key] = version
            continue
        if held is not None:
            last = client.written_versions.get(key)
            edited = _edited_on_server(held) or (last is not None and last != _version_of(held))
            if edited and not force:
                conflicts.append(key)
                continue
            version = _version_of(held)
            if version is not None and not force:
                entry["request"]["ifMatch"] = f'W/"{version}"'
        writes.append(entry)
    return outcomes, writes, conflicts


def _send_transaction(
    client: FhirClient,
    transaction: JSON,
    writes: list[JSON],
    current: dict[str, JSON],
    outcomes: dict[str, PushOutcome],
) -> list[str]:
    """The writes as one transaction; every entry of the answer read into ``outcomes``."""
    sent = {**transaction, "entry": writes}
    answer = client.request("POST", "", body=sent, idempotent=True)
    response = client.expect_resource(answer, "Bundle")
    got = response.get("entry") or []
    if len(got) != len(writes):
        raise FhirError(
            502, (), what=f"{client.name}: a transaction of {len(writes)} answered {len(got)}"
        )
    results = [
        (e["request"]["url"], (g.get("response") if isinstance(g, dict) else None) or {})
        for e, g in zip(writes, got, strict=True)
    ]
    failed = [(key, result) for key, result in results if not _ok(result)]
    if failed:
        raise _entry_failure(client.name, failed, answer.request_id)
    for (key, result), got_entry in zip(results, got, strict=True):
        version = _version_of((got_entry or {}).get("resource") or {})
        outcomes[key] = _outcome(key, result, existed=key in current, version=version)
    return [answer.request_id]


def _send_each(
    client: FhirClient,
    writes: list[JSON],
    current: dict[str, JSON],
    outcomes: dict[str, PushOutcome],
) -> list[str]:
    """The writes one ``PUT`` each, referenced resources first; a failed one stops the push."""
    ids: list[str] = []
    for entry in dependency_order({"entry": writes}):
        key = entry["request"]["url"]
        headers = {"Prefer": "return=minimal"}
        if entry["request"].get("ifMatch"):
            headers["If-Match"] = entry["request"]["ifMatch"]
        try:
            answer = client.request("PUT", key, body=entry["resource"], headers=headers)
        except FhirError as exc:
            raise _entry_failure(
                client.name,
                [(key, {"status": str(exc.status), "outcome": None})],
                exc.request_id,
                exc.issues,
            ) from None
        ids.append(answer.request_id)
        result = {"status": str(answer.status), "etag": answer.headers.get("ETag")}
        outcomes[key] = _outcome(key, result, existed=key in current)
    return ids


class PushConflict(FhirError):
    """Resources changed on the server since this client last wrote them: nothing was
    written (``--force`` overwrites)."""

    def __init__(self, name: str, keys: tuple[str, ...]) -> None:
        super().__init__(
            412,
            (),
            what=f"{name}: changed on the server since the last push, not overwritten "
            f"({', '.join(keys)})",
        )
        self.keys = keys


#: the tag a push writes on each resource: a digest of the content it wrote, so that a later
#: push (from any process) sees an edit made on the server since (the content no longer has
#: that digest) and does not overwrite it
PUSHED_CONTENT_SYSTEM = "https://fhir.safeguarding-interop.org/CodeSystem/pushed-content"
_CONTENT_META = ("profile", "security", "tag")


def _content(resource: JSON) -> JSON:
    """A resource without server metadata or the toolkit's content tag."""
    meta = {k: v for k, v in (resource.get("meta") or {}).items() if k in _CONTENT_META}
    tags = [t for t in meta.get("tag") or [] if _tag_system(t) != PUSHED_CONTENT_SYSTEM]
    meta = {k: v for k, v in meta.items() if k != "tag"} | ({"tag": tags} if tags else {})
    body = {k: v for k, v in resource.items() if k not in ("meta", "id")}
    return body | ({"meta": meta} if meta else {})


def _tag_system(tag: object) -> object:
    return tag.get("system") if isinstance(tag, dict) else None


def _digest(resource: JSON) -> str:
    canonical = json.dumps(_content(resource), sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def _stamp(resource: JSON) -> None:
    """Tag ``resource`` (in place) with the digest of its content."""
    meta = dict(resource.get("meta") or {})
    tags = [t for t in meta.get("tag") or [] if _tag_system(t) != PUSHED_CONTENT_SYSTEM]
    meta["tag"] = [*tags, {"system": PUSHED_CONTENT_SYSTEM, "code": _digest(resource)}]
    resource["meta"] = meta


def _edited_on_server(held: JSON) -> bool:
    """Whether the server's resource is not what a push last wrote: it carries the content
    tag, and its content no longer has that digest. (No tag: written before the toolkit
    tagged, or by someone else entirely: not taken as an edit.)"""
    for tag in (held.get("meta") or {}).get("tag") or []:
        if _tag_system(tag) == PUSHED_CONTENT_SYSTEM:
            return bool(tag.get("code") != _digest(held))
    return False


def _same_content(held: JSON, sent: JSON) -> bool:
    """Whether the server holds what would be sent (server metadata aside)."""
    return _content(held) == _content(sent)


def _version_of(resource: JSON) -> str | None:
    version = (resource.get("meta") or {}).get("versionId")
    return str(version) if version is not None else None


def _ok(result: JSON) -> bool:
    return str(result.get("status", "")).strip()[:1] == "2"


def _entry_failure(
    name: str,
    failed: list[tuple[str, JSON]],
    request_id: str | None,
    issues: tuple[OutcomeIssue, ...] = (),
) -> FhirError:
    """One error for the failed entries of a push: each resource with its status."""
    status = str(failed[0][1].get("status", "")).strip()[:3]
    found = issues or tuple(i for _, r in failed for i in outcome_issues(r.get("outcome")))
    listed = ", ".join(f"{key} ({str(r.get('status', '?')).strip()})" for key, r in failed[:5])
    more = f" and {len(failed) - 5} more" if len(failed) > 5 else ""
    conflict = " (changed on the server: If-Match failed)" if status == "412" else ""
    return FhirError(
        int(status) if status.isdigit() else 502,
        found,
        what=f"{name}: push failed for {listed}{more}{conflict}",
        request_id=request_id,
    )


# --- pull ------------------------------------------------------------------------------------


def search_style(capabilities: JSON) -> SearchStyle:
    """How to search a child's resources on a server with this CapabilityStatement:
    ``identifier`` when its ``patient`` parameter (of CareTeam or Flag) lists the
    ``:identifier`` modifier, else ``chain`` when it lists chaining, else ``resolve``."""
    forms: set[object] = set()
    for rest in _dicts(capabilities.get("rest")):
        if rest.get("mode") not in (None, "server"):
            continue
        for resource in _dicts(rest.get("resource")):
            if resource.get("type") not in _SEARCHED_TYPES:
                continue
            for param in _dicts(resource.get("searchParam")):
                if param.get("name") != "patient":
                    continue
                forms |= {
                    ext.get("valueCode")
                    for ext in _dicts(param.get("extension"))
                    if ext.get("url") == SEARCH_FORMS_EXTENSION
                }
    if "identifier" in forms:
        return "identifier"
    return "chain" if "chain" in forms else "resolve"


def _dicts(value: object) -> list[JSON]:
    """The objects of a JSON array (anything else in it, or a non-array: none)."""
    return [v for v in value if isinstance(v, dict)] if isinstance(value, list) else []


def patient_record(
    client: FhirClient, nhs_number: str, *, types: tuple[str, ...] = PATIENT_LINKED_TYPES
) -> list[JSON]:
    """Every resource of the patient's artefacts: those of ``types`` that point at the
    patient (by NHS number), then everything they refer to (Patient, Organization,
    Practitioner...), read by id."""
    query = client.patient_params(nhs_number)
    found: dict[str, JSON] = {}
    for resource_type in types if query is not None else ():
        for resource in client.search(resource_type, query or {}):
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
    changed: dict[str, JSON] = {}
    patients: set[str] = set()
    for resource_type in types:
        for resource in client.search_since(resource_type, since):
            changed.setdefault(resource_key(resource), resource)
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
    # what changed is delivered even when the patient search missed it (a server that does not
    # implement the endpoint's search style): the watermark then never passes an undelivered
    # change
    missed = {key: resource for key, resource in changed.items() if key not in records}
    if missed:
        records.update(missed)
        _add_referenced(client, records)
    latest: tuple[datetime, str] | None = None
    for key, resource in changed.items():
        stamp = (resource.get("meta") or {}).get("lastUpdated")
        when = _instant(stamp)
        if key in records and when is not None and (latest is None or when > latest[0]):
            latest = (when, str(stamp))
    result.changed = set(changed)
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


def _outcome(url: str, response: JSON, *, existed: bool, version: str | None = None) -> PushOutcome:
    """An entry's outcome: created when the server says 201 or the resource was not there
    before (a server may answer a create-by-PUT with 200). The version is the ``etag``'s,
    else the returned resource's (``version``), else the ``location``'s ``_history``."""
    status = str(response.get("status", "")).strip()
    version = etag_version(response.get("etag")) or version
    if version is None:
        location = str(response.get("location") or "")
        version = location.rpartition("/_history/")[2] or None if "/_history/" in location else None
    if status.startswith("201") or not existed:
        return PushOutcome(url, "201 Created", version)
    return PushOutcome(url, "200 OK", version)


def _instant(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)
