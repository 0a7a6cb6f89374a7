"""Artefacts over FHIR REST: push an artefact's Bundle, read a patient's record, find what changed.

These are the toolkit's own uses of a FHIR server, built on the generic ``FhirClient`` (which
offers each as a method: ``client.push``, ``client.patient_record``, ``client.changed_since``):

- ``push_bundle`` writes an artefact's Bundle as one transaction, or resource by resource in
  dependency order (``push_mode = "resources"``): the child's Patient is the server's one
  Patient of the child, found by NHS number; the other resources are written at the toolkit's
  deterministic ids, or (``write`` mode ``conditional`` / ``create``, for servers that choose
  the ids) found again by identifier; a repeated push updates in place and duplicates nothing;
- ``patient_record``: every resource of a patient's artefacts, found by NHS number, with
  everything they refer to;
- ``changed_since``: the artefacts with a resource changed after a watermark.
"""

from __future__ import annotations

import copy
import hashlib
import json
import uuid
from collections.abc import Iterable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import parse_qsl, urlencode

from interop.identifiers import NHS_NUMBER_SYSTEM, check_nhs_number
from interop.transport.bundles import (
    PATIENT_LINKED_TYPES,
    dependency_order,
    identity_token,
    patient_references,
    references,
    relative_reference,
    resource_key,
    retarget,
    to_transaction,
)
from interop.transport.fhir_errors import FhirClientError, FhirError, OutcomeIssue, outcome_issues

if TYPE_CHECKING:
    from interop.transport.fhir_client import FhirAnswer, FhirClient

__all__ = [
    "PATIENT_SEARCHES",
    "SEARCH_FORMS_EXTENSION",
    "WRITE_MODES",
    "ChangedResources",
    "PatientSearch",
    "PushConflict",
    "PushMode",
    "PushOutcome",
    "PushResult",
    "SearchStyle",
    "UnsupportedWrite",
    "WriteMode",
    "WriteStyle",
    "changed_since",
    "etag_version",
    "nhs_number_token",
    "patient_record",
    "patient_style",
    "push_bundle",
    "search_style",
    "write_style",
]

JSON = dict[str, Any]
PushMode = Literal["transaction", "resources"]
#: how a child's resources are searched (``FhirClient.patient_params``); ``auto``: as the
#: server's CapabilityStatement says it can be (``search_style``)
PatientSearch = Literal["auto", "identifier", "chain", "resolve"]
SearchStyle = Literal["identifier", "chain", "resolve"]
PATIENT_SEARCHES: tuple[PatientSearch, ...] = ("auto", "identifier", "chain", "resolve")
#: how a push writes resources the server does not hold yet: ``client-ids`` PUT at the
#: toolkit's deterministic ids; ``conditional`` ``PUT Type?identifier=``; ``create`` POST with
#: ``If-None-Exist`` (the server assigns the ids); ``auto``: as the server's CapabilityStatement
#: offers (``write_style``)
WriteMode = Literal["auto", "client-ids", "conditional", "create"]
WriteStyle = Literal["client-ids", "conditional", "create"]
WRITE_MODES: tuple[WriteMode, ...] = ("auto", "client-ids", "conditional", "create")
WRITE_STYLES: tuple[WriteStyle, ...] = ("client-ids", "conditional", "create")
#: the CapabilityStatement.rest.resource element that offers each write style
WRITE_CAPABILITY: dict[WriteStyle, str] = {
    "client-ids": "updateCreate",
    "conditional": "conditionalUpdate",
    "create": "conditionalCreate",
}
#: resource identifiers per search when finding a push's resources by identifier, and the page
#: size asked for (duplicates written by a server without atomic writes leave room)
_SEARCH_CHUNK = 40
_SEARCH_PAGE = "100"
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


@dataclass
class _Write:
    """One resource of the artefact's transaction: the ``Type/id`` the artefact's Bundle gives
    it, its entry (rewritten to what is sent), and what the server holds for it, if anything."""

    key: str
    entry: JSON
    held: JSON | None = None

    @property
    def is_conditional_create(self) -> bool:
        """Whether it is sent as a conditional create (``POST`` with ``If-None-Exist``)."""
        request = self.entry.get("request") or {}
        return request.get("method") == "POST" and bool(request.get("ifNoneExist"))

    @property
    def target(self) -> str:
        """The ``Type/id`` the resource has, or will have, on the server (a new one in the
        ``conditional`` and ``create`` modes: known from the answer)."""
        return resource_key(self.held) if self.held is not None else self.key

    @property
    def patient_token(self) -> str | None:
        """The NHS number token of a Patient with exactly one NHS number (the child's one
        Patient on the server); None for every other resource."""
        resource = self.entry["resource"]
        numbers = _nhs_numbers(resource) if resource.get("resourceType") == "Patient" else set()
        return nhs_number_token(next(iter(numbers))) if len(numbers) == 1 else None


def push_bundle(
    client: FhirClient,
    bundle: JSON,
    *,
    mode: PushMode = "transaction",
    force: bool = False,
    write: WriteMode | None = None,
) -> PushResult:
    """Write an artefact's Bundle (document, message or collection) to the server.

    The child's Patient is the server's one Patient of the child, found by NHS number (the
    first by id when several are): what it lacks of what the artefact says of the child is
    added, nothing it holds is overwritten; none found, it is created conditionally when the
    server offers it, in every write mode (``patient_style``). Every other resource is
    found first, in the same batch of GETs (at its deterministic id; in the ``conditional``
    and ``create`` write modes, by the identifier it is found by): those the server holds
    unchanged are not written (so a repeated push makes no new version on any server, whether
    or not it skips identical updates itself); the others are written (``write``, default the
    client's: ``PUT Type/id``, ``PUT Type?identifier=``, or ``POST`` with ``If-None-Exist``),
    an update with ``If-Match`` on the version this client last wrote or, failing that, the
    version just read. A server-side edit since this client's last write is a conflict
    (``PushConflict``, nothing written) unless ``force``.

    ``transaction``: one atomic transaction. ``resources``: one request per resource,
    referenced resources first (not atomic: an interrupted push is completed by pushing
    again). Every entry of the answer is read (status, location, etag, OperationOutcome): a
    failed one fails the push (``FhirError`` naming the resources), even inside a 200 answer.
    """
    transaction = to_transaction(bundle)
    order = dependency_order(transaction)
    writes = [_Write(e["request"]["url"], e) for e in transaction["entry"]]
    style = client.write_style(sorted({w.entry["resource"]["resourceType"] for w in writes}), write)
    _find_held(client, writes, style)
    _address(writes, style, patient_style(client.capability_statement(), style))
    # the digest a push tags each resource with reads references within the artefact by the
    # toolkit's keys: the ids a server chooses are known only once it has written them
    aliases = {
        alias: w.key
        for w in writes
        for alias in (w.key, w.target, w.entry.get("fullUrl"))
        if isinstance(alias, str)
    }
    outcomes, sending, conflicts = _plan_writes(client, writes, force, aliases)
    if conflicts:
        raise PushConflict(client.name, tuple(conflicts))
    ids: list[str] = []
    if sending and mode == "transaction":
        ids = _send_transaction(client, transaction, sending, outcomes)
    elif sending:
        ranked = {id(entry): i for i, entry in enumerate(order)}
        ranked_writes = sorted(sending, key=lambda w: ranked[id(w.entry)])
        ids = _send_each(client, ranked_writes, outcomes, aliases)
    for outcome in outcomes.values():
        if outcome.version is not None:
            client.written_versions[outcome.resource] = outcome.version
    return PushResult(tuple(outcomes[w.key] for w in writes), tuple(ids))


def write_style(
    capabilities: JSON, types: Iterable[str], *, only: WriteStyle | None = None
) -> WriteStyle | None:
    """How to write resources of ``types`` to a server with this CapabilityStatement: the
    first of ``client-ids`` (``updateCreate``), ``conditional`` (``conditionalUpdate``),
    ``create`` (``conditionalCreate``), or ``only`` that one, that it offers for every one of
    ``types`` it lists (a type it does not list is left to the server to refuse); None when it
    offers none of them."""
    listed = {
        resource.get("type"): resource
        for rest in _dicts(capabilities.get("rest"))
        if rest.get("mode") in (None, "server")
        for resource in _dicts(rest.get("resource"))
    }
    entries = [listed[t] for t in types if t in listed]
    for style in (only,) if only is not None else WRITE_STYLES:
        if all(entry.get(WRITE_CAPABILITY[style]) is True for entry in entries):
            return style
    return None


def patient_style(capabilities: JSON, style: WriteStyle) -> WriteStyle:
    """How a push creates the child's Patient when the server holds none: conditionally
    whenever the server offers it, so that it, not the client, decides atomically whether the
    child has one (two first pushes of one child at once make one Patient, R4 http.html
    #ccreate). In ``client-ids``: ``create`` (``conditionalCreate`` for Patient), else
    ``conditional`` (``conditionalUpdate``), else ``client-ids`` (PUT at the deterministic id:
    concurrent first pushes can then make two); the other styles are conditional already."""
    if style != "client-ids":
        return style
    offered = write_style(capabilities, ["Patient"], only="create") or write_style(
        capabilities, ["Patient"], only="conditional"
    )
    return offered if offered is not None and _lists(capabilities, "Patient") else "client-ids"


def _lists(capabilities: JSON, resource_type: str) -> bool:
    """Whether the server's CapabilityStatement lists ``resource_type`` (``write_style``
    leaves a type it does not list to the server: that is no offer)."""
    return any(
        resource.get("type") == resource_type
        for rest in _dicts(capabilities.get("rest"))
        if rest.get("mode") in (None, "server")
        for resource in _dicts(rest.get("resource"))
    )


def _find_held(client: FhirClient, writes: list[_Write], style: WriteStyle) -> None:
    """What the server holds for each resource (``_Write.held``): the child's Patient by NHS
    number; the others at their ids (``client-ids``) or by the identifier they are found by
    (``identity_token``). All in one batch of GETs (``FhirClient.read_many``)."""
    lookups: dict[str, list[_Write]] = {}
    by_identity: dict[str, dict[str, _Write]] = {}
    for w in writes:
        token = w.patient_token
        if token is not None:
            lookups.setdefault(_search_url("Patient", [token]), []).append(w)
        elif style == "client-ids" or (identity := identity_token(w.entry["resource"])) is None:
            lookups.setdefault(w.key, []).append(w)
        else:
            by_identity.setdefault(w.key.partition("/")[0], {})[identity] = w
    searches: dict[str, tuple[str, dict[str, _Write]]] = {}
    for kind, wanted in by_identity.items():
        tokens = sorted(wanted)
        for start in range(0, len(tokens), _SEARCH_CHUNK):
            chunk = tokens[start : start + _SEARCH_CHUNK]
            searches[_search_url(kind, chunk)] = (kind, {t: wanted[t] for t in chunk})
    found = client.read_many([*lookups, *searches])
    for url, waiting in lookups.items():
        answer = found.get(url)
        if "?" in url:  # the child's Patients: the first by id when several
            patients = _found(client, url, answer)
            answer = patients[0] if patients else None
        for w in waiting:
            w.held = answer
    for url, (_, wanted) in searches.items():
        for resource in _found(client, url, found.get(url)):
            match = wanted.get(identity_token(resource) or "")
            if match is not None and match.held is None:
                match.held = resource  # several (a server without atomic writes): the first


def _search_url(kind: str, tokens: list[str]) -> str:
    """``Type?identifier=<tokens, OR>&_count=``: a search with room for every match on one
    page (a server's default page can be smaller than the tokens searched)."""
    return f"{kind}?{urlencode({'identifier': ','.join(tokens), '_count': _SEARCH_PAGE})}"


def _found(client: FhirClient, url: str, page: JSON | None) -> list[JSON]:
    """The resources a search found, by id: those of its first ``page`` (from a batch), or
    of every page when the server gave a next link."""
    kind, _, query = url.partition("?")
    page = page if isinstance(page, dict) else {}
    if any(link.get("relation") == "next" for link in _dicts(page.get("link"))):
        resources = list(client.search(kind, dict(parse_qsl(query)), include=False))
    else:
        resources = [
            e["resource"]
            for e in _dicts(page.get("entry"))
            if isinstance(e.get("resource"), dict)
            and (e.get("search") or {}).get("mode") in (None, "match")
        ]
    return sorted(
        (r for r in resources if r.get("resourceType") == kind and isinstance(r.get("id"), str)),
        key=_id_order,
    )


def _id_order(resource: JSON) -> str:
    return str(resource.get("id"))


def _address(writes: list[_Write], style: WriteStyle, patient: WriteStyle) -> None:
    """Each entry's request, id and references as the server will take them: the resources
    the server holds at their ids there, new ones as the write style says (the child's
    Patient as ``patient`` says; references to them as ``urn:uuid:`` fullUrls the server
    resolves when it assigns the id, R4 http.html#trules)."""
    renames: dict[str, str] = {}
    for w in writes:
        resource, kind = w.entry["resource"], w.key.partition("/")[0]
        query = _identity_query(w)
        new_style = patient if w.patient_token is not None else style
        if w.held is not None:
            resource["id"] = w.held["id"]
            w.entry["request"] = {"method": "PUT", "url": w.target}
            if w.target != w.key:
                w.entry.pop("fullUrl", None)
        elif new_style == "client-ids" or query is None:
            pass  # PUT at the deterministic id, as to_transaction made it
        else:
            del resource["id"]
            w.entry["fullUrl"] = f"urn:uuid:{uuid.uuid5(uuid.NAMESPACE_URL, w.key)}"
            if new_style == "conditional":
                # R4 http.html#cond-update: no match creates, one match updates, several 412
                w.entry["request"] = {"method": "PUT", "url": f"{kind}?{query}"}
            else:
                # R4 http.html#ccreate: a match answers 200 with it and creates nothing
                w.entry["request"] = {"method": "POST", "url": kind, "ifNoneExist": query}
        has_id = "id" in resource
        renames[w.key] = f"{kind}/{resource['id']}" if has_id else str(w.entry["fullUrl"])
    retarget({"entry": [w.entry for w in writes]}, renames)


def _identity_query(w: _Write) -> str | None:
    """The search that finds the resource again on a server that chose its id (None: it has
    no identity but its id, as a MessageHeader)."""
    token = w.patient_token or identity_token(w.entry["resource"])
    return urlencode({"identifier": token}) if token is not None else None


def _plan_writes(
    client: FhirClient, writes: list[_Write], force: bool, aliases: dict[str, str]
) -> tuple[dict[str, PushOutcome], list[_Write], list[str]]:
    """What is unchanged on the server, what to write (with ``If-Match``), what conflicts.
    The child's Patient is merged into the server's, never overwritten: it is no conflict."""
    outcomes: dict[str, PushOutcome] = {}
    sending: list[_Write] = []
    conflicts: list[str] = []
    for w in writes:
        held, resource = w.held, w.entry["resource"]
        patient = w.patient_token is not None
        if patient and held is not None:
            resource = w.entry["resource"] = _merge_patient(held, resource)
        elif not patient:
            _stamp(resource, aliases)
        if held is not None and _same_content(held, resource):
            outcomes[w.key] = PushOutcome(w.target, "200 unchanged", _version_of(held))
            continue
        if held is not None:
            last = client.written_versions.get(w.target)
            changed = _edited_on_server(held, aliases) or (
                last is not None and last != _version_of(held)
            )
            if changed and not patient and not force:
                conflicts.append(w.target)
                continue
            version = _version_of(held)
            if version is not None and (patient or not force):
                w.entry["request"]["ifMatch"] = f'W/"{version}"'
        sending.append(w)
    return outcomes, sending, conflicts


def _merge_patient(held: JSON, sent: JSON) -> JSON:
    """The server's Patient with what ``sent`` says that it lacks: the elements it has none of,
    its identifiers of another system and value, and what an identifier it holds lacks (the NHS
    number's verification status). Nothing the server holds is changed (the child's record may
    be kept by others: PDS, the trust's PAS)."""
    merged = copy.deepcopy(held)
    _fill(merged, {k: v for k, v in sent.items() if k not in ("id", "meta")})
    return merged


def _fill(held: JSON, sent: JSON) -> None:
    """Add to ``held`` (in place) what ``sent`` has and it lacks; identifiers are matched by
    system and value."""
    for name, value in sent.items():
        have = held.get(name)
        if have is None:
            held[name] = copy.deepcopy(value)
        elif isinstance(have, dict) and isinstance(value, dict):
            _fill(have, value)
        elif name == "identifier" and isinstance(have, list) and isinstance(value, list):
            known = {_identity(i): i for i in have if isinstance(i, dict)}
            for identifier in value:
                if not isinstance(identifier, dict):
                    continue
                if _identity(identifier) in known:
                    _fill(known[_identity(identifier)], identifier)
                else:
                    have.append(copy.deepcopy(identifier))


def _object(value: object) -> JSON:
    return value if isinstance(value, dict) else {}


def _identity(identifier: object) -> tuple[object, object]:
    if not isinstance(identifier, dict):
        return (None, None)
    return (identifier.get("system"), identifier.get("value"))


def _send_transaction(
    client: FhirClient,
    transaction: JSON,
    sending: list[_Write],
    outcomes: dict[str, PushOutcome],
) -> list[str]:
    """The writes as one transaction; every entry of the answer read into ``outcomes``."""
    sent = {**transaction, "entry": [w.entry for w in sending]}
    answer = client.request("POST", "", body=sent, idempotent=True)
    response = client.expect_resource(answer, "Bundle")
    got = response.get("entry") or []
    if len(got) != len(sending):
        raise FhirError(
            502, (), what=f"{client.name}: a transaction of {len(sending)} answered {len(got)}"
        )
    results: list[tuple[_Write, JSON, JSON]] = []
    for w, item in zip(sending, got, strict=True):
        item = item if isinstance(item, dict) else {}
        results.append((w, _object(item.get("response")), _object(item.get("resource"))))
    failed = [(w.target, result) for w, result, _ in results if not _ok(result)]
    if failed:
        raise _entry_failure(client.name, failed, answer.request_id)
    for w, result, written in results:
        where = _written_at(client, w, result.get("location"), written, answer.request_id)
        outcomes[w.key] = _outcome(where, result, w, written)
    return [answer.request_id]


def _written_at(
    client: FhirClient, w: _Write, location: object, written: JSON, request_id: str
) -> str:
    """The ``Type/id`` a write landed at: the one it was sent to, else the answer's location
    or resource (a server-assigned id); ``FhirError`` when the answer says neither."""
    if w.held is not None or "id" in w.entry["resource"]:
        return w.target
    where = relative_reference(location if isinstance(location, str) else "")
    if where is None and written.get("id"):
        where = resource_key(written)
    if where is None or not where.startswith(w.key.partition("/")[0] + "/"):
        raise FhirError(
            502,
            (),
            what=f"{client.name}: the {w.key.partition('/')[0]} written has no location",
            request_id=request_id,
        )
    return where


def _send_each(
    client: FhirClient,
    sending: list[_Write],
    outcomes: dict[str, PushOutcome],
    aliases: dict[str, str],
) -> list[str]:
    """The writes one request each, referenced resources first; a failed one stops the push.
    The id a server gives a new resource is put in the references of those written after; a
    resource written before one it refers to (a cycle) is written again once that id is known."""
    ids: list[str] = []
    renames: dict[str, str] = {}
    again: list[tuple[_Write, str]] = []
    for w in sending:
        request = w.entry["request"]
        _restamped(w, renames, aliases)
        headers = {
            name: request[key]
            for name, key in (("If-Match", "ifMatch"), ("If-None-Exist", "ifNoneExist"))
            if request.get(key)
        }
        answer = _send_one(client, w, request["method"], request["url"], headers)
        ids.append(answer.request_id)
        written = answer.body if isinstance(answer.body, dict) else {}
        location = answer.headers.get("Location") or answer.headers.get("Content-Location")
        where = _written_at(client, w, location, written, answer.request_id)
        if w.entry.get("fullUrl", "").startswith("urn:uuid:"):
            renames[w.entry["fullUrl"]] = where
            aliases[where] = w.key
        result = {"status": str(answer.status), "etag": answer.headers.get("ETag")}
        outcomes[w.key] = _outcome(where, result, w, written)
        if any(r.startswith("urn:uuid:") for r in references(w.entry["resource"])):
            again.append((w, where))
    for w, where in again:
        _restamped(w, renames, aliases)
        w.entry["resource"]["id"] = where.partition("/")[2]
        version = outcomes[w.key].version
        headers = {"If-Match": f'W/"{version}"'} if version else {}
        answer = _send_one(client, w, "PUT", where, headers)
        ids.append(answer.request_id)
        version = etag_version(answer.headers.get("ETag")) or version
        outcomes[w.key] = PushOutcome(where, outcomes[w.key].status, version)
    return ids


def _restamped(w: _Write, renames: dict[str, str], aliases: dict[str, str]) -> None:
    """Point the resource's references at the ids the server gave, and tag it with the digest
    of that content (the child's Patient is never tagged)."""
    resource = w.entry["resource"]
    if renames:
        retarget({"entry": [{"resource": resource}]}, renames)
    if w.patient_token is None:
        _stamp(resource, aliases)


def _send_one(
    client: FhirClient, w: _Write, method: str, url: str, headers: dict[str, str]
) -> FhirAnswer:
    """One write of a resource-by-resource push; a failure names the resource."""
    try:
        return client.request(
            method, url, body=w.entry["resource"], headers={"Prefer": "return=minimal", **headers}
        )
    except FhirError as exc:
        raise _entry_failure(
            client.name,
            [(w.target, {"status": str(exc.status), "outcome": None})],
            exc.request_id,
            exc.issues,
        ) from None


class UnsupportedWrite(FhirClientError):
    """The endpoint's write mode is one the server does not offer (its CapabilityStatement
    says so), or the server offers none: nothing was written."""


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


def _digest(resource: JSON, aliases: dict[str, str]) -> str:
    """A digest of the resource's content, its references to the artefact's own resources
    read as the toolkit's keys (``aliases``: every form of such a reference to its key)."""
    content = copy.deepcopy(_content(resource))
    retarget({"entry": [{"resource": content}]}, aliases)
    canonical = json.dumps(content, sort_keys=True, separators=(",", ":"))
    return hashlib.sha256(canonical.encode()).hexdigest()[:32]


def _stamp(resource: JSON, aliases: dict[str, str]) -> None:
    """Tag ``resource`` (in place) with the digest of its content (``_digest``)."""
    meta = dict(resource.get("meta") or {})
    tags = [t for t in meta.get("tag") or [] if _tag_system(t) != PUSHED_CONTENT_SYSTEM]
    meta["tag"] = [*tags, {"system": PUSHED_CONTENT_SYSTEM, "code": _digest(resource, aliases)}]
    resource["meta"] = meta


def _edited_on_server(held: JSON, aliases: dict[str, str]) -> bool:
    """Whether the server's resource is not what a push last wrote: it carries the content
    tag, and its content no longer has that digest. (No tag: written before the toolkit
    tagged, or by someone else entirely: not taken as an edit.)"""
    for tag in (held.get("meta") or {}).get("tag") or []:
        if _tag_system(tag) == PUSHED_CONTENT_SYSTEM:
            return bool(tag.get("code") != _digest(held, aliases))
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


def _outcome(url: str, response: JSON, w: _Write, written: JSON) -> PushOutcome:
    """The outcome of write ``w`` (``written``: the resource the server returned, if any),
    told by the status and the version: created when the server says 201, or when the
    resource was not there before and its version is not a later one (a server may answer a
    create-by-PUT with 200). A conditional create's status is the whole answer: 200 when it
    found a match (written since the push looked, by a push at the same moment) and created
    nothing, whatever the match's version (FHIR R4 http.html#ccreate). The version is the
    ``etag``'s, else the returned resource's, else the ``location``'s ``_history``."""
    status = str(response.get("status", "")).strip()
    version = etag_version(response.get("etag")) or _version_of(written)
    if version is None:
        location = str(response.get("location") or "")
        version = location.rpartition("/_history/")[2] or None if "/_history/" in location else None
    if w.is_conditional_create:
        return PushOutcome(url, "201 Created" if status.startswith("201") else "200 OK", version)
    if status.startswith("201") or (w.held is None and not _later_version(version)):
        return PushOutcome(url, "201 Created", version)
    return PushOutcome(url, "200 OK", version)


def _later_version(version: str | None) -> bool:
    """Whether a version is known not to be a resource's first: a number over 1 (servers
    with opaque version ids, as Medplum's UUIDs, say nothing by it)."""
    return version is not None and version.isdigit() and int(version) > 1


def _instant(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)
