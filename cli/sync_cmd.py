"""``interop sync cpis``: the LA's nightly job — export in, CP-IS uploads out over MESH."""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path
from typing import TYPE_CHECKING

import click

from interop.cli.common import DEFAULT_STATE, fail, load_config_or_exit, open_ledger_or_exit
from interop.cli.main import InteropGroup

if TYPE_CHECKING:  # imported when run: --help stays fast
    from interop.config import Config
    from interop.sync.cpis_sync import CpisSync, SyncCounts


@click.group(cls=InteropGroup)
def sync() -> None:
    """Sync jobs that send records to national services."""


@sync.command("cpis")
@click.option(
    "--source",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="The LA's export of children on plans (CSV).",
)
@click.option("--config", "config_path", type=click.Path(path_type=Path), help="interop.toml")
@click.option(
    "--state",
    type=click.Path(path_type=Path, dir_okay=False),
    default=DEFAULT_STATE,
    show_default=True,
    help="The ledger (SQLite) of what was sent.",
)
@click.option("--dry-run", is_flag=True, help="Write the upload files to --out; send nothing.")
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), help="Keep files here.")
def sync_cpis(
    source: Path, config_path: Path | None, state: Path, dry_run: bool, out: Path | None
) -> None:
    """Send CP-IS the plans that are new or changed since the last run.

    Every row of the export is checked; a bad row is reported with its line and reason and is
    not sent, the rest go on. Uploads are recorded in the state file before they are sent, so
    re-running after any interruption neither loses nor duplicates a record.

    Exit 0 all rows sent (or nothing to send), 1 some rows rejected, 2 configuration or input
    error, 3 endpoint failure.
    """
    from interop.cpis.codec import check_own_upload, write_upload
    from interop.la_export import ExportError, ExportReader, ExportRow, RowProblem, UnchangedRow
    from interop.mappings.cpis import flag_to_record
    from interop.sync.cpis_sync import CpisSync, batch_gc

    if config_path is None and not dry_run:
        fail("--config is needed to send (only a --dry-run can do without it)", 2)
    config = load_config_or_exit(config_path) if config_path else None
    default_la = config.local_authority() if config else None
    if dry_run and out is None:
        fail("--dry-run writes the upload files to --out: give a folder", 2)
    try:  # before anything is created: a missing export leaves no empty --out folder behind
        source.open("rb").close()
    except OSError as exc:
        fail(f"{source}: cannot read: {exc.strerror or exc}", 2)
    if out is not None:
        out.mkdir(parents=True, exist_ok=True)
    ledger_path = state if (state.exists() or not dry_run) else ":memory:"
    with open_ledger_or_exit(ledger_path) as ledger:
        job = CpisSync(
            ledger,
            to_record=flag_to_record,
            write_upload=write_upload,
            max_records_per_file=config.cpis.max_records_per_file if config else 5000,
            out_dir=out,
            check_upload=check_own_upload,
        )
        try:
            results = ExportReader(default_la, job.unchanged()).read_file(source)
        except OSError as exc:
            fail(f"{source}: cannot read: {exc.strerror or exc}", 2)
        except ExportError as exc:
            fail(f"{source}: {exc}", 2)
        problems: list[RowProblem] = []
        valid = 0

        def rows() -> Iterator[ExportRow | UnchangedRow]:
            # streamed into planning: a national export is never held whole in memory
            nonlocal valid
            for result in results:
                if isinstance(result, RowProblem):
                    problems.append(result)
                else:
                    valid += 1
                    yield result

        with batch_gc():
            if dry_run:
                counts, written = job.write_dry_run(rows())
            else:
                counts = job.plan(rows())
        bad_lines = len({p.line for p in problems})
        click.echo(f"{source}: {valid + bad_lines} row(s): {valid} valid, {bad_lines} rejected")
        for problem in problems:
            click.echo(f"  rejected {problem.describe()}")
        _print_counts(counts)
        if dry_run:
            click.echo(f"dry run: {len(written)} upload file(s) written to {out}; nothing sent")
            raise SystemExit(1 if problems else 0)
        assert config is not None
        code = _send(job, config)
    raise SystemExit(code or (1 if problems else 0))


def _print_counts(counts: SyncCounts) -> None:
    click.echo(
        f"compared with the ledger: {counts.new} new, {counts.changed} changed "
        f"({counts.ended} ended), {counts.resubmitted} to resubmit, {counts.unchanged} unchanged"
    )
    if counts.still_rejected:
        click.echo(
            f"{len(counts.still_rejected)} record(s) CP-IS rejected and the export has not "
            "changed (correct them, then they are sent again):"
        )
        for local_id, code in counts.still_rejected[:50]:
            click.echo(f"  {local_id}: {code}")
    if counts.not_in_export:
        click.echo(
            f"{counts.not_in_export} record(s) sent before are not in this export "
            "(nothing is sent for them: end a plan by exporting its end date)"
        )


def _send(job: CpisSync, config: Config) -> int:
    from interop.transport.mesh import MeshTransport, TransportError

    pending = job.ledger.uploads("planned", "sending")
    if not pending:
        click.echo("nothing to send")
        return 0
    total = sum(u.record_count for u in pending)
    try:
        with MeshTransport.from_config(config) as transport:
            transport.handshake()
            with click.progressbar(
                length=total, label="sending", file=sys.stderr, show_pos=True
            ) as bar:
                outcomes = job.send(
                    transport,
                    recipient=config.cpis.mailbox,
                    workflow_id=config.cpis.upload_workflow_id,
                    progress=bar.update,
                )
    except TransportError as exc:
        click.echo(f"MESH: {exc}", err=True)
        return 3
    sent = [o for o in outcomes if o.message_id]
    recovered = sum(o.recovered for o in sent)
    click.echo(
        f"sent {len(sent)} upload(s), {sum(o.records for o in sent)} record(s)"
        + (f" ({recovered} found already sent by an interrupted run)" if recovered else "")
    )
    failed = [o for o in outcomes if o.error]
    for outcome in failed:
        click.echo(
            f"upload {outcome.upload_id} not confirmed: {outcome.error} "
            "(the next run checks MESH before sending it again)",
            err=True,
        )
    return 3 if failed else 0
