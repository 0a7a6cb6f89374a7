"""The FHIR sandbox's HTTP face: a Starlette app serving FHIR R4 JSON under ``/fhir``.

Routes (``[base]`` = ``http://host:port/fhir``)::

    GET    [base]/metadata                      CapabilityStatement
    POST   [base]                               transaction or batch Bundle
    GET    [base]/{type}?params                 search (searchset Bundle, paged by next links)
    POST   [base]/{type}                        create (If-None-Exist: conditional create)
    PUT    [base]/{type}?criteria               conditional update
    GET    [base]/{type}/{id}                   read
    PUT    [base]/{type}/{id}                   update or create (If-Match: version-aware)
    DELETE [base]/{type}/{id}                   delete
    GET    [base]/{type}/{id}/_history          history
    GET    [base]/{type}/{id}/_history/{vid}    vread

JSON only (``application/fhir+json``). Bodies are read through the hardened FHIR JSON reader
(size and depth limits, UTF-8 only); every refusal is an OperationOutcome. The work of each
interaction is in ``.interactions`` and ``.bundles``.
"""

from __future__ import annotations

import json
import logging
import re
import time
from collections.abc import Callable
from datetime import datetime
from email.utils import format_datetime
from pathlib import Path
from typing import Any

from starlette.applications import Starlette
from starlette.concurrency import run_in_threadpool
from starlette.exceptions import HTTPException
from starlette.requests import Request
from starlette.responses import Response
from starlette.routing import Route
from starlette.types import ASGIApp, Message, Receive, Scope, Send

from interop.fhir.wire import FhirInputError, FhirLimits, read_fhir_json
from interop.issues import Issue
from interop.privacy import mask_nhs_numbers_in
from interop.sandbox.fhir_server import cpis
from interop.sandbox.fhir_server.bundles import run_bundle
from interop.sandbox.fhir_server.capability import capability_statement, is_supported
from interop.sandbox.fhir_server.interactions import Answer, Interactions, etag, parse_if_match
from interop.sandbox.fhir_server.outcome import OutcomeError, information, issue_entry
from interop.sandbox.fhir_server.store import ResourceStore, now_instant

JSON = dict[str, Any]
FHIR_JSON = "application/fhir+json"
_JSON_TYPES = {"application/fhir+json", "application/json", "application/json+fhir"}
_ACCEPTABLE = _JSON_TYPES | {"*/*", "application/*"}
_FORMATS = _JSON_TYPES | {"json"}
#: the largest request body taken (a transaction Bundle of a few thousand resources)
MAX_BODY_BYTES = 20 * 1024 * 1024
#: a body over the limit is still read (and dropped) up to this much, so the client, which
#: is still sending, gets the 413 rather than a reset connection
_DRAIN_BYTES = 64 * 1024 * 1024
_LIMITS = FhirLimits(max_bytes=MAX_BODY_BYTES, max_depth=100)
_TRACE_HEADERS = {b"x-request-id", b"x-correlation-id", b"traceid"}
#: what a log line never holds raw: control characters (a decoded %0A would forge a line)
_UNPRINTABLE = re.compile(r"[\x00-\x1f\x7f-\x9f\u2028\u2029]")
#: the longest path a log line quotes
_LOGGED_PATH = 300

log = logging.getLogger("interop.sandbox.fhir_server")


def _media_types(header: str) -> list[str]:
    return [part.split(";")[0].strip().lower() for part in header.split(",") if part.strip()]


def _http_date(instant: str) -> str:
    return format_datetime(datetime.fromisoformat(instant.replace("Z", "+00:00")), usegmt=True)


def _base_url(request: Request) -> str:
    return f"{request.url.scheme}://{request.url.netloc}/fhir"


def fhir_response(
    body: JSON | None, status: int = 200, headers: dict[str, str] | None = None
) -> Response:
    """A FHIR JSON response (no body for 204 or ``None``)."""
    content = b"" if body is None else json.dumps(body, ensure_ascii=False).encode("utf-8")
    media = f"{FHIR_JSON}; charset=utf-8" if body is not None else None
    return Response(content, status_code=status, media_type=media, headers=headers)


def _error_response(exc: OutcomeError) -> Response:
    return fhir_response(exc.outcome(), exc.status, exc.headers)


class _Handlers:
    """The route endpoints: HTTP in, an interaction, HTTP out."""

    def __init__(self, interactions: Interactions, audit_log: cpis.AuditLog | None) -> None:
        self.interactions = interactions
        self.audit_log = audit_log

    # --- the shared envelope ----------------------------------------------------------------

    async def _handle(
        self, request: Request, work: Callable[[Request, JSON | None], Response]
    ) -> Response:
        try:
            self._check_format(request)
            body = None
            if request.method in ("POST", "PUT"):
                raw = await self._read_body(request)
                self._check_content_type(request)
                body = await run_in_threadpool(self._parse, raw)
            return await run_in_threadpool(work, request, body)
        except OutcomeError as exc:
            return _error_response(exc)
        except Exception:  # the sandbox keeps serving; the trace goes to the server's log only
            log.exception("internal error on %s %s", request.method, _masked(request.url.path))
            return _error_response(
                OutcomeError.simple(500, "exception", "internal error in the sandbox (see its log)")
            )

    @staticmethod
    def _check_format(request: Request) -> None:
        wanted = request.query_params.get("_format")
        if wanted is not None and wanted.strip().lower() not in _FORMATS:
            raise OutcomeError.simple(
                406, "not-supported", "_format: this sandbox speaks application/fhir+json only"
            )
        accept = request.headers.get("accept")
        if accept and not set(_media_types(accept)) & _ACCEPTABLE:
            raise OutcomeError.simple(
                406, "not-supported", "Accept: this sandbox answers application/fhir+json only"
            )

    @staticmethod
    def _check_content_type(request: Request) -> None:
        declared = request.headers.get("content-type")
        media = _media_types(declared or "")
        if not media or media[0] not in _JSON_TYPES:
            raise OutcomeError.simple(
                415,
                "not-supported",
                f"Content-Type must be {FHIR_JSON} (it is {declared or 'missing'})",
            )

    @staticmethod
    async def _read_body(request: Request) -> bytes:
        too_big = OutcomeError.simple(
            413, "too-costly", f"the request body is over the limit of {MAX_BODY_BYTES:,} bytes"
        )
        declared = request.headers.get("content-length", "")
        if declared.isdigit() and int(declared) > _DRAIN_BYTES:
            raise too_big
        chunks: list[bytes] = []
        size = 0
        async for chunk in request.stream():
            size += len(chunk)
            if size > _DRAIN_BYTES:
                break
            if size <= MAX_BODY_BYTES:
                chunks.append(chunk)
        if size > MAX_BODY_BYTES:
            raise too_big
        return b"".join(chunks)

    @staticmethod
    def _parse(raw: bytes) -> JSON:
        try:
            return read_fhir_json(raw, _LIMITS)
        except FhirInputError as exc:
            raise OutcomeError(400, [issue_entry(i) for i in exc.issues]) from None

    def _answer(self, request: Request, answer: Answer, *, location: bool = False) -> Response:
        headers: dict[str, str] = {}
        stored = answer.stored
        if stored is not None:
            headers["ETag"] = etag(stored.version)
            headers["Last-Modified"] = _http_date(stored.last_updated)
            if location:
                headers["Location"] = (
                    f"{_base_url(request)}/{stored.reference}/_history/{stored.version}"
                )
        body = answer.body
        prefer = request.headers.get("prefer", "").replace(" ", "").lower()
        if request.method in ("POST", "PUT") and "return=minimal" in prefer:
            body = None
        elif request.method in ("POST", "PUT") and "return=operationoutcome" in prefer:
            body = information(f"{request.method} done: status {answer.status}")
        return fhir_response(body, answer.status, headers)

    @staticmethod
    def _require(body: JSON | None) -> JSON:
        assert body is not None  # _handle reads a body for every POST and PUT
        return body

    # --- endpoints --------------------------------------------------------------------------

    async def metadata(self, request: Request) -> Response:
        def work(request: Request, _: JSON | None) -> Response:
            return fhir_response(capability_statement(_base_url(request)))

        return await self._handle(request, work)

    async def system(self, request: Request) -> Response:
        def work(request: Request, body: JSON | None) -> Response:
            bundle = self._require(body)
            return fhir_response(run_bundle(bundle, self.interactions, _base_url(request)))

        return await self._handle(request, work)

    async def type_level(self, request: Request) -> Response:
        kind = request.path_params["type"]

        def work(request: Request, body: JSON | None) -> Response:
            if request.method == "GET":
                return self._search(request, kind)
            resource = self._require(body)
            if request.method == "POST":
                if_none_exist = request.headers.get("if-none-exist")
                answer = self.interactions.create(kind, resource, if_none_exist)
                return self._answer(request, answer, location=True)
            query = request.url.query
            if not query:
                raise OutcomeError.simple(
                    400, "invalid", f"PUT {kind} needs an id (PUT {kind}/id) or search criteria"
                )
            if_match = parse_if_match(request.headers.get("if-match"))
            answer = self.interactions.conditional_update(kind, query, resource, if_match)
            return self._answer(request, answer, location=True)

        return await self._handle(request, work)

    async def instance(self, request: Request) -> Response:
        kind, ident = request.path_params["type"], request.path_params["id"]

        def work(request: Request, body: JSON | None) -> Response:
            if ident.startswith(("_", "$")):
                raise OutcomeError.simple(
                    404, "not-supported", f"{kind}/{ident}: not an operation this sandbox offers"
                )
            if request.method == "GET":
                return self._answer(request, self.interactions.read(kind, ident))
            if request.method == "DELETE":
                return self._answer(request, self.interactions.delete(kind, ident))
            if_match = parse_if_match(request.headers.get("if-match"))
            answer = self.interactions.update(kind, ident, self._require(body), if_match)
            return self._answer(request, answer, location=True)

        return await self._handle(request, work)

    async def history(self, request: Request) -> Response:
        kind, ident = request.path_params["type"], request.path_params["id"]

        def work(request: Request, _: JSON | None) -> Response:
            return self._answer(request, self.interactions.history(kind, ident, _base_url(request)))

        return await self._handle(request, work)

    async def vread(self, request: Request) -> Response:
        params = request.path_params

        def work(request: Request, _: JSON | None) -> Response:
            answer = self.interactions.vread(params["type"], params["id"], params["vid"])
            return self._answer(request, answer)

        return await self._handle(request, work)

    # --- search and the CP-IS access record -------------------------------------------------

    def _search(self, request: Request, kind: str) -> Response:
        asked = request.query_params.multi_items()
        history = cpis.is_access_history(kind, asked)
        pairs = cpis.search_pairs(kind, asked)
        record = kind == "CareTeam" and cpis.unscheduled(
            request.headers.get(cpis.UNSCHEDULED_HEADER)
        )
        # FHIR's lenient handling unless the client asks for strict (then 400 on the first
        # parameter the sandbox does not support)
        strict = "handling=strict" in request.headers.get("Prefer", "").replace(" ", "")
        query = self.interactions.parse_search(kind, pairs, strict=strict)
        cpis.check_nhs_numbers(query)
        who = (
            cpis.accessed_child(query, request.headers.get(cpis.ORGANISATION_HEADER))
            if record
            else None
        )
        answer, query, page = self.interactions.search(
            kind, pairs, _base_url(request), strict=strict
        )
        if who is not None and query.cursor is None and page.resources:
            ods, nhs_number = who
            event = cpis.access_event(ods, nhs_number, page.resources, now_instant())
            stored = self.interactions.store.create(event).stored
            if self.audit_log is not None:
                self.audit_log.record(stored, ods, nhs_number, len(page.resources))
        if history and answer.body is not None:
            cpis.cap_access_history(answer.body)
        return self._answer(request, answer)


def _masked(path: str) -> str:
    """A request path as a log line may hold it: NHS numbers masked in every form (bare,
    spaced, hyphenated), control characters escaped (``\\x0a``), at most 300 characters."""
    masked = mask_nhs_numbers_in(path[: _LOGGED_PATH * 2])
    escaped = _UNPRINTABLE.sub(lambda m: f"\\x{ord(m[0]):02x}", masked)
    return escaped if len(escaped) <= _LOGGED_PATH else escaped[:_LOGGED_PATH] + "..."


class _TraceAndLog:
    """Echo the caller's trace ids (X-Request-ID, X-Correlation-ID, TraceID) and log one
    line per request: method, path (NHS-number-like digits masked; never the query), status."""

    def __init__(self, app: ASGIApp) -> None:
        self.app = app

    async def __call__(self, scope: Scope, receive: Receive, send: Send) -> None:
        if scope["type"] != "http":
            await self.app(scope, receive, send)
            return
        echo = [
            (name.lower(), value)
            for name, value in scope["headers"]
            if name.lower() in _TRACE_HEADERS and len(value) <= 200
        ]
        started = time.perf_counter()
        status = 0

        async def send_traced(message: Message) -> None:
            nonlocal status
            if message["type"] == "http.response.start":
                status = message["status"]
                message = {**message, "headers": [*message.get("headers", []), *echo]}
            await send(message)

        try:
            await self.app(scope, receive, send_traced)
        finally:
            took = (time.perf_counter() - started) * 1000
            log.info("%s %s %s %.1f ms", scope["method"], _masked(scope["path"]), status, took)


def _routing_error(request: Request, exc: Exception) -> Response:
    assert isinstance(exc, HTTPException)
    code = {404: "not-found", 405: "not-supported"}.get(exc.status_code, "processing")
    message = {
        404: f"no such path: {_masked(request.url.path)} (the FHIR base is /fhir)",
        405: f"{request.method} is not allowed here",
    }.get(exc.status_code, str(exc.detail))
    error = OutcomeError.simple(exc.status_code, code, message)
    return fhir_response(error.outcome(), exc.status_code, dict(exc.headers or {}))


def create_app(
    store: ResourceStore,
    *,
    validator: Callable[[JSON], list[Issue]] | None = None,
    page_size: int = 50,
    audit_log: Path | None = None,
) -> Starlette:
    """The sandbox as an ASGI app over ``store``.

    ``validator`` checks every incoming resource (default: the structure check,
    ``interop.fhir.structure.check_structure``); an error-severity issue refuses it with 422.
    ``page_size`` is the default ``_count``. ``audit_log`` receives a JSON line (NHS number
    masked) for each unscheduled CP-IS access.
    """
    if validator is None:
        from interop.fhir.structure import check_structure

        validator = check_structure
    interactions = Interactions(store, validator, page_size=page_size, is_supported=is_supported)
    handlers = _Handlers(interactions, cpis.AuditLog(audit_log) if audit_log else None)
    routes = [
        Route("/fhir/metadata", handlers.metadata, methods=["GET"]),
        Route("/fhir", handlers.system, methods=["POST"]),
        Route("/fhir/", handlers.system, methods=["POST"]),  # httpx's base_url adds the slash
        Route("/fhir/{type}", handlers.type_level, methods=["GET", "POST", "PUT"]),
        Route("/fhir/{type}/{id}", handlers.instance, methods=["GET", "PUT", "DELETE"]),
        Route("/fhir/{type}/{id}/_history", handlers.history, methods=["GET"]),
        Route("/fhir/{type}/{id}/_history/{vid}", handlers.vread, methods=["GET"]),
    ]
    app = Starlette(routes=routes, exception_handlers={HTTPException: _routing_error})
    app.add_middleware(_TraceAndLog)
    return app


__all__ = ["FHIR_JSON", "MAX_BODY_BYTES", "create_app", "fhir_response"]
