"""The CP-IS FHIR API: a thin client on a ``FhirClient``.

``CpisApi(client).care_teams(nhs_number)`` reads the CareTeams of a child's protection plans;
``audit_events(nhs_number)`` who accessed the child's CP-IS information. What is CP-IS specific
is the ``IsUnscheduledAccessEvent`` header: ``false`` (a silent read, scheduled care) unless an
unscheduled lookup is asked for, which CP-IS reports to the responsible local authority. Such a
lookup is written to an ``AuditLog`` before it is made (no record, no lookup) and again with
its outcome. Retries, authentication and errors are the ``FhirClient``'s.
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

__all__ = ["AuditLog", "CpisApi"]

JSON = dict[str, Any]


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

    def __init__(self, client: FhirClient) -> None:
        self.client = client

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
        # the endpoint's patient search (the CP-IS API itself: patient:identifier); when a
        # resolve finds no Patient the identifier search stands in and finds nothing either
        params = client.patient_params(number) or {"patient:identifier": nhs_number_token(number)}
        if not unscheduled:
            header = {"IsUnscheduledAccessEvent": "false"}
            answer = client.request("GET", "CareTeam", params=params, headers=header)
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
                params=params,
                headers={"IsUnscheduledAccessEvent": "true"},
                request_id=request_id,
            )
            teams = _resources(client.expect_resource(answer, "Bundle"), "CareTeam")
        except FhirClientError as exc:
            status = getattr(exc, "status", None)
            audit.record("cpis-unscheduled-lookup", phase="failed", status=status, **common)
            raise
        audit.record("cpis-unscheduled-lookup", phase="completed", status=answer.status, **common)
        return teams

    def audit_events(self, nhs_number: str) -> list[JSON]:
        """Who accessed the child's CP-IS information (``GET AuditEvent``)."""
        number = check_nhs_number(nhs_number)
        return list(self.client.search_by_patient("AuditEvent", number))


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
