"""The CP-IS FHIR API: a thin client on a ``FhirClient``.

``CpisApi(client).care_teams(nhs_number)`` reads the CareTeams of a child's protection plans;
``audit_events(nhs_number)`` who accessed the child's CP-IS information (the access history:
``AuditEvent`` with the ``_include`` NHS England documents, the 25 most recent). What is CP-IS
specific is the ``IsUnscheduledAccessEvent`` header: ``false`` (a silent read, scheduled care)
unless an unscheduled lookup is asked for, which CP-IS reports to the responsible local
authority. Such a lookup is written to an ``AuditLog`` before it is made (no record, no lookup)
and again with its outcome.

Headers as NHS England documents them for this API: ``Authorization: Bearer`` (the client's
authenticator: a CIS2 user's token for user-restricted access), ``TraceID`` (a UUID per
request, the same as its ``X-Request-ID``), ``IsUnscheduledAccessEvent``, and, for
user-restricted access, ``NHSD-Session-URID`` (the user's role id: given by the caller, never
guessed; absent when none is given). ``NHSD-End-User-Organisation-ODS`` and
``X-Correlation-ID`` are the ``FhirClient``'s. ``cpis_error_message`` explains the documented
error responses. Retries, authentication and errors are the ``FhirClient``'s.
"""

from __future__ import annotations

import getpass
import json
import os
import uuid
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

from interop.identifiers import check_nhs_number
from interop.privacy import mask_nhs_number
from interop.transport.fhir_client import FhirClient, nhs_number_token
from interop.transport.fhir_errors import FhirClientError

__all__ = [
    "ACCESS_HISTORY_INCLUDE",
    "ACCESS_HISTORY_LIMIT",
    "SESSION_URID_HEADER",
    "TRACE_ID_HEADER",
    "AuditLog",
    "CpisApi",
    "cpis_error_message",
]

JSON = dict[str, Any]

TRACE_ID_HEADER = "TraceID"
SESSION_URID_HEADER = "NHSD-Session-URID"
#: the access history's ``_include`` as the CP-IS FHIR API consumer guide gives it
ACCESS_HISTORY_INCLUDE = (
    "AuditEvent:entity-type=http://terminology.hl7.org/CodeSystem/v3-RoleClass|ASSIGNED"
)
#: CP-IS answers the most recent accesses only
ACCESS_HISTORY_LIMIT = 25
#: what a CP-IS error status means to the user (the guide's error responses; the exact
#: OperationOutcome codes are to be confirmed at onboarding)
CPIS_ERRORS = {
    400: "CP-IS refused the request as invalid (NHS number, headers or parameters)",
    401: "CP-IS did not accept the access token: sign in to NHS CIS2 again",
    403: "CP-IS refused access: the user's role (NHSD-Session-URID) does not allow viewing "
    "the CP-IS flag",
    404: "CP-IS does not offer this resource at this address: check the endpoint",
    408: "CP-IS timed out reaching Spine: try again",
    429: "CP-IS is rate limiting this application: try again later",
    500: "CP-IS failed (a server error): try again later",
    503: "CP-IS is unavailable: try again later",
}


def cpis_error_message(exc: FhirClientError) -> str:
    """The user's explanation of a CP-IS error answer."""
    status = getattr(exc, "status", None)
    if status in CPIS_ERRORS:
        return CPIS_ERRORS[status]
    if isinstance(status, int) and status >= 500:
        return CPIS_ERRORS[500]
    return "CP-IS could not be reached or answered unreadably"


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


class CpisApi:
    """CP-IS operations over one FHIR endpoint; the ``client`` stays the caller's to close."""

    def __init__(self, client: FhirClient, *, role_id: str | None = None) -> None:
        self.client = client
        if role_id is not None and not role_id.strip():
            raise ValueError("a user's role id (NHSD-Session-URID) cannot be blank")
        #: the user's role (user-restricted access), sent as ``NHSD-Session-URID``
        self.role_id = role_id.strip() if role_id else None

    def _headers(self, request_id: str, unscheduled: bool | None = None) -> dict[str, str]:
        headers = {TRACE_ID_HEADER: request_id}
        if unscheduled is not None:
            headers["IsUnscheduledAccessEvent"] = "true" if unscheduled else "false"
        if self.role_id:
            headers[SESSION_URID_HEADER] = self.role_id
        return headers

    def care_teams(
        self,
        nhs_number: str,
        *,
        unscheduled: bool = False,
        audit: AuditLog | None = None,
        reason: str | None = None,
    ) -> list[JSON]:
        """The CareTeams of a child's protection plans (``GET CareTeam?patient:identifier``).

        ``IsUnscheduledAccessEvent`` is ``false`` (a silent read, scheduled care) unless
        ``unscheduled`` is asked for: CP-IS then notifies the responsible local authority. An
        unscheduled lookup needs an ``audit`` log and a ``reason``, and is recorded there
        before it is made and again with its outcome.
        """
        client = self.client
        number = check_nhs_number(nhs_number)
        if not unscheduled:
            request_id = str(uuid.uuid4())
            headers = self._headers(request_id, unscheduled=False)
            answer = client.request(
                "GET", "CareTeam", params=self._params(number), headers=headers,
                request_id=request_id,
            )  # fmt: skip
            return _resources(client.expect_resource(answer, "Bundle"), "CareTeam")
        if audit is None or not (reason and reason.strip()):
            raise ValueError("an unscheduled CP-IS lookup needs an audit log and a reason")
        request_id = str(uuid.uuid4())
        common: dict[str, str | int | bool | None] = {
            "nhs_number": mask_nhs_number(number),
            "endpoint": client.name,
            "reason": reason.strip(),
            "request_id": request_id,
            "correlation_id": client.correlation_id,
        }
        audit.record("cpis-unscheduled-lookup", phase="requested", **common)
        try:
            answer = client.request(
                "GET",
                "CareTeam",
                params=self._params(number),
                headers=self._headers(request_id, unscheduled=True),
                request_id=request_id,
            )
            teams = _resources(client.expect_resource(answer, "Bundle"), "CareTeam")
        except FhirClientError as exc:
            status = getattr(exc, "status", None)
            audit.record("cpis-unscheduled-lookup", phase="failed", status=status, **common)
            raise
        audit.record("cpis-unscheduled-lookup", phase="completed", status=answer.status, **common)
        return teams

    def _params(self, number: str) -> dict[str, str]:
        """The search for the child's CareTeams: the CP-IS API's own pattern
        (``patient:identifier``) unless the endpoint's configuration or CapabilityStatement
        says otherwise (a rehearsal against another server). Asked only once a lookup is
        allowed: ``resolve`` searches the server for the child."""
        token = {"patient:identifier": nhs_number_token(number)}
        style = self.client.search_style(without_statement="identifier")
        # when a resolve finds no Patient the identifier search stands in and finds nothing
        return self.client.patient_params(number, style=style) or token

    def audit_events(self, nhs_number: str) -> list[JSON]:
        """Who accessed the child's CP-IS information, most recent first, at most
        ``ACCESS_HISTORY_LIMIT`` (``GET AuditEvent?patient:identifier&_include``)."""
        number = check_nhs_number(nhs_number)
        params = {
            "patient:identifier": nhs_number_token(number),
            "_include": ACCESS_HISTORY_INCLUDE,
            "_count": str(ACCESS_HISTORY_LIMIT),
        }
        request_id = str(uuid.uuid4())
        answer = self.client.request(
            "GET", "AuditEvent", params=params, headers=self._headers(request_id),
            request_id=request_id,
        )  # fmt: skip
        events = _resources(self.client.expect_resource(answer, "Bundle"), "AuditEvent")
        events.sort(key=lambda e: str(e.get("recorded") or ""), reverse=True)
        return events[:ACCESS_HISTORY_LIMIT]


def _resources(bundle: JSON, resource_type: str) -> list[JSON]:
    """The Bundle's resources of ``resource_type`` (an OperationOutcome entry is left out)."""
    return [
        entry["resource"]
        for entry in bundle.get("entry") or []
        if isinstance(entry, dict)
        and isinstance(entry.get("resource"), dict)
        and entry["resource"].get("resourceType") == resource_type
    ]


def _login_name() -> str:
    try:
        return getpass.getuser()
    except (OSError, KeyError):
        return "unknown"
