"""The CP-IS sync job: the LA's export in, CP-IS uploads out over MESH, every step in the ledger.

``interop sync cpis``, the demo and the sync benchmark all run this one function; a local
authority scheduling the job from Python calls it too. The building blocks (reading the export,
planning against the ledger, sending) are ``interop.la_export`` and ``interop.sync.cpis_sync``.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING, Literal

from interop.errors import EXIT_INVALID, EXIT_OK, EXIT_REMOTE, UsageError

if TYPE_CHECKING:
    from interop.config import Config
    from interop.domain import ResponsibleLocalAuthority
    from interop.jobs.pds_gate import PdsGate, TraceSummary
    from interop.jobs.state import StateOptions
    from interop.la_export import ExportRow, RowProblem, UnchangedRow
    from interop.state import Lease
    from interop.sync.cpis_sync import CpisSync, Sender, SendOutcome, SyncCounts
    from interop.sync.export_workers import MappedRow
    from interop.sync.ledger import Ledger

__all__ = ["CpisSyncResult", "SyncProgress", "run_cpis_sync"]

#: upload files checked against the XSD at once: checking a file takes longer than building
#: the next, and lxml frees the interpreter while it checks
CHECK_THREADS = 2


@dataclass
class CpisSyncResult:
    """What one sync did: the rows read, the comparison with the ledger, and what was sent."""

    source: Path
    dry_run: bool
    counts: SyncCounts
    valid: int = 0
    problems: list[RowProblem] = field(default_factory=list)
    #: the valid rows read this run (only with ``keep_rows``: a national export is large)
    rows: list[ExportRow] = field(default_factory=list)
    #: a dry run's upload files
    written: list[Path] = field(default_factory=list)
    #: uploads waiting in the ledger when sending began (this run's and earlier runs')
    pending: int = 0
    outcomes: list[SendOutcome] = field(default_factory=list)
    #: why MESH could not be used at all (nothing, or not everything, was sent)
    remote_error: str | None = None
    #: the PDS trace before upload (``[pds] before_upload``); held rows are in ``problems``
    trace: TraceSummary | None = None

    @property
    def rejected_lines(self) -> int:
        """Lines of the export rejected (a line may have several problems)."""
        return len({problem.line for problem in self.problems})

    @property
    def sent(self) -> list[SendOutcome]:
        """The uploads MESH took, this run or (recovered) an interrupted one."""
        return [outcome for outcome in self.outcomes if outcome.message_id]

    @property
    def failed(self) -> list[SendOutcome]:
        """The uploads whose send was not confirmed (the next run checks MESH first)."""
        return [outcome for outcome in self.outcomes if outcome.error]

    @property
    def exit_code(self) -> int:
        """3 when MESH failed, else 1 when rows were rejected, else 0."""
        if self.remote_error or self.failed:
            return EXIT_REMOTE
        return EXIT_INVALID if self.problems else EXIT_OK

    def summary(self) -> dict[str, object]:
        """The run in numbers, for a scheduler (``--format json``): no personal data, and no
        local ids (the rejected rows are counted; ``--rejects`` lists them)."""
        counts = self.counts
        sent = self.sent
        return {
            "source": str(self.source),
            "dry_run": self.dry_run,
            "rows": self.valid + self.rejected_lines,
            "valid": self.valid,
            "rejected_rows": self.rejected_lines,
            "problems": len(self.problems),
            "new": counts.new,
            "changed": counts.changed,
            "ended": counts.ended,
            "resubmitted": counts.resubmitted,
            "unchanged": counts.unchanged,
            "still_rejected": len(counts.still_rejected),
            "still_failed": len(counts.still_failed),
            "not_in_export": counts.not_in_export,
            "upload_files_written": len(self.written),
            "uploads_pending": self.pending,
            "uploads_sent": len(sent),
            "records_sent": sum(outcome.records for outcome in sent),
            "uploads_recovered": sum(outcome.recovered for outcome in sent),
            "uploads_not_confirmed": len(self.failed),
            "remote_error": self.remote_error,
            "exit_code": self.exit_code,
        }


@dataclass(frozen=True)
class SyncProgress:
    """A step of a sync: ``planned`` once the export is compared with the ledger (``records``:
    the records waiting to be sent), then ``sent`` after each upload (its records)."""

    stage: Literal["planned", "sent"]
    records: int
    result: CpisSyncResult


def run_cpis_sync(
    source: Path,
    *,
    state: Path | str,
    config: Config | None = None,
    dry_run: bool = False,
    out: Path | None = None,
    local_authority: ResponsibleLocalAuthority | None = None,
    recipient: str | None = None,
    workflow_id: str | None = None,
    transport: Sender | None = None,
    keep_rows: bool = False,
    progress: Callable[[SyncProgress], None] | None = None,
    state_options: StateOptions | None = None,
    reading: Callable[[int], None] | None = None,
) -> CpisSyncResult:
    """Send CP-IS the plans of ``source`` (the LA's CSV export) that are new or changed.

    Every row is checked; a bad row is kept in ``problems`` and not sent, the rest go on.
    Uploads are recorded in the ``state`` ledger before they are sent, so re-running after any
    interruption neither loses nor duplicates a record. ``dry_run``: write the upload files to
    ``out`` and change nothing else (a missing ledger is not created). Otherwise ``out`` keeps a
    copy of each file sent.

    ``config`` gives the local authority of rows without one, the file size, the CP-IS mailbox
    and workflow and the MESH connection; ``local_authority``, ``recipient``, ``workflow_id``
    and ``transport`` (anything with ``send`` and ``find_by_local_id``) override them.
    ``UsageError``/``ConfigurationError`` before anything is sent (a missing export, a bad
    state file, an unreadable export: ``ExportError``); a MESH failure is in the result.

    ``state`` is a SQLite path or a ``postgresql://`` URL. A sending run holds the state's
    ``cpis-sync`` lease throughout (``LeaseHeld``, exit 75, when another run has it; see
    ``state_options`` for waiting and for creating a new state: a missing or empty one is
    refused, ``StateMissing``). A dry run needs no state: an existing one is only read.
    ``reading(line)``: progress while the export is read and planned.
    """

    if local_authority is None and config is not None:
        local_authority = config.local_authority()
    if dry_run and out is None:
        raise UsageError("a dry run writes the upload files to a folder: give one")
    if not dry_run:
        recipient = recipient or (config.cpis.mailbox if config else None)
        workflow_id = workflow_id or (config.cpis.upload_workflow_id if config else None)
        if recipient is None or workflow_id is None or (transport is None and config is None):
            raise UsageError("sending needs the configuration (only a dry run can do without)")
    _check_readable(source)  # before anything is created: no empty folder is left behind
    from interop.jobs.private_files import private_files, private_folder

    if dry_run:
        assert out is not None
        with private_files():
            private_folder(out)
            return _dry_run(source, state, config, out, local_authority, keep_rows, reading)
    from interop.jobs.pds_gate import trace_before_upload
    from interop.jobs.state import LeasedSender, held_state, open_ledger
    from interop.sync.cpis_sync import SyncCounts, batch_gc

    with (
        private_files(),
        held_state(state, "cpis-sync", "interop sync cpis", state_options) as (opened, lease),
        open_ledger(opened) as ledger,
        trace_before_upload(config) as gate,
    ):
        if out is not None:
            private_folder(out)
        job = _job(ledger, config, out)
        result = CpisSyncResult(source, dry_run, counts=SyncCounts())
        rows = _read(source, local_authority, job, result, keep_rows, reading, gate)
        with batch_gc():
            result.counts = job.plan(rows)
        pending = ledger.uploads("planned", "sending")
        result.pending = len(pending)
        if progress:
            progress(SyncProgress("planned", sum(u.record_count for u in pending), result))
        if pending:
            assert recipient is not None
            assert workflow_id is not None
            if transport is not None:
                transport = LeasedSender(transport, lease)
            _send(job, result, config, transport, recipient, workflow_id, progress, lease)
    return result


def _dry_run(
    source: Path,
    state: Path | str,
    config: Config | None,
    out: Path | None,
    local_authority: ResponsibleLocalAuthority | None,
    keep_rows: bool,
    reading: Callable[[int], None] | None,
) -> CpisSyncResult:
    """Plan against the state if there is one (else an empty ledger in memory) and write the
    upload files to ``out``; the state is not changed and need not exist. With ``[pds]
    before_upload`` the rows are traced as a real run would, so the files show what would be
    sent and the problems what would be held back."""
    from interop.jobs.pds_gate import trace_before_upload
    from interop.jobs.state import open_ledger, state_location
    from interop.state import StateMissing
    from interop.sync.cpis_sync import SyncCounts, batch_gc

    try:
        ledger = open_ledger(state_location(state), create=False)
    except StateMissing:
        ledger = open_ledger(":memory:")
    with ledger, trace_before_upload(config) as gate:
        job = _job(ledger, config, out)
        result = CpisSyncResult(source, True, counts=SyncCounts())
        rows = _read(source, local_authority, job, result, keep_rows, reading, gate)
        with batch_gc():
            result.counts, result.written = job.write_dry_run(rows)
    return result


def _read(
    source: Path,
    local_authority: ResponsibleLocalAuthority | None,
    job: CpisSync,
    result: CpisSyncResult,
    keep_rows: bool,
    reading: Callable[[int], None] | None,
    gate: PdsGate | None = None,
) -> Iterator[ExportRow | MappedRow | UnchangedRow]:
    """The export's valid rows, streamed (problems collected into ``result``); with a
    ``gate``, each new or changed row is traced on PDS first (traced before shared)."""
    from interop.la_export import ExportError, ExportReader, read_export
    from interop.sync.export_workers import read_for_sync

    reader = ExportReader(local_authority, job.unchanged(), progress=reading)
    try:
        if gate is not None:
            # the gate traces each row's flag: read in this process alone
            traced = gate.rows(reader.read_file(source))
            result.trace = gate.summary
            return _valid_rows(traced, result, keep_rows)
        if keep_rows:  # every row's flag is kept
            return _valid_rows(reader.read_file(source), result, keep_rows)
        # a national export's rows are checked on every core
        rows = read_for_sync(reader, read_export(source), job.to_record)
    except OSError as exc:
        raise UsageError(f"{source}: cannot read: {exc.strerror or exc}") from None
    except ExportError as exc:
        raise ExportError(f"{source}: {exc}") from None
    return _valid_rows(rows, result, keep_rows)


def _check_readable(source: Path) -> None:
    try:
        source.open("rb").close()
    except OSError as exc:
        raise UsageError(f"{source}: cannot read: {exc.strerror or exc}") from None


def _job(ledger: Ledger, config: Config | None, out: Path | None) -> CpisSync:
    from interop.cpis.codec import OwnUploadChecks, write_upload
    from interop.mappings.cpis import flag_to_record
    from interop.sync.cpis_sync import CpisSync

    checks = OwnUploadChecks(CHECK_THREADS)
    return CpisSync(
        ledger,
        to_record=flag_to_record,
        write_upload=write_upload,
        max_records_per_file=config.cpis.max_records_per_file if config else 5000,
        out_dir=out,
        check_upload=checks,  # every file XSD-validated before it is sent
        check_threads=checks.threads,
    )


def _valid_rows(
    results: Iterable[ExportRow | MappedRow | UnchangedRow | RowProblem],
    result: CpisSyncResult,
    keep_rows: bool,
) -> Iterator[ExportRow | MappedRow | UnchangedRow]:
    """The rows to plan, streamed: a national export is never held whole in memory."""
    from interop.la_export import ExportRow, RowProblem

    for row in results:
        if isinstance(row, RowProblem):
            result.problems.append(row)
            continue
        result.valid += 1
        if keep_rows and isinstance(row, ExportRow):
            result.rows.append(row)
        yield row


def _send(
    job: CpisSync,
    result: CpisSyncResult,
    config: Config | None,
    transport: Sender | None,
    recipient: str,
    workflow_id: str,
    progress: Callable[[SyncProgress], None] | None,
    lease: Lease,
) -> None:
    from interop.jobs.state import LeasedSender
    from interop.transport.mesh import MeshTransport, TransportError

    def sent(records: int) -> None:
        if progress:
            progress(SyncProgress("sent", records, result))

    try:
        with contextlib.ExitStack() as stack:
            if transport is None:
                assert config is not None
                mesh = stack.enter_context(MeshTransport.from_config(config))
                mesh.handshake()
                transport = LeasedSender(mesh, lease)
            result.outcomes = job.send(
                transport, recipient=recipient, workflow_id=workflow_id, progress=sent
            )
    except TransportError as exc:
        result.remote_error = f"MESH: {exc}"
