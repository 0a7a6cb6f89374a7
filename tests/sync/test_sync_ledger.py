"""The sync job and its ledger at every point a run can stop: nothing lost, nothing twice.

Each ledger test runs on both back ends of the state layer (``state_url``: a SQLite file, then
a real PostgreSQL database).

A scripted sender stands in for MESH here to inject failures at exact points (sends that
fail before or after MESH stored them); the end-to-end tests run against a real mesh-sandbox.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass, field
from datetime import date
from typing import Any, BinaryIO

import pytest

from interop.codes import PlanType
from interop.cpis.model import CpisRecord, SubjectKind, UploadHeader
from interop.domain import ResponsibleLocalAuthority
from interop.la_export import ExportReader, ExportRow
from interop.sync.cpis_sync import CpisSync
from interop.sync.ledger import Ledger, LedgerError, record_from_json, record_to_json
from interop.synthetic import export_csv
from interop.transport.mesh import SentMessage, TransportError

LA = ResponsibleLocalAuthority(ods_code="LA380", name="Example City Council")


def simple_record(flag: Any) -> CpisRecord:
    """flag → record without the real mapping, so these tests need only the job and ledger."""
    return CpisRecord(
        record_id=flag.local_id,
        subject_kind=SubjectKind.UNBORN_CHILD_MOTHER
        if flag.plan_type is PlanType.UCPP
        else SubjectKind.CHILD,
        nhs_number=flag.subject.nhs_number,
        date_of_birth=flag.subject.date_of_birth,
        plan_type=flag.plan_type,
        start_date=flag.plan_start,
        end_date=flag.plan_end,
        delete_date=flag.effective_delete_date,
        expected_delivery_date=flag.expected_delivery_date,
    )


def lines_writer(header: UploadHeader, records: Any, out: BinaryIO) -> int:
    count = 0
    out.write(f"{header.file_id}\n".encode())
    for record in records:
        out.write(record_to_json(record).encode() + b"\n")
        count += 1
    return count


@dataclass
class ScriptedSender:
    """Records what MESH stored; fails as told: 'refuse' (not stored) or 'lose' (stored, but
    the answer never came back)."""

    stored: dict[str, bytes] = field(default_factory=dict)  # local id → file
    failures: list[str] = field(default_factory=list)

    def send(
        self, recipient: str, workflow_id: str, data: bytes, *, local_id: str, **_: Any
    ) -> str:
        failure = self.failures.pop(0) if self.failures else None
        if failure == "refuse":
            raise TransportError("auth", "refused", outcome_unknown=False)
        self.stored[local_id] = data
        if failure == "lose":
            raise TransportError("timeout", "no answer", outcome_unknown=True)
        return f"msg-{local_id}"

    def find_by_local_id(self, local_id: str) -> SentMessage | None:
        if local_id in self.stored:
            return SentMessage(f"msg-{local_id}", local_id, "X26CPIS01", "UPLOAD", "accepted", {})
        return None

    def records_delivered(self) -> list[str]:
        ids = []
        for data in self.stored.values():
            ids += [record_from_json(line).record_id for line in data.decode().splitlines()[1:]]
        return ids


def rows(count: int = 30, seed: int = 3) -> list[ExportRow]:
    results = ExportReader(LA).read_bytes(export_csv(count, seed=seed))
    return [r for r in results if isinstance(r, ExportRow)]


def job(ledger: Ledger, per_file: int = 7) -> CpisSync:
    return CpisSync(
        ledger, to_record=simple_record, write_upload=lines_writer, max_records_per_file=per_file
    )


def run(ledger: Ledger, sender: ScriptedSender, export: list[ExportRow]) -> list[Any]:
    sync = job(ledger)
    sync.plan(export)
    return sync.send(sender, recipient="X26CPIS01", workflow_id="UPLOAD")


def test_first_run_sends_everything_once_in_files_of_the_limit(state_url: str) -> None:
    ledger, sender, export = Ledger(state_url), ScriptedSender(), rows(30)
    outcomes = run(ledger, sender, export)
    assert [o.records for o in outcomes] == [7, 7, 7, 7, 2]
    assert sorted(sender.records_delivered()) == sorted(r.flag.local_id for r in export)


def test_an_unchanged_export_sends_nothing(state_url: str) -> None:
    ledger, sender, export = Ledger(state_url), ScriptedSender(), rows(30)
    run(ledger, sender, export)
    counts = job(ledger).plan(export)
    assert (counts.new, counts.changed, counts.unchanged) == (0, 0, 30)
    assert job(ledger).send(sender, recipient="X", workflow_id="W") == []


def test_a_changed_or_ended_plan_is_sent_again(state_url: str) -> None:
    ledger, sender, export = Ledger(state_url), ScriptedSender(), rows(10)
    run(ledger, sender, export)
    first = export[0].flag
    ended = first.model_copy(update={"plan_end": date(2026, 11, 20)})
    counts = job(ledger).plan([ExportRow(2, ended), *export[1:]])
    assert (counts.changed, counts.ended, counts.unchanged) == (1, 1, 9)


@pytest.mark.parametrize("failure", ["refuse", "lose"])
def test_a_failed_send_is_resolved_on_the_next_run_without_duplicates(
    failure: str, state_url: str
) -> None:
    ledger, sender, export = Ledger(state_url), ScriptedSender(failures=["ok", failure]), rows(21)
    first = run(ledger, sender, export)
    assert [o.error is None for o in first] == [True, False]
    assert ledger.uploads("sending" if failure == "lose" else "planned")
    again = job(ledger).send(sender, recipient="X", workflow_id="W")
    assert all(o.error is None for o in again)
    assert again[0].recovered is (failure == "lose")
    delivered = sender.records_delivered()
    assert sorted(delivered) == sorted(r.flag.local_id for r in export)
    assert len(delivered) == len(set(delivered)), "no record delivered twice"


def test_acknowledgement_outcomes_and_rejected_records_stay_visible(state_url: str) -> None:
    ledger, sender, export = Ledger(state_url), ScriptedSender(), rows(5)
    run(ledger, sender, export)
    (upload,) = ledger.uploads()
    ids = [r.flag.local_id for r in export]
    outcomes = [(ids[0], "CPR01", None), *((i, "CPR06", None) for i in ids[1:])]
    assert ledger.record_acknowledgement("ack-1", upload.upload_id, "CPF03", outcomes, {})
    states = {key[1]: r.status for key, r in ledger.records().items()}
    assert states[ids[0]] == "rejected"
    assert all(states[i] == "accepted" for i in ids[1:])
    counts = job(ledger).plan(export)
    assert counts.still_rejected == [(ids[0], "CPR01")]
    assert counts.to_send == 0


def test_spine_unavailable_resubmits_the_whole_file(state_url: str) -> None:
    ledger, sender, export = Ledger(state_url), ScriptedSender(), rows(5)
    run(ledger, sender, export)
    (upload,) = ledger.uploads()
    ledger.record_acknowledgement("ack-1", upload.upload_id, "CPF05", [], {})
    counts = job(ledger).plan(export)
    assert counts.resubmitted == 5


def test_acknowledgement_of_an_unknown_upload_is_kept_but_changes_nothing(state_url: str) -> None:
    ledger = Ledger(state_url)
    assert not ledger.record_acknowledgement("ack-9", "no-such-upload", "CPF02", [], {"x": 1})
    assert ledger.replies("acknowledgement")[0]["x"] == 1


def test_a_planning_crash_leaves_nothing_half_recorded(state_url: str) -> None:
    ledger, export = Ledger(state_url), rows(10)
    sync = job(ledger)
    original = ledger.plan_upload

    def crash_inside(*args: Any) -> None:
        original(*args)
        raise KeyboardInterrupt  # the process stops after the first upload's transaction

    ledger.plan_upload = crash_inside  # type: ignore[method-assign]
    with pytest.raises(KeyboardInterrupt):
        sync.plan(export)
    ledger.plan_upload = original  # type: ignore[method-assign]
    assert len(ledger.uploads()) == 1
    counts = job(ledger).plan(export)
    assert counts.unchanged == 7 and counts.new == 3  # noqa: PT018


def test_record_json_round_trip() -> None:
    record = simple_record(rows(1)[0].flag)
    assert record_from_json(record_to_json(record)) == record


def test_a_file_that_is_not_a_ledger_is_refused(tmp_path: Any) -> None:
    path = tmp_path / "state.sqlite"
    path.write_bytes(b"this is not SQLite" * 100)
    with pytest.raises(LedgerError, match="not a usable state file"):
        Ledger(path)


@dataclass
class ScriptedReceiver:
    """A mailbox of replies; ``fail_acknowledge`` stops the pull like a crash would."""

    messages: dict[str, bytes]
    fail_acknowledge: set[str] = field(default_factory=set)
    acknowledged: list[str] = field(default_factory=list)

    def inbox(self, workflow_id: str | None = None) -> list[str]:
        return [m for m in self.messages if m not in self.acknowledged]

    def download(self, message_id: str) -> Any:
        return type("Message", (), {"data": self.messages[message_id]})()

    def acknowledge(self, message_id: str) -> None:
        if message_id in self.fail_acknowledge:
            self.fail_acknowledge.discard(message_id)
            raise KeyboardInterrupt  # the process dies here
        self.acknowledged.append(message_id)


def test_a_pull_interrupted_before_acknowledging_applies_each_reply_once(
    tmp_path: Any, state_url: str
) -> None:
    from datetime import UTC, datetime

    from interop.codes import CpisFileResponse, CpisRecordResponse
    from interop.cpis.codec import write_acknowledgement, write_inactive_notification
    from interop.cpis.model import (
        Acknowledgement,
        InactiveNhsNumberNotification,
        RecordResponse,
    )
    from interop.sync.cpis_pull import pull

    ledger, sender, export = Ledger(state_url), ScriptedSender(), rows(3)
    run(ledger, sender, export)
    (upload,) = ledger.uploads()
    now = datetime(2026, 11, 23, tzinfo=UTC)
    responses = tuple(
        RecordResponse(r.flag.local_id, r.flag.subject.nhs_number, CpisRecordResponse.SUCCESS)
        for r in export
    )
    ack = Acknowledgement("ACK-1", upload.upload_id, now, CpisFileResponse.ALL_UPLOADED, responses)
    inactive = InactiveNhsNumberNotification("INN-1", now, ("9000000009",))
    mailbox = ScriptedReceiver(
        {"m1": write_acknowledgement(ack), "m2": write_inactive_notification(inactive)},
        fail_acknowledge={"m1"},
    )
    with pytest.raises(KeyboardInterrupt):
        pull(ledger, mailbox, workflow_ids=("ACK",), out_dir=tmp_path)
    assert ledger.inbox_entry("m1") is not None, "recorded before the crash"
    report = pull(ledger, mailbox, workflow_ids=("ACK",), out_dir=tmp_path)
    assert report.already_received == 1
    assert (report.acknowledgements, report.inactive_notifications) == (0, 1)
    assert mailbox.acknowledged == ["m1", "m2"]
    assert {r.status for r in ledger.records().values()} == {"accepted"}
    lines = (tmp_path / "acknowledgements.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(lines) == 1, "the reply is written once"


# --- an upload that cannot be built never wedges the ledger ------------------------------------


def _with_nul_in_name(bad_ids: set[str]) -> Any:
    """The mapping, with a NUL in the given name of some records: as if it got past the
    export's checks (the real XML writer refuses it)."""

    def to_record(flag: Any) -> CpisRecord:
        record = simple_record(flag)
        if flag.local_id in bad_ids:
            return dataclasses.replace(record, given_name="Jo\x00hn", family_name="Smith")
        return record

    return to_record


def xml_job(ledger: Ledger, bad_ids: set[str], *, check_threads: int = 2) -> CpisSync:
    """The job as ``interop sync cpis`` builds it: the real writer, files checked against the
    XSD two at a time."""
    from interop.cpis.codec import OwnUploadChecks, write_upload

    return CpisSync(
        ledger,
        to_record=_with_nul_in_name(bad_ids),
        write_upload=write_upload,
        check_upload=OwnUploadChecks(check_threads),
        check_threads=check_threads,
        max_records_per_file=4,
    )


def test_a_record_the_writer_refuses_fails_alone_and_the_rest_is_sent(state_url: str) -> None:
    ledger, sender, export = Ledger(state_url), ScriptedSender(), rows(10)
    bad = export[5].flag.local_id
    sync = xml_job(ledger, {bad})
    sync.plan(export)
    outcomes = sync.send(sender, recipient="X26CPIS01", workflow_id="UPLOAD")
    assert [o.records for o in outcomes] == [4, 3, 2]  # the second upload lost its bad record
    assert all(o.error is None for o in outcomes)
    sent = {key[1]: r for key, r in ledger.records().items()}
    assert sent[bad].status == "failed"
    assert sent[bad].outcome_detail is not None
    assert "XML" in sent[bad].outcome_detail
    assert "Jo" not in sent[bad].outcome_detail  # the reason carries no personal value
    assert sum(r.status == "sent" for r in sent.values()) == 9
    assert ledger.uploads("planned", "sending") == []  # nothing left to wedge the next run

    # the next run with the same export plans nothing and sends nothing
    again = xml_job(ledger, {bad})
    counts = again.plan(export)
    assert (counts.to_send, counts.unchanged) == (0, 9)
    assert [local_id for local_id, _ in counts.still_failed] == [bad]
    assert again.send(sender, recipient="X", workflow_id="W") == []

    # once the row is fixed, the record is planned and sent again
    fixed = export[5].flag.model_copy(update={"plan_end": date(2026, 11, 20)})
    fixed_export = [*export[:5], ExportRow(7, fixed), *export[6:]]
    third = xml_job(ledger, set())
    counts = third.plan(fixed_export)
    assert counts.changed == 1
    assert [o.records for o in third.send(sender, recipient="X", workflow_id="W")] == [1]
    assert ledger.records()[(LA.ods_code, bad)].status == "sent"


def test_an_upload_of_only_bad_records_fails_whole_and_the_run_goes_on(state_url: str) -> None:
    ledger, sender, export = Ledger(state_url), ScriptedSender(), rows(8)
    bad = {r.flag.local_id for r in export[:4]}  # exactly the first upload
    sync = xml_job(ledger, bad)
    sync.plan(export)
    outcomes = sync.send(sender, recipient="X26CPIS01", workflow_id="UPLOAD")
    assert [(o.records, o.error is None) for o in outcomes] == [(4, False), (4, True)]
    assert {u.state for u in ledger.uploads()} == {"failed", "sent"}
    statuses = {key[1]: r.status for key, r in ledger.records().items()}
    assert {statuses[i] for i in bad} == {"failed"}
    assert len(sender.stored) == 1


# --- exclusive runs: the library pieces `interop sync cpis` holds its state with -----------------


@pytest.mark.parametrize("runs", [2, 4])
def test_concurrent_syncs_on_one_state_send_every_record_exactly_once(
    state_url: str, runs: int
) -> None:
    import threading

    from interop.state import LeaseHeld, acquire_lease, open_state

    open_state(state_url, create=True).close()
    sender, export = ScriptedSender(), rows(40)
    start = threading.Barrier(runs)
    outcomes: list[str] = []

    def one_run() -> None:
        with open_state(state_url) as state:
            start.wait()
            try:
                lease = acquire_lease(state, "cpis-sync", label="interop sync cpis")
            except LeaseHeld:
                outcomes.append("busy")
                return
            with lease, Ledger(state) as ledger:
                run(ledger, sender, export)
                outcomes.append("ran")

    threads = [threading.Thread(target=one_run) for _ in range(runs)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    assert "ran" in outcomes
    assert len(outcomes) == runs
    delivered = sender.records_delivered()
    assert sorted(delivered) == sorted(r.flag.local_id for r in export)  # each exactly once


def test_a_missing_ledger_is_refused_unless_created(tmp_path: Any) -> None:
    from interop.state import StateMissing

    path = tmp_path / "state.sqlite"
    with pytest.raises(StateMissing, match="missing or empty"):
        Ledger(path, create=False)
    Ledger(path).close()  # created explicitly (the default keeps the old behaviour)
    Ledger(path, create=False).close()


@pytest.mark.parametrize("threads", [1, 2, 3])
def test_files_checked_several_at_once_are_sent_in_plan_order_and_a_failed_check_salvaged(
    state_url: str, threads: int
) -> None:
    """Checking files in ``threads`` worker threads changes neither the order the uploads go
    in nor what a file that fails its check does: its bad record fails alone, the rest goes."""
    import threading

    ledger, sender, export = Ledger(state_url), ScriptedSender(), rows(30)
    bad = export[9].flag.local_id  # in the second file of seven
    checked_in: set[str] = set()

    def check(data: bytes) -> list[str]:
        checked_in.add(threading.current_thread().name)
        return [f"{bad} is not allowed"] if bad.encode() in data else []

    sync = CpisSync(
        ledger,
        to_record=simple_record,
        write_upload=lines_writer,
        max_records_per_file=7,
        check_upload=check,
        check_threads=threads,
    )
    sync.plan(export)
    planned = [u.upload_id for u in ledger.uploads("planned")]
    outcomes = sync.send(sender, recipient="X26CPIS01", workflow_id="UPLOAD")
    assert [o.upload_id for o in outcomes] == planned
    assert [o.records for o in outcomes] == [7, 6, 7, 7, 2]
    assert list(sender.stored) == planned  # sent in plan order
    assert sorted(sender.records_delivered()) == sorted(
        r.flag.local_id for r in export if r.flag.local_id != bad
    )
    assert ledger.records()[(LA.ods_code, bad)].status == "failed"
    assert all(name.startswith("xsd-check") for name in checked_in - {"MainThread"})
    assert len(checked_in - {"MainThread"}) <= threads
