"""The FHIR push job: artefact files validated, mapped and written to FHIR endpoints, to one
endpoint or where the directory routes each (``interop push``, the demo's push step)."""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from interop.errors import EXIT_INVALID, EXIT_OK, EXIT_REMOTE, ConfigurationError, UsageError

if TYPE_CHECKING:
    from interop.config import Config, EndpointSettings, PushMode, WriteMode
    from interop.domain import ArtefactBase
    from interop.issues import Issue
    from interop.transport.directory import EndpointDirectory
    from interop.transport.fhir_client import FhirClient, FhirClientError, PushResult
    from interop.validators.chain import ValidationContext

__all__ = ["PushEvent", "PushOutcome", "push_artefacts"]

_SUFFIXES = (".json", ".xml")

PushEventKind = Literal[
    "invalid",  # not pushed: errors (issues), or not an artefact the toolkit maps
    "warning",  # pushed all the same: one warning (issues[0])
    "unroutable",  # the directory cannot route it (detail: why)
    "not-fhir",  # routed to an endpoint push cannot send to (detail: why)
    "routed",  # dry run: a recipient the directory chose (detail: ODS code and reason)
    "not-accepted",  # the endpoint does not take this kind
    "would-push",  # dry run: the writes it would make (detail)
    "pushed",  # written (result)
    "failed",  # the endpoint refused or failed (error); out of reach stops the push
]


@dataclass(frozen=True)
class PushEvent:
    """One thing that happened to one file, in order; the CLI prints each as it comes."""

    kind: PushEventKind
    path: Path
    endpoint: str | None = None
    artefact: ArtefactBase | None = None
    #: what the file was read as (an artefact kind, "FHIR JSON", ...), for ``invalid``
    read_as: str | None = None
    issues: tuple[Issue, ...] = ()
    detail: str | None = None
    result: PushResult | None = None
    error: FhirClientError | None = None


@dataclass
class PushOutcome:
    """Every event of the push, and how it ended."""

    events: list[PushEvent] = field(default_factory=list)
    #: the endpoint went out of reach: the remaining files were not tried
    stopped: bool = False

    @property
    def pushed(self) -> list[PushEvent]:
        """The writes made (one per artefact and endpoint)."""
        return [event for event in self.events if event.kind == "pushed"]

    @property
    def exit_code(self) -> int:
        """3 after an endpoint failure, else 1 when a file was not pushed everywhere, else 0."""
        if any(event.kind == "failed" for event in self.events):
            return EXIT_REMOTE
        refused = ("invalid", "unroutable", "not-fhir", "not-accepted")
        return EXIT_INVALID if any(e.kind in refused for e in self.events) else EXIT_OK


def push_artefacts(
    paths: Iterable[Path],
    *,
    endpoint: EndpointSettings | None = None,
    directory: EndpointDirectory | None = None,
    mode: PushMode | None = None,
    write: WriteMode | None = None,
    dry_run: bool = False,
    force: bool = False,
    progress: Callable[[PushEvent], None] | None = None,
    ods: Config | None = None,
) -> PushOutcome:
    """Validate, map and write the artefacts in ``paths`` (files, and folders searched for .json
    and .xml) to ``endpoint``, or where ``directory`` routes each (give exactly one).

    Each file goes through the whole validation chain: one with errors is not pushed. Each
    artefact goes as one transaction (``mode``: ``resources`` one by one; default: the
    endpoint's) of what the server does not hold as it is, so pushing it again changes nothing;
    ``write``: how what it does not hold is written (default: the endpoint's; ``FhirClient``).
    ``dry_run``: read, map and route; send nothing. ``force``: overwrite resources edited on
    the server since the last push (else a conflict, a ``failed`` event). Every event is also
    given to ``progress`` as it happens. ``ods``: a configuration with ``[ods]``, whose ODS
    endpoint is asked about every organisation an artefact names: one unknown to ODS or closed
    is not pushed (an ``invalid`` event), ODS unreachable is a warning (``jobs.ods_check``).
    ``UsageError`` for a bad combination;
    ``ConfigurationError`` for a file that cannot be read or an endpoint that cannot be used
    (both stop the push).
    """
    from interop.validators.chain import ValidationContext

    if (endpoint is None) == (directory is None):
        raise UsageError("push to one endpoint or by the directory: give exactly one")
    outcome = PushOutcome()

    def emit(event: PushEvent) -> None:
        outcome.events.append(event)
        if progress:
            progress(event)

    clients: dict[str, FhirClient] = {}
    context = ValidationContext()
    try:
        for path in _files(paths):
            artefact = _read(path, context, emit)
            if artefact is None or not _organisations_open(path, artefact, ods, emit):
                continue
            targets = [endpoint] if endpoint else _routes(path, artefact, directory, dry_run, emit)
            sent = _push_one(
                path, artefact, targets, mode, dry_run, clients, emit, force=force, write=write
            )
            if not sent:
                outcome.stopped = True
                break
    finally:
        for client in clients.values():
            client.close()
    return outcome


def _files(paths: Iterable[Path]) -> Iterator[Path]:
    for path in paths:
        if path.is_dir():
            yield from sorted(
                p for p in path.rglob("*") if p.is_file() and p.suffix.lower() in _SUFFIXES
            )
        else:
            yield path


def _read(
    path: Path, context: ValidationContext, emit: Callable[[PushEvent], None]
) -> ArtefactBase | None:
    """The artefact in ``path`` after the whole validation chain, or None (an ``invalid``
    event). Warnings do not stop a push."""
    from interop.validators.files import validate_bytes

    try:
        data = path.read_bytes()
    except OSError as exc:
        raise ConfigurationError(f"{path}: cannot read: {exc.strerror or exc}") from None
    report = validate_bytes(data, path, context)
    if report.errors or report.artefact is None:
        emit(PushEvent("invalid", path, read_as=report.kind, issues=tuple(report.issues)))
        return None
    for issue in report.issues:
        emit(PushEvent("warning", path, artefact=report.artefact, issues=(issue,)))
    return report.artefact


def _organisations_open(
    path: Path, artefact: ArtefactBase, ods: Config | None, emit: Callable[[PushEvent], None]
) -> bool:
    """Whether ODS knows every organisation the artefact names as open (an ``invalid`` event
    if not); true without ``[ods]``."""
    from interop.jobs.ods_check import artefact_issues

    issues = artefact_issues(ods, artefact, refuse=True)
    if any(issue.is_error for issue in issues):
        emit(PushEvent("invalid", path, read_as=artefact.kind, issues=tuple(issues)))
        return False
    for issue in issues:
        emit(PushEvent("warning", path, artefact=artefact, issues=(issue,)))
    return True


def _routes(
    path: Path,
    artefact: ArtefactBase,
    directory: EndpointDirectory | None,
    dry_run: bool,
    emit: Callable[[PushEvent], None],
) -> list[EndpointSettings]:
    """The fhir endpoints the directory routes ``artefact`` to (the others are events)."""
    assert directory is not None
    routing = directory.route(artefact)
    for why in routing.unroutable:
        emit(PushEvent("unroutable", path, artefact=artefact, detail=why))
    targets = []
    for route in routing.routes:
        name = route.endpoint.name
        if route.endpoint.kind != "fhir":
            why = (
                f"{route.ods_code} ({route.name}) is reached by {route.endpoint.kind} "
                f"endpoint {name}: push sends to fhir endpoints only"
            )
            emit(PushEvent("not-fhir", path, name, artefact, detail=why))
            continue
        if dry_run:
            why = f"{route.ods_code} ({route.reason})"
            emit(PushEvent("routed", path, name, artefact, detail=why))
        targets.append(route.endpoint)
    return targets


def _push_one(
    path: Path,
    artefact: ArtefactBase,
    targets: list[EndpointSettings],
    mode: PushMode | None,
    dry_run: bool,
    clients: dict[str, FhirClient],
    emit: Callable[[PushEvent], None],
    *,
    force: bool = False,
    write: WriteMode | None = None,
) -> bool:
    """Write ``artefact`` to each target; False when an endpoint went out of reach."""
    from interop.jobs.fhir_endpoint import open_client
    from interop.mappings.fhir import artefact_to_fhir
    from interop.transport.bundles import to_transaction
    from interop.transport.fhir_client import FhirClientError, FhirTransportError

    bundle = artefact_to_fhir(artefact)
    for settings in dict.fromkeys(targets):
        name = settings.name
        if not settings.accepts(artefact.kind):
            emit(PushEvent("not-accepted", path, name, artefact))
            continue
        push_mode = mode or settings.push_mode
        if dry_run:
            writes = [e["request"]["url"] for e in to_transaction(bundle)["entry"]]
            how = f"{push_mode}, write {write or settings.write}"
            detail = f"{len(writes)} resource(s) to {name} ({how}): {', '.join(writes)}"
            emit(PushEvent("would-push", path, name, artefact, detail=detail))
            continue
        client = clients.get(name) or open_client(settings)
        clients[name] = client
        try:
            result = client.push(bundle, mode=push_mode, force=force, write=write)
        except FhirClientError as exc:
            emit(PushEvent("failed", path, name, artefact, error=exc))
            if isinstance(exc, FhirTransportError):
                return False  # the endpoint is out of reach: stop
            continue
        emit(PushEvent("pushed", path, name, artefact, result=result))
    return True
