"""Transaction and batch Bundles (``POST [base]``), and turning other Bundles into transactions.

A transaction is all or nothing. Every resource is validated first (422 listing every issue of
every entry, nothing stored). Then, inside one store transaction: each entry's target is
resolved (POST: a new id, or the ``ifNoneExist`` match; PUT ``Type/id``: that id; PUT
``Type?criteria``: the match or a new id), ``fullUrl``s become ``Type/id`` and every reference to
them is rewritten, and the entries run in FHIR's order (DELETE, POST, PUT, GET; Patients first
among writes). A PUT of content equal to the stored version writes nothing, so sending the
same transaction twice creates no new versions.

A batch runs each entry on its own; a failed entry answers with its status and outcome.
"""

from __future__ import annotations

import json
import uuid
from dataclasses import dataclass
from http import HTTPStatus
from typing import Any
from urllib.parse import parse_qsl, urlsplit

from interop.sandbox.fhir_server.interactions import (
    Answer,
    Interactions,
    check_id,
    etag,
    parse_if_match,
    store_errors,
)
from interop.sandbox.fhir_server.outcome import OutcomeError, outcome_issue
from interop.sandbox.fhir_server.store import ResourceStore, StoredResource

JSON = dict[str, Any]
_ORDER = {"DELETE": 0, "POST": 1, "PUT": 2, "GET": 3}


def to_transaction(bundle: JSON) -> JSON:
    """A document, message or collection Bundle as a transaction of its entries.

    A resource with an id is PUT to ``Type/id`` (idempotent: the toolkit's ids are
    deterministic); one without is POSTed. ``fullUrl``s are kept, so the server resolves the
    entries' references to one another. A transaction or batch Bundle is returned as it is.
    """
    if not isinstance(bundle, dict) or bundle.get("resourceType") != "Bundle":
        raise ValueError("not a FHIR Bundle")
    if bundle.get("type") in ("transaction", "batch"):
        return bundle
    entries: list[JSON] = []
    for item in bundle.get("entry") or []:
        resource = item.get("resource") if isinstance(item, dict) else None
        if not isinstance(resource, dict):
            continue
        kind, rid = resource.get("resourceType"), resource.get("id")
        entry: JSON = {}
        if isinstance(item.get("fullUrl"), str):
            entry["fullUrl"] = item["fullUrl"]
        entry["resource"] = resource
        entry["request"] = (
            {"method": "PUT", "url": f"{kind}/{rid}"} if rid else {"method": "POST", "url": kind}
        )
        entries.append(entry)
    return {"resourceType": "Bundle", "type": "transaction", "entry": entries}


@dataclass
class _Entry:
    """One entry of the request Bundle, parsed, and (once resolved) what it will do."""

    index: int
    method: str
    resource_type: str
    resource_id: str | None
    query: str | None
    version: str | None
    history: bool
    resource: JSON | None
    full_url: str | None
    if_none_exist: str | None
    if_match: int | None
    action: str = ""
    match: StoredResource | None = None

    @property
    def where(self) -> str:
        return f"Bundle.entry[{self.index}]"


def _fail(where: str, message: str, status: int = 400, code: str = "invalid") -> OutcomeError:
    return OutcomeError.simple(status, code, message, expression=where)


def _located(exc: OutcomeError, entry: _Entry) -> OutcomeError:
    """The same error, saying which entry it is about."""
    issues = []
    for issue in exc.issues:
        issue = dict(issue)
        issue.setdefault("expression", [entry.where])
        issue["diagnostics"] = f"entry {entry.index}: {issue.get('diagnostics', '')}"
        issues.append(issue)
    return OutcomeError(exc.status, issues, headers=exc.headers)


def _relative(url: str, base_url: str, where: str) -> str:
    if not url.startswith(("http://", "https://")):
        return url.lstrip("/")
    if url.startswith(base_url + "/"):
        return url[len(base_url) + 1 :]
    parts = urlsplit(url)
    raise _fail(where, f"request.url must be relative to this server ({parts.netloc} is not it)")


def _parse_entry(index: int, item: Any, base_url: str, interactions: Interactions) -> _Entry:
    where = f"Bundle.entry[{index}]"
    if not isinstance(item, dict):
        raise _fail(where, "an entry is an object")
    request = item.get("request")
    if not isinstance(request, dict):
        raise _fail(f"{where}.request", "every entry of a transaction or batch needs a request")
    method = request.get("method")
    if method not in _ORDER:
        raise _fail(
            f"{where}.request.method",
            f"method {method!r} is not supported here (GET, POST, PUT, DELETE)",
            code="not-supported",
        )
    url = request.get("url")
    if not isinstance(url, str) or not url.strip():
        raise _fail(f"{where}.request.url", "request.url is required")
    path, _, query = _relative(url.strip(), base_url, f"{where}.request.url").partition("?")
    parts = [p for p in path.split("/") if p]
    shapes = {
        "POST": len(parts) == 1 and not query,
        "PUT": (len(parts) == 2 and not query) or (len(parts) == 1 and bool(query)),
        "DELETE": len(parts) == 2 and not query,
        "GET": len(parts) in (1, 2) or (len(parts) in (3, 4) and parts[2] == "_history"),
    }
    if not parts or not shapes[method]:
        raise _fail(
            f"{where}.request.url", f"{method} {url!r} is not an interaction this sandbox runs"
        )
    resource_type = parts[0]
    try:
        interactions.check_type(resource_type)
        if len(parts) > 1:
            check_id(parts[1], f"{where}.request.url")
    except OutcomeError as exc:
        raise OutcomeError(exc.status, exc.issues) from None
    resource = item.get("resource")
    if method in ("POST", "PUT"):
        if not isinstance(resource, dict):
            raise _fail(f"{where}.resource", f"a {method} entry needs a resource")
        if resource.get("resourceType") != resource_type:
            raise _fail(
                f"{where}.resource.resourceType",
                f"the resource is a {resource.get('resourceType')}; request.url: {resource_type}",
            )
        if method == "PUT" and len(parts) == 2 and resource.get("id") not in (None, parts[1]):
            raise _fail(f"{where}.resource.id", "the resource's id must be the id in request.url")
    full_url = item.get("fullUrl")
    if_none_exist = request.get("ifNoneExist")
    try:
        if_match = parse_if_match(request.get("ifMatch"))
    except OutcomeError:
        raise _fail(
            f"{where}.request.ifMatch", 'ifMatch: expected a version ETag such as W/"3"'
        ) from None
    return _Entry(
        index=index,
        method=method,
        resource_type=resource_type,
        resource_id=parts[1] if len(parts) > 1 else None,
        query=query or None,
        version=parts[3] if len(parts) == 4 else None,
        history=len(parts) == 3,
        resource=resource if method in ("POST", "PUT") else None,
        full_url=full_url if isinstance(full_url, str) and full_url else None,
        if_none_exist=if_none_exist if isinstance(if_none_exist, str) and if_none_exist else None,
        if_match=if_match,
    )


def _one_match(
    store: ResourceStore, interactions: Interactions, entry: _Entry, query: str, where: str
) -> StoredResource | None:
    criteria = interactions.criteria(entry.resource_type, query, where=where)
    found = store.search(criteria.with_count(2)).resources
    if len(found) > 1:
        raise _fail(where, "the criteria match more than one resource", status=412, code="conflict")
    return found[0] if found else None


def _resolve(entry: _Entry, store: ResourceStore, interactions: Interactions) -> None:
    """Decide what the entry does and which resource it writes (before anything is written)."""
    if entry.method == "GET":
        entry.action = "get"
    elif entry.method == "DELETE":
        entry.action = "delete"
    elif entry.method == "POST":
        match = None
        if entry.if_none_exist:
            where = f"{entry.where}.request.ifNoneExist"
            match = _one_match(store, interactions, entry, entry.if_none_exist, where)
        entry.match = match
        entry.action = "none" if match else "create"
        entry.resource_id = match.id if match else str(uuid.uuid4())
    elif entry.query is not None:  # conditional PUT
        assert entry.resource is not None
        where = f"{entry.where}.request.url"
        match = _one_match(store, interactions, entry, entry.query, where)
        given = entry.resource.get("id")
        if match is not None and given not in (None, match.id):
            raise _fail(
                f"{entry.where}.resource.id", f"the criteria match {match.reference}, not this id"
            )
        entry.resource_id = match.id if match else (str(given) if given else str(uuid.uuid4()))
        entry.action = "update"
    else:
        entry.action = "update"


def _rewrite(value: Any, urls: dict[str, str], path: str, unresolved: list[str]) -> Any:
    """``value`` with references to entries' fullUrls made ``Type/id``."""
    if isinstance(value, dict):
        result = {}
        for key, item in value.items():
            if key == "reference" and isinstance(item, str):
                if item in urls:
                    item = urls[item]
                elif item.startswith(("urn:uuid:", "urn:oid:")):
                    unresolved.append(f"{path}.reference")
                result[key] = item
            else:
                result[key] = _rewrite(item, urls, f"{path}.{key}", unresolved)
        return result
    if isinstance(value, list):
        return [_rewrite(item, urls, f"{path}[{i}]", unresolved) for i, item in enumerate(value)]
    return value


def _rewrite_references(entries: list[_Entry], urls: dict[str, str]) -> None:
    unresolved: list[str] = []
    for entry in entries:
        if entry.resource is not None:
            path = f"{entry.where}.resource.ofType({entry.resource_type})"
            entry.resource = _rewrite(entry.resource, urls, path, unresolved)
    if unresolved:
        raise OutcomeError(
            400,
            [
                outcome_issue(
                    "invalid",
                    "the reference is a urn that no entry's fullUrl has",
                    expression=where,
                )
                for where in unresolved
            ],
        )


def _status_text(status: int) -> str:
    return f"{status} {HTTPStatus(status).phrase}"


def _written(status: int, stored: StoredResource | None) -> JSON:
    response: JSON = {"status": _status_text(status)}
    if stored is not None:
        response["location"] = f"{stored.reference}/_history/{stored.version}"
        response["etag"] = etag(stored.version)
        response["lastModified"] = stored.last_updated
    return {"response": response}


def _answered(answer: Answer) -> JSON:
    entry = _written(answer.status, answer.stored)
    if answer.body is not None:
        entry = {"resource": answer.body, **entry}
    return entry


def _execute(
    entry: _Entry, store: ResourceStore, interactions: Interactions, base_url: str
) -> JSON:
    assert entry.resource_id is not None or entry.method == "GET"
    if entry.action == "none":
        return _written(200, entry.match)
    if entry.action == "create":
        assert entry.resource is not None
        created = store.create({**entry.resource, "id": entry.resource_id})
        return _written(201, created.stored)
    if entry.action == "update":
        assert entry.resource is not None
        assert entry.resource_id is not None
        outcome = store.update({**entry.resource, "id": entry.resource_id}, if_match=entry.if_match)
        return _written(201 if outcome.created else 200, outcome.stored)
    if entry.action == "delete":
        assert entry.resource_id is not None
        store.delete(entry.resource_type, entry.resource_id)
        return _written(204, None)
    if entry.resource_id is None:
        pairs = parse_qsl(entry.query or "", keep_blank_values=True)
        answer = interactions.search(entry.resource_type, pairs, base_url)[0]
    elif entry.history:
        answer = interactions.history(entry.resource_type, entry.resource_id, base_url)
    elif entry.version is not None:
        answer = interactions.vread(entry.resource_type, entry.resource_id, entry.version)
    else:
        answer = interactions.read(entry.resource_type, entry.resource_id)
    return _answered(answer)


def _response_bundle(kind: str, responses: list[JSON]) -> JSON:
    return {"resourceType": "Bundle", "id": str(uuid.uuid4()), "type": kind, "entry": responses}


#: the most entries a transaction or batch may hold
MAX_ENTRIES = 5_000
#: the most a batch or transaction answer may hold, in bytes of JSON (a 57 KB batch of 1,000
#: searches once answered with 295 MB)
MAX_RESPONSE_BYTES = 32 * 1024 * 1024


def _entries_of(bundle: JSON) -> list[Any]:
    items = bundle.get("entry", [])
    if not isinstance(items, list):
        raise _fail("Bundle.entry", "Bundle.entry is a list")
    if len(items) > MAX_ENTRIES:
        raise _fail(
            "Bundle.entry",
            f"{len(items):,} entries: this server takes at most {MAX_ENTRIES:,} in one Bundle",
            status=413,
            code="too-costly",
        )
    return items


class _Budget:
    """What an answer has used of ``MAX_RESPONSE_BYTES``."""

    def __init__(self) -> None:
        self.used = 0

    def spend(self, response: JSON, where: str) -> None:
        self.used += len(json.dumps(response, separators=(",", ":")))
        if self.used > MAX_RESPONSE_BYTES:
            raise _fail(
                where,
                f"the answer would exceed {MAX_RESPONSE_BYTES // (1024 * 1024)} MB: "
                "ask for less (_count, fewer entries)",
                status=413,
                code="too-costly",
            )


def run_transaction(bundle: JSON, interactions: Interactions, base_url: str) -> JSON:
    """Run a transaction Bundle all or nothing; its transaction-response Bundle."""
    items = _entries_of(bundle)
    entries = [_parse_entry(i, item, base_url, interactions) for i, item in enumerate(items)]
    problems: list[JSON] = []
    for entry in entries:
        if entry.resource is not None:
            prefix = f"{entry.where}.resource"
            problems.extend(interactions.problems(entry.resource, prefix=prefix))
    if any(p["severity"] == "error" for p in problems):
        raise OutcomeError(422, problems)
    order = sorted(
        entries,
        key=lambda e: (_ORDER[e.method], e.resource_type != "Patient", e.index),
    )
    responses: dict[int, JSON] = {}
    with store_errors(), interactions.store.transaction() as store:
        for entry in order:
            try:
                _resolve(entry, store, interactions)
            except OutcomeError as exc:
                raise _located(exc, entry) from None
        _check_distinct(entries)
        urls = {
            e.full_url: f"{e.resource_type}/{e.resource_id}"
            for e in entries
            if e.full_url and e.resource_id and e.method in ("POST", "PUT")
        }
        _rewrite_references(entries, urls)
        budget = _Budget()
        for entry in order:
            try:
                with store_errors(entry.where):
                    responses[entry.index] = _execute(entry, store, interactions, base_url)
                budget.spend(responses[entry.index], entry.where)
            except OutcomeError as exc:
                raise _located(exc, entry) from None
    return _response_bundle("transaction-response", [responses[e.index] for e in entries])


def _check_distinct(entries: list[_Entry]) -> None:
    seen: dict[str, int] = {}
    for entry in entries:
        if entry.method == "GET" or entry.resource_id is None:
            continue
        target = f"{entry.resource_type}/{entry.resource_id}"
        if target in seen:
            raise _fail(
                entry.where,
                f"entries {seen[target]} and {entry.index} both write {target}; "
                "a transaction writes each resource once",
                status=409,
                code="conflict",
            )
        seen[target] = entry.index


def run_batch(bundle: JSON, interactions: Interactions, base_url: str) -> JSON:
    """Run a batch Bundle entry by entry; its batch-response Bundle (errors per entry)."""
    items = _entries_of(bundle)
    responses: list[JSON] = []
    budget = _Budget()
    for index, item in enumerate(items):
        try:
            entry = _parse_entry(index, item, base_url, interactions)
            if entry.resource is not None:
                problems = interactions.problems(entry.resource, prefix=f"{entry.where}.resource")
                if any(p["severity"] == "error" for p in problems):
                    raise OutcomeError(422, problems)
            with store_errors(entry.where), interactions.store.transaction() as store:
                _resolve(entry, store, interactions)
                _rewrite_references([entry], {})
                response = _execute(entry, store, interactions, base_url)
            budget.spend(response, f"Bundle.entry[{index}]")
            responses.append(response)
        except OutcomeError as exc:
            if exc.status == 413:
                raise  # the answer as a whole would be too large: refused whole
            responses.append(
                {"response": {"status": _status_text(exc.status), "outcome": exc.outcome()}}
            )
    return _response_bundle("batch-response", responses)


def run_bundle(bundle: JSON, interactions: Interactions, base_url: str) -> JSON:
    """``POST [base]``: a transaction or batch Bundle; anything else is refused with 400."""
    if bundle.get("resourceType") != "Bundle":
        raise _fail("resourceType", "POST to the base takes a transaction or batch Bundle")
    kind = bundle.get("type")
    if kind == "transaction":
        return run_transaction(bundle, interactions, base_url)
    if kind == "batch":
        return run_batch(bundle, interactions, base_url)
    raise _fail(
        "Bundle.type",
        f"a {kind!r} Bundle is not processed here: send it as a transaction (each entry with a "
        "request; fhir_server.bundles.to_transaction does that) or POST it to /Bundle to "
        "store it whole",
    )
