"""The attendance outbox on both back ends of the state layer: claims, so that two dispatchers
on one state never send the same notification, and the migration of an older outbox.

``state_url`` is a SQLite file, then a database on a real PostgreSQL (tests/pg_server.py).
"""

from __future__ import annotations

import sqlite3
import threading
import time
from collections import Counter
from pathlib import Path

from interop.attendance.dispatch import Dispatcher
from interop.attendance.store import AttendanceStore, Notified, OutboxRow, OutboxSpec
from interop.state import open_state, schema_versions


def queue(store: AttendanceStore, notifications: int, endpoints: tuple[str, ...]) -> None:
    """Queue ``notifications`` notifications, each for every endpoint, due at once."""
    with store.transaction() as db:
        for n in range(notifications):
            notified = Notified(
                kind="ward-alert",
                target_ods=f"T{n}",
                notification_id=f"N{n:04}",
                rows=[
                    OutboxSpec(endpoint, "fhir", f"payload {n}".encode()) for endpoint in endpoints
                ],
            )
            store.record(db, notified, f"child{n}", "SITE", epoch=1000.0 + n, now=0.0)


class Recording:
    """A channel that counts what it was given to deliver (a slow far end)."""

    def __init__(self, delivered: Counter[str], lock: threading.Lock) -> None:
        self.delivered, self.lock = delivered, lock

    def deliver(self, row: OutboxRow) -> str | None:
        time.sleep(0.002)  # long enough for the other dispatcher to try the same rows
        with self.lock:
            self.delivered[row.row_id] += 1
        return f"remote-{row.row_id}"

    def resolve(self, row: OutboxRow) -> str | None:
        return None

    def close(self) -> None:
        pass


def test_records_round_trip_with_their_payload(state_url: str) -> None:
    store = AttendanceStore(state_url)
    try:
        queue(store, 2, ("ward", "la"))
        rows = store.rows()
        assert [r.row_id for r in rows] == ["N0000.la", "N0000.ward", "N0001.la", "N0001.ward"]
        assert rows[0].payload == b"payload 0"
        queue(store, 2, ("ward", "la"))  # queued again: the deterministic ids keep one each
        assert store.counts() == {"pending": 4, "sending": 0, "sent": 0}
    finally:
        store.close()


def test_two_dispatchers_on_one_state_send_each_row_once(state_url: str) -> None:
    first = AttendanceStore(state_url)
    queue(first, 60, ("ward", "la"))
    delivered: Counter[str] = Counter()
    lock = threading.Lock()
    dispatchers = [
        Dispatcher(
            AttendanceStore(state_url),
            {"ward": Recording(delivered, lock), "la": Recording(delivered, lock)},
            batch=7,
        )
        for _ in range(2)
    ]
    threads = [threading.Thread(target=d.drain) for d in dispatchers]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    try:
        assert len(delivered) == 120
        assert set(delivered.values()) == {1}, "no row sent twice"
        assert first.counts() == {"pending": 0, "sending": 0, "sent": 120}
    finally:
        for dispatcher in dispatchers:
            dispatcher.stop()
        first.close()


def test_a_claim_keeps_rows_from_another_worker_until_it_ends_or_lapses(state_url: str) -> None:
    one, two = AttendanceStore(state_url), AttendanceStore(state_url)
    try:
        queue(one, 3, ("ward",))
        mine = one.claim_due(now=10.0, worker="one", limit=2, hold=60)
        assert [r.row_id for r in mine] == ["N0000.ward", "N0001.ward"]
        assert [r.row_id for r in two.claim_due(10.0, "two", hold=20)] == ["N0002.ward"]
        assert two.claim_due(now=20.0, worker="two") == []
        one.mark_sent("N0000.ward", "remote")  # the claim ends with the outcome
        one.release_claims("one")
        assert [r.row_id for r in two.claim_due(now=20.0, worker="two")] == ["N0001.ward"]
        two.mark_retry("N0001.ward", "down", next_attempt=30.0, in_doubt=True)
        lapsed = two.claim_due(now=40.0, worker="two", hold=5)
        assert [r.row_id for r in lapsed] == ["N0002.ward", "N0001.ward"]  # by next attempt
        # a worker that died: its claims lapse after the hold
        assert one.claim_due(now=44.0, worker="three") == []
        assert len(one.claim_due(now=46.0, worker="three")) == 2
    finally:
        one.close()
        two.close()


_VERSION_1 = """
CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE attendance_outbox (
    row_id TEXT PRIMARY KEY, notification_id TEXT NOT NULL, kind TEXT NOT NULL,
    endpoint TEXT NOT NULL, channel TEXT NOT NULL, workflow_id TEXT, subject TEXT,
    payload BLOB, state TEXT NOT NULL, attempts INTEGER NOT NULL DEFAULT 0,
    next_attempt REAL NOT NULL, last_error TEXT, remote_id TEXT, created_at TEXT NOT NULL,
    sent_at TEXT
);
INSERT INTO meta VALUES ('attendance_schema', '1');
INSERT INTO attendance_outbox (row_id, notification_id, kind, endpoint, channel, payload,
    state, next_attempt, created_at)
VALUES ('N1.ward', 'N1', 'ward-alert', 'ward', 'fhir', x'01', 'pending', 0, '2026-01-01');
"""


def test_an_outbox_written_before_claims_is_migrated(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    with sqlite3.connect(path) as db:  # as the previous release left it
        db.executescript(_VERSION_1)
    store = AttendanceStore(path, create=False)
    try:
        [row] = store.claim_due(now=1.0, worker="w")
        assert (row.row_id, row.payload) == ("N1.ward", b"\x01")
    finally:
        store.close()
    with open_state(path) as state:
        assert schema_versions(state)["attendance"] == 2
