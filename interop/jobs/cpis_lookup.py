"""The CP-IS lookup job: a child's care teams (plans) on the CP-IS FHIR API, by NHS number,
with the responsible organisations and, if asked, who accessed the record
(``interop cpis lookup``, the demo's trust)."""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from interop.errors import ConfigurationError, UsageError

if TYPE_CHECKING:
    from interop.config import EndpointSettings
    from interop.transport.cpis_api import AuditLog
    from interop.transport.fhir_client import FhirClient

JSON = dict[str, Any]

__all__ = ["CpisLookupResult", "cpis_lookup"]


@dataclass(frozen=True)
class CpisLookupResult:
    """What CP-IS holds about one child."""

    #: the NHS number as checked (digits only): mask it before printing or logging
    nhs_number: str
    unscheduled: bool
    #: the CareTeams: child protection plans, looked-after status, unborn child plans
    teams: list[JSON]
    #: the managing organisations the teams refer to, by ``Organization/id`` (unreadable left out)
    organisations: dict[str, JSON] = field(default_factory=dict)
    #: the AuditEvents of accesses to the record (with ``history``)
    events: list[JSON] = field(default_factory=list)


def cpis_lookup(
    settings: EndpointSettings,
    nhs_number: str,
    *,
    unscheduled: bool = False,
    reason: str | None = None,
    history: bool = False,
    audit: AuditLog | None = None,
) -> CpisLookupResult:
    """Look a child up on the CP-IS FHIR API at ``settings``.

    By default a silent, scheduled-care read. ``unscheduled``: CP-IS tells the child's local
    authority; it needs a ``reason``, the endpoint's ``ods_code`` (who saw the child) and an
    ``audit`` log, written before the request is made. ``InvalidNhsNumber`` (an InputError)
    before anything is sent; ``UsageError`` for a missing reason or ODS code;
    ``ConfigurationError`` when the audit log cannot be written (the lookup is then not made);
    ``FhirClientError`` (a RemoteError) when the endpoint fails.
    """
    from interop.identifiers import check_nhs_number
    from interop.jobs.fhir_endpoint import open_client
    from interop.transport.cpis_api import CpisApi

    number = check_nhs_number(nhs_number)
    if unscheduled and not (reason and reason.strip()):
        raise UsageError("an unscheduled lookup notifies the local authority: give a reason")
    if unscheduled and not settings.ods_code:
        raise UsageError(
            f"an unscheduled lookup says who saw the child: {settings.name} has no ODS code"
        )
    try:
        with open_client(settings) as client:
            cpis = CpisApi(client)
            teams = cpis.care_teams(number, unscheduled=unscheduled, audit=audit, reason=reason)
            organisations = _organisations(client, teams)
            events = cpis.audit_events(number) if history else []
    except OSError as exc:
        raise ConfigurationError(
            f"audit log: cannot write ({exc.strerror or exc}): the lookup was not made"
        ) from None
    return CpisLookupResult(number, unscheduled, teams, organisations, events)


def _organisations(client: FhirClient, teams: list[JSON]) -> dict[str, JSON]:
    """The managing organisations the CareTeams refer to, read by id (missing ones left out)."""
    from interop.transport.bundles import references, relative_reference
    from interop.transport.fhir_client import FhirError

    found: dict[str, JSON] = {}
    for team in teams:
        for reference in references(team.get("managingOrganization")):
            key = relative_reference(reference)
            if key is None or not key.startswith("Organization/") or key in found:
                continue
            try:
                found[key] = client.read("Organization", key.partition("/")[2])
            except FhirError:
                continue
    return found
