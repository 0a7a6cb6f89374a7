"""``interop cpis ...``: commands about CP-IS itself (the stand-in for tests and rehearsal)."""

from __future__ import annotations

import time
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from interop.cli.common import config_error, fail
from interop.cli.main import InteropGroup
from interop.cli.push_cmd import resolve_endpoint
from interop.errors import RemoteError

if TYPE_CHECKING:
    from interop.config import Config, EndpointSettings, StandInConfig
    from interop.jobs.cpis_lookup import CpisLookupResult
    from interop.jobs.pds_trace import TracePolicy
    from interop.sandbox.cpis_spine import PdsDirectory
    from interop.sandbox.cpis_standin import StandIn
    from interop.transport.cpis_api import AuditLog
    from interop.transport.fhir_client import FhirClientError

JSON = dict[str, Any]


@click.group(cls=InteropGroup)
def cpis() -> None:
    """CP-IS: the stand-in national service."""


@cpis.command("stand-in")
@click.option("--config", "config_path", type=click.Path(path_type=Path), required=True)
@click.option("--once", is_flag=True, help="Answer what is waiting, then stop.")
@click.option("--poll", type=click.FloatRange(min=0.5), default=5.0, show_default=True)
@click.option(
    "--notify-access", "access_nhs", help="Send an access notification for this NHS number."
)
@click.option(
    "--notify-inactive", "inactive_nhs", multiple=True, help="Report this NHS number inactive."
)
@click.option("--to", "to_mailbox", help="The LA's MESH mailbox, for --notify-*.")
@click.option("--accessor-ods", default="RR8", show_default=True, help="Who viewed the flag (ODS).")
@click.option("--accessor-name", default="Emergency department", show_default=True)
@click.option(
    "--national-port",
    type=click.IntRange(0, 65535),
    help="Also serve PDS FHIR, ODS and Patient Flags on 127.0.0.1:PORT, from the same "
    "test-patient register the MESH side answers CPR codes from.",
)
def stand_in(
    config_path: Path,
    once: bool,
    poll: float,
    access_nhs: str | None,
    inactive_nhs: tuple[str, ...],
    to_mailbox: str | None,
    accessor_ods: str,
    accessor_name: str,
    national_port: int | None,
) -> None:
    """Play CP-IS on a MESH server: answer LA uploads as Spine would (CPF/CPR codes), keep the
    national register in SQLite, and send notifications on request. With --national-port it
    also serves the PDS FHIR, ODS and Patient Flags stand-ins, and PDS answers both sides.

    Not the national service: for tests, demonstrations and rehearsing onboarding. It answers
    until stopped (Ctrl-C) unless --once or a --notify-* option is given.
    """
    from contextlib import ExitStack

    from interop.config import ConfigError, load_stand_in_config
    from interop.errors import ConfigurationError
    from interop.sandbox.cpis_standin import RegisterPds, national_register, pds_for
    from interop.sandbox.national import FLAGS_PATH, ODS_PATH, PDS_PATH, running_national_services

    try:
        config = load_stand_in_config(config_path)
    except ConfigError as exc:
        raise config_error(config_path, exc) from None
    if (access_nhs or inactive_nhs) and not to_mailbox:
        fail("--notify-access and --notify-inactive need --to MAILBOX (the LA's mailbox)", 2)
    with ExitStack() as stack:
        pds = pds_for(config.stand_in)
        if national_port is not None:
            try:
                services = national_register(config.stand_in)
                host = stack.enter_context(running_national_services(services, national_port))
            except (ConfigurationError, OSError, RuntimeError) as exc:
                fail(f"--national-port: {exc}", 2)
            for name, path in (("PDS", PDS_PATH), ("ODS", ODS_PATH), ("Flags", FLAGS_PATH)):
                click.echo(f"{name}: {host}{path}")
            pds = RegisterPds(services)
        _serve(config, pds, once, poll, access_nhs, inactive_nhs, to_mailbox,
               (accessor_ods, accessor_name))  # fmt: skip


def _serve(
    config: StandInConfig,
    pds: PdsDirectory,
    once: bool,
    poll: float,
    access_nhs: str | None,
    inactive_nhs: tuple[str, ...],
    to_mailbox: str | None,
    accessor: tuple[str, str],
) -> None:
    from interop.cpis.model import Accessor
    from interop.sandbox.cpis_spine import Register
    from interop.sandbox.cpis_standin import StandIn
    from interop.transport.mesh import MeshTransport, TransportError

    register = Register(config.stand_in.register)
    try:
        with MeshTransport(config.mesh) as transport:
            transport.handshake()
            service = StandIn(transport, register, pds, config.cpis)
            if access_nhs:
                who = Accessor(organisation_ods=accessor[0], organisation_name=accessor[1])
                try:
                    service.notify_access(
                        access_nhs, who, to_mailbox=str(to_mailbox), care_setting=None
                    )
                except LookupError as exc:
                    fail(f"--notify-access: {exc}", 1)
                click.echo("access notification sent")
            if inactive_nhs:
                service.notify_inactive(inactive_nhs, to_mailbox=str(to_mailbox))
                click.echo(f"inactive-NHS-number notification sent ({len(inactive_nhs)} number(s))")
            if not (access_nhs or inactive_nhs):
                _answer(service, once, poll)
    except TransportError as exc:
        fail(f"MESH: {exc}", 3)
    except KeyboardInterrupt:
        click.echo("stopped")
    finally:
        register.close()


def _answer(service: StandIn, once: bool, poll: float) -> None:
    """Answer the uploads waiting, every ``poll`` seconds (``once``: then stop)."""
    while True:
        for answered in service.answer_uploads():
            state = "already answered" if answered.already_answered else answered.file_code
            records = f"{answered.records} record(s)"
            click.echo(f"upload {answered.upload_message_id}: {state}, {records}")
        if once:
            return
        time.sleep(poll)


@cpis.command("lookup")
@click.argument("nhs_number")
@click.option("--endpoint", required=True, help="The CP-IS FHIR endpoint: a name or a base URL.")
@click.option(
    "--unscheduled",
    is_flag=True,
    help="An unscheduled-care access: CP-IS notifies the child's local authority. Audited.",
)
@click.option("--reason", help="Why the child is looked up (required with --unscheduled).")
@click.option("--history", is_flag=True, help="Also list who accessed the record (AuditEvent).")
@click.option(
    "--ods",
    "ods_code",
    help="The accessing organisation's ODS code (NHSD-End-User-Organisation-ODS); "
    "default: the endpoint's ods_code.",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="interop.toml, where named endpoints are (default: ./interop.toml).",
)
@click.option(
    "--audit-log",
    type=click.Path(path_type=Path, dir_okay=False),
    help="JSON-lines audit log (default: [audit] log, else interop-audit.jsonl).",
)
@click.option(
    "--pds", "pds_endpoint", help="Trace on this PDS endpoint first (default: [pds] endpoint)."
)
@click.option(
    "--already-traced",
    is_flag=True,
    help="Your system has traced this NHS number on PDS: do not trace it again.",
)
@click.option(
    "--role-id", help="The user's role id (NHSD-Session-URID), for user-restricted (CIS2) access."
)
def lookup(
    nhs_number: str,
    endpoint: str,
    unscheduled: bool,
    reason: str | None,
    history: bool,
    ods_code: str | None,
    config_path: Path | None,
    audit_log: Path | None,
    pds_endpoint: str | None,
    already_traced: bool,
    role_id: str | None,
) -> None:
    """Look a child up on CP-IS by NHS number: the child protection plans, looked-after
    status and unborn child plans (CareTeam), with the responsible local authority's contacts.

    The number is traced on PDS first, as NHS England requires (--pds, or [pds] in the
    configuration): a superseded number is looked up under its replacement, a number PDS does
    not know is not looked up. --already-traced skips the trace when your system has done it.

    By default the read is silent (IsUnscheduledAccessEvent: false, scheduled care). With
    --unscheduled CP-IS tells the local authority that the child was seen in unscheduled care;
    it needs --reason and is written to the audit log (masked NHS number, who, when, why)
    before it is made.

    Exit 0 answered (found or not), 1 invalid NHS number or held back by the trace, 2 usage or
    configuration error, 3 remote endpoint failure.
    """
    from interop.identifiers import InvalidNhsNumber, check_nhs_number
    from interop.jobs import cpis_lookup
    from interop.transport.fhir_client import FhirClientError

    try:
        number = check_nhs_number(nhs_number)
    except InvalidNhsNumber as exc:
        fail(f"NHS number: {exc}", 1)
    if unscheduled and not (reason and reason.strip()):
        fail("--unscheduled notifies the local authority: say why with --reason", 2)
    if reason and not unscheduled:
        fail("--reason goes with --unscheduled (a scheduled lookup is not notified)", 2)
    resolved = resolve_endpoint(endpoint, config_path)
    settings = _with_ods(resolved.settings, ods_code)
    if unscheduled and not settings.ods_code:
        fail("--unscheduled says who saw the child: give --ods CODE or the endpoint's ods_code")
    pds = None if already_traced else _pds_settings(pds_endpoint, resolved.config, config_path)
    audit = _audit_log(resolved.config, audit_log) if unscheduled else None
    try:
        found = cpis_lookup(
            settings, number, unscheduled=unscheduled, reason=reason, history=history,
            audit=audit, pds=pds, already_traced=already_traced, role_id=role_id,
            trace_policy=_policy(resolved.config),
        )  # fmt: skip
    except FhirClientError as exc:
        raise _cpis_failure(exc) from None
    _print_lookup(found, history)


def _print_lookup(found: CpisLookupResult, history: bool) -> None:
    """The trace's outcome, the care teams and, with ``history``, the access history."""
    from interop.privacy import mask_nhs_number

    trace = found.trace
    if trace is not None:
        click.echo(f"PDS trace: {trace.status}" + "".join(f"; {w}" for w in trace.warnings))
    kind = "unscheduled (the local authority is notified)" if found.unscheduled else "scheduled"
    masked = mask_nhs_number(found.nhs_number)
    click.echo(f"NHS {masked}: {len(found.teams)} care team(s); {kind} lookup")
    for team in found.teams:
        click.echo(f"  {_describe_team(team, found.organisations)}")
    if history:
        click.echo(f"access history: {len(found.events)} event(s)")
        for event in found.events:
            click.echo(f"  {_describe_event(event)}")


def _pds_settings(
    pds_endpoint: str | None, config: Config | None, config_path: Path | None
) -> EndpointSettings | None:
    """``--pds``, else the ``[pds] endpoint`` of the configuration, else None."""
    if pds_endpoint is None and config is not None and config.pds is not None:
        pds_endpoint = config.pds.endpoint
    if pds_endpoint is None:
        return None
    return resolve_endpoint(pds_endpoint, config_path, option="--pds").settings


def _policy(config: Config | None) -> TracePolicy:
    from interop.jobs.pds_trace import policy_of

    return policy_of(config.pds if config is not None else None)


def _cpis_failure(exc: FhirClientError) -> RemoteError:
    """A CP-IS failure explained, then the server's issues (exit 3)."""
    from interop.cli.push_cmd import remote_lines
    from interop.transport.cpis_api import cpis_error_message

    return RemoteError("\n".join([cpis_error_message(exc), *remote_lines(exc)]))


def _with_ods(settings: EndpointSettings, ods_code: str | None) -> EndpointSettings:
    """The endpoint's settings with ``--ods`` as the accessing organisation, if given."""
    if ods_code is None:
        return settings
    from dataclasses import replace

    from interop.identifiers import check_ods_code

    try:
        return replace(settings, ods_code=check_ods_code(ods_code))
    except ValueError as exc:
        fail(f"--ods: {exc}", 2)


def _audit_log(config: Config | None, path: Path | None) -> AuditLog:
    """``--audit-log``, else ``[audit] log``, else ./interop-audit.jsonl."""
    from interop.transport.cpis_api import AuditLog

    configured = config.audit if config else None
    path = path or (configured.log if configured else Path("interop-audit.jsonl"))
    return AuditLog(path, configured.user if configured else None)


def _describe_team(team: JSON, organisations: dict[str, JSON]) -> str:
    """``Child protection plan (CPP), active, from 2026-06-09; Leicester (LA465): work 0116...``"""
    from interop.transport.bundles import references, relative_reference

    period: JSON = team["period"] if isinstance(team.get("period"), dict) else {}
    span = f"from {period.get('start', '?')}"
    if period.get("end"):
        span += f" to {period['end']}"
    text = f"{_first_coding(team.get('category'))}, {team.get('status', '?')}, {span}"
    for reference in references(team.get("managingOrganization")):
        org = organisations.get(relative_reference(reference) or "")
        if org is None:
            continue
        codes = [i.get("value") for i in org.get("identifier") or [] if isinstance(i, dict)]
        phones = [
            f"{t.get('use') or 'phone'} {t.get('value')}"
            for t in org.get("telecom") or []
            if isinstance(t, dict) and t.get("system") == "phone"
        ]
        text += f"; {org.get('name', '?')} ({codes[0] if codes else '?'})"
        if phones:
            text += ": " + ", ".join(phones)
    return text


def _describe_event(event: JSON) -> str:
    """``2026-06-10T09:00:00Z: <type> by <who>``."""
    who = []
    for agent in event.get("agent") or []:
        ref = agent.get("who") if isinstance(agent, dict) else None
        if isinstance(ref, dict):
            identifier: JSON = ref["identifier"] if isinstance(ref.get("identifier"), dict) else {}
            label = ref.get("display") or identifier.get("value")
            if label:
                who.append(str(label))
    when = event.get("recorded", "?")
    return f"{when}: {_first_coding(event.get('type'))} by {', '.join(who) or 'unknown'}"


def _first_coding(value: Any) -> str:
    """``display (code)`` of the first coding of a CodeableConcept, a Coding or a list."""
    if isinstance(value, list):
        value = value[0] if value else None
    if isinstance(value, dict) and isinstance(value.get("coding"), list) and value["coding"]:
        value = value["coding"][0]
    if isinstance(value, dict) and (value.get("code") or value.get("display")):
        display, code = value.get("display"), value.get("code")
        return f"{display} ({code})" if display and code else str(display or code)
    return "?"
