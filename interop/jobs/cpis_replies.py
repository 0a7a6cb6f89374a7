"""The CP-IS replies job: acknowledgements, access notifications and inactive-NHS-number
notifications from the LA's MESH mailbox into the ledger (``interop pull cpis``, the demo)."""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from interop.errors import EXIT_INVALID, EXIT_OK, RemoteError

if TYPE_CHECKING:
    from interop.config import Config
    from interop.jobs.state import StateOptions
    from interop.sync.cpis_pull import PullReport, Receiver
    from interop.sync.ledger import LedgerRecord

__all__ = ["CpisRepliesResult", "pull_cpis_replies"]

#: the summary written beside the JSON lines when an output folder is given
SUMMARY_FILE = "summary.txt"


@dataclass
class CpisRepliesResult:
    """What a pull received, and where every record the ledger holds now stands."""

    report: PullReport
    accepted: int = 0
    waiting: int = 0
    #: records CP-IS currently rejects, by local id
    rejected: list[LedgerRecord] = field(default_factory=list)
    #: the JSON lines and summary written (with an output folder)
    written: list[Path] = field(default_factory=list)

    @property
    def exit_code(self) -> int:
        """1 when some replies could not be read (they stay in the mailbox), else 0."""
        return EXIT_INVALID if self.report.unreadable else EXIT_OK

    def summary_lines(self) -> list[str]:
        """A readable account of the pull and of every record CP-IS currently rejects."""
        from interop.codes import CpisRecordResponse

        report = self.report
        lines = [
            f"received {report.acknowledgements} acknowledgement(s), "
            f"{report.access_notifications} access notification(s), "
            f"{report.inactive_notifications} inactive-NHS-number notification(s)"
            + (f"; {report.already_received} already recorded" if report.already_received else "")
        ]
        for file_id in report.unknown_uploads:
            lines.append(f"an acknowledgement names upload {file_id}, which this ledger never sent")
        lines.append(
            f"records: {self.accepted} held by CP-IS, {self.waiting} awaiting acknowledgement, "
            f"{len(self.rejected)} rejected"
        )
        for record in self.rejected:
            code = CpisRecordResponse.lookup(record.outcome)
            why = code.display if code else (record.outcome or "rejected")
            detail = f" ({record.outcome_detail})" if record.outcome_detail else ""
            lines.append(
                f"  rejected {record.local_id} [{record.la_ods}]: {record.outcome} {why}{detail}"
            )
        return lines


def pull_cpis_replies(
    config: Config,
    *,
    state: Path | str,
    out: Path | None = None,
    workflow_ids: tuple[str, ...] | None = None,
    transport: Receiver | None = None,
    progress: Callable[[int], None] | None = None,
    state_options: StateOptions | None = None,
) -> CpisRepliesResult:
    """Download, record and acknowledge CP-IS's replies waiting in the LA's mailbox.

    Each reply is recorded in the ``state`` ledger before it is acknowledged on MESH, so an
    interrupted pull is re-run safely. ``workflow_ids``: the reply kinds to collect (default
    all three of ``config``'s ``[cpis]``). With ``out``, every reply received so far is written
    as JSON lines, one file per kind, and ``summary.txt``. ``progress(1)`` after each reply.
    ``RemoteError`` ("MESH: ...") when the mailbox cannot be used.

    The pull holds the state's ``cpis-pull`` lease (``LeaseHeld``, exit 75, when another pull
    has it); a missing or empty state is refused unless ``state_options.new``. The reply files
    are private (0600, folder 0700).
    """
    from interop.jobs.private_files import private_files, private_folder
    from interop.jobs.state import held_state, open_ledger
    from interop.sync.cpis_pull import pull
    from interop.transport.mesh import MeshTransport, TransportError

    cpis = config.cpis
    if workflow_ids is None:
        workflow_ids = (
            cpis.acknowledgement_workflow_id,
            cpis.access_notification_workflow_id,
            cpis.inactive_nhs_number_workflow_id,
        )
    with (
        private_files(),
        held_state(state, "cpis-pull", "interop pull cpis", state_options) as (opened, _),
        open_ledger(opened) as ledger,
    ):
        if out is not None:
            private_folder(out)
        try:
            with contextlib.ExitStack() as stack:
                if transport is None:
                    mesh = stack.enter_context(MeshTransport.from_config(config))
                    mesh.handshake()
                    transport = mesh
                report = pull(
                    ledger, transport, workflow_ids=workflow_ids, out_dir=out, progress=progress
                )
        except TransportError as exc:
            raise RemoteError(f"MESH: {exc}") from exc
        records = ledger.records().values()
    result = CpisRepliesResult(
        report,
        accepted=sum(r.status == "accepted" for r in records),
        waiting=sum(r.status in ("queued", "sent") for r in records),
        rejected=sorted((r for r in records if r.status == "rejected"), key=lambda r: r.local_id),
    )
    if out is not None:
        from interop.sync.cpis_pull import OUTPUT_FILES

        summary = out / SUMMARY_FILE
        with private_files():
            summary.write_text("\n".join(result.summary_lines()) + "\n", encoding="utf-8")
        result.written = [out / name for name in OUTPUT_FILES.values()] + [summary]
    return result
