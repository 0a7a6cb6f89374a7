"""``interop push FILE... --endpoint NAME``: write artefacts to a FHIR endpoint.

Also home of what the FHIR commands share (``pull --endpoint``, ``cpis lookup``): resolving
``--endpoint`` (a configured name, or the base URL of an endpoint without auth), and printing a
remote failure with the server's OperationOutcome issues (exit 3).
"""

from __future__ import annotations

import sys
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

import click

from interop.cli.common import fail
from interop.cli.main import InteropCommand
from interop.errors import RemoteError

if TYPE_CHECKING:
    from interop.config import Config, EndpointSettings, WriteMode
    from interop.jobs import PushEvent
    from interop.transport.fhir_client import FhirClientError

#: the configuration read when --config is not given and a named endpoint is asked for
DEFAULT_CONFIG = Path("interop.toml")


# --- shared by the FHIR commands -------------------------------------------------------------


@dataclass(frozen=True)
class ResolvedEndpoint:
    """The endpoint ``--endpoint`` named, and the configuration it came from (if any)."""

    settings: EndpointSettings
    config: Config | None

    @property
    def key(self) -> str:
        """The endpoint's name (configured) or base URL (given on the command line)."""
        return self.settings.name


def load_endpoints_config(
    config_path: Path | None, *, need: tuple[str, ...], endpoints: list[str] | None
) -> Config:
    """The configuration (``--config``, else ./interop.toml) or exit 2 naming every problem."""
    from interop.config import ConfigError, load_config

    path = config_path or DEFAULT_CONFIG
    if config_path is None and not path.exists():
        fail(
            "a named endpoint is read from the configuration: give --config interop.toml "
            "(or a base URL such as http://127.0.0.1:8080/fhir for an endpoint without auth)",
            2,
        )
    try:
        return load_config(path, need=need, endpoints=endpoints)
    except ConfigError as exc:
        lines = [f"{path}: configuration error:", *(f"  {problem}" for problem in exc.problems)]
        fail("\n".join(lines), 2)


def resolve_endpoint(
    endpoint: str, config_path: Path | None, *, option: str = "--endpoint"
) -> ResolvedEndpoint:
    """``--endpoint`` (or ``option``) as settings: a configured fhir endpoint by name, or a
    base URL (no auth)."""
    from interop.config import ConfigError

    if "://" in endpoint:
        return _base_url(endpoint, config_path, option)
    config = load_endpoints_config(config_path, need=("endpoints",), endpoints=[endpoint])
    try:
        settings = config.endpoint(endpoint)
    except ConfigError as exc:
        fail("\n".join(f"{config.source}: {problem}" for problem in exc.problems), 2)
    if settings.kind != "fhir":
        fail(f"endpoint {endpoint} is a {settings.kind} endpoint: this command needs fhir", 2)
    return ResolvedEndpoint(settings, config)


def _base_url(endpoint: str, config_path: Path | None, option: str) -> ResolvedEndpoint:
    """A base URL checked as a configured endpoint is, under the environment of the
    configuration in use (``--config``, else ./interop.toml if there is one, else production)."""
    from interop.config import ConfigError, base_url_endpoint

    config = None
    if config_path is not None or DEFAULT_CONFIG.exists():
        config = load_endpoints_config(config_path, need=(), endpoints=[])
    try:
        return ResolvedEndpoint(base_url_endpoint(endpoint, config), config)
    except ConfigError as exc:
        shown = _without_user_information(endpoint)
        fail("\n".join(f"{option} {shown}: {problem}" for problem in exc.problems), 2)


def _without_user_information(url: str) -> str:
    """``url`` with any ``user:password@`` masked: a refused URL is echoed, its secret never."""
    from urllib.parse import urlsplit

    parts = urlsplit(url)
    if "@" not in parts.netloc:
        return url
    return parts._replace(netloc="***@" + parts.netloc.rsplit("@", 1)[1]).geturl()


def with_ods_endpoint(resolved: ResolvedEndpoint, config_path: Path | None) -> ResolvedEndpoint:
    """``resolved`` with its configuration's ``[ods]`` endpoint read too (only the endpoints a
    command uses are read, so an unrelated endpoint's missing secret is no error)."""
    config = resolved.config
    if config is None or config.ods is None or config.ods.endpoint in config.endpoints:
        return resolved
    wanted = [*config.endpoints, config.ods.endpoint]
    return ResolvedEndpoint(
        resolved.settings, load_endpoints_config(config_path, need=(), endpoints=wanted)
    )


def remote_lines(exc: FhirClientError) -> list[str]:
    """A remote failure and the server's OperationOutcome issues, for standard error."""
    from interop.transport.fhir_client import FhirError, FhirTransportError

    lines = [f"remote failure: {exc}"]
    if isinstance(exc, FhirError):
        lines += [f"  {issue.describe()}" for issue in exc.issues]
    if isinstance(exc, FhirTransportError) and exc.outcome_unknown:
        lines.append("  the request may have been applied: check before repeating it")
    return lines


def remote_failure(exc: FhirClientError) -> RemoteError:
    """The error (exit 3) that prints ``remote_lines``: ``raise remote_failure(exc)``."""
    return RemoteError("\n".join(remote_lines(exc)))


# --- push ------------------------------------------------------------------------------------


@click.command(cls=InteropCommand)
@click.argument("files", nargs=-1, required=True, type=click.Path(path_type=Path, exists=True))
@click.option("--endpoint", help="A configured endpoint's name, or a base URL (no auth).")
@click.option(
    "--route",
    is_flag=True,
    help="Send each artefact where [directory] routes it (by ODS code), not to one endpoint.",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="interop.toml, where named endpoints are (default: ./interop.toml).",
)
@click.option(
    "--mode",
    type=click.Choice(["transaction", "resources"]),
    help="One transaction per artefact, or resource by resource (default: the endpoint's).",
)
@click.option(
    "--write",
    type=click.Choice(["auto", "client-ids", "conditional", "create"]),
    help="How what the server does not hold is written: PUT at the toolkit's ids, PUT "
    "Type?identifier=, or POST with If-None-Exist; auto: as the server's CapabilityStatement "
    "offers (default: the endpoint's).",
)
@click.option("--dry-run", is_flag=True, help="Read, map and route; send nothing.")
@click.option(
    "--force", is_flag=True, help="Overwrite resources edited on the server since the last push."
)
@click.option(
    "--no-ods-check",
    "no_ods",
    is_flag=True,
    help="Push even when ODS calls an organisation the artefact names closed or unknown.",
)
def push(
    files: tuple[Path, ...],
    endpoint: str | None,
    route: bool,
    config_path: Path | None,
    mode: str | None,
    write: WriteMode | None,
    dry_run: bool,
    force: bool,
    no_ods: bool,
) -> None:
    """Write the artefacts in FILES (artefact JSON, FHIR JSON or XML; folders are searched
    for .json and .xml files) to a FHIR endpoint.

    Every file first goes through the whole validation chain (as interop validate): a file
    with errors is not pushed; warnings are printed.

    Each artefact goes as one transaction; what the server holds unchanged is not written, so
    pushing the same artefact again changes nothing; only what changed is written, with If-Match.
    The child's Patient is the server's one Patient of the child, found by NHS number (none:
    created conditionally when the server offers it, so concurrent pushes make one). --write says
    how the rest is written. A resource edited on the server since the last push is not overwritten
    (a conflict, exit 3) unless --force is given. With --dry-run nothing is sent: each artefact is
    read, mapped and its writes (and, with --route, its recipients) listed.

    With [ods] configured, every ODS code an artefact names is asked of ODS first: an
    organisation unknown to ODS or closed is not pushed to (exit 1) unless --no-ods-check.

    Exit 0 all pushed, 1 some files invalid or not routable, 2 usage, configuration or I/O
    error, 3 remote endpoint failure (the server's OperationOutcome issues are printed).
    """
    from interop.jobs import push_artefacts

    if route == (endpoint is not None):
        fail("give either --endpoint NAME (or a base URL) or --route", 2)
    directory = None
    settings = None
    config: Config | None = None
    if route:
        from interop.transport.directory import EndpointDirectory

        config = load_endpoints_config(config_path, need=("endpoints", "directory"), endpoints=None)
        directory = EndpointDirectory.from_config(config)
    else:
        assert endpoint is not None
        resolved = with_ods_endpoint(resolve_endpoint(endpoint, config_path), config_path)
        settings, config = resolved.settings, resolved.config
    outcome = push_artefacts(
        files,
        endpoint=settings,
        directory=directory,
        mode="resources" if mode == "resources" else "transaction" if mode else None,
        write=write,
        dry_run=dry_run,
        force=force,
        progress=_print_event,
        ods=None if no_ods else config,
    )
    sys.stdout.flush()
    raise SystemExit(outcome.exit_code)


def _print_event(event: PushEvent) -> None:
    """One line (or a few) per event, as the push goes."""
    path, name, artefact = event.path, event.endpoint, event.artefact
    if event.kind == "invalid":
        errors = any(issue.is_error for issue in event.issues)
        why = "invalid" if errors else "not an artefact the toolkit maps"
        click.echo(f"{path}: not pushed, {why} ({event.read_as}):", err=True)
        for issue in event.issues:
            click.echo(f"  {issue.describe()}", err=True)
    elif event.kind == "warning":
        click.echo(f"{path}: {event.issues[0].describe()}", err=True)
    elif event.kind == "unroutable":
        click.echo(f"{path}: not routed: {event.detail}", err=True)
    elif event.kind == "not-fhir":
        click.echo(f"{path}: {event.detail}", err=True)
    elif event.kind == "routed":
        click.echo(f"{path}: route to {name}: {event.detail}")
    elif event.kind == "not-accepted":
        assert artefact is not None
        click.echo(f"{path}: endpoint {name} does not take {artefact.kind}", err=True)
    elif event.kind == "would-push":
        assert artefact is not None
        click.echo(f"{path}: {artefact.summary()}: would PUT {event.detail}")
    elif event.kind == "failed":
        assert event.error is not None
        click.echo(f"{path}: not pushed to {name}", err=True)
        for line in remote_lines(event.error):
            click.echo(line, err=True)
    else:
        assert artefact is not None
        assert event.result is not None
        result, created = event.result, event.result.created
        click.echo(
            f"{path}: pushed {artefact.kind} to {name}: {len(result.outcomes)} resource(s), "
            f"{created} created, {len(result.outcomes) - created} updated or unchanged"
        )


__all__ = [
    "ResolvedEndpoint",
    "load_endpoints_config",
    "push",
    "remote_failure",
    "remote_lines",
    "resolve_endpoint",
    "with_ods_endpoint",
]
