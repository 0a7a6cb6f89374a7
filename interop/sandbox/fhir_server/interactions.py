"""The FHIR RESTful interactions the sandbox offers, apart from HTTP.

Both the HTTP routes (``.app``) and the entries of transaction and batch Bundles
(``.bundles``) come here, so a PUT means the same thing either way. Each
interaction returns an ``Answer`` (status, body, the stored version) or raises ``OutcomeError``.
"""

from __future__ import annotations

import re
import uuid
from collections.abc import Callable, Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any
from urllib.parse import parse_qsl, urlencode

from interop.issues import Issue, Severity
from interop.sandbox.fhir_server.outcome import OutcomeError, issue_entry
from interop.sandbox.fhir_server.search import SearchError, SearchQuery, parse_search
from interop.sandbox.fhir_server.store import (
    Conflict,
    Gone,
    InvalidRequest,
    NotFound,
    PreconditionFailed,
    ResourceStore,
    SearchPage,
    StoredResource,
    StoreError,
    WriteOutcome,
    now_instant,
)

JSON = dict[str, Any]
Validator = Callable[[JSON], list[Issue]]
ID_PATTERN = re.compile(r"^[A-Za-z0-9\-.]{1,64}$")
_ETAG = re.compile(r'^\s*(?:W/)?"?(\d{1,18})"?\s*$')


@dataclass(frozen=True)
class Answer:
    """What an interaction gives back: HTTP status, body, and the version it concerns."""

    status: int
    body: JSON | None
    stored: StoredResource | None = None


@contextmanager
def store_errors(expression: str | None = None) -> Iterator[None]:
    """Turn the store's refusals into FHIR errors (404, 409, 410, 412, 400)."""
    try:
        yield
    except NotFound as exc:
        raise OutcomeError.simple(404, "not-found", str(exc), expression=expression) from None
    except Gone as exc:
        raise OutcomeError.simple(410, "deleted", str(exc), expression=expression) from None
    except PreconditionFailed as exc:
        raise OutcomeError.simple(412, "conflict", str(exc), expression=expression) from None
    except Conflict as exc:
        raise OutcomeError.simple(409, "duplicate", str(exc), expression=expression) from None
    except InvalidRequest as exc:
        raise OutcomeError.simple(400, "invalid", str(exc), expression=expression) from None
    except StoreError as exc:
        raise OutcomeError.simple(500, "exception", str(exc), expression=expression) from None


def parse_if_match(value: str | None) -> int | None:
    """The version an ``If-Match`` header (``W/"3"``) asks for, or None when absent."""
    if value is None:
        return None
    match = _ETAG.match(value)
    if match is None:
        raise OutcomeError.simple(
            400, "invalid", 'If-Match: expected a version ETag such as W/"3"', expression="If-Match"
        )
    return int(match[1])


def etag(version: int) -> str:
    """The weak ETag of a version."""
    return f'W/"{version}"'


def check_id(resource_id: str, expression: str = "id") -> None:
    """Refuse a string that cannot be a FHIR id."""
    if not ID_PATTERN.match(resource_id):
        raise OutcomeError.simple(
            400, "invalid", "a FHIR id is 1-64 of A-Z a-z 0-9 - .", expression=expression
        )


class Interactions:
    """The sandbox's interactions over a store, with its validator and supported types."""

    def __init__(
        self,
        store: ResourceStore,
        validator: Validator,
        *,
        page_size: int,
        is_supported: Callable[[str], bool],
    ) -> None:
        self.store = store
        self.validator = validator
        self.page_size = page_size
        self.is_supported = is_supported

    # --- checks -----------------------------------------------------------------------------

    def check_type(self, resource_type: str) -> None:
        """404 unless the sandbox stores this resource type."""
        if not self.is_supported(resource_type):
            raise OutcomeError.simple(
                404,
                "not-supported",
                f"'{resource_type}' is not an R4 resource type this sandbox stores (see /metadata)",
            )

    def check_body(self, resource: JSON, resource_type: str) -> None:
        """400 when the body is another type than the URL says."""
        if resource.get("resourceType") != resource_type:
            raise OutcomeError.simple(
                400,
                "invalid",
                f"the body is a {resource.get('resourceType')}, the URL says {resource_type}",
                expression="resourceType",
            )

    def problems(self, resource: JSON, *, prefix: str | None = None) -> list[JSON]:
        """The validator's issues as OperationOutcome issues, errors first."""
        issues = self.validator(resource)
        issues = sorted(issues, key=lambda i: i.severity is not Severity.ERROR)
        return [issue_entry(i, prefix=prefix) for i in issues]

    def validate(self, resource: JSON) -> None:
        """422 with every issue when the validator finds an error."""
        found = self.problems(resource)
        if any(i["severity"] == "error" for i in found):
            raise OutcomeError(422, found)

    def criteria(self, resource_type: str, query: str, *, where: str) -> SearchQuery:
        """Search criteria from a query string (If-None-Exist, a conditional URL)."""
        pairs = parse_qsl(
            query.partition("?")[2] if "?" in query else query, keep_blank_values=True
        )
        if not pairs:
            raise OutcomeError.simple(
                400, "invalid", f"{where}: no search criteria", expression=where
            )
        return self.parse_search(resource_type, pairs, where=where)

    def parse_search(
        self,
        resource_type: str,
        pairs: Sequence[tuple[str, str]],
        *,
        where: str | None = None,
        strict: bool = True,
    ) -> SearchQuery:
        """A parsed search, or 400 naming the parameter that cannot be run (``strict`` False:
        unsupported parameters are ignored and listed in ``SearchQuery.ignored``)."""
        try:
            return parse_search(resource_type, pairs, default_count=self.page_size, strict=strict)
        except SearchError as exc:
            raise OutcomeError.simple(
                400, "not-supported", str(exc), expression=where or exc.parameter
            ) from None

    # --- interactions -----------------------------------------------------------------------

    def create(self, resource_type: str, resource: JSON, if_none_exist: str | None) -> Answer:
        """POST: a new resource with a server id (any id in the body is ignored, as FHIR says);
        with ``If-None-Exist``, the one match instead when there is one."""
        self.check_type(resource_type)
        self.check_body(resource, resource_type)
        self.validate(resource)
        body = {k: v for k, v in resource.items() if k != "id"}
        with store_errors():
            if if_none_exist:
                criteria = self.criteria(resource_type, if_none_exist, where="If-None-Exist")
                outcome = self.store.conditional_create(body, criteria)
            else:
                outcome = self.store.create({**body, "id": str(uuid.uuid4())})
        return self._written(outcome)

    def read(self, resource_type: str, resource_id: str) -> Answer:
        """GET Type/id."""
        self.check_type(resource_type)
        check_id(resource_id)
        with store_errors():
            stored = self.store.read(resource_type, resource_id)
        return Answer(200, stored.resource, stored)

    def vread(self, resource_type: str, resource_id: str, version: str) -> Answer:
        """GET Type/id/_history/vid."""
        self.check_type(resource_type)
        check_id(resource_id)
        if not version.isdigit() or len(version) > 18:
            raise OutcomeError.simple(
                404, "not-found", f"'{version}' is not a version of this server"
            )
        with store_errors():
            stored = self.store.vread(resource_type, resource_id, int(version))
        return Answer(200, stored.resource, stored)

    def update(
        self, resource_type: str, resource_id: str, resource: JSON, if_match: int | None
    ) -> Answer:
        """PUT Type/id: create or update under a client id; identical content: no new version."""
        self.check_type(resource_type)
        check_id(resource_id)
        self.check_body(resource, resource_type)
        if resource.get("id") != resource_id:
            raise OutcomeError.simple(
                400,
                "invalid",
                "the body's id must be the id in the URL",
                expression=f"{resource_type}.id",
            )
        self.validate(resource)
        with store_errors():
            outcome = self.store.update(resource, if_match=if_match)
        return self._written(outcome)

    def conditional_update(
        self, resource_type: str, query: str, resource: JSON, if_match: int | None
    ) -> Answer:
        """PUT Type?criteria: update the one match, or create; several matches: 412."""
        self.check_type(resource_type)
        self.check_body(resource, resource_type)
        if "id" in resource:
            check_id(str(resource["id"]), f"{resource_type}.id")
        criteria = self.criteria(resource_type, query, where="url")
        self.validate(resource)
        with store_errors():
            outcome = self.store.conditional_update(resource, criteria, if_match=if_match)
        return self._written(outcome)

    def delete(self, resource_type: str, resource_id: str) -> Answer:
        """DELETE Type/id: 204 (already deleted too); 404 when never stored."""
        self.check_type(resource_type)
        check_id(resource_id)
        with store_errors():
            stored = self.store.delete(resource_type, resource_id)
        return Answer(204, None, stored)

    def history(self, resource_type: str, resource_id: str, base_url: str) -> Answer:
        """GET Type/id/_history: every version, newest first, as a history Bundle."""
        self.check_type(resource_type)
        check_id(resource_id)
        with store_errors():
            versions = self.store.history(resource_type, resource_id)
        entries = []
        for i, stored in enumerate(versions):
            last = i == len(versions) - 1
            method = "DELETE" if stored.deleted else "POST" if last else "PUT"
            entry: JSON = {"fullUrl": f"{base_url}/{stored.reference}"}
            if stored.resource is not None:
                entry["resource"] = stored.resource
            entry["request"] = {
                "method": method,
                "url": resource_type if method == "POST" else stored.reference,
            }
            entry["response"] = {
                "status": "201 Created" if last else "200 OK",
                "etag": etag(stored.version),
                "lastModified": stored.last_updated,
            }
            entries.append(entry)
        return Answer(200, _bundle("history", entries, total=len(entries)))

    def search(
        self,
        resource_type: str,
        pairs: Sequence[tuple[str, str]],
        base_url: str,
        *,
        strict: bool = False,
    ) -> tuple[Answer, SearchQuery, SearchPage]:
        """GET Type?params: a searchset Bundle with ``self`` and (more to come) ``next`` links;
        the parameters ignored (lenient handling, ``strict`` False) are listed in an
        OperationOutcome entry (``search.mode = outcome``)."""
        self.check_type(resource_type)
        query = self.parse_search(resource_type, pairs, strict=strict)
        with store_errors():
            page = self.store.search(query)
        entries: list[JSON] = [
            {
                "fullUrl": f"{base_url}/{s.reference}",
                "resource": s.resource,
                "search": {"mode": "match"},
            }
            for s in page.resources
        ]
        entries.extend(self._included(query, page, base_url))
        links = [{"relation": "self", "url": _search_url(base_url, resource_type, pairs)}]
        if page.next_cursor is not None:
            kept = [(k, v) for k, v in pairs if k not in ("_cursor", "_count")]
            kept += [("_count", str(query.count)), ("_cursor", page.next_cursor.token())]
            links.append({"relation": "next", "url": _search_url(base_url, resource_type, kept)})
        if query.ignored:
            issues = [
                {"severity": "warning", "code": "not-supported", "diagnostics": why}
                for why in query.ignored
            ]
            outcome = {"resourceType": "OperationOutcome", "issue": issues}
            entries.append({"resource": outcome, "search": {"mode": "outcome"}})
        total = None if query.no_total and not query.count_only else page.total
        bundle = _bundle("searchset", entries, total=total, links=links)
        return Answer(200, bundle), query, page

    # --- helpers ----------------------------------------------------------------------------

    def _included(self, query: SearchQuery, page: SearchPage, base_url: str) -> list[JSON]:
        seen = {s.reference for s in page.resources}
        found: list[JSON] = []
        for stored in page.resources:
            for element in query.includes:
                for target in _references(stored.resource, element):
                    if target in seen:
                        continue
                    seen.add(target)
                    kind, _, ident = target.partition("/")
                    try:
                        included = self.store.read(kind, ident)
                    except StoreError:
                        continue  # a dangling reference includes nothing
                    found.append(
                        {
                            "fullUrl": f"{base_url}/{target}",
                            "resource": included.resource,
                            "search": {"mode": "include"},
                        }
                    )
        return found

    @staticmethod
    def _written(outcome: WriteOutcome) -> Answer:
        return Answer(201 if outcome.created else 200, outcome.stored.resource, outcome.stored)


def _references(resource: JSON | None, element: str) -> list[str]:
    """The literal ``Type/id`` references of a top-level element."""
    value = (resource or {}).get(element)
    found = []
    for item in value if isinstance(value, list) else [value]:
        reference = item.get("reference") if isinstance(item, dict) else None
        if isinstance(reference, str):
            match = re.search(r"(?:^|/)([A-Z][A-Za-z]+)/([A-Za-z0-9\-.]{1,64})$", reference)
            if match:
                found.append(f"{match[1]}/{match[2]}")
    return found


def _search_url(base_url: str, resource_type: str, pairs: Sequence[tuple[str, str]]) -> str:
    query = urlencode(list(pairs), safe="|:,/")
    return f"{base_url}/{resource_type}" + (f"?{query}" if query else "")


def _bundle(
    kind: str, entries: list[JSON], *, total: int | None = None, links: list[JSON] | None = None
) -> JSON:
    bundle: JSON = {
        "resourceType": "Bundle",
        "id": str(uuid.uuid4()),
        "meta": {"lastUpdated": now_instant()},
        "type": kind,
    }
    if total is not None:
        bundle["total"] = total
    if links:
        bundle["link"] = links
    if entries:
        bundle["entry"] = entries
    return bundle
