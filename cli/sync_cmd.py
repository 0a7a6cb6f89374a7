"""``interop sync cpis``: the LA's nightly job — export in, CP-IS uploads out over MESH."""

from __future__ import annotations

import json
import sys
from pathlib import Path
from typing import TYPE_CHECKING

import click

from interop.cli.common import (
    DEFAULT_STATE,
    REJECTS_SHOWN,
    fail,
    load_config_or_exit,
    reading_progress,
    resolve_state,
    state_options,
    write_rejects_or_exit,
)
from interop.cli.main import InteropGroup

if TYPE_CHECKING:  # imported when run: --help stays fast
    from click._termui_impl import ProgressBar

    from interop.jobs import CpisSyncResult, SyncProgress


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
@state_options(
    "The ledger of what was sent: a SQLite file or a postgresql:// URL"
    f" [default: interop.toml's state, else {DEFAULT_STATE}]."
)
@click.option("--dry-run", is_flag=True, help="Write the upload files to --out; send nothing.")
@click.option("--out", type=click.Path(path_type=Path, file_okay=False), help="Keep files here.")
@click.option(
    "--rejects",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write every rejected row here (CSV: line, column, reason; no personal data).",
)
@click.option(
    "--format",
    "output",
    type=click.Choice(["text", "json"]),
    default="text",
    show_default=True,
    help="json: print only the run's summary as one JSON object (for schedulers).",
)
def sync_cpis(
    source: Path,
    config_path: Path | None,
    state: str | None,
    new_state: bool,
    wait: float,
    dry_run: bool,
    out: Path | None,
    rejects: Path | None,
    output: str,
) -> None:
    """Send CP-IS the plans that are new or changed since the last run.

    Every row of the export is checked; a bad row is reported with its line and reason and is
    not sent, the rest go on. Uploads are recorded in the state before they are sent, so
    re-running after any interruption neither loses nor duplicates a record. One run at a time
    holds the state: another one exits 75 at once (or waits, --wait). A missing or empty state
    is refused unless --new-state (restore the backup instead if it was lost).

    Exit 0 all rows sent (or nothing to send), 1 some rows rejected, 2 configuration, state or
    I/O error (disk full), 3 endpoint failure, 75 the state is in use by another run (try
    again later), 130/143 interrupted (SIGINT/SIGTERM; re-run to finish).
    """
    from interop.jobs import run_cpis_sync
    from interop.jobs.state import StateOptions

    if config_path is None and not dry_run:
        fail("--config is needed to send (only a --dry-run can do without it)", 2)
    # a dry run sends nothing: the [mesh] section is checked but its secrets are not read
    need = ("local_authority", "cpis") if dry_run else None
    config = load_config_or_exit(config_path, need) if config_path else None
    if dry_run and out is None:
        fail("--dry-run writes the upload files to --out: give a folder", 2)
    text = output == "text"
    with _SyncPrinter(text, rejects) as printer:
        result = run_cpis_sync(
            source,
            state=resolve_state(state, config),
            config=config,
            dry_run=dry_run,
            out=out,
            progress=printer,
            state_options=StateOptions(new=new_state, wait=wait),
            reading=reading_progress() if text else None,
        )
    if rejects is not None:
        write_rejects_or_exit(rejects, result.problems)
    if not text:
        click.echo(json.dumps(result.summary(), sort_keys=True))
    elif dry_run:
        _print_plan(result, rejects)
        click.echo(f"dry run: {len(result.written)} upload file(s) written to {out}; nothing sent")
    else:
        _print_sent(result)
    raise SystemExit(result.exit_code)


class _SyncPrinter:
    """Prints the plan once the export is compared, then a progress bar while sending."""

    def __init__(self, enabled: bool = True, rejects: Path | None = None) -> None:
        self._bar: ProgressBar[int] | None = None
        self._enabled = enabled
        self._rejects = rejects

    def __enter__(self) -> _SyncPrinter:
        return self

    def __exit__(self, *exc: object) -> None:
        if self._bar is not None:
            self._bar.render_finish()

    def __call__(self, step: SyncProgress) -> None:
        if not self._enabled:
            return
        if step.stage == "planned":
            _print_plan(step.result, self._rejects)
            if not step.result.pending:
                click.echo("nothing to send")
            else:
                self._bar = click.progressbar(
                    length=step.records, label="sending", file=sys.stderr, show_pos=True
                )
                self._bar.render_progress()
        elif self._bar is not None:
            self._bar.update(step.records)


def _print_plan(result: CpisSyncResult, rejects: Path | None = None) -> None:
    bad_lines = result.rejected_lines
    click.echo(
        f"{result.source}: {result.valid + bad_lines} row(s): {result.valid} valid, "
        f"{bad_lines} rejected"
    )
    for problem in result.problems[:REJECTS_SHOWN]:
        click.echo(f"  rejected {problem.describe()}")
    if len(result.problems) > REJECTS_SHOWN:
        more = len(result.problems) - REJECTS_SHOWN
        where = f"see {rejects}" if rejects else "see --rejects FILE for the full list"
        click.echo(f"  … {more} more, {where}")
    if result.trace is not None:
        trace = result.trace
        click.echo(
            f"PDS trace: {trace.traced} traced ({trace.replaced} under a replacement number), "
            f"{trace.held} held back"
        )
    counts = result.counts
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


def _print_sent(result: CpisSyncResult) -> None:
    if result.remote_error:
        click.echo(result.remote_error, err=True)
        return
    if not result.pending:
        return
    sent = result.sent
    recovered = sum(o.recovered for o in sent)
    click.echo(
        f"sent {len(sent)} upload(s), {sum(o.records for o in sent)} record(s)"
        + (f" ({recovered} found already sent by an interrupted run)" if recovered else "")
    )
    for outcome in result.failed:
        click.echo(
            f"upload {outcome.upload_id} not confirmed: {outcome.error} "
            "(the next run checks MESH before sending it again)",
            err=True,
        )
