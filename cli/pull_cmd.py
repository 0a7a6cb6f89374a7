"""``interop pull``: read artefacts back from a FHIR endpoint, and collect CP-IS's replies.

``interop pull --endpoint NAME (--patient NHS | --since DATE|last) [--out DIR]`` reads a
patient's artefacts, or every artefact changed since a date (``last``: since the watermark the
previous ``--since`` pull of that endpoint stored in ``--state``). ``interop pull cpis`` collects
CP-IS's replies from the LA's MESH mailbox.
"""

from __future__ import annotations

import os
import re
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING, Any

import click

from interop.cli.common import DEFAULT_STATE, fail, load_config_or_exit, open_ledger_or_exit
from interop.cli.main import InteropGroup

if TYPE_CHECKING:
    from interop.domain import ArtefactBase
    from interop.sync.cpis_pull import PullReport
    from interop.sync.ledger import Ledger

_UNSAFE = re.compile(r"[^A-Za-z0-9._-]")


@click.group(cls=InteropGroup, invoke_without_command=True)
@click.option("--endpoint", help="A configured FHIR endpoint's name, or a base URL (no auth).")
@click.option("--patient", "nhs_number", help="The child's NHS number: pull their artefacts.")
@click.option(
    "--since",
    help="An ISO date or instant, or 'last': pull what changed after it.",
)
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    help="Write each artefact here as artefact JSON (KIND/LOCAL-ID.json).",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="interop.toml, where named endpoints are (default: ./interop.toml).",
)
@click.option(
    "--state",
    type=click.Path(path_type=Path, dir_okay=False),
    default=DEFAULT_STATE,
    show_default=True,
    help="Where the --since watermark is kept.",
)
@click.pass_context
def pull(
    ctx: click.Context,
    endpoint: str | None,
    nhs_number: str | None,
    since: str | None,
    out: Path | None,
    config_path: Path | None,
    state: Path,
) -> None:
    """Read artefacts back from a FHIR endpoint (--endpoint), or collect what national
    services sent back (subcommand cpis).

    With --patient, every artefact of the child; with --since, every artefact with a resource
    changed after the date, and the endpoint's watermark is moved to the latest change seen
    (--since last starts from it). Resources are grouped back into artefacts and mapped; a group
    that does not map is reported with its issues.

    Exit 0 done, 1 some results are not artefacts (or the NHS number is invalid), 2 usage,
    configuration or I/O error, 3 remote endpoint failure.
    """
    if ctx.invoked_subcommand is not None:
        if endpoint or nhs_number or since or out or config_path:
            fail(f"options of pull --endpoint do not apply to pull {ctx.invoked_subcommand}", 2)
        return
    if endpoint is None:
        fail("give --endpoint NAME (or a base URL) with --patient or --since, or: pull cpis", 2)
    if (nhs_number is None) == (since is None):
        fail("give exactly one of --patient NHS or --since DATE", 2)
    _pull_fhir(str(endpoint), nhs_number, since, out, config_path, state)


def _pull_fhir(
    endpoint: str,
    nhs_number: str | None,
    since: str | None,
    out: Path | None,
    config_path: Path | None,
    state: Path,
) -> None:
    from interop.cli.push_cmd import fail_remote, open_client, resolve_endpoint
    from interop.identifiers import InvalidNhsNumber, check_nhs_number
    from interop.privacy import mask_nhs_number
    from interop.sync.watermarks import WatermarkError, Watermarks
    from interop.transport.bundles import assemble, resource_key
    from interop.transport.fhir_client import FhirClientError

    if nhs_number is not None:
        try:
            nhs_number = check_nhs_number(nhs_number)
        except InvalidNhsNumber as exc:
            fail(f"--patient: {exc}", 1)
    resolved = resolve_endpoint(endpoint, config_path)
    watermarks = None
    if since is not None:
        try:
            watermarks = Watermarks(state)
        except WatermarkError as exc:
            fail(f"state file: {exc}", 2)
        assert watermarks is not None
        if since == "last":
            stored = watermarks.get(resolved.key)
            if stored is None:
                fail(f"no watermark for {resolved.key} in {state}: give --since DATE first", 2)
            since = str(stored)
        elif not _is_iso(since):
            fail(f"--since {since}: expected an ISO date (2026-01-31) or instant, or 'last'", 2)
    try:
        with open_client(resolved.settings) as client:
            if nhs_number is not None:
                resources = client.patient_record(nhs_number)
                changed: set[str] | None = None
                watermark = None
                what = f"patient NHS {mask_nhs_number(nhs_number)}"
            else:
                assert since is not None
                result = client.changed_since(since)
                resources, changed, watermark = result.resources, result.changed, result.watermark
                what = f"changes since {since}"
    except FhirClientError as exc:
        fail_remote(exc)
    groups = assemble(resources)
    if changed is not None:
        groups = [
            g for g in groups if any(resource_key(e["resource"]) in changed for e in g["entry"])
        ]
    artefacts, problems = _map_groups(groups)
    click.echo(
        f"{resolved.key}: {what}: {len(resources)} resource(s), {len(artefacts)} artefact(s)"
        + (f", {len(problems)} group(s) not mapped" if problems else "")
    )
    for artefact in artefacts:
        click.echo(f"  {artefact.kind} {artefact.local_id}: {artefact.summary()}")
    for problem in problems:
        click.echo(f"  not an artefact: {problem}", err=True)
    if out is not None:
        try:
            for artefact in artefacts:
                _write_artefact(out, artefact)
        except OSError as exc:
            fail(f"{out}: cannot write: {exc.strerror or exc}", 2)
        click.echo(f"wrote {len(artefacts)} artefact(s) to {out}")
    if watermarks is not None:
        with watermarks:
            if watermark is not None and not problems:
                kept = watermarks.advance(resolved.key, watermark)
                click.echo(f"watermark of {resolved.key}: {kept}")
            elif problems:
                click.echo(
                    f"watermark of {resolved.key} left at {watermarks.get(resolved.key)}: "
                    "the next pull reads the unmapped groups again",
                    err=True,
                )
    raise SystemExit(1 if problems else 0)


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


@pull.command("cpis")
@click.option("--config", "config_path", type=click.Path(path_type=Path), required=True)
@click.option(
    "--state",
    type=click.Path(path_type=Path, dir_okay=False),
    default=DEFAULT_STATE,
    show_default=True,
)
@click.option(
    "--out",
    type=click.Path(path_type=Path, file_okay=False),
    help="Write JSON lines and a summary here.",
)
def pull_cpis(config_path: Path, state: Path, out: Path | None) -> None:
    """Download, record and acknowledge CP-IS acknowledgements, access notifications and
    inactive-NHS-number notifications.

    Each reply is recorded in the state file before it is acknowledged on MESH, so an
    interrupted pull is re-run safely. With --out, the replies are written as JSON lines
    (acknowledgements.jsonl, access-notifications.jsonl, inactive-nhs-numbers.jsonl) and a
    readable summary.txt.

    Exit 0 done, 1 some replies could not be read (left in the mailbox), 2 configuration
    error, 3 endpoint failure.
    """
    from interop.sync.cpis_pull import pull as pull_replies
    from interop.transport.mesh import MeshTransport, TransportError

    config = load_config_or_exit(config_path)
    cpis = config.cpis
    workflows = (
        cpis.acknowledgement_workflow_id,
        cpis.access_notification_workflow_id,
        cpis.inactive_nhs_number_workflow_id,
    )
    with open_ledger_or_exit(state) as ledger:
        try:
            with MeshTransport.from_config(config) as transport:
                transport.handshake()
                report = pull_replies(ledger, transport, workflow_ids=workflows, out_dir=out)
        except TransportError as exc:
            click.echo(f"MESH: {exc}", err=True)
            raise SystemExit(3) from None
        lines = summary_lines(ledger, report)
    for line in lines:
        click.echo(line)
    if out is not None:
        (out / "summary.txt").write_text("\n".join(lines) + "\n", encoding="utf-8")
    for message_id, why in report.unreadable:
        click.echo(f"message {message_id} left in the mailbox: {why}", err=True)
    raise SystemExit(1 if report.unreadable else 0)


def summary_lines(ledger: Ledger, report: PullReport) -> list[str]:
    """A readable account of the pull and of every record CP-IS currently rejects."""
    from interop.codes import CpisRecordResponse

    lines = [
        f"received {report.acknowledgements} acknowledgement(s), "
        f"{report.access_notifications} access notification(s), "
        f"{report.inactive_notifications} inactive-NHS-number notification(s)"
        + (f"; {report.already_received} already recorded" if report.already_received else "")
    ]
    for file_id in report.unknown_uploads:
        lines.append(f"an acknowledgement names upload {file_id}, which this ledger never sent")
    records = ledger.records().values()
    accepted = sum(r.status == "accepted" for r in records)
    waiting = sum(r.status in ("queued", "sent") for r in records)
    rejected = sorted((r for r in records if r.status == "rejected"), key=lambda r: r.local_id)
    lines.append(
        f"records: {accepted} held by CP-IS, {waiting} awaiting acknowledgement, "
        f"{len(rejected)} rejected"
    )
    for record in rejected:
        code = CpisRecordResponse.lookup(record.outcome)
        why = code.display if code else (record.outcome or "rejected")
        detail = f" ({record.outcome_detail})" if record.outcome_detail else ""
        lines.append(
            f"  rejected {record.local_id} [{record.la_ods}]: {record.outcome} {why}{detail}"
        )
    return lines


__all__ = ["pull"]
