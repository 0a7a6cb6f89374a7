"""The CP-IS lookup job: a child's care teams (plans) on the CP-IS FHIR API, by NHS number,
with the responsible organisations and, if asked, who accessed the record
(``interop cpis lookup``, the demo's trust).

NHS England's CP-IS FHIR API guide: client systems "MUST have traced the patient on PDS" before
calling CP-IS. The job traces the number on ``pds`` first (a superseded number is looked up
under its replacement; a number PDS does not know, or a deceased child, is not looked up)
unless the caller says its system already traced it (``already_traced``); with neither it
refuses. For user-restricted access (NHS CIS2, ``auth type = "cis2"``) the user's role id is
sent as ``NHSD-Session-URID``: from the caller, else the endpoint's ``role_id``; never guessed.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any

from interop.errors import ConfigurationError, InputError, UsageError

if TYPE_CHECKING:
    from interop.config import EndpointSettings
    from interop.jobs.pds_trace import TracePolicy, TraceResult
    from interop.transport.cpis_api import AuditLog
    from interop.transport.fhir_client import FhirClient

JSON = dict[str, Any]

__all__ = ["TRACE_FIRST", "CpisLookupResult", "NotTraced", "cpis_lookup", "role_id_for"]

TRACE_FIRST = (
    "CP-IS needs the child traced on PDS first (NHS England's CP-IS FHIR API guide): "
    "configure [pds] or give --pds ENDPOINT, or say --already-traced if your system traced "
    "this number"
)


class NotTraced(InputError):
    """The PDS trace held the number back: CP-IS is not asked (exit 1)."""


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
    #: the PDS trace made first (None when the caller had already traced the number)
    trace: TraceResult | None = None


def cpis_lookup(
    settings: EndpointSettings,
    nhs_number: str,
    *,
    unscheduled: bool = False,
    reason: str | None = None,
    history: bool = False,
    audit: AuditLog | None = None,
    pds: EndpointSettings | None = None,
    already_traced: bool = False,
    trace_policy: TracePolicy | None = None,
    role_id: str | None = None,
) -> CpisLookupResult:
    """Look a child up on the CP-IS FHIR API at ``settings``.

    By default a silent, scheduled-care read. ``unscheduled``: CP-IS tells the child's local
    authority; it needs a ``reason``, the endpoint's ``ods_code`` (who saw the child) and an
    ``audit`` log, written before the request is made. ``InvalidNhsNumber`` (an InputError)
    before anything is sent; ``UsageError`` for a missing reason or ODS code;
    ``ConfigurationError`` when the audit log cannot be written (the lookup is then not made);
    ``FhirClientError`` (a RemoteError) when the endpoint fails (``cpis_error_message``
    explains it). Without ``pds`` or ``already_traced``: ``UsageError`` (``TRACE_FIRST``); a
    trace that holds the number back: ``NotTraced``.
    """
    from interop.identifiers import check_nhs_number
    from interop.jobs.fhir_endpoint import open_client
    from interop.jobs.pds_trace import pds_trace
    from interop.transport.cpis_api import CpisApi

    number = check_nhs_number(nhs_number)
    if not already_traced and pds is None:
        raise UsageError(TRACE_FIRST)
    role = role_id_for(settings, role_id)
    if unscheduled and not (reason and reason.strip()):
        raise UsageError("an unscheduled lookup notifies the local authority: give a reason")
    if unscheduled and not settings.ods_code:
        raise UsageError(
            f"an unscheduled lookup says who saw the child: {settings.name} has no ODS code"
        )
    trace = None
    if not already_traced:
        assert pds is not None
        trace = pds_trace(pds, number, None, trace_policy)
        if not trace.ok or trace.nhs_number is None:
            raise NotTraced("not looked up on CP-IS: " + "; ".join(trace.reasons))
        number = trace.nhs_number
    try:
        with open_client(settings) as client:
            cpis = CpisApi(client, role_id=role)
            teams = cpis.care_teams(number, unscheduled=unscheduled, audit=audit, reason=reason)
            organisations = _organisations(client, teams)
            events = cpis.audit_events(number) if history else []
    except OSError as exc:
        raise ConfigurationError(
            f"audit log: cannot write ({exc.strerror or exc}): the lookup was not made"
        ) from None
    return CpisLookupResult(number, unscheduled, teams, organisations, events, trace)


def role_id_for(settings: EndpointSettings, given: str | None) -> str | None:
    """The user's role id to send (``NHSD-Session-URID``): ``given``, else the endpoint's
    CIS2 ``role_id``. ``UsageError`` when the endpoint is user-restricted (CIS2) and neither
    says: the role is never guessed."""
    auth = settings.auth
    if given is not None and given.strip():
        return given.strip()
    if auth is not None and auth.type == "cis2":
        if auth.role_id:
            return auth.role_id
        raise UsageError(
            f"endpoint {settings.name} is user-restricted (CIS2): give the user's role id "
            "(--role-id, or role_id in its auth settings); it is never guessed"
        )
    return None


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
