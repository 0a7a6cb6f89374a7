"""``interop pull cpis``: collect CP-IS's replies from the LA's MESH mailbox."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from interop.cli.common import DEFAULT_STATE, load_config_or_exit, open_ledger_or_exit

if TYPE_CHECKING:
    from interop.sync.cpis_pull import PullReport
    from interop.sync.ledger import Ledger


@click.group()
def pull() -> None:
    """Collect what national services sent back."""


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
