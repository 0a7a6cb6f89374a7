"""A FHIR R4 REST client (httpx): one endpoint, the generic interactions, retries and auth.

``FhirClient`` talks to one base URL: ``read``, ``vread``, ``create`` (conditional with
``If-None-Exist``), ``update`` (``If-Match``), ``update_conditional``, ``transaction`` (batch or
transaction Bundles), ``search`` (``next`` links followed lazily, and only within the endpoint),
``read_many`` (batched reads by ``Type/id``, and searches). ``write_style`` says how a push
writes what a server does not hold (``write``: ``client-ids``, ``conditional``, ``create``, or
``auto`` from the CapabilityStatement, read once per client). Built on it, in modules of their own:

- ``fhir_records``: the toolkit's artefacts (``push``, ``patient_record``, ``changed_since``,
  also offered as methods here);
- ``cpis_api.CpisApi``: the CP-IS FHIR API (the unscheduled-access header, the audit log);
- ``flags.PatientFlags``: Patient Flags / FGM-IS (read, create once, end with a reason).

Every logical request gets a new ``X-Request-ID``, kept across its retries; each client has an
``X-Correlation-ID``; ``NHSD-End-User-Organisation-ODS`` is sent when configured.

Retries: idempotent requests only (GET, PUT, DELETE, a conditional create, a transaction of
those) on 429/502/503/504, connection failures, timeouts and unreadable 2xx bodies, honouring
``Retry-After`` within ``RetryPolicy``'s count and time budget. A POST that is not idempotent
is sent once: when its outcome is unknown (timeout, reset) ``FhirTransportError`` says so
(``outcome_unknown``), and the caller checks before sending again.

Errors (``fhir_errors``, importable from here too): ``FhirError`` (the server answered with an
error status; ``issues`` are its OperationOutcome's) and ``FhirTransportError`` (no usable
answer: ``kind`` auth, unavailable, timeout or protocol), both ``FhirClientError``, a
``TransportError``. Messages name the method, the path (never the query, which can hold an
NHS number; NHS numbers in the path, ``Patient/9434765919``, masked) and the request id; never
a token.

A ``FhirClient`` is not thread-safe: use one per thread.
"""

from __future__ import annotations

import json
import logging
import ssl
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any
from urllib.parse import urljoin, urlsplit

import httpx

from interop import __version__
from interop.privacy import mask_nhs_numbers_in, protect_logger
from interop.safe_json import JsonInputError, JsonLimits, parse_json
from interop.transport import fhir_records
from interop.transport.auth import Authenticator, NoAuth, TokenError, authenticator_for, tls_verify
from interop.transport.base import Endpoint
from interop.transport.bundles import (
    PATIENT_LINKED_TYPES,
    is_idempotent_transaction,
    relative_reference,
)
from interop.transport.fhir_errors import (
    FhirClientError,
    FhirError,
    FhirTransportError,
    OutcomeIssue,
    is_transient,
    outcome_issues,
    short_reason,
    transport_failure,
)
from interop.transport.fhir_records import (
    PATIENT_SEARCHES,
    SEARCH_FORMS_EXTENSION,
    WRITE_CAPABILITY,
    WRITE_MODES,
    ChangedResources,
    PatientSearch,
    PushMode,
    PushOutcome,
    PushResult,
    SearchStyle,
    UnsupportedWrite,
    WriteMode,
    WriteStyle,
    etag_version,
    nhs_number_token,
)
from interop.transport.retry import RETRYABLE_STATUS, RetryPolicy, parse_retry_after

# httpx logs each request's URL at INFO, and a search by NHS number carries it in the query
for _library_logger in ("httpx", "httpcore"):
    protect_logger(_library_logger)

if TYPE_CHECKING:
    from interop.config import EndpointSettings

__all__ = [
    "SEARCH_FORMS_EXTENSION",
    "ChangedResources",
    "FhirAnswer",
    "FhirClient",
    "FhirClientError",
    "FhirError",
    "FhirTransportError",
    "OutcomeIssue",
    "PushOutcome",
    "PushResult",
    "UnsupportedWrite",
    "nhs_number_token",
]

JSON = dict[str, Any]

FHIR_JSON = "application/fhir+json"
_IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
_MAX_PAGES = 100_000
_BATCH_READS = 100

log = logging.getLogger("interop.transport.fhir")
protect_logger(log.name)  # a request's path or a server's answer may name a patient


class _TooLarge(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


@dataclass(frozen=True)
class FhirAnswer:
    """A server's successful answer: status, headers, the parsed JSON body (None if empty)."""

    status: int
    headers: httpx.Headers
    body: Any
    request_id: str


# --- the client ------------------------------------------------------------------------------


class FhirClient(Endpoint):
    """One FHIR endpoint. Use it as a context manager, or call ``close``.

    ``transport`` replaces httpx's network transport (tests inject faults with
    ``httpx.MockTransport``); ``verify`` is what ``tls_verify`` gives.
    """

    def __init__(
        self,
        base_url: str,
        *,
        auth: Authenticator | None = None,
        ods_code: str | None = None,
        correlation_id: str | None = None,
        timeout: float = 30.0,
        retry: RetryPolicy | None = None,
        verify: ssl.SSLContext | bool = True,
        transport: httpx.BaseTransport | None = None,
        max_response_bytes: int = 64 * 1024 * 1024,
        name: str | None = None,
        patient_search: PatientSearch = "auto",
        write: WriteMode = "auto",
    ) -> None:
        split = urlsplit(base_url)
        if split.scheme not in ("http", "https") or not split.hostname:
            raise ValueError("the base URL must be an http:// or https:// URL")
        if split.query or split.fragment or split.username or split.password:
            raise ValueError("the base URL has no query, fragment or user information")
        if patient_search not in PATIENT_SEARCHES:
            raise ValueError(f"patient_search is one of {', '.join(PATIENT_SEARCHES)}")
        if write not in WRITE_MODES:
            raise ValueError(f"write is one of {', '.join(WRITE_MODES)}")
        self.base_url = base_url.rstrip("/")
        self.name = name or self.base_url
        self.patient_search: PatientSearch = patient_search
        self.write: WriteMode = write
        #: the server's CapabilityStatement once read (``search_style``; {}: it has none)
        self._statement: JSON | None = None
        #: the version of each ``Type/id`` this client last wrote or found unchanged: a push
        #: sends it as If-Match, so an edit made on the server since is not overwritten
        self.written_versions: dict[str, str | None] = {}
        self.correlation_id = correlation_id or str(uuid.uuid4())
        self._auth: Authenticator = auth or NoAuth()
        self._retry = retry or RetryPolicy()
        self._limits = JsonLimits(max_bytes=max_response_bytes, max_depth=128)
        # reads of referenced resources go as batches until a server refuses one
        self._batch_reads = True
        headers = {
            "Accept": FHIR_JSON,
            "User-Agent": f"safeguarding-interop/{__version__}",
            "X-Correlation-ID": self.correlation_id,
        }
        if ods_code:
            headers["NHSD-End-User-Organisation-ODS"] = ods_code
        self._http = httpx.Client(
            base_url=self.base_url + "/",
            headers=headers,
            timeout=timeout,
            verify=verify,
            transport=transport,
            follow_redirects=False,
        )

    @classmethod
    def from_settings(
        cls,
        settings: EndpointSettings,
        *,
        transport: httpx.BaseTransport | None = None,
        retry: RetryPolicy | None = None,
    ) -> FhirClient:
        """The client of a configured ``kind = "fhir"`` endpoint."""
        if settings.kind != "fhir" or settings.url is None:
            raise ValueError(f"endpoint {settings.name} is a {settings.kind} endpoint, not fhir")
        if not settings.verify_tls:
            # allowed only outside production and never towards nhs.uk (the configuration
            # refuses both); still said on every run, as it leaves the connection open to MITM
            log.warning("%s: TLS certificates are NOT verified (verify_tls = false)", settings.name)
        verify = tls_verify(
            verify_tls=settings.verify_tls,
            ca_bundle=settings.ca_bundle,
            client_cert=settings.client_cert,
            client_key=settings.client_key,
        )
        policy = retry or RetryPolicy(
            max_retries=settings.max_retries, budget=settings.retry_budget
        )
        return cls(
            settings.url,
            auth=authenticator_for(settings.auth, timeout=settings.timeout),
            ods_code=settings.ods_code,
            timeout=settings.timeout,
            retry=policy,
            verify=verify,
            transport=transport,
            name=settings.name,
            patient_search=settings.patient_search,
            write=settings.write,
        )

    def __repr__(self) -> str:
        return f"FhirClient({self.base_url!r}, auth={self._auth!r})"

    def close(self) -> None:
        """Close the connections."""
        self._http.close()

    # -- basic interactions ---------------------------------------------------------------------

    def capabilities(self) -> JSON:
        """The server's CapabilityStatement (``GET metadata``)."""
        return self.expect_resource(self.request("GET", "metadata"), "CapabilityStatement")

    def read(self, resource_type: str, resource_id: str) -> JSON:
        """``GET Type/id``."""
        return self.expect_resource(
            self.request("GET", f"{resource_type}/{resource_id}"), resource_type
        )

    def vread(self, resource_type: str, resource_id: str, version: str) -> JSON:
        """``GET Type/id/_history/version``."""
        path = f"{resource_type}/{resource_id}/_history/{version}"
        return self.expect_resource(self.request("GET", path), resource_type)

    def create(self, resource: JSON, *, if_none_exist: str | None = None) -> JSON:
        """``POST Type``; with ``if_none_exist`` (a search query such as
        ``identifier=system|value``) a conditional create, which is safe to retry."""
        headers = {"Prefer": "return=representation"}
        if if_none_exist:
            headers["If-None-Exist"] = if_none_exist
        answer = self.request("POST", _type_of(resource), body=resource, headers=headers)
        return self._written(answer, resource)

    def update(self, resource: JSON, *, if_match: str | None = None) -> JSON:
        """``PUT Type/id`` (create or update at a known id); ``if_match`` is an ETag."""
        headers = {"Prefer": "return=representation"}
        if if_match:
            headers["If-Match"] = if_match
        path = f"{_type_of(resource)}/{_id_of(resource)}"
        return self._written(self.request("PUT", path, body=resource, headers=headers), resource)

    def update_conditional(self, resource: JSON, query: Mapping[str, str]) -> JSON:
        """``PUT Type?query``: update the one resource matching ``query`` (or create it)."""
        answer = self.request(
            "PUT",
            _type_of(resource),
            params=query,
            body=resource,
            headers={"Prefer": "return=representation"},
        )
        return self._written(answer, resource)

    def transaction(self, bundle: JSON) -> JSON:
        """``POST`` a transaction or batch Bundle; retried only when every entry is idempotent."""
        answer = self.request("POST", "", body=bundle, idempotent=is_idempotent_transaction(bundle))
        return self.expect_resource(answer, "Bundle")

    # -- search ---------------------------------------------------------------------------------

    def search_pages(self, resource_type: str, params: Mapping[str, str]) -> Iterator[JSON]:
        """The searchset Bundles of a search, one page at a time, following ``next`` links
        lazily (the next page is fetched only when asked for)."""
        answer = self.request("GET", resource_type, params=params)
        seen: set[str] = set()
        for _ in range(_MAX_PAGES):
            page = self.expect_resource(answer, "Bundle")
            yield page
            link = _next_link(page)
            if link is None:
                return
            link = urljoin(self.base_url + "/", link)
            if not self._within(link):
                raise FhirTransportError(
                    "protocol",
                    f"{self.name}: a next link of the {resource_type} search leaves the endpoint",
                    request_id=answer.request_id,
                )
            if link in seen:
                raise FhirTransportError(
                    "protocol", f"{self.name}: the {resource_type} search pages loop"
                )
            seen.add(link)
            answer = self.request("GET", link, what=f"GET {resource_type} (next page)")
        raise FhirTransportError("protocol", f"{self.name}: more than {_MAX_PAGES} pages")

    def search(
        self, resource_type: str, params: Mapping[str, str], *, include: bool = True
    ) -> Iterator[JSON]:
        """The resources a search finds, page after page (lazily). ``include`` False leaves
        out the entries a server added with ``search.mode = include``; entries with
        ``search.mode = outcome`` (a server's notes on the search) are never resources found.

        A server that says ``total`` and stops giving ``next`` links before delivering that
        many matches (a page size it applies without paging) is a protocol error, never a
        silently short answer: a child's flag on a later page must not look absent.
        """
        total: int | None = None
        matched = 0
        for page in self.search_pages(resource_type, params):
            if total is None and isinstance(page.get("total"), int):
                total = page["total"]
            for entry in page.get("entry") or []:
                resource = entry.get("resource") if isinstance(entry, dict) else None
                if not isinstance(resource, dict):
                    continue
                mode = (entry.get("search") or {}).get("mode")
                if mode == "outcome" or resource.get("resourceType") == "OperationOutcome":
                    continue
                if mode != "include":
                    matched += 1
                if include or mode != "include":
                    yield resource
        if total is not None and matched < total:
            raise FhirTransportError(
                "protocol",
                f"{self.name}: the {resource_type} search gave {matched} of {total} matches "
                "and no next link",
            )

    def patient_params(
        self, nhs_number: str, *, style: SearchStyle | None = None
    ) -> dict[str, str] | None:
        """The search parameters that find a child's resources, by ``style`` (default: the
        client's ``search_style()``):
        ``patient:identifier=<system>|NHS`` (the CP-IS FHIR API's pattern; a standard server
        matches it against ``Reference.identifier``), ``patient.identifier=`` (a chain), or
        ``patient=Patient/<id>,...`` after finding the Patients by identifier (``resolve``).
        None when ``resolve`` finds no Patient: then nothing points at the child."""
        token = nhs_number_token(nhs_number)
        style = style or self.search_style()
        if style == "identifier":
            return {"patient:identifier": token}
        if style == "chain":
            return {"patient.identifier": token}
        patients = sorted(
            f"Patient/{p['id']}"
            for p in self.search("Patient", {"identifier": token}, include=False)
            if isinstance(p.get("id"), str) and p.get("resourceType") == "Patient"
        )
        return {"patient": ",".join(patients)} if patients else None

    def search_style(self, *, without_statement: SearchStyle = "resolve") -> SearchStyle:
        """The patient search this client uses: the configured one, or (``auto``) the one
        the server's CapabilityStatement offers (``fhir_records.search_style``), read once
        per client. A server whose ``metadata`` is not a CapabilityStatement is searched
        ``without_statement``: by default the way every standard server supports."""
        if self.patient_search != "auto":
            return self.patient_search
        statement = self.capability_statement()
        if not statement:
            return without_statement
        return fhir_records.search_style(statement)

    def capability_statement(self) -> JSON:
        """The server's CapabilityStatement, read once per client; {} when the server gives
        none (an error status, an answer that is no CapabilityStatement, metadata refused)."""
        if self._statement is None:
            try:
                self._statement = self.capabilities()
            except FhirError as exc:
                log.info("%s: no CapabilityStatement (status %s)", self.name, exc.status)
                self._statement = {}
            except FhirTransportError as exc:
                # an answer that is no CapabilityStatement, or metadata refused to this
                # client: no statement (a server that cannot be reached fails the search too)
                if exc.kind not in ("protocol", "auth"):
                    raise
                log.info("%s: no CapabilityStatement (%s)", self.name, exc)
                self._statement = {}
        return self._statement

    def write_style(self, types: list[str], write: WriteMode | None = None) -> WriteStyle:
        """How a push writes resources of ``types``: ``write`` (default: the client's). ``auto``:
        the first of client-ids, conditional, create that the server's CapabilityStatement
        offers for them (``fhir_records.write_style``); a server without one: client-ids.
        ``UnsupportedWrite`` when the statement offers none, or not the one configured."""
        write = write or self.write
        if write not in WRITE_MODES:
            raise ValueError(f"write is one of {', '.join(WRITE_MODES)}")
        statement = self.capability_statement()
        if write == "auto":
            if not statement:
                return "client-ids"
            style = fhir_records.write_style(statement, types)
            if style is None:
                raise UnsupportedWrite(
                    f"{self.name}: the server's CapabilityStatement offers none of updateCreate, "
                    f"conditionalUpdate, conditionalCreate for {', '.join(types)}: nothing "
                    "written (set the endpoint's write mode to the one it accepts)"
                )
            return style
        if statement and fhir_records.write_style(statement, types, only=write) is None:
            raise UnsupportedWrite(
                f"{self.name}: write = {write!r} needs {WRITE_CAPABILITY[write]}, which the "
                f"server's CapabilityStatement does not offer for {', '.join(types)}: "
                "nothing written"
            )
        return write

    def search_by_patient(
        self, resource_type: str, nhs_number: str, **params: str
    ) -> Iterator[JSON]:
        """The child's resources of ``resource_type`` (``patient_params``) plus ``params``."""
        query = self.patient_params(nhs_number)
        if query is None:
            return iter(())
        return self.search(resource_type, {**query, **params})

    def search_since(self, resource_type: str, since: str, **params: str) -> Iterator[JSON]:
        """``Type?_lastUpdated=gt<since>``: the resources changed after ``since``."""
        return self.search(resource_type, {"_lastUpdated": f"gt{since}", **params})

    def read_many(self, keys: list[str]) -> dict[str, JSON]:
        """Read resources by ``Type/id``, or run searches (``Type?query``: the answer is the
        first searchset page): a batch of GETs per 100, or one GET each when the server takes
        no batch. Those that do not exist (404, 410) are left out."""
        found: dict[str, JSON] = {}
        pending = list(dict.fromkeys(keys))
        while pending and self._batch_reads:
            chunk, pending = pending[:_BATCH_READS], pending[_BATCH_READS:]
            batch = {
                "resourceType": "Bundle",
                "type": "batch",
                "entry": [{"request": {"method": "GET", "url": key}} for key in chunk],
            }
            try:
                answer = self.transaction(batch)
            except FhirError as exc:
                if exc.status not in (400, 404, 405, 422, 501):
                    raise
                self._batch_reads = False  # this server takes no batch: read one by one
                pending = chunk + pending
                break
            for key, entry in zip(chunk, answer.get("entry") or [], strict=False):
                resource = entry.get("resource") if isinstance(entry, dict) else None
                status = str((entry.get("response") or {}).get("status", ""))
                if isinstance(resource, dict) and status.startswith("2"):
                    found[key] = resource
                elif not status.startswith(("404", "410")):
                    raise FhirError(
                        int(status[:3]) if status[:3].isdigit() else 502,
                        (),
                        what=f"{self.name}: GET {_path_of(key)} in a batch",
                    )
        for key in pending:
            kind, _, rid = key.partition("/")
            try:
                if "?" in key:
                    found[key] = self.expect_resource(self.request("GET", key), "Bundle")
                else:
                    found[key] = self.read(kind, rid)
            except FhirError as exc:
                if exc.status not in (404, 410):
                    raise
        return found

    # -- the toolkit's artefacts (interop.transport.fhir_records) ------------------------------

    def push(
        self,
        bundle: JSON,
        *,
        mode: PushMode = "transaction",
        force: bool = False,
        write: WriteMode | None = None,
    ) -> PushResult:
        """Write an artefact's Bundle: ``fhir_records.push_bundle`` (``write``: this push's
        write mode instead of the client's)."""
        return fhir_records.push_bundle(self, bundle, mode=mode, force=force, write=write)

    def patient_record(
        self, nhs_number: str, *, types: tuple[str, ...] = PATIENT_LINKED_TYPES
    ) -> list[JSON]:
        """Every resource of the patient's artefacts: ``fhir_records.patient_record``."""
        return fhir_records.patient_record(self, nhs_number, types=types)

    def changed_since(
        self, since: str, *, types: tuple[str, ...] = (*PATIENT_LINKED_TYPES, "Patient")
    ) -> ChangedResources:
        """The artefacts changed after ``since``: ``fhir_records.changed_since``."""
        return fhir_records.changed_since(self, since, types=types)

    # -- the request loop -----------------------------------------------------------------------

    def request(
        self,
        method: str,
        path: str,
        *,
        params: Mapping[str, str] | None = None,
        body: JSON | None = None,
        headers: Mapping[str, str] | None = None,
        idempotent: bool | None = None,
        request_id: str | None = None,
        what: str | None = None,
    ) -> FhirAnswer:
        """Send one logical request (with its retries) and return the parsed answer.

        ``path`` is relative to the base URL, or an absolute URL within it (a next link).
        ``idempotent`` defaults to the method's (GET, PUT, DELETE...) or an ``If-None-Exist``
        header. Raises ``FhirError`` or ``FhirTransportError``.
        """
        method = method.upper()
        extra = dict(headers or {})
        if idempotent is None:
            idempotent = method in _IDEMPOTENT_METHODS or "If-None-Exist" in extra
        request_id = request_id or str(uuid.uuid4())
        what = what or f"{method} {_path_of(path) or '/'}"
        # the log lines and errors of this request say where it went: never with an NHS number
        where = mask_nhs_numbers_in(f"{self.name}: {what} (X-Request-ID {request_id})")
        content = None
        if body is not None:
            content = json.dumps(body, ensure_ascii=False, separators=(",", ":")).encode()
            extra["Content-Type"] = FHIR_JSON
        extra["X-Request-ID"] = request_id
        retry = self._retry
        started = retry.clock()
        attempt = 1
        reauthorised = False
        while True:
            began = time.perf_counter()
            failure: FhirClientError
            retry_after: float | None = None
            try:
                authorization = self._auth.header(self._http)
            except TokenError as exc:
                failure = FhirTransportError(
                    "auth" if not exc.transient else "unavailable",
                    f"{where}: {exc}",
                    status=exc.status,
                    request_id=request_id,
                    attempts=attempt,
                )
                # nothing was sent: a transient token failure is retried whatever the method
                delay = retry.delay(attempt, None, started) if exc.transient else None
                if delay is None:
                    raise failure from None
                retry.sleep(delay)
                attempt += 1
                continue
            if authorization:
                extra["Authorization"] = authorization
            try:
                status, response_headers, raw = self._send(method, path, params, content, extra)
            except httpx.TransportError as exc:
                failure = transport_failure(exc, where, idempotent, request_id, attempt)
            except _TooLarge as exc:
                raise FhirTransportError(
                    "protocol",
                    f"{where}: HTTP {exc.status} with an answer over "
                    f"{self._limits.max_bytes:,} bytes (refused unread)",
                    status=exc.status,
                    request_id=request_id,
                    attempts=attempt,
                ) from None
            else:
                elapsed = (time.perf_counter() - began) * 1000
                log.debug("%s -> %d in %.1f ms", where, status, elapsed)
                if status == 401 and self._auth.refreshable and not reauthorised and idempotent:
                    self._auth.invalidate()  # an expired or revoked token: fetch one once more
                    reauthorised = True
                    continue
                if 200 <= status < 300:
                    try:
                        parsed = self._parse(raw)
                    except JsonInputError as exc:
                        failure = FhirTransportError(
                            "protocol",
                            f"{where}: HTTP {status} with a body that is not JSON "
                            f"({exc.issue.message})",
                            status=status,
                            request_id=request_id,
                            attempts=attempt,
                        )
                    else:
                        return FhirAnswer(status, response_headers, parsed, request_id)
                else:
                    retry_after = parse_retry_after(response_headers.get("Retry-After"))
                    failure = FhirError(
                        status,
                        self._issues(raw),
                        what=where,
                        request_id=request_id,
                        retry_after=retry_after,
                        attempts=attempt,
                    )
                    if status not in RETRYABLE_STATUS:
                        raise failure
            if not idempotent or not is_transient(failure):
                raise failure
            delay = retry.delay(attempt, retry_after, started)
            if delay is None:
                raise failure
            log.info(
                "%s: attempt %d failed (%s); retrying in %.2f s",
                where,
                attempt,
                short_reason(failure),
                delay,
            )
            retry.sleep(delay)
            attempt += 1

    def _send(
        self,
        method: str,
        path: str,
        params: Mapping[str, str] | None,
        content: bytes | None,
        headers: Mapping[str, str],
    ) -> tuple[int, httpx.Headers, bytes]:
        request = self._http.build_request(
            method, path, params=params, content=content, headers=headers
        )
        response = self._http.send(request, stream=True)
        try:
            declared = response.headers.get("Content-Length")
            if declared and declared.isdigit() and int(declared) > self._limits.max_bytes:
                raise _TooLarge(response.status_code)
            chunks: list[bytes] = []
            size = 0
            for chunk in response.iter_bytes():
                size += len(chunk)
                if size > self._limits.max_bytes:
                    raise _TooLarge(response.status_code)
                chunks.append(chunk)
        finally:
            response.close()
        return response.status_code, response.headers, b"".join(chunks)

    def _parse(self, raw: bytes) -> Any:
        if not raw.strip():
            return None
        return parse_json(raw, self._limits)

    def _issues(self, raw: bytes) -> tuple[OutcomeIssue, ...]:
        """The OperationOutcome issues of an error answer (none when it has no outcome)."""
        try:
            return outcome_issues(self._parse(raw))
        except JsonInputError:
            return ()

    def expect_resource(self, answer: FhirAnswer, resource_type: str) -> JSON:
        """The answer's body when it is a ``resource_type``; ``FhirTransportError`` (protocol)
        when it is anything else."""
        body = answer.body
        if not isinstance(body, dict) or body.get("resourceType") != resource_type:
            found = body.get("resourceType") if isinstance(body, dict) else type(body).__name__
            raise FhirTransportError(
                "protocol",
                f"{self.name}: expected a {resource_type}, the server answered {found}",
                status=answer.status,
                request_id=answer.request_id,
            )
        return body

    def _written(self, answer: FhirAnswer, sent: JSON) -> JSON:
        """The resource a create or update returned; when the server returned none, what was
        sent with the id and version from ``Location`` / ``ETag``."""
        if isinstance(answer.body, dict) and answer.body.get("resourceType") == sent.get(
            "resourceType"
        ):
            return answer.body
        written = dict(sent)
        location = answer.headers.get("Location") or answer.headers.get("Content-Location")
        key = relative_reference(location or "")
        if key is not None:
            written["id"] = key.partition("/")[2]
        version = etag_version(answer.headers.get("ETag"))
        if version is not None:
            written["meta"] = {**(written.get("meta") or {}), "versionId": version}
        return written

    def _within(self, url: str) -> bool:
        """Whether an absolute URL is under this endpoint's base URL (same origin and path):
        a next link elsewhere would take the token with it."""
        return url.startswith((self.base_url + "/", self.base_url + "?"))


# --- helpers ---------------------------------------------------------------------------------


def _type_of(resource: JSON) -> str:
    kind = resource.get("resourceType")
    if not isinstance(kind, str) or not kind.isalpha():
        raise ValueError("the resource has no resourceType")
    return kind


def _id_of(resource: JSON) -> str:
    rid = resource.get("id")
    if not isinstance(rid, str) or not rid or "/" in rid:
        raise ValueError("the resource has no id")
    return rid


def _path_of(url: str) -> str:
    """The path part of a URL or relative path, without its query (which can name a patient)."""
    return urlsplit(url).path if "://" in url else url.split("?", 1)[0]


def _next_link(page: JSON) -> str | None:
    for link in page.get("link") or []:
        if isinstance(link, dict) and link.get("relation") == "next" and link.get("url"):
            return str(link["url"])
    return None
