"""``interop push FILE... --endpoint NAME``: write artefacts to a FHIR endpoint.

Also home of what the FHIR commands share (``pull --endpoint``, ``cpis lookup``): resolving
``--endpoint`` (a configured name, or the base URL of an endpoint without auth), and printing a
remote failure with the server's OperationOutcome issues (exit 3).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

import click

from interop.cli.common import fail
from interop.cli.main import InteropCommand

if TYPE_CHECKING:
    from interop.config import Config, EndpointSettings, PushMode
    from interop.domain import ArtefactBase
    from interop.transport.fhir_client import FhirClient, FhirClientError
    from interop.validators.chain import ValidationContext

#: the configuration read when --config is not given and a named endpoint is asked for
DEFAULT_CONFIG = Path("interop.toml")
_SUFFIXES = (".json", ".xml")


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
        click.echo(f"{path}: configuration error:", err=True)
        for problem in exc.problems:
            click.echo(f"  {problem}", err=True)
        raise SystemExit(2) from None


def resolve_endpoint(endpoint: str, config_path: Path | None) -> ResolvedEndpoint:
    """``--endpoint`` as settings: a configured fhir endpoint by name, or a base URL (no auth)."""
    from interop.config import ConfigError, EndpointSettings

    if "://" in endpoint:
        from urllib.parse import urlsplit

        url = urlsplit(endpoint)
        if url.scheme not in ("http", "https") or not url.hostname or url.query:
            fail(f"--endpoint {endpoint}: a base URL is http(s)://host[:port]/path", 2)
        config = None
        if config_path is not None:
            config = load_endpoints_config(config_path, need=(), endpoints=[])
        name = endpoint.rstrip("/")
        return ResolvedEndpoint(EndpointSettings(name=name, kind="fhir", url=name), config)
    config = load_endpoints_config(config_path, need=("endpoints",), endpoints=[endpoint])
    try:
        settings = config.endpoint(endpoint)
    except ConfigError as exc:
        for problem in exc.problems:
            click.echo(f"{config.source}: {problem}", err=True)
        raise SystemExit(2) from None
    if settings.kind != "fhir":
        fail(f"endpoint {endpoint} is a {settings.kind} endpoint: this command needs fhir", 2)
    return ResolvedEndpoint(settings, config)


def open_client(settings: EndpointSettings) -> FhirClient:
    """The FHIR client of an endpoint, or exit 2 when its TLS or auth settings are unusable."""
    from interop.transport.fhir_client import FhirClient

    try:
        return FhirClient.from_settings(settings)
    except ValueError as exc:
        fail(f"endpoint {settings.name}: {exc}", 2)


def report_remote(exc: FhirClientError) -> None:
    """Print a remote failure and the server's OperationOutcome issues to standard error."""
    from interop.transport.fhir_client import FhirError, FhirTransportError

    click.echo(f"remote failure: {exc}", err=True)
    if isinstance(exc, FhirError):
        for issue in exc.issues:
            click.echo(f"  {issue.describe()}", err=True)
    if isinstance(exc, FhirTransportError) and exc.outcome_unknown:
        click.echo("  the request may have been applied: check before repeating it", err=True)


def fail_remote(exc: FhirClientError) -> NoReturn:
    """``report_remote`` then exit 3."""
    report_remote(exc)
    raise SystemExit(3)


# --- push ------------------------------------------------------------------------------------


def _files(paths: tuple[Path, ...]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from sorted(
                p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in _SUFFIXES
            )
        else:
            yield path


def _read(path: Path, context: ValidationContext) -> ArtefactBase | None:
    """The artefact in ``path`` after the whole validation chain, or None after printing why
    it is not pushed (exit 2 for I/O). Warnings are printed and do not stop a push."""
    from interop.validators.files import validate_bytes

    try:
        data = path.read_bytes()
    except OSError as exc:
        fail(f"{path}: cannot read: {exc.strerror or exc}", 2)
    report = validate_bytes(data, path, context)
    if report.errors or report.artefact is None:
        why = "invalid" if report.errors else "not an artefact the toolkit maps"
        click.echo(f"{path}: not pushed, {why} ({report.kind}):", err=True)
        for issue in report.issues:
            click.echo(f"  {issue.describe()}", err=True)
        return None
    for issue in report.issues:
        click.echo(f"{path}: {issue.describe()}", err=True)
    return report.artefact


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
@click.option("--dry-run", is_flag=True, help="Read, map and route; send nothing.")
def push(
    files: tuple[Path, ...],
    endpoint: str | None,
    route: bool,
    config_path: Path | None,
    mode: str | None,
    dry_run: bool,
) -> None:
    """Write the artefacts in FILES (artefact JSON, FHIR JSON or XML; folders are searched
    for .json and .xml files) to a FHIR endpoint.

    Every file first goes through the whole validation chain (as interop validate): a file
    with errors is not pushed; warnings are printed.

    Each artefact goes as one transaction of PUTs at its resources' deterministic ids, so
    pushing the same artefact again changes nothing. With --dry-run nothing is sent: each
    artefact is read, mapped and its writes (and, with --route, its recipients) listed.

    Exit 0 all pushed, 1 some files invalid or not routable, 2 usage, configuration or I/O
    error, 3 remote endpoint failure (the server's OperationOutcome issues are printed).
    """
    from interop.mappings.fhir import artefact_to_fhir
    from interop.transport.bundles import to_transaction
    from interop.transport.fhir_client import FhirClientError, FhirTransportError
    from interop.validators.chain import ValidationContext

    if route == (endpoint is not None):
        fail("give either --endpoint NAME (or a base URL) or --route", 2)
    targets: dict[str, EndpointSettings] = {}
    directory = None
    if route:
        from interop.transport.directory import EndpointDirectory

        config = load_endpoints_config(config_path, need=("endpoints", "directory"), endpoints=None)
        directory = EndpointDirectory.from_config(config)
    else:
        assert endpoint is not None
        resolved = resolve_endpoint(endpoint, config_path)
        targets[resolved.key] = resolved.settings
    clients: dict[str, FhirClient] = {}
    code = 0
    context = ValidationContext()
    try:
        for path in _files(files):
            artefact = _read(path, context)
            if artefact is None:
                code = max(code, 1)
                continue
            bundle = artefact_to_fhir(artefact)
            writes = [e["request"]["url"] for e in to_transaction(bundle)["entry"]]
            destinations = list(targets.values())
            if directory is not None:
                routing = directory.route(artefact)
                for why in routing.unroutable:
                    click.echo(f"{path}: not routed: {why}", err=True)
                    code = max(code, 1)
                destinations = []
                for r in routing.routes:
                    if r.endpoint.kind != "fhir":
                        click.echo(
                            f"{path}: {r.ods_code} ({r.name}) is reached by {r.endpoint.kind} "
                            f"endpoint {r.endpoint.name}: push sends to fhir endpoints only",
                            err=True,
                        )
                        code = max(code, 1)
                        continue
                    if dry_run:
                        click.echo(f"{path}: route to {r.endpoint.name}: {r.ods_code} ({r.reason})")
                    destinations.append(r.endpoint)
            for settings in dict.fromkeys(destinations):
                if not settings.accepts(artefact.kind):
                    click.echo(
                        f"{path}: endpoint {settings.name} does not take {artefact.kind}", err=True
                    )
                    code = max(code, 1)
                    continue
                push_mode: PushMode = settings.push_mode
                if mode == "resources":
                    push_mode = "resources"
                elif mode == "transaction":
                    push_mode = "transaction"
                if dry_run:
                    click.echo(
                        f"{path}: {artefact.summary()}: would PUT {len(writes)} resource(s) to "
                        f"{settings.name} ({push_mode}): {', '.join(writes)}"
                    )
                    continue
                client = clients.get(settings.name) or open_client(settings)
                clients[settings.name] = client
                try:
                    result = client.push(bundle, mode=push_mode)
                except FhirClientError as exc:
                    click.echo(f"{path}: not pushed to {settings.name}", err=True)
                    report_remote(exc)
                    code = 3
                    if isinstance(exc, FhirTransportError):
                        raise SystemExit(3) from None  # the endpoint is out of reach: stop
                    continue
                created = result.created
                click.echo(
                    f"{path}: pushed {artefact.kind} to {settings.name}: "
                    f"{len(result.outcomes)} resource(s), {created} created, "
                    f"{len(result.outcomes) - created} updated or unchanged"
                )
    finally:
        for client in clients.values():
            client.close()
    sys.stdout.flush()
    raise SystemExit(code)


__all__ = [
    "ResolvedEndpoint",
    "fail_remote",
    "load_endpoints_config",
    "open_client",
    "push",
    "report_remote",
    "resolve_endpoint",
]
