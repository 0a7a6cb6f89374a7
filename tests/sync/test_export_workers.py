"""A national export read in worker processes gives exactly what reading it in one does.

The reference is ``ExportReader.read_bytes`` (one process, one row after the other). The
exports here are small, so the tests lower the size from which workers are used and the batch
size, to cross many batch boundaries with every kind of row: refused ones, repeated local ids,
rows the ledger holds unchanged, and a repeat of an unchanged row.
"""

from __future__ import annotations

import os
import sys
from pathlib import Path
from typing import Any

import pytest

from interop.domain import ResponsibleLocalAuthority
from interop.la_export import ExportReader, ExportRow, RowProblem, UnchangedRow
from interop.mappings.cpis import flag_to_record
from interop.sync import export_workers
from interop.sync.export_workers import MappedRow, mapped_row, read_for_sync
from interop.synthetic import export_csv

pytestmark = pytest.mark.skipif(
    sys.platform != "linux", reason="workers are forked, on Linux only; elsewhere one process"
)

LA = ResponsibleLocalAuthority(ods_code="LA380", name="Example City Council")


def messy_export() -> bytes:
    """400 synthetic rows, 60 spoiled, plus every other kind of row the reader refuses."""
    lines = export_csv(400, seed=11, bad_rows=60).decode("utf-8-sig").splitlines()
    header, rows = lines[0], lines[1:]
    first = rows[0].split(",")
    extra = {
        5: ",".join(["NUL-1", *first[1:3], "Jo\x00hn", *first[4:]]),  # a control character
        40: "too,few,cells",
        77: rows[3],  # a valid row's local id again: refused as a repeat
        78: "",  # a blank line is not a row
        120: ",".join(["LONG-1", *first[1:3], "x" * 2000, *first[4:]]),
        200: ",".join(["BADLA", *first[1:-1], "not an ods code"]),
        310: rows[3].replace(rows[3].split(",")[2], "9434765918"),  # repeat, and a bad NHS no.
        311: rows[300],  # an unchanged row's repeat (see ``unchanged``)
        390: rows[3] + ",,,",  # trailing empty cells, as Excel pads them; still a repeat
    }
    for index in sorted(extra, reverse=True):
        rows.insert(index, extra[index])
    return ("\n".join([header, *rows]) + "\n").encode()


def unchanged(data: bytes) -> Any:
    """An ``is_unchanged`` for which every third valid row is as last planned."""
    held = {}
    for number, row in enumerate(ExportReader(LA).read_bytes(data)):
        if isinstance(row, ExportRow) and number % 3 == 0:
            held[(row.flag.responsible_la.ods_code, row.flag.local_id)] = row.row_hash

    def is_unchanged(la_ods: str, local_id: str, row_hash: str) -> bool:
        return held.get((la_ods, local_id)) == row_hash

    return is_unchanged


def reference(data: bytes, with_ledger: bool) -> list[Any]:
    reader = ExportReader(LA, unchanged(data) if with_ledger else None)
    return [
        mapped_row(row, flag_to_record) if isinstance(row, ExportRow) else row
        for row in reader.read_bytes(data)
    ]


@pytest.fixture
def small_batches(monkeypatch: pytest.MonkeyPatch) -> list[int]:
    """Batches of 17 rows; counts the batches a worker checked."""
    monkeypatch.setattr(export_workers, "BATCH_ROWS", 17)
    from_workers: list[int] = []
    original = export_workers._from_wire

    def counting(wire: list[Any]) -> list[Any]:
        from_workers.append(len(wire))
        return original(wire)

    monkeypatch.setattr(export_workers, "_from_wire", counting)
    return from_workers


@pytest.mark.parametrize("with_ledger", [False, True], ids=["first-run", "with-ledger"])
def test_workers_read_the_export_exactly_as_one_process_does(
    small_batches: list[int], with_ledger: bool
) -> None:
    data = messy_export()
    expected = reference(data, with_ledger)
    reader = ExportReader(LA, unchanged(data) if with_ledger else None)
    found = list(read_for_sync(reader, data, flag_to_record, processes=1, parallel_from=0))
    assert found == expected
    assert sum(small_batches) > 0, "a worker process checked rows"
    kinds = {type(r) for r in found}
    assert {MappedRow, RowProblem} <= kinds
    assert (UnchangedRow in kinds) == with_ledger
    problems = {(p.line, p.column) for p in found if isinstance(p, RowProblem)}
    assert (7, "given_name") in problems  # the NUL (line 7: header, then 5 rows before it)
    assert any("repeats the local_id" in p.message for p in found if isinstance(p, RowProblem))


def test_a_small_export_or_a_mapping_that_cannot_travel_is_read_in_this_process(
    small_batches: list[int],
) -> None:
    data = messy_export()
    expected = list(ExportReader(LA).read_bytes(data))
    below = read_for_sync(ExportReader(LA), data, flag_to_record, processes=1)  # < 20,000
    assert list(below) == expected

    def closure(flag: Any) -> Any:  # a local function cannot be sent to another process
        return flag_to_record(flag)

    local = read_for_sync(ExportReader(LA), data, closure, processes=1, parallel_from=0)
    assert list(local) == expected
    none = read_for_sync(ExportReader(LA), data, flag_to_record, processes=0, parallel_from=0)
    assert list(none) == expected
    assert small_batches == []


def dying_check(task: Any, rows: list[tuple[int, list[str]]]) -> Any:
    """A worker that is killed on its third batch (as by the OOM killer)."""
    if rows[0][0] > 60:
        os._exit(9)
    return export_workers.__dict__["_original_check_batch"](task, rows)


def test_a_worker_killed_mid_export_loses_and_repeats_no_row(
    small_batches: list[int], monkeypatch: pytest.MonkeyPatch
) -> None:
    data = messy_export()
    expected = reference(data, with_ledger=True)
    monkeypatch.setitem(
        export_workers.__dict__, "_original_check_batch", export_workers._check_batch
    )
    monkeypatch.setattr(export_workers, "_check_batch", dying_check)
    reader = ExportReader(LA, unchanged(data))
    found = list(read_for_sync(reader, data, flag_to_record, processes=1, parallel_from=0))
    assert found == expected
    assert 0 < len(small_batches) < 10  # the worker checked some batches, then died


def test_the_sync_job_plans_the_same_ledger_either_way(
    small_batches: list[int], monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    from interop.jobs import run_cpis_sync
    from interop.jobs.state import StateOptions
    from interop.sync.ledger import Ledger

    class NoMesh:
        def send(self, recipient: str, workflow_id: str, data: bytes, **_: object) -> str:
            return f"MSG-{len(data)}-{id(data)}"

        def find_by_local_id(self, local_id: str) -> object | None:
            return None

    export = tmp_path / "export.csv"
    export.write_bytes(messy_export())

    def planned(parallel_from: int, name: str) -> tuple[Any, dict[Any, Any]]:
        monkeypatch.setattr(export_workers, "PARALLEL_FROM_ROWS", parallel_from)
        state = tmp_path / f"{name}.sqlite"
        result = run_cpis_sync(
            export,
            state=state,
            local_authority=LA,
            recipient="X26",
            workflow_id="W",
            transport=NoMesh(),
            state_options=StateOptions(new=True),
        )
        with Ledger(state) as ledger:
            records = {
                key: (r.content_hash, r.row_hash, r.status) for key, r in ledger.records().items()
            }
        return (result.counts, result.problems, result.valid), records

    one = planned(10**9, "one")
    assert small_batches == []
    many = planned(0, "many")
    assert sum(small_batches) > 0
    assert many == one
    assert len(one[1]) > 300


def test_a_signal_during_a_step_of_the_pool_is_handled_after_it() -> None:
    """SIGTERM while the pool forks, starts or stops is held (the job's handler raising in the
    middle would leave the pool half-made) and reaches the job's handler right after."""
    import signal
    import time

    seen: list[object] = []

    def handler(signum: int, frame: object) -> None:
        seen.append(signum)

    previous = signal.signal(signal.SIGTERM, handler)
    try:
        with export_workers._signals_held():
            os.kill(os.getpid(), signal.SIGTERM)
            time.sleep(0.05)  # the handler would have run by now, were the signal not held
            seen.append("step done")
        assert seen == ["step done", signal.SIGTERM]
        os.kill(os.getpid(), signal.SIGTERM)  # and afterwards, signals go straight through
        time.sleep(0.05)
        assert seen == ["step done", signal.SIGTERM, signal.SIGTERM]
    finally:
        signal.signal(signal.SIGTERM, previous)
