"""The FHIR pull job: a child's artefacts, or every artefact changed since a date, read back
from a FHIR endpoint and mapped to the domain model (``interop pull --endpoint``)."""

from __future__ import annotations

import os
import re
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Any

from interop.errors import EXIT_INVALID, EXIT_OK, UsageError

if TYPE_CHECKING:
    from interop.config import EndpointSettings
    from interop.domain import ArtefactBase
    from interop.jobs.state import StateOptions
    from interop.state import State
    from interop.sync.watermarks import Watermarks

__all__ = ["PullResult", "pull_artefacts"]

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


@dataclass
class PullResult:
    """What a pull read: the resources, the artefacts they map to, and what did not map."""

    endpoint: str
    #: ``patient NHS 943 *** **19`` or ``changes since 2026-01-31`` (NHS number masked)
    what: str
    resources: int
    artefacts: list[ArtefactBase] = field(default_factory=list)
    #: one line per group of resources that is not an artefact, saying why
    problems: list[str] = field(default_factory=list)
    #: the files written (with an output folder)
    written: list[Path] = field(default_factory=list)
    #: the endpoint's watermark after a ``since`` pull: moved on, or left where it was
    watermark: str | None = None
    watermark_moved: bool = False

    @property
    def exit_code(self) -> int:
        """1 when some results are not artefacts, else 0."""
        return EXIT_INVALID if self.problems else EXIT_OK


def pull_artefacts(
    settings: EndpointSettings,
    *,
    nhs_number: str | None = None,
    since: str | None = None,
    state: Path | str,
    out: Path | None = None,
    state_options: StateOptions | None = None,
) -> PullResult:
    """Read artefacts back from the FHIR endpoint at ``settings``: every artefact of the child
    with ``nhs_number``, or (``since``: an ISO date or instant, or ``"last"``) every artefact
    with a resource changed after it. A ``since`` pull moves the endpoint's watermark in the
    ``state`` file to the latest change seen, unless some groups did not map (they are read
    again next time). ``out``: write each artefact as ``KIND/LOCAL-ID.json``.

    ``InvalidNhsNumber`` (InputError); ``UsageError`` for a bad ``since`` or no watermark yet;
    ``WatermarkError`` for the state file; ``FhirClientError`` (RemoteError) from the endpoint.

    A ``since`` pull holds the state's ``fhir-pull:ENDPOINT`` lease (``LeaseHeld``, exit 75,
    when another pull of that endpoint has it) and refuses a missing or empty state unless
    ``state_options.new``. Written artefacts are private (0600, folders 0700).
    """
    from interop.jobs.private_files import private_files
    from interop.jobs.state import held_state

    if (nhs_number is None) == (since is None):
        raise UsageError("pull by NHS number or by date: give exactly one")
    if nhs_number is not None:
        with private_files():
            return _pull(settings, nhs_number, None, None, out)
    if since != "last" and (since is None or not _is_iso(since)):
        _since(since, None, settings.name, "")  # a bad date is a usage error, state or not
    label = f"interop pull --endpoint {settings.name}"
    with (
        private_files(),
        held_state(state, f"fhir-pull:{settings.name}", label, state_options) as (opened, _),
    ):
        return _pull(settings, None, since, opened, out)


def _pull(
    settings: EndpointSettings,
    nhs_number: str | None,
    since: str | None,
    state: State | None,
    out: Path | None,
) -> PullResult:
    """The pull itself, on a state already held (for a ``since`` pull)."""
    from interop.identifiers import check_nhs_number
    from interop.jobs.fhir_endpoint import open_client
    from interop.jobs.state import open_watermarks
    from interop.privacy import mask_nhs_number
    from interop.transport.bundles import assemble, resource_key

    watermarks = None
    if nhs_number is not None:
        nhs_number = check_nhs_number(nhs_number)
    else:
        assert state is not None
        watermarks = open_watermarks(state)
        since = _since(since, watermarks, settings.name, state.location)
    with open_client(settings) as client:
        if nhs_number is not None:
            resources = client.patient_record(nhs_number)
            changed: set[str] | None = None
            latest = None
            what = f"patient NHS {mask_nhs_number(nhs_number)}"
        else:
            assert since is not None
            answer = client.changed_since(since)
            resources, changed, latest = answer.resources, answer.changed, answer.watermark
            what = f"changes since {since}"
    groups = assemble(resources)
    if changed is not None:
        groups = [
            g for g in groups if any(resource_key(e["resource"]) in changed for e in g["entry"])
        ]
    result = PullResult(settings.name, what, len(resources))
    result.artefacts, result.problems = _map_groups(groups)
    if out is not None:
        result.written = _write_all(out, result.artefacts)
    if watermarks is not None:
        with watermarks:
            if latest is not None and not result.problems:
                result.watermark = str(watermarks.advance(settings.name, latest))
                result.watermark_moved = True
            else:
                stored = watermarks.get(settings.name)
                result.watermark = None if stored is None else str(stored)
    return result


def _since(since: str | None, watermarks: Watermarks | None, key: str, state: str) -> str:
    """``since`` checked, or the stored watermark for ``"last"``."""
    if since == "last" and watermarks is not None:
        stored = watermarks.get(key)
        if stored is None:
            raise UsageError(f"no watermark for {key} in {state}: give --since DATE first")
        return str(stored)
    if since is None or not _is_iso(since):
        raise UsageError(
            f"--since {since}: expected an ISO date (2026-01-31) or instant, or 'last'"
        )
    return since


def _is_iso(text: str) -> bool:
    from datetime import date, datetime

    try:
        if len(text) == 10:
            date.fromisoformat(text)
        else:
            datetime.fromisoformat(text.replace("Z", "+00:00"))
    except ValueError:
        return False
    return True


def _map_groups(groups: list[dict[str, Any]]) -> tuple[list[ArtefactBase], list[str]]:
    """Each group mapped to its artefact, or a line saying why it is not one."""
    from interop.issues import IssuesError
    from interop.mappings.fhir import fhir_to_artefact
    from interop.transport.bundles import patients_in, resource_key

    artefacts: list[ArtefactBase] = []
    problems: list[str] = []
    for group in groups:
        resources = [e["resource"] for e in group["entry"]]
        keys = ", ".join(resource_key(r) for r in resources[:3])
        more = f" and {len(resources) - 3} more" if len(resources) > 3 else ""
        label = f"{len(resources)} resource(s) ({keys}{more})"
        if patients_in(group) > 1:
            problems.append(f"{label}: several artefacts joined by resources they share")
            continue
        try:
            artefacts.append(fhir_to_artefact(group))
        except IssuesError as exc:
            issues = "; ".join(issue.describe() for issue in exc.issues[:3])
            problems.append(f"{label}: {issues}")
    return artefacts, problems


def _write_all(out: Path, artefacts: list[ArtefactBase]) -> list[Path]:
    try:
        return [_write_artefact(out, artefact) for artefact in artefacts]
    except OSError as exc:
        raise UsageError(f"{out}: cannot write: {exc.strerror or exc}") from None


def _write_artefact(out: Path, artefact: ArtefactBase) -> Path:
    """Write ``out/KIND/LOCAL-ID.json`` (atomically: a reader never sees half a file)."""
    from interop.artefact_json import dump_artefact

    folder = out / artefact.kind
    folder.mkdir(parents=True, exist_ok=True)
    target = folder / f"{_UNSAFE.sub('_', artefact.local_id)}.json"
    fd, temporary = tempfile.mkstemp(dir=folder, prefix=f".{target.name}.")
    try:
        with os.fdopen(fd, "w", encoding="utf-8") as handle:
            handle.write(dump_artefact(artefact) + "\n")
        os.replace(temporary, target)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise
    return target
