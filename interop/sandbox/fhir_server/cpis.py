"""The CP-IS FHIR API's shape in the sandbox: unscheduled access to a child's CareTeam.

``GET CareTeam?patient:identifier=https://fhir.nhs.uk/Id/nhs-number|{nhs}`` with the header
``IsUnscheduledAccessEvent: true`` is an access from an unscheduled care setting, which CP-IS
reports to the responsible local authority. The sandbox records it as an ``AuditEvent`` (who:
the ``NHSD-End-User-Organisation-ODS`` header; when; which child: the NHS number as a logical
reference; which CareTeams were shown) and appends a line to the audit log with the NHS number
masked. ``false`` or no header is a silent read and records nothing. Only the first page of a
search records the access (following ``next`` links is the same access).
"""

from __future__ import annotations

import json
import threading
from pathlib import Path
from typing import Any

from interop.identifiers import (
    NHS_NUMBER_SYSTEM,
    ODS_ORGANISATION_SYSTEM,
    InvalidNhsNumber,
    check_nhs_number,
    check_ods_code,
)
from interop.privacy import mask_nhs_number
from interop.sandbox.fhir_server.outcome import OutcomeError
from interop.sandbox.fhir_server.search import SearchQuery
from interop.sandbox.fhir_server.store import StoredResource

JSON = dict[str, Any]

UNSCHEDULED_HEADER = "IsUnscheduledAccessEvent"
ORGANISATION_HEADER = "NHSD-End-User-Organisation-ODS"
CPIS_OBSERVATION_TYPE = "https://fhir.nhs.uk/R4/CodeSystem/CPIS-ObservationType"


#: the access history's ``_include`` of the CP-IS FHIR API consumer guide
ACCESS_HISTORY_INCLUDE = (
    "AuditEvent:entity-type=http://terminology.hl7.org/CodeSystem/v3-RoleClass|ASSIGNED"
)


#: the access history answers the most recent accesses only, and no further pages (the CP-IS
#: FHIR API consumer guide: "up to the 25 most recent"; ``ACCESS_HISTORY_LIMIT`` client side)
ACCESS_HISTORY_LIMIT = 25


def is_access_history(kind: str, pairs: list[tuple[str, str]]) -> bool:
    """Whether the search is the CP-IS access history (AuditEvent with its ``_include``)."""
    return kind == "AuditEvent" and ("_include", ACCESS_HISTORY_INCLUDE) in pairs


def search_pairs(kind: str, pairs: list[tuple[str, str]]) -> list[tuple[str, str]]:
    """The search parameters the store runs. The access history's ``_include`` is left out, as
    the sandbox's AuditEvents carry who accessed inline (nothing more to include), and it is
    capped as CP-IS caps it: the most recent first, at most ``ACCESS_HISTORY_LIMIT`` (fewer if
    the client's ``_count`` asks for fewer), without a total that would promise more."""
    if not is_access_history(kind, pairs):
        return pairs
    count = ACCESS_HISTORY_LIMIT
    for name, value in pairs:
        if name == "_count" and value.isdigit():
            count = min(count, int(value))
    paging = ("_include", "_count", "_sort", "_total", "_cursor")
    kept = [p for p in pairs if p[0] not in paging]
    return [*kept, ("_sort", "-_lastUpdated"), ("_count", str(count)), ("_total", "none")]


def cap_access_history(bundle: JSON) -> None:
    """Drop the ``next`` link of an access-history page: CP-IS offers no older accesses."""
    links = bundle.get("link") or []
    bundle["link"] = [link for link in links if link.get("relation") != "next"]


def unscheduled(value: str | None) -> bool:
    """The ``IsUnscheduledAccessEvent`` header: absent or ``false`` → False; ``true`` → True."""
    if value is None or value.strip().lower() == "false":
        return False
    if value.strip().lower() == "true":
        return True
    raise OutcomeError.simple(
        400, "invalid", f"{UNSCHEDULED_HEADER} is true or false", expression=UNSCHEDULED_HEADER
    )


def check_nhs_numbers(query: SearchQuery) -> None:
    """400 when a ``patient:identifier`` search names an NHS number that cannot be one."""
    for system, value in query.token_values("patient"):
        if system == NHS_NUMBER_SYSTEM and value is not None:
            try:
                check_nhs_number(value)
            except InvalidNhsNumber as exc:
                raise OutcomeError.simple(
                    400, "value", f"invalid NHS number: {exc}", expression="patient:identifier"
                ) from None


def accessed_child(query: SearchQuery, organisation: str | None) -> tuple[str, str]:
    """(the accessing organisation's ODS code, the child's NHS number) of an unscheduled
    CareTeam search, or 400 saying what the request lacks."""
    if organisation is None or not organisation.strip():
        raise OutcomeError.simple(
            400,
            "required",
            f"an unscheduled access ({UNSCHEDULED_HEADER}: true) needs the accessing "
            f"organisation's ODS code in {ORGANISATION_HEADER}",
            expression=ORGANISATION_HEADER,
        )
    try:
        ods = check_ods_code(organisation)
    except ValueError as exc:
        raise OutcomeError.simple(400, "value", str(exc), expression=ORGANISATION_HEADER) from None
    numbers = [
        v for s, v in query.token_values("patient") if s == NHS_NUMBER_SYSTEM and v is not None
    ]
    if len(numbers) != 1 or len(query.token_values("patient")) != 1:
        raise OutcomeError.simple(
            400,
            "required",
            f"an unscheduled access is to one child: patient:identifier={NHS_NUMBER_SYSTEM}|"
            "{NHS number}",
            expression="patient:identifier",
        )
    return ods, check_nhs_number(numbers[0])


def access_event(
    ods: str, nhs_number: str, care_teams: list[StoredResource], recorded: str
) -> JSON:
    """The AuditEvent of an unscheduled access: who, when, which child, which CareTeams."""
    entities: list[JSON] = [
        {
            "what": {
                "type": "Patient",
                "identifier": {"system": NHS_NUMBER_SYSTEM, "value": nhs_number},
            },
            "type": {
                "system": "http://terminology.hl7.org/CodeSystem/audit-entity-type",
                "code": "1",
                "display": "Person",
            },
            "role": {
                "system": "http://terminology.hl7.org/CodeSystem/object-role",
                "code": "1",
                "display": "Patient",
            },
        }
    ]
    entities.extend(
        {
            "what": {"reference": team.reference},
            "type": {
                "system": "http://terminology.hl7.org/CodeSystem/audit-entity-type",
                "code": "2",
                "display": "System Object",
            },
        }
        for team in care_teams
    )
    return {
        "resourceType": "AuditEvent",
        "type": {
            "system": "http://terminology.hl7.org/CodeSystem/audit-event-type",
            "code": "rest",
            "display": "RESTful Operation",
        },
        "subtype": [
            {
                "system": "http://hl7.org/fhir/restful-interaction",
                "code": "search-type",
                "display": "search type",
            },
            {"system": CPIS_OBSERVATION_TYPE, "code": "CRA", "display": "CP-IS Record Access"},
        ],
        "action": "E",
        "recorded": recorded,
        "outcome": "0",
        "purposeOfEvent": [{"text": "Unscheduled care access: the local authority is notified"}],
        "agent": [
            {
                "who": {
                    "type": "Organization",
                    "identifier": {"system": ODS_ORGANISATION_SYSTEM, "value": ods},
                },
                "requestor": True,
            }
        ],
        "source": {
            "site": "safeguarding-interop FHIR sandbox",
            "observer": {"display": "safeguarding-interop FHIR sandbox"},
        },
        "entity": entities,
    }


class AuditLog:
    """Append-only JSON lines of unscheduled accesses; NHS numbers masked."""

    def __init__(self, path: Path) -> None:
        self.path = path
        self._lock = threading.Lock()

    def record(self, event: StoredResource, ods: str, nhs_number: str, care_teams: int) -> None:
        """Append one line for a stored access AuditEvent."""
        line = {
            "recorded": event.last_updated,
            "event": "cpis-unscheduled-access",
            "organisation_ods": ods,
            "patient": mask_nhs_number(nhs_number),
            "care_teams": care_teams,
            "audit_event": event.reference,
        }
        with self._lock, self.path.open("a", encoding="utf-8") as handle:
            handle.write(json.dumps(line) + "\n")
