"""A FHIR R4 REST client (httpx) for the toolkit's endpoints and NHS England's APIs.

``FhirClient`` talks to one base URL. What it does:

- **push** an artefact's Bundle as one transaction of ``PUT Type/id`` entries, or resource by
  resource in dependency order (``push_mode = "resources"``); the ids are deterministic, so a
  repeated push updates in place and duplicates nothing;
- **pull**: search (``search`` follows ``next`` links lazily, and only within the endpoint),
  ``patient_record`` (every resource of a patient's artefacts, by NHS number),
  ``changed_since`` (the artefacts with a resource changed after a watermark);
- **CP-IS**: ``cpis_care_teams`` (header ``IsUnscheduledAccessEvent``: ``true`` only when asked
  for, and then written to the ``AuditLog`` first) and ``cpis_audit_events``;
- **Patient Flags / FGM-IS style**: ``flags``, ``create_flag`` (``If-None-Exist`` by its
  identifier), ``end_flag`` (``inactive`` or ``entered-in-error`` with a removal reason).

Every logical request gets a new ``X-Request-ID``, kept across its retries; each client has an
``X-Correlation-ID``; ``NHSD-End-User-Organisation-ODS`` is sent when configured.

Retries: idempotent requests only (GET, PUT, DELETE, a conditional create, a transaction of
those) on 429/502/503/504, connection failures, timeouts and unreadable 2xx bodies, honouring
``Retry-After`` within ``RetryPolicy``'s count and time budget. A POST that is not idempotent
is sent once: when its outcome is unknown (timeout, reset) ``FhirTransportError`` says so
(``outcome_unknown``), and the caller checks before sending again.

Errors: ``FhirError`` (the server answered with an error status; ``issues`` are its
OperationOutcome's) and ``FhirTransportError`` (no usable answer: ``kind`` auth, unavailable,
timeout or protocol). Messages name the method, the path (never the query, which can hold an
NHS number) and the request id; never a token.

A ``FhirClient`` is not thread-safe: use one per thread.
"""

from __future__ import annotations

import copy
import getpass
import json
import logging
import os
import ssl
import time
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from datetime import UTC, date, datetime
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal
from urllib.parse import urljoin, urlsplit

import httpx

from interop import __version__
from interop.identifiers import NHS_NUMBER_SYSTEM, check_nhs_number
from interop.privacy import mask_nhs_number, protect_logger
from interop.safe_json import JsonInputError, JsonLimits, parse_json
from interop.transport.auth import Authenticator, NoAuth, TokenError, authenticator_for, tls_verify
from interop.transport.base import Endpoint, TransportError
from interop.transport.bundles import (
    PATIENT_LINKED_TYPES,
    dependency_order,
    is_idempotent_transaction,
    patient_references,
    references,
    relative_reference,
    resource_key,
    to_transaction,
)
from interop.transport.retry import RETRYABLE_STATUS, RetryPolicy, parse_retry_after

# httpx logs each request's URL at INFO, and a search by NHS number carries it in the query
for _library_logger in ("httpx", "httpcore"):
    protect_logger(_library_logger)

if TYPE_CHECKING:
    from interop.config import EndpointSettings

__all__ = [
    "FLAG_REMOVAL_REASON_URL",
    "AuditLog",
    "ChangedResources",
    "FhirAnswer",
    "FhirClient",
    "FhirClientError",
    "FhirError",
    "FhirTransportError",
    "OutcomeIssue",
    "PushOutcome",
    "PushResult",
]

JSON = dict[str, Any]
FhirTransportErrorKind = Literal["auth", "unavailable", "timeout", "protocol"]
PushMode = Literal["transaction", "resources"]

#: the England extension that says why a flag was ended (FGM-IS, Patient Flags)
FLAG_REMOVAL_REASON_URL = (
    "https://fhir.nhs.uk/England/StructureDefinition/Extension-England-FlagRemovalReason"
)
FHIR_JSON = "application/fhir+json"
_IDEMPOTENT_METHODS = frozenset({"GET", "HEAD", "PUT", "DELETE", "OPTIONS"})
_MAX_PAGES = 100_000
_BATCH_READS = 100
_MAX_MESSAGE = 500

log = logging.getLogger("interop.transport.fhir")


# --- errors ----------------------------------------------------------------------------------


@dataclass(frozen=True)
class OutcomeIssue:
    """One ``OperationOutcome.issue`` of a server's answer."""

    severity: str
    code: str
    diagnostics: str | None = None
    details: str | None = None
    expression: tuple[str, ...] = ()

    def describe(self) -> str:
        """``error [invalid] Flag.status: diagnostics (details)``."""
        where = f" {', '.join(self.expression)}" if self.expression else ""
        text = self.diagnostics or self.details or "(no diagnostics)"
        if self.details and self.diagnostics and self.details != self.diagnostics:
            text += f" ({self.details})"
        return f"{self.severity} [{self.code}]{where}: {text}"


class FhirClientError(TransportError):
    """Base of the client's errors; ``request_id`` is the ``X-Request-ID`` of the request."""

    request_id: str | None = None


class FhirError(FhirClientError):
    """The server answered with an error status; ``issues`` are its OperationOutcome's.

    ``retry_after`` is the wait it asked for (429/503), ``attempts`` how many times the request
    was sent.
    """

    def __init__(
        self,
        status: int,
        issues: tuple[OutcomeIssue, ...],
        *,
        what: str = "",
        request_id: str | None = None,
        retry_after: float | None = None,
        attempts: int = 1,
    ) -> None:
        summary = "; ".join(issue.describe() for issue in issues[:3]) or "no OperationOutcome"
        tries = f" after {attempts} attempts" if attempts > 1 else ""
        super().__init__(f"{what}: HTTP {status}{tries}: {summary}"[:_MAX_MESSAGE])
        self.status: int = status
        self.issues = issues
        self.request_id = request_id
        self.retry_after = retry_after
        self.attempts = attempts


class FhirTransportError(FhirClientError):
    """No usable answer from the server.

    ``kind``: ``auth`` (token endpoint refused, TLS failure), ``unavailable`` (unreachable,
    connection reset), ``timeout`` or ``protocol`` (an answer that is not FHIR JSON, a next link
    leaving the endpoint). ``outcome_unknown`` is true when a non-idempotent request may have
    been applied: check before sending it again.
    """

    def __init__(
        self,
        kind: FhirTransportErrorKind,
        message: str,
        *,
        status: int | None = None,
        outcome_unknown: bool = False,
        request_id: str | None = None,
        attempts: int = 1,
    ) -> None:
        super().__init__(message[:_MAX_MESSAGE])
        self.kind: FhirTransportErrorKind = kind
        self.status = status
        self.outcome_unknown = outcome_unknown
        self.request_id = request_id
        self.attempts = attempts


class _TooLarge(Exception):
    def __init__(self, status: int) -> None:
        super().__init__(status)
        self.status = status


# --- audit log -------------------------------------------------------------------------------


class AuditLog:
    """JSON lines recording who looked up whom on CP-IS, when, why and with what outcome.

    The NHS number is masked; each line is flushed to disk before the lookup goes on, so a
    lookup that cannot be recorded is not made.
    """

    def __init__(self, path: Path, user: str | None = None) -> None:
        self.path = Path(path)
        self.user = user or _login_name()

    def record(self, event: str, **fields: str | int | bool | None) -> None:
        """Append one line: time, user, event and ``fields``."""
        line: dict[str, str | int | bool | None] = {
            "time": datetime.now(UTC).isoformat(timespec="seconds"),
            "user": self.user,
            "event": event,
        }
        line |= fields
        self.path.parent.mkdir(parents=True, exist_ok=True)
        with self.path.open("a", encoding="utf-8") as out:
            out.write(json.dumps(line, ensure_ascii=False) + "\n")
            out.flush()
            os.fsync(out.fileno())


def _login_name() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "unknown"


# --- results ---------------------------------------------------------------------------------


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
    ) -> None:
        split = urlsplit(base_url)
        if split.scheme not in ("http", "https") or not split.hostname:
            raise ValueError("the base URL must be an http:// or https:// URL")
        if split.query or split.fragment or split.username or split.password:
            raise ValueError("the base URL has no query, fragment or user information")
        self.base_url = base_url.rstrip("/")
        self.name = name or self.base_url
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
        )

    def __repr__(self) -> str:
        return f"FhirClient({self.base_url!r}, auth={self._auth!r})"

    def close(self) -> None:
        """Close the connections."""
        self._http.close()

    # -- basic interactions ---------------------------------------------------------------------

    def capabilities(self) -> JSON:
        """The server's CapabilityStatement (``GET metadata``)."""
        return self._resource(self.request("GET", "metadata"), "CapabilityStatement")

    def read(self, resource_type: str, resource_id: str) -> JSON:
        """``GET Type/id``."""
        return self._resource(self.request("GET", f"{resource_type}/{resource_id}"), resource_type)

    def vread(self, resource_type: str, resource_id: str, version: str) -> JSON:
        """``GET Type/id/_history/version``."""
        path = f"{resource_type}/{resource_id}/_history/{version}"
        return self._resource(self.request("GET", path), resource_type)

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
        return self._resource(answer, "Bundle")

    # -- search ---------------------------------------------------------------------------------

    def search_pages(self, resource_type: str, params: Mapping[str, str]) -> Iterator[JSON]:
        """The searchset Bundles of a search, one page at a time, following ``next`` links
        lazily (the next page is fetched only when asked for)."""
        answer = self.request("GET", resource_type, params=params)
        seen: set[str] = set()
        for _ in range(_MAX_PAGES):
            page = self._resource(answer, "Bundle")
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
        out the entries a server added with ``search.mode = include``."""
        for page in self.search_pages(resource_type, params):
            for entry in page.get("entry") or []:
                resource = entry.get("resource") if isinstance(entry, dict) else None
                if not isinstance(resource, dict):
                    continue
                mode = (entry.get("search") or {}).get("mode")
                if include or mode != "include":
                    yield resource

    def search_by_patient(
        self, resource_type: str, nhs_number: str, **params: str
    ) -> Iterator[JSON]:
        """``Type?patient:identifier=<nhs-number system>|NHS`` plus ``params`` (code...)."""
        query = {"patient:identifier": _nhs_token(nhs_number), **params}
        return self.search(resource_type, query)

    def search_since(self, resource_type: str, since: str, **params: str) -> Iterator[JSON]:
        """``Type?_lastUpdated=gt<since>``: the resources changed after ``since``."""
        return self.search(resource_type, {"_lastUpdated": f"gt{since}", **params})

    # -- push -----------------------------------------------------------------------------------

    def push(self, bundle: JSON, *, mode: PushMode = "transaction") -> PushResult:
        """Write an artefact's Bundle (document, message or collection) to the server.

        ``transaction``: one atomic transaction of ``PUT Type/id`` entries. ``resources``: one
        ``PUT Type/id`` per resource, referenced resources first (not atomic: an interrupted
        push is completed by pushing again). Both are idempotent, so both are retried.
        """
        transaction = to_transaction(bundle)
        if mode == "transaction":
            answer = self.request("POST", "", body=transaction, idempotent=True)
            response = self._resource(answer, "Bundle")
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
            answer = self.request(
                "PUT", resource_key(resource), body=resource, headers={"Prefer": "return=minimal"}
            )
            ids.append(answer.request_id)
            version = _etag_version(answer.headers.get("ETag"))
            status = f"{answer.status} {httpx.codes.get_reason_phrase(answer.status)}"
            outcomes.append(PushOutcome(resource_key(resource), status, version))
        return PushResult(tuple(outcomes), tuple(ids))

    # -- pull -----------------------------------------------------------------------------------

    def patient_record(
        self, nhs_number: str, *, types: tuple[str, ...] = PATIENT_LINKED_TYPES
    ) -> list[JSON]:
        """Every resource of the patient's artefacts: those of ``types`` that point at the
        patient (by NHS number), then everything they refer to (Patient, Organization,
        Practitioner...), read by id."""
        token = _nhs_token(nhs_number)
        found: dict[str, JSON] = {}
        for resource_type in types:
            for resource in self.search(resource_type, {"patient:identifier": token}):
                found.setdefault(resource_key(resource), resource)
        self._add_referenced(found)
        return list(found.values())

    def changed_since(
        self, since: str, *, types: tuple[str, ...] = (*PATIENT_LINKED_TYPES, "Patient")
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
            for resource in self.search_since(resource_type, since):
                result.changed.add(resource_key(resource))
                stamp = (resource.get("meta") or {}).get("lastUpdated")
                when = _instant(stamp)
                if when is not None and (latest is None or when > latest[0]):
                    latest = (when, str(stamp))
                if resource.get("resourceType") == "Patient":
                    patients.add(resource_key(resource))
                patients.update(patient_references(resource))
        numbers: set[str] = set()
        for patient in self.read_many(sorted(patients)).values():
            numbers.update(_nhs_numbers(patient))
        records: dict[str, JSON] = {}
        for number in sorted(numbers):
            for resource in self.patient_record(number):
                records.setdefault(resource_key(resource), resource)
        result.resources = list(records.values())
        result.watermark = latest[1] if latest else None
        return result

    def read_many(self, keys: list[str]) -> dict[str, JSON]:
        """Read resources by ``Type/id``: a batch of GETs per 100, or one read each when the
        server takes no batch. Those that do not exist (404, 410) are left out."""
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
                        what=f"{self.name}: GET {key} in a batch",
                    )
        for key in pending:
            kind, _, rid = key.partition("/")
            try:
                found[key] = self.read(kind, rid)
            except FhirError as exc:
                if exc.status not in (404, 410):
                    raise
        return found

    def _add_referenced(self, found: dict[str, JSON]) -> None:
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
            read = self.read_many(sorted(wanted))
            missing.update(wanted - set(read))
            found.update(read)
            frontier = list(read.values())

    # -- CP-IS ----------------------------------------------------------------------------------

    def cpis_care_teams(
        self,
        nhs_number: str,
        *,
        unscheduled: bool = False,
        audit: AuditLog | None = None,
        reason: str | None = None,
    ) -> list[JSON]:
        """CP-IS: the CareTeams of a child's protection plans (``GET CareTeam?patient:identifier``).

        ``IsUnscheduledAccessEvent`` is ``false`` (a silent read, scheduled care) unless
        ``unscheduled`` is asked for: CP-IS then notifies the responsible local authority. An
        unscheduled lookup needs an ``audit`` log and a ``reason``, and is recorded there
        before it is made and again with its outcome.
        """
        number = check_nhs_number(nhs_number)
        params = {"patient:identifier": _nhs_token(number)}
        if not unscheduled:
            header = {"IsUnscheduledAccessEvent": "false"}
            answer = self.request("GET", "CareTeam", params=params, headers=header)
            return _bundle_resources(self._resource(answer, "Bundle"), "CareTeam")
        if audit is None or not (reason and reason.strip()):
            raise ValueError("an unscheduled CP-IS lookup needs an audit log and a reason")
        request_id = str(uuid.uuid4())
        common: dict[str, str | int | bool | None] = {
            "nhs_number": mask_nhs_number(number),
            "endpoint": self.name,
            "reason": reason.strip(),
            "request_id": request_id,
            "correlation_id": self.correlation_id,
        }
        audit.record("cpis-unscheduled-lookup", phase="requested", **common)
        try:
            answer = self.request(
                "GET",
                "CareTeam",
                params=params,
                headers={"IsUnscheduledAccessEvent": "true"},
                request_id=request_id,
            )
            teams = _bundle_resources(self._resource(answer, "Bundle"), "CareTeam")
        except FhirClientError as exc:
            status = getattr(exc, "status", None)
            audit.record("cpis-unscheduled-lookup", phase="failed", status=status, **common)
            raise
        audit.record("cpis-unscheduled-lookup", phase="completed", status=answer.status, **common)
        return teams

    def cpis_audit_events(self, nhs_number: str) -> list[JSON]:
        """CP-IS: who accessed the child's CP-IS information (``GET AuditEvent``)."""
        number = check_nhs_number(nhs_number)
        return list(self.search("AuditEvent", {"patient:identifier": _nhs_token(number)}))

    # -- flags (Patient Flags / FGM-IS pattern) -------------------------------------------------

    def flags(self, nhs_number: str, *, code: str | None = None) -> list[JSON]:
        """The patient's Flags (``GET Flag?patient:identifier=...[&code=...]``)."""
        number = check_nhs_number(nhs_number)
        params = {"patient:identifier": _nhs_token(number)}
        if code:
            params["code"] = code
        return list(self.search("Flag", params))

    def create_flag(self, flag: JSON) -> JSON:
        """``POST Flag``, conditional on its first identifier (``If-None-Exist``): creating
        the same flag twice leaves one. A flag without an identifier is sent once."""
        if flag.get("resourceType") != "Flag":
            raise ValueError("create_flag takes a Flag")
        condition = None
        for identifier in flag.get("identifier") or []:
            if isinstance(identifier, dict) and identifier.get("value"):
                system = identifier.get("system")
                token = f"{system}|{identifier['value']}" if system else str(identifier["value"])
                condition = f"identifier={token}"
                break
        return self.create(flag, if_none_exist=condition)

    def end_flag(
        self,
        flag_id: str,
        *,
        status: Literal["inactive", "entered-in-error"],
        reason: str,
        today: date | None = None,
    ) -> JSON:
        """End an active Flag: set ``status`` and the removal reason (and ``period.end`` for
        ``inactive``), as a ``PUT`` conditional on the version read. Ending a flag already
        ended the same way returns it unchanged; a flag that is not active is refused."""
        if status not in ("inactive", "entered-in-error"):
            raise ValueError("a flag is ended as 'inactive' or 'entered-in-error'")
        if not reason.strip():
            raise ValueError("ending a flag needs a reason")
        for _ in range(2):
            current = self.read("Flag", flag_id)
            if current.get("status") == status:
                return current
            if current.get("status") != "active":
                raise ValueError(
                    f"Flag/{flag_id} is {current.get('status')!r}: only an active flag is ended"
                )
            ended = copy.deepcopy(current)
            ended["status"] = status
            extensions = [
                e
                for e in ended.get("extension") or []
                if not (isinstance(e, dict) and e.get("url") == FLAG_REMOVAL_REASON_URL)
            ]
            extensions.append(
                {"url": FLAG_REMOVAL_REASON_URL, "valueCodeableConcept": {"text": reason.strip()}}
            )
            ended["extension"] = extensions
            if status == "inactive":
                period = dict(ended.get("period") or {})
                period["end"] = (today or datetime.now(UTC).date()).isoformat()
                ended["period"] = period
            version = (current.get("meta") or {}).get("versionId")
            try:
                return self.update(ended, if_match=f'W/"{version}"' if version else None)
            except FhirError as exc:
                if exc.status != 412:  # changed since read: read again and decide again
                    raise
        raise FhirTransportError("protocol", f"{self.name}: Flag/{flag_id} keeps changing")

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
        where = f"{self.name}: {what} (X-Request-ID {request_id})"
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
                failure = self._transport_failure(exc, where, idempotent, request_id, attempt)
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
                        parsed = self._parse(raw, response_headers)
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
                        self._issues(raw, response_headers),
                        what=where,
                        request_id=request_id,
                        retry_after=retry_after,
                        attempts=attempt,
                    )
                    if status not in RETRYABLE_STATUS:
                        raise failure
            if not idempotent or not _transient(failure):
                raise failure
            delay = retry.delay(attempt, retry_after, started)
            if delay is None:
                raise failure
            log.info(
                "%s: attempt %d failed (%s); retrying in %.2f s",
                where,
                attempt,
                _short(failure),
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

    def _transport_failure(
        self,
        exc: httpx.TransportError,
        where: str,
        idempotent: bool,
        request_id: str,
        attempt: int,
    ) -> FhirTransportError:
        kind: FhirTransportErrorKind
        # a connection that never opened carried nothing: its outcome is known (not applied)
        sent = not isinstance(exc, httpx.ConnectError | httpx.ConnectTimeout | httpx.PoolTimeout)
        if _is_tls_failure(exc):
            # a certificate refused either way (ours or the server's) will not mend by retrying
            kind, detail = "auth", "the TLS handshake failed (check the certificates and CA)"
        elif isinstance(exc, httpx.TimeoutException):
            kind, detail = "timeout", f"no answer in time ({type(exc).__name__})"
        else:
            kind, detail = "unavailable", f"the connection failed ({type(exc).__name__})"
        unknown = sent and not idempotent
        if unknown:
            detail += "; the request may have been applied: check before sending it again"
        return FhirTransportError(
            kind,
            f"{where}: {detail}",
            outcome_unknown=unknown,
            request_id=request_id,
            attempts=attempt,
        )

    def _parse(self, raw: bytes, headers: httpx.Headers) -> Any:
        if not raw.strip():
            return None
        return parse_json(raw, self._limits)

    def _issues(self, raw: bytes, headers: httpx.Headers) -> tuple[OutcomeIssue, ...]:
        """The OperationOutcome issues of an error answer (none when it has no outcome)."""
        try:
            body = self._parse(raw, headers)
        except JsonInputError:
            body = None
        if not isinstance(body, dict) or body.get("resourceType") != "OperationOutcome":
            return ()
        issues = []
        for item in body.get("issue") or []:
            if not isinstance(item, dict):
                continue
            details = item.get("details") if isinstance(item.get("details"), dict) else {}
            text = details.get("text") if isinstance(details, dict) else None
            if not text and isinstance(details, dict):
                codings = details.get("coding") or []
                first = codings[0] if codings and isinstance(codings[0], dict) else {}
                text = first.get("display") or first.get("code")
            where = item.get("expression") or item.get("location") or []
            issues.append(
                OutcomeIssue(
                    severity=_text(item.get("severity")) or "error",
                    code=_text(item.get("code")) or "unknown",
                    diagnostics=_text(item.get("diagnostics")),
                    details=_text(text),
                    expression=tuple(_text(w) or "" for w in where if isinstance(w, str))[:5],
                )
            )
        return tuple(issues)

    def _resource(self, answer: FhirAnswer, resource_type: str) -> JSON:
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
        version = _etag_version(answer.headers.get("ETag"))
        if version is not None:
            written["meta"] = {**(written.get("meta") or {}), "versionId": version}
        return written

    def _within(self, url: str) -> bool:
        """Whether an absolute URL is under this endpoint's base URL (same origin and path):
        a next link elsewhere would take the token with it."""
        return url.startswith((self.base_url + "/", self.base_url + "?"))


# --- helpers ---------------------------------------------------------------------------------


def _nhs_token(nhs_number: str) -> str:
    return f"{NHS_NUMBER_SYSTEM}|{check_nhs_number(nhs_number)}"


def _nhs_numbers(patient: JSON) -> set[str]:
    found = set()
    for identifier in patient.get("identifier") or []:
        if isinstance(identifier, dict) and identifier.get("system") == NHS_NUMBER_SYSTEM:
            try:
                found.add(check_nhs_number(identifier.get("value")))
            except ValueError:
                continue
    return found


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


def _bundle_resources(bundle: JSON, resource_type: str) -> list[JSON]:
    return [
        entry["resource"]
        for entry in bundle.get("entry") or []
        if isinstance(entry, dict)
        and isinstance(entry.get("resource"), dict)
        and entry["resource"].get("resourceType") == resource_type
    ]


def _outcome(url: str, response: JSON) -> PushOutcome:
    return PushOutcome(url, str(response.get("status", "")), _etag_version(response.get("etag")))


def _etag_version(etag: object) -> str | None:
    """``W/"3"`` → ``3``."""
    if not isinstance(etag, str) or not etag:
        return None
    return etag.removeprefix("W/").strip('"') or None


def _instant(value: object) -> datetime | None:
    if not isinstance(value, str):
        return None
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        return None
    return when if when.tzinfo else when.replace(tzinfo=UTC)


def _text(value: object) -> str | None:
    if not isinstance(value, str) or not value:
        return None
    return "".join(ch if ch.isprintable() else " " for ch in value[:_MAX_MESSAGE])


def _transient(failure: FhirClientError) -> bool:
    if isinstance(failure, FhirError):
        return failure.status in RETRYABLE_STATUS
    assert isinstance(failure, FhirTransportError)
    return failure.kind in ("unavailable", "timeout", "protocol")


def _short(failure: FhirClientError) -> str:
    if isinstance(failure, FhirError):
        return f"HTTP {failure.status}"
    assert isinstance(failure, FhirTransportError)
    return failure.kind


def _is_tls_failure(exc: BaseException) -> bool:
    seen: BaseException | None = exc
    while seen is not None:
        if isinstance(seen, ssl.SSLError):
            return True
        seen = seen.__cause__ or seen.__context__
    text = str(exc)
    return "SSL" in text or "TLSV1_ALERT" in text or "certificate" in text.lower()
