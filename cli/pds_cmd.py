"""``interop pds ...``: trace a child on PDS before sharing safeguarding information."""

from __future__ import annotations

from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import click

from interop.cli.common import fail
from interop.cli.main import InteropGroup

if TYPE_CHECKING:
    from interop.cli.push_cmd import ResolvedEndpoint
    from interop.config import Config
    from interop.jobs.pds_trace import TraceResult

_ENDPOINT_HELP = "The PDS FHIR endpoint: a name or a base URL (default: [pds] endpoint)."
_CONFIG_HELP = "interop.toml, where named endpoints and [pds] are (default: ./interop.toml)."


@click.group(cls=InteropGroup)
def pds() -> None:
    """PDS (Personal Demographics Service, FHIR R4): trace before sharing."""


def _endpoint(endpoint: str | None, config_path: Path | None) -> ResolvedEndpoint:
    """``--endpoint``, else the ``[pds] endpoint`` of the configuration."""
    from interop.cli.push_cmd import load_endpoints_config, resolve_endpoint, with_ods_endpoint

    if endpoint is None:
        first = load_endpoints_config(config_path, need=("pds",), endpoints=None)
        assert first.pds is not None  # needed, so present
        endpoint = first.pds.endpoint
    return with_ods_endpoint(resolve_endpoint(endpoint, config_path), config_path)


def _report(result: TraceResult) -> None:
    """Print the verdict: the number asked for masked; no name, date of birth or address. The
    number to use (a replacement, a search's match) is the answer asked for: printed whole."""
    from interop.privacy import mask_nhs_number

    asked = f"NHS {mask_nhs_number(result.requested)}" if result.requested else "the search"
    if result.ok:
        assert result.nhs_number is not None
        line = f"{asked}: {result.status}"
        if result.status == "replaced" or not result.requested:
            line += f": use NHS {result.nhs_number}"
        click.echo(line)
    else:
        click.echo(f"{asked}: held back")
        for reason in result.reasons:
            click.echo(f"  reason: {reason}")
    for warning in result.warnings:
        click.echo(f"  warning: {warning}")
    patient = result.patient
    if patient is not None and not patient.restricted and patient.general_practitioners:
        click.echo(f"  GP practice (ODS): {', '.join(patient.general_practitioners)}")


def _check_practices(result: TraceResult, config: Config | None) -> None:
    """The GP practices PDS gives (never a restricted record's) asked of ODS when ``[ods]`` is
    configured: a closed or unknown practice is a warning, the trace's verdict stands."""
    from interop.jobs.ods_check import check_named

    patient = result.patient
    if patient is None or patient.restricted:
        return
    practices = patient.general_practitioners
    for finding in check_named(config, practices, roles=dict.fromkeys(practices, "health")):
        click.echo(f"  warning: GP practice {finding.ods_code}: {finding.message}")


@pds.command("trace")
@click.argument("nhs_number")
@click.option("--endpoint", help=_ENDPOINT_HELP)
@click.option("--given", help="The given name the artefact holds, to compare with PDS.")
@click.option("--family", help="The family name the artefact holds, to compare with PDS.")
@click.option("--dob", type=click.DateTime(["%Y-%m-%d"]), help="Date of birth, YYYY-MM-DD.")
@click.option(
    "--mismatch",
    type=click.Choice(["hold", "warn"]),
    help="A name or date-of-birth mismatch holds back or warns (default: [pds] mismatch, hold).",
)
@click.option("--config", "config_path", type=click.Path(path_type=Path), help=_CONFIG_HELP)
def trace(
    nhs_number: str,
    endpoint: str | None,
    given: str | None,
    family: str | None,
    dob: object,
    mismatch: str | None,
    config_path: Path | None,
) -> None:
    """Trace NHS_NUMBER on PDS before sharing: is the number current (a superseded number
    gives its replacement), the person alive, the record not restricted (then no address or GP
    is shown), and do the name and date of birth given match?

    Exit 0 traced (or replaced), 1 held back or invalid NHS number, 2 usage or configuration
    error, 3 PDS failure.
    """
    from dataclasses import replace

    from interop.identifiers import InvalidNhsNumber, check_nhs_number
    from interop.jobs.pds_trace import Expected, pds_trace, policy_of

    try:
        number = check_nhs_number(nhs_number)
    except InvalidNhsNumber as exc:
        fail(f"NHS number: {exc}", 1)
    resolved = _endpoint(endpoint, config_path)
    policy = policy_of(resolved.config.pds if resolved.config else None)
    if mismatch is not None:
        policy = replace(policy, mismatch="warn" if mismatch == "warn" else "hold")
    born = dob.date() if hasattr(dob, "date") else None
    expected = Expected(given_name=given, family_name=family, date_of_birth=born)
    result = pds_trace(resolved.settings, number, expected, policy)
    _report(result)
    _check_practices(result, resolved.config)
    if not result.ok:
        raise click.exceptions.Exit(1)


@pds.command("find")
@click.option("--family", required=True, help="Family name.")
@click.option("--dob", type=click.DateTime(["%Y-%m-%d"]), required=True, help="YYYY-MM-DD.")
@click.option("--given", help="Given name.")
@click.option("--gender", type=click.Choice(["male", "female", "other", "unknown"]))
@click.option("--postcode", help="Postcode, to narrow the search.")
@click.option("--endpoint", help=_ENDPOINT_HELP)
@click.option("--config", "config_path", type=click.Path(path_type=Path), help=_CONFIG_HELP)
def find(
    family: str,
    dob: object,
    given: str | None,
    gender: str | None,
    postcode: str | None,
    endpoint: str | None,
    config_path: Path | None,
) -> None:
    """Find a child with no known NHS number on PDS by demographics: a single match only
    (several matches are refused, as application-restricted access requires).

    Exit 0 found, 1 none found or held back, 2 usage or configuration error, 3 PDS failure
    (including several matches).
    """
    from interop.jobs.pds_trace import pds_find

    born = dob.date() if hasattr(dob, "date") else date.min
    resolved = _endpoint(endpoint, config_path)
    result = pds_find(
        resolved.settings,
        family=family,
        birthdate=born,
        given=given,
        gender=gender,
        postcode=postcode,
    )
    _report(result)
    if not result.ok:
        raise click.exceptions.Exit(1)


@pds.command("stand-in")
@click.option("--port", type=click.IntRange(0, 65535), default=8090, show_default=True)
def stand_in(port: int) -> None:
    """Serve the offline stand-ins for PDS FHIR, ODS and Patient Flags on 127.0.0.1 with their
    synthetic test patients and organisations (docs/national-services.md), until Ctrl-C.

    Not a national service: for tests, demonstrations and rehearsing onboarding.
    """
    import uvicorn

    from interop.sandbox.fhir_server.running import bind_socket, server_config
    from interop.sandbox.national import (
        FLAGS_PATH,
        ODS_PATH,
        PDS_PATH,
        NationalServices,
        create_national_app,
        stand_in_organisations,
        stand_in_patients,
    )

    try:
        sock = bind_socket("127.0.0.1", port)
    except OSError as exc:
        fail(f"cannot listen on 127.0.0.1:{port}: {exc.strerror or exc}", 2)
    host = f"http://127.0.0.1:{sock.getsockname()[1]}"
    for name, path in (("PDS", PDS_PATH), ("ODS", ODS_PATH), ("Patient Flags", FLAGS_PATH)):
        click.echo(f"{name}: {host}{path}")
    services = NationalServices(stand_in_patients(), stand_in_organisations())
    server = uvicorn.Server(server_config(create_national_app(services)))
    try:
        server.run(sockets=[sock])
    finally:
        sock.close()
    click.echo("stopped", err=True)
