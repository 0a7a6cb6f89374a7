"""The CP-IS sync job: the LA's export in, CP-IS uploads out over MESH, every step in the ledger.

``plan`` compares the export with the ledger and records the uploads needed (new and changed
records, ended plans, files CP-IS asked to resubmit); ``send`` resolves any upload left in doubt
by a crash and sends the planned ones. Both can be interrupted anywhere and re-run.

An upload that cannot be built (the XML writer refuses a value that got past the checks) does
not stop the run or stay planned: the records at fault are marked ``failed`` with the reason,
the rest of the upload goes, and a failed record is planned again only when its row changes.

The job is given its mapping (flag → CP-IS record) and its file writer rather than importing
them, so the core depends on neither the mappings nor a particular codec.
"""

from __future__ import annotations

import gc
import io
import uuid
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ThreadPoolExecutor
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import BinaryIO, Protocol

from interop.cpis.model import CpisRecord, UploadHeader
from interop.domain import ChildProtectionFlag
from interop.errors import InteropError
from interop.la_export import ExportRow, IsUnchanged, UnchangedRow
from interop.sync.export_workers import MappedRow, mapped_row
from interop.sync.ledger import (
    FAILED,
    Ledger,
    LedgerRecord,
    PlannedRecord,
    Upload,
)
from interop.transport.mesh import TransportError

ToRecord = Callable[[ChildProtectionFlag], CpisRecord]
WriteUpload = Callable[[UploadHeader, Iterable[CpisRecord], BinaryIO], int]
CheckUpload = Callable[[bytes], list[str]]


class UploadFileError(InteropError):
    """A file the job built failed its own XSD check: a fault in the toolkit, never sent."""


#: What building an upload file raises for a value it cannot carry (lxml refuses control
#: characters with ValueError) or a file that fails its own XSD check.
BUILD_ERRORS: tuple[type[Exception], ...] = (ValueError, UploadFileError)


def build_failure_reason(exc: Exception) -> str:
    """Why a record or an upload could not be built, without its values (no personal data)."""
    if isinstance(exc, UploadFileError):
        return "the upload file fails the CP-IS XSD"
    return f"the XML writer refused a value ({str(exc).split(':')[0][:200]})"


@contextmanager
def batch_gc() -> Iterator[None]:
    """Fewer garbage-collector passes while a job holds a national-size export in memory.

    The rows are long-lived and acyclic; with the default thresholds the collector rescans
    them again and again (about 40% of the reading time at 150,000 rows).
    """
    previous = gc.get_threshold()
    gc.set_threshold(100_000, 50, 100)
    try:
        yield
    finally:
        gc.set_threshold(*previous)


class Sender(Protocol):
    """What the job needs of a MESH transport."""

    def send(
        self,
        recipient: str,
        workflow_id: str,
        data: bytes,
        *,
        local_id: str,
        subject: str | None = None,
        filename: str | None = None,
    ) -> str: ...

    def find_by_local_id(self, local_id: str) -> object | None: ...


@dataclass
class SyncCounts:
    """What the export held, compared with the ledger."""

    new: int = 0
    changed: int = 0
    ended: int = 0
    unchanged: int = 0
    resubmitted: int = 0
    still_rejected: list[tuple[str, str]] = field(default_factory=list)  # (local id, CPR code)
    still_failed: list[tuple[str, str]] = field(default_factory=list)  # (local id, reason)
    not_in_export: int = 0

    @property
    def to_send(self) -> int:
        """Records planned for upload by this run."""
        return self.new + self.changed + self.resubmitted


@dataclass(frozen=True)
class SendOutcome:
    """What happened to one upload in ``send``."""

    upload_id: str
    records: int
    message_id: str | None
    recovered: bool = False  # sent by an earlier, interrupted run and found by its local id
    error: str | None = None


class CpisSync:
    """One LA's CP-IS sync against one ledger."""

    def __init__(
        self,
        ledger: Ledger,
        *,
        to_record: ToRecord,
        write_upload: WriteUpload,
        max_records_per_file: int = 5000,
        out_dir: Path | None = None,
        check_upload: CheckUpload | None = None,
        check_threads: int = 1,
    ) -> None:
        """``check_upload`` checks each file before it is sent (``check_threads`` files at
        once: it must then be safe to call from that many threads together)."""
        self.ledger = ledger
        self.to_record = to_record
        self.write_upload = write_upload
        self.max_records_per_file = max_records_per_file
        self.out_dir = out_dir
        self.check_upload = check_upload
        self.check_threads = max(1, check_threads)
        self._planned: dict[str, list[CpisRecord]] = {}
        self._known: dict[tuple[str, str], LedgerRecord] | None = None

    # --- planning --------------------------------------------------------------------------

    def _ledger_records(self) -> dict[tuple[str, str], LedgerRecord]:
        # read once per comparison: a national export has 150,000 of them
        if self._known is None:
            self._known = self.ledger.records()
        return self._known

    def unchanged(self) -> IsUnchanged | None:
        """Whether an export row is exactly as when its record was last planned.

        Such a row needs neither checking nor mapping again; a row CP-IS asked to resubmit
        does not count, as its record must go again. A failed record's unchanged row is
        recognised here, so it is not planned again. None when no row can be (a first run):
        the reader then skips the check, and the fingerprint it would compute for nothing.
        """
        known = {
            key: record.row_hash
            for key, record in self._ledger_records().items()
            if record.row_hash and record.status != "resubmit"
        }
        if not known:
            return None

        def is_unchanged(la_ods: str, local_id: str, row_hash: str) -> bool:
            return known.get((la_ods, local_id)) == row_hash

        return is_unchanged

    def compare(
        self, rows: Iterable[ExportRow | MappedRow | UnchangedRow]
    ) -> tuple[SyncCounts, dict[tuple[str, str], list[PlannedRecord]]]:
        """Counts, and the records to send grouped by (LA ODS code, LA name)."""
        known = self._ledger_records()
        counts = SyncCounts()
        to_send: dict[tuple[str, str], list[PlannedRecord]] = {}
        seen: set[tuple[str, str]] = set()
        authorities: set[str] = set()
        for row in rows:
            if isinstance(row, UnchangedRow):
                key = (row.la_ods, row.local_id)
                seen.add(key)
                authorities.add(row.la_ods)
                held = known[key]
                if held.status == "rejected":
                    counts.still_rejected.append((row.local_id, held.outcome or "?"))
                elif held.status == FAILED:
                    counts.still_failed.append((row.local_id, held.outcome_detail or "?"))
                else:
                    counts.unchanged += 1
                continue
            if isinstance(row, ExportRow):  # a worker process sends it mapped already
                row = mapped_row(row, self.to_record)
            record, fingerprint = row.record, row.fingerprint
            authorities.add(row.la_ods)
            key = (row.la_ods, record.record_id)
            seen.add(key)
            previous = known.get(key)
            if previous is None:
                counts.new += 1
            elif previous.content_hash != fingerprint:
                counts.changed += 1
                counts.ended += record.end_date is not None
            elif previous.status == "resubmit":
                counts.resubmitted += 1
            elif previous.status == "rejected":
                counts.still_rejected.append((record.record_id, previous.outcome or "?"))
                continue
            elif previous.status == FAILED:  # the same content would fail the same way
                counts.still_failed.append((record.record_id, previous.outcome_detail or "?"))
                continue
            else:
                counts.unchanged += 1
                continue
            planned = PlannedRecord(record, row.text, fingerprint, row.row_hash or None)
            to_send.setdefault((row.la_ods, row.la_name), []).append(planned)
        counts.not_in_export = sum(1 for key in known if key[0] in authorities and key not in seen)
        return counts, to_send

    def plan(self, rows: Iterable[ExportRow | MappedRow | UnchangedRow]) -> SyncCounts:
        """Record in the ledger the uploads this export needs; returns the counts."""
        counts, to_send = self.compare(rows)
        self._known = None  # planning changes the ledger
        for (la_ods, la_name), records in to_send.items():
            for start in range(0, len(records), self.max_records_per_file):
                chunk = records[start : start + self.max_records_per_file]
                upload_id = str(uuid.uuid4())
                self.ledger.plan_upload(upload_id, la_ods, la_name, chunk)
                # kept for building the file in this run; the ledger holds the same records
                self._planned[upload_id] = [p.record for p in chunk]
        return counts

    # --- files -----------------------------------------------------------------------------

    def build_file(self, upload: Upload) -> bytes:
        """The upload's XML, the same bytes whenever it is built, checked against the XSD."""
        data = self._write_file(upload)
        self._check_file(upload, data)
        return data

    def _write_file(self, upload: Upload) -> bytes:
        header = UploadHeader(
            file_id=upload.upload_id,
            created=datetime.fromisoformat(upload.created_at).astimezone(UTC),
            la_ods_code=upload.la_ods,
            la_name=upload.la_name,
        )
        buffer = io.BytesIO()
        records = self._planned.get(upload.upload_id)
        self.write_upload(
            header,
            records if records is not None else self.ledger.upload_records(upload.upload_id),
            buffer,
        )
        return buffer.getvalue()

    def _check_file(self, upload: Upload, data: bytes) -> None:
        """Raise ``UploadFileError`` if the file fails the XSD; keep a copy if asked."""
        if self.check_upload is not None:
            problems = self.check_upload(data)
            if problems:
                raise UploadFileError(
                    f"upload {upload.upload_id} fails the CP-IS XSD: {'; '.join(problems[:3])}"
                )
        if self.out_dir is not None:
            self._keep_copy(upload.upload_id, data)

    def _built_ahead(self, uploads: list[Upload]) -> Iterator[tuple[Upload, bytes | Exception]]:
        """Each planned upload with its file (or why it could not be built), in order.

        Building a file is Python work; checking it against the XSD is libxml2's, which frees
        the interpreter while it parses and validates. So files are checked in worker threads
        (``check_threads`` at a time) while the next is built here and the one before is sent:
        on a national export the check no longer adds to the run's time. At most
        ``check_threads + 1`` files are held at once.
        """
        threads = self.check_threads
        with ThreadPoolExecutor(max_workers=threads, thread_name_prefix="xsd-check") as checker:
            pending: deque[tuple[Upload, bytes | Exception, Future[None] | None]] = deque()
            for upload in uploads:
                pending.append(self._start_build(checker, upload))
                if len(pending) > threads:
                    yield self._finish_build(*pending.popleft())
            while pending:
                yield self._finish_build(*pending.popleft())

    def _start_build(
        self, checker: ThreadPoolExecutor, upload: Upload
    ) -> tuple[Upload, bytes | Exception, Future[None] | None]:
        try:
            data = self._write_file(upload)
        except BUILD_ERRORS as exc:
            return upload, exc, None
        return upload, data, checker.submit(self._check_file, upload, data)

    @staticmethod
    def _finish_build(
        upload: Upload, built: bytes | Exception, check: Future[None] | None
    ) -> tuple[Upload, bytes | Exception]:
        if check is not None:
            try:
                check.result()
            except BUILD_ERRORS as exc:
                return upload, exc
        return upload, built

    def write_dry_run(
        self, rows: Iterable[ExportRow | MappedRow | UnchangedRow]
    ) -> tuple[SyncCounts, list[Path]]:
        """Build the upload files this export needs into ``out_dir``; change nothing else."""
        if self.out_dir is None:
            raise ValueError("a dry run needs an output folder")
        counts, to_send = self.compare(rows)
        written = []
        stamp = datetime.now(UTC).replace(microsecond=0)
        for (la_ods, la_name), records in to_send.items():
            for start in range(0, len(records), self.max_records_per_file):
                file_id = str(uuid.uuid4())
                chunk = [p.record for p in records[start : start + self.max_records_per_file]]
                header = UploadHeader(file_id, stamp, la_ods, la_name)
                path = self.out_dir / f"cpis-upload-{la_ods}-{file_id}.xml"
                with path.open("wb") as handle:
                    self.write_upload(header, chunk, handle)
                written.append(path)
        return counts, written

    def _salvage(self, upload: Upload, error: Exception) -> tuple[Upload, bytes] | None:
        """After ``build_file`` failed: find the records at fault by building each alone, mark
        them failed, and build the rest. None when nothing of the upload can be sent."""
        cached = self._planned.get(upload.upload_id)
        records = (
            cached if cached is not None else list(self.ledger.upload_records(upload.upload_id))
        )
        header = UploadHeader(
            file_id=upload.upload_id,
            created=datetime.fromisoformat(upload.created_at).astimezone(UTC),
            la_ods_code=upload.la_ods,
            la_name=upload.la_name,
        )
        failures: list[tuple[str, str]] = []
        for record in records:
            buffer = io.BytesIO()
            try:
                self.write_upload(header, [record], buffer)
                if self.check_upload is not None and self.check_upload(buffer.getvalue()):
                    raise UploadFileError(record.record_id)
            except BUILD_ERRORS as exc:
                failures.append((record.record_id, build_failure_reason(exc)))
        if not failures:  # not one record's fault: the whole upload fails, and says why
            self.ledger.mark_failed(upload.upload_id, build_failure_reason(error))
            return None
        if not self.ledger.fail_records(upload.upload_id, failures):
            return None
        bad = {local_id for local_id, _ in failures}
        self._planned[upload.upload_id] = [r for r in records if r.record_id not in bad]
        kept = self.ledger.upload(upload.upload_id)
        assert kept is not None  # it was just updated
        try:
            return kept, self.build_file(kept)
        except BUILD_ERRORS as exc:  # only together do the rest fail: give up on the upload
            self.ledger.mark_failed(upload.upload_id, build_failure_reason(exc))
            return None

    def _keep_copy(self, upload_id: str, data: bytes) -> None:
        assert self.out_dir is not None
        path = self.out_dir / f"cpis-upload-{upload_id}.xml"
        temporary = path.with_suffix(".xml.part")
        temporary.write_bytes(data)
        temporary.replace(path)

    # --- sending ---------------------------------------------------------------------------

    def send(
        self,
        transport: Sender,
        *,
        recipient: str,
        workflow_id: str,
        progress: Callable[[int], None] | None = None,
    ) -> list[SendOutcome]:
        """Resolve uploads left in doubt, then send every planned one, oldest first.

        An upload found ``sending`` was interrupted between recording the intent and recording
        the outcome: MESH tracking by its local id says whether it went. A send that fails
        leaves the upload in doubt for the next run; it is never retried blindly here.
        """
        outcomes: list[SendOutcome] = []
        planned: list[Upload] = []
        for upload in self.ledger.uploads("sending", "planned"):
            found = (
                transport.find_by_local_id(upload.upload_id) if upload.state == "sending" else None
            )
            if found is None:
                planned.append(upload)
                continue
            message_id = str(getattr(found, "message_id", found))
            self.ledger.mark_sent(upload.upload_id, message_id)
            outcomes.append(SendOutcome(upload.upload_id, upload.record_count, message_id, True))
            if progress:
                progress(upload.record_count)
        for upload, built in self._built_ahead(planned):
            if isinstance(built, Exception):
                salvaged = self._salvage(upload, built)
                if salvaged is None:
                    outcomes.append(
                        SendOutcome(
                            upload.upload_id,
                            upload.record_count,
                            None,
                            error=build_failure_reason(built),
                        )
                    )
                    continue
                upload, built = salvaged
            outcome = self._send_one(transport, upload, built, recipient, workflow_id)
            outcomes.append(outcome)
            if outcome.error is not None:
                break
            if progress:
                progress(upload.record_count)
        return outcomes

    def _send_one(
        self, transport: Sender, upload: Upload, data: bytes, recipient: str, workflow_id: str
    ) -> SendOutcome:
        self.ledger.mark_sending(upload.upload_id)
        try:
            message_id = transport.send(
                recipient,
                workflow_id,
                data,
                local_id=upload.upload_id,
                subject=f"CP-IS upload {upload.la_ods}",
                filename=f"cpis-upload-{upload.upload_id}.xml",
            )
        except TransportError as exc:
            if not exc.outcome_unknown:
                # refused outright (auth, rejected): certainly not stored, plan it again
                self.ledger.mark_planned(upload.upload_id)
            # otherwise it stays 'sending': the next run asks MESH by its local id
            return SendOutcome(upload.upload_id, upload.record_count, None, error=str(exc))
        self.ledger.mark_sent(upload.upload_id, message_id)
        return SendOutcome(upload.upload_id, upload.record_count, message_id)
