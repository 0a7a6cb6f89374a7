"""Reading a national export on more than one core.

Checking a row (pydantic, the NHS number, the plan's rules) and mapping it to its CP-IS record
is most of a full sync's time, and no row's check depends on another's. So for a large export
the job checks batches of rows in a worker process while it checks others itself, and takes
the results in file order: what depends on the rows before (a repeated local id, a row the
ledger holds unchanged) is decided here, one row after the other, exactly as the one-process
reader decides it (``ExportReader.screen``, ``check`` and ``settle`` are the same code).

A worker sends back each valid row as a ``MappedRow`` (its CP-IS record, the record's ledger
JSON and fingerprint), not the pydantic flag, which costs more to pass between processes than
to check again. A worker that dies (killed, out of memory) costs nothing but time: the batches
it held are checked here instead.
"""

from __future__ import annotations

import ctypes
import dataclasses
import gc
import hashlib
import multiprocessing
import os
import pickle
import signal
import sys
import threading
from collections import deque
from collections.abc import Callable, Iterable, Iterator
from concurrent.futures import Future, ProcessPoolExecutor
from concurrent.futures.process import BrokenProcessPool
from contextlib import contextmanager
from dataclasses import dataclass
from enum import Enum
from functools import cache
from typing import Any, NamedTuple, cast, get_type_hints

from interop.cpis.model import CpisRecord
from interop.domain import ChildProtectionFlag, ResponsibleLocalAuthority
from interop.la_export import (
    CheckedRow,
    ExportReader,
    ExportRow,
    RowProblem,
    ScreenedRow,
    UnchangedRow,
)
from interop.sync.ledger import record_to_json

ToRecord = Callable[[ChildProtectionFlag], CpisRecord]

#: exports with fewer data lines are read in this process alone: starting a worker costs
#: about a second of the other core's time, which a nightly export of a few thousand
#: children does not win back
PARALLEL_FROM_ROWS = 20_000
#: rows a worker checks at a time: large enough that passing them costs little
BATCH_ROWS = 2_000
#: seconds between handovers of the interpreter while workers run (see ``_quick_handover``)
SWITCH_INTERVAL = 0.0005
#: batches checked but not yet settled, at most (a worker's start takes about a second)
MAX_WAITING = 12


class MappedRow(NamedTuple):
    """A valid row, checked and mapped: what the sync job needs of it, and no more (a named
    tuple: cheap to make once per row, and to send between processes)."""

    line: int
    la_ods: str
    la_name: str
    record: CpisRecord
    text: str  # the record's ledger JSON (``record_to_json``)
    fingerprint: str  # sha256 of ``text``
    row_hash: str


def mapped_row(row: ExportRow, to_record: ToRecord) -> MappedRow:
    """``row`` as the sync job plans it."""
    la = row.flag.responsible_la
    record = to_record(row.flag)
    text = record_to_json(record)
    fingerprint = hashlib.sha256(text.encode()).hexdigest()
    return MappedRow(row.line, la.ods_code, la.name, record, text, fingerprint, row.row_hash)


@dataclass(frozen=True)
class _Task:
    """What a worker needs to check rows: the same for every batch of one export."""

    default_la: ResponsibleLocalAuthority | None
    columns: list[str]
    to_record: ToRecord


_RECORD_FIELDS = tuple(f.name for f in dataclasses.fields(CpisRecord))
#: the record's coded fields: name → {value: member}
_RECORD_CODES: dict[str, dict[object, Enum]] = {
    name: {member.value: member for member in hint}
    for name, hint in get_type_hints(CpisRecord).items()
    if isinstance(hint, type) and issubclass(hint, Enum)
}


def _start_worker(job: int) -> None:
    # killed with the job (kill -9, a crash): a worker blocked on its queue would otherwise
    # wait for ever, holding the job's output open (Linux: the parent-death signal)
    libc = ctypes.CDLL(None, use_errno=True)
    libc.prctl(_PR_SET_PDEATHSIG, signal.SIGKILL)
    if os.getppid() != job:  # the job ended before the line above
        os._exit(1)
    # a forked worker shares the job's heap until it writes to it: the garbage collector,
    # scanning that heap, would copy it page by page, so it leaves what it inherited alone
    gc.freeze()
    # the job's signal handlers are not the worker's: SIGTERM (a service manager stops every
    # process of the job) ends it at once and quietly, and Ctrl-C in a terminal is the job's
    # to handle (it stops its workers itself)
    signal.signal(signal.SIGTERM, signal.SIG_DFL)
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    signal.pthread_sigmask(signal.SIG_UNBLOCK, _HELD)  # held since the fork (_signals_held)


#: prctl's option for the signal a process gets when its parent dies (linux/prctl.h)
_PR_SET_PDEATHSIG = 1
#: the signals held while a worker is forked
_HELD = {signal.SIGINT, signal.SIGTERM}


@contextmanager
def _signals_held() -> Iterator[None]:
    """SIGINT and SIGTERM held back while the pool forks a worker, starts its threads or
    stops: one handled in the middle (the job's handler raises an exception) would leave the
    pool half-started, and a shutdown waiting for ever on it. Held twice over: the job's
    handlers are swapped for one that only notes the signal, as Python runs a handler in this
    thread whichever thread the signal reached; and the signals are blocked here, so that a
    forked worker starts with them blocked until ``_start_worker`` has set its own handlers.
    A signal noted meanwhile is raised again, to the job's handler, as soon as this ends."""
    if threading.current_thread() is not threading.main_thread():
        yield  # only the main thread may set handlers, and only it runs them
        return
    noted: list[int] = []

    def note(signum: int, frame: object) -> None:
        noted.append(signum)

    handlers = {signum: signal.signal(signum, note) for signum in _HELD}
    mask = signal.pthread_sigmask(signal.SIG_BLOCK, _HELD)
    try:
        yield
    finally:
        signal.pthread_sigmask(signal.SIG_SETMASK, mask)
        for signum, handler in handlers.items():
            signal.signal(signum, handler)
        for again in dict.fromkeys(noted):
            signal.raise_signal(again)


@cache
def _worker_reader(default_la: ResponsibleLocalAuthority | None) -> ExportReader:
    # one per worker process and authority: its caches (authorities met) last the export
    return ExportReader(default_la)


def _check_batch(task: _Task, rows: list[tuple[int, list[str]]]) -> list[CheckedRow[Any]]:
    """Check and map a batch of screened rows in a worker process, in the shape that is
    cheapest to send back: tuples, a record as its field values with each code as its
    value (unpickling dataclasses and enums costs half as much as checking the row did)."""
    wire: list[CheckedRow[Any]] = []
    for checked in _checked(_worker_reader(task.default_la), task, rows):
        row = checked.outcome
        if isinstance(row, MappedRow):
            values = tuple(_plain(getattr(row.record, name)) for name in _RECORD_FIELDS)
            line, la_ods, la_name, _, text, fingerprint, row_hash = row
            row = MappedRow(line, la_ods, la_name, values, text, fingerprint, row_hash)  # type: ignore[arg-type]
            checked = CheckedRow(line, checked.local_id, row)
        wire.append(checked)
    return wire


def _plain(value: object) -> object:
    return value.value if isinstance(value, Enum) else value


def _from_wire(wire: list[CheckedRow[Any]]) -> list[CheckedRow[MappedRow]]:
    checked: list[CheckedRow[MappedRow]] = []
    for item in wire:
        row = item.outcome
        if isinstance(row, MappedRow):
            line, la_ods, la_name, values, text, fingerprint, row_hash = row
            record = _record(cast(tuple[object, ...], values))  # as _check_batch sent it
            row = MappedRow(line, la_ods, la_name, record, text, fingerprint, row_hash)
            item = CheckedRow(line, item.local_id, row)
        checked.append(item)
    return checked


def _record(values: tuple[object, ...]) -> CpisRecord:
    """A ``CpisRecord`` from ``_check_batch``'s field values, without its ``__init__``: the
    values were a valid record's a moment ago, and this runs once per row."""
    state = dict(zip(_RECORD_FIELDS, values, strict=True))
    for name, codes in _RECORD_CODES.items():
        state[name] = codes[state[name]]
    record = object.__new__(CpisRecord)
    record.__dict__.update(state)
    return record


def _checked(
    reader: ExportReader, task: _Task, rows: list[tuple[int, list[str]]]
) -> list[CheckedRow[MappedRow]]:
    results: list[CheckedRow[MappedRow]] = []
    for line, cells in rows:
        checked = reader.check(line, task.columns, cells)
        outcome = checked.outcome
        if isinstance(outcome, ExportRow):
            results.append(CheckedRow(line, checked.local_id, mapped_row(outcome, task.to_record)))
        else:
            results.append(CheckedRow(line, checked.local_id, outcome))
    return results


def read_for_sync(
    reader: ExportReader,
    data: bytes,
    to_record: ToRecord,
    *,
    processes: int | None = None,
    parallel_from: int | None = None,
) -> Iterator[ExportRow | MappedRow | UnchangedRow | RowProblem]:
    """Every data row of an export, judged as ``reader.read_bytes`` judges it, in file order;
    a valid row comes as a ``MappedRow`` when a worker process checked it.

    ``processes``: worker processes (default: one fewer than the machine's cores). An export
    of fewer than ``parallel_from`` lines, a single-core machine, or a mapping that cannot be
    passed to another process is read here alone. ``ExportError`` for the file as a whole,
    before any row.
    """
    columns, raw = reader.raw_rows(data)
    if processes is None:
        processes = max(0, (os.cpu_count() or 1) - 1)
    task = _Task(reader.default_la, columns, to_record)
    if (
        processes < 1
        or sys.platform != "linux"  # workers are forked: elsewhere, read in this process
        or data.count(b"\n") < (PARALLEL_FROM_ROWS if parallel_from is None else parallel_from)
        or not _passable(task)
    ):
        return reader.rows(columns, raw)
    return _in_parallel(reader, task, raw, processes)


def _passable(task: _Task) -> bool:
    """Whether ``task`` can go to another process (a closure as the mapping cannot)."""
    try:
        pickle.dumps(task)
    except (pickle.PicklingError, AttributeError, TypeError):
        return False
    return True


Screened = ScreenedRow | RowProblem | list[RowProblem]
Results = Future[list[CheckedRow[Any]]] | list[CheckedRow[MappedRow]]


def _in_parallel(
    reader: ExportReader,
    task: _Task,
    raw: Iterable[tuple[int, list[str]] | RowProblem],
    processes: int,
) -> Iterator[ExportRow | MappedRow | UnchangedRow | RowProblem]:
    """Batches go to the workers while fewer than four each are waiting, and are otherwise
    checked here; results are settled in file order as soon as the oldest batch is done."""
    # forked, not spawned: a spawned worker imports the caller's main script again and takes
    # a second to import the reader. The job's other thread (the lease's renewal) is not in
    # the child, which touches nothing of the job's but the rows it is given.
    context = multiprocessing.get_context("fork")
    pending: deque[tuple[list[Screened], Results]] = deque()
    pool = ProcessPoolExecutor(
        processes, mp_context=context, initializer=_start_worker, initargs=(os.getpid(),)
    )
    try:
        with _quick_handover():
            broken = False
            for batch in _batches(reader, task.columns, raw):
                rows = _to_check(batch)
                results: Results = []
                in_flight = sum(isinstance(r, Future) and not r.done() for _, r in pending)
                if rows and not broken and in_flight < 4 * processes:
                    try:
                        with _signals_held():
                            results = pool.submit(_check_batch, task, rows)
                    except BrokenProcessPool:  # a worker died: this process reads on alone
                        broken = True
                if rows and not isinstance(results, Future):
                    results = _checked(reader, task, rows)
                pending.append((batch, results))
                # a bounded number of batches waits (while a worker starts, this process checks
                # rows on): a national export is never held whole
                while pending and (len(pending) > MAX_WAITING or _ready(pending[0][1])):
                    done, results = pending.popleft()
                    checked, broken_now = _results(reader, task, done, results)
                    broken = broken or broken_now
                    yield from _settled(reader, task, done, checked)
            while pending:
                done, results = pending.popleft()
                checked, _ = _results(reader, task, done, results)
                yield from _settled(reader, task, done, checked)
    finally:
        # also when reading is interrupted (Ctrl-C, SIGTERM, the consumer's error): queued
        # batches are dropped, and only the ones a worker is checking are waited for
        with _signals_held():
            pool.shutdown(wait=True, cancel_futures=True)


@contextmanager
def _quick_handover() -> Iterator[None]:
    """The interpreter handed over more often between this process's threads: the pool's
    thread that takes a worker's results in needs it, and the worker waits on that thread
    while its results fill the pipe (by default, 5 ms a time while this thread checks rows)."""
    previous = sys.getswitchinterval()
    sys.setswitchinterval(SWITCH_INTERVAL)
    try:
        yield
    finally:
        sys.setswitchinterval(previous)


def _batches(
    reader: ExportReader, columns: list[str], raw: Iterable[tuple[int, list[str]] | RowProblem]
) -> Iterator[list[Screened]]:
    batch: list[Screened] = []
    for item in raw:
        batch.append(
            item if isinstance(item, RowProblem) else reader.screen(item[0], columns, item[1])
        )
        if len(batch) >= BATCH_ROWS:
            yield batch
            batch = []
    if batch:
        yield batch


def _to_check(batch: list[Screened]) -> list[tuple[int, list[str]]]:
    """The rows of a batch that need ``check``: not those refused already or unchanged."""
    return [(s.line, s.cells) for s in batch if isinstance(s, ScreenedRow) and s.unchanged is None]


def _ready(results: Results) -> bool:
    return not isinstance(results, Future) or results.done()


def _results(
    reader: ExportReader, task: _Task, batch: list[Screened], results: Results
) -> tuple[list[CheckedRow[MappedRow]], bool]:
    """A batch's checked rows, and whether the worker pool broke (its rows are then checked
    here: a killed worker loses no row)."""
    if not isinstance(results, Future):
        return results, False
    try:
        return _from_wire(results.result()), False
    except BrokenProcessPool:
        return _checked(reader, task, _to_check(batch)), True


def _settled(
    reader: ExportReader,
    task: _Task,
    batch: list[Screened],
    checked: list[CheckedRow[MappedRow]],
) -> Iterator[ExportRow | MappedRow | UnchangedRow | RowProblem]:
    """A batch's rows in file order, each judged against the rows before it."""
    outcomes = iter(checked)
    for screened in batch:
        outcome: ExportRow | MappedRow | UnchangedRow | RowProblem | list[RowProblem]
        if not isinstance(screened, ScreenedRow):
            outcome = screened
        elif screened.unchanged is None:
            outcome = reader.settle(next(outcomes))
        elif reader.take_unchanged(screened.unchanged):
            outcome = screened.unchanged
        else:  # its local id repeats an earlier row's: checked after all, and refused
            outcome = reader.settle(reader.check(screened.line, task.columns, screened.cells))
        if isinstance(outcome, list):
            yield from outcome
        else:
            yield outcome
