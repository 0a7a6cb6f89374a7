"""The attendance rules' state: attendances seen, notifications given, the outbox.

It lives in the state layer (``interop.state``): a SQLite file by default, or a PostgreSQL
database shared by several listeners.

Tables (they live beside the CP-IS ledger's when both share a state file):

- ``attendance_event``: each attendance that led to a decision, by its sender's key (site,
  application, control id): a resend of the same message is recognised and changes nothing;
- ``attendance_notified``: each notification given, by kind, child, attending site and
  recipient, with the attendance's time: the de-duplication window is a range query on it;
- ``attendance_outbox``: one row per message and destination endpoint, ``pending`` →
  ``sending`` → ``sent``. A row's id is deterministic (the notification id and the endpoint)
  and is the MESH local id. Its payload is cleared once sent, so a sent notification leaves
  only keys behind. A dispatcher *claims* the rows it attempts (``claim_due``: ``claimed_by``
  until ``claimed_until``), so two dispatchers on one state never send the same row.

The child is never stored by NHS number in a key: ``child_key`` is an HMAC-SHA256 of the
number with a random key kept in the ``meta`` table (created with the file). The pending
payloads hold the NHS number (they are the messages to send): protect the file like the
CP-IS ledger.
"""

from __future__ import annotations

import hashlib
import hmac
import secrets
import threading
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path

from interop.errors import ConfigurationError
from interop.state import (
    Migration,
    State,
    StateUnusable,
    claim_rows,
    migrate,
    open_state,
    register,
)

__all__ = [
    "AttendanceStore",
    "OutboxRow",
    "OutboxSpec",
    "StateError",
]

SCHEMA_VERSION = "1"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS attendance_event (
    event_key TEXT PRIMARY KEY,      -- site | sending application | control id
    child_key TEXT NOT NULL,
    event_type TEXT NOT NULL,
    occurred_at TEXT NOT NULL,
    recorded_at TEXT NOT NULL,
    notifications INTEGER NOT NULL
);
CREATE TABLE IF NOT EXISTS attendance_notified (
    kind TEXT NOT NULL,
    child_key TEXT NOT NULL,
    site_ods TEXT NOT NULL,
    target_ods TEXT NOT NULL,
    occurred_epoch REAL NOT NULL,
    notification_id TEXT NOT NULL
);
CREATE INDEX IF NOT EXISTS attendance_notified_window
    ON attendance_notified (kind, child_key, site_ods, target_ods, occurred_epoch);
CREATE TABLE IF NOT EXISTS attendance_outbox (
    row_id TEXT PRIMARY KEY,         -- notification id '.' endpoint: the MESH local id
    notification_id TEXT NOT NULL,
    kind TEXT NOT NULL,
    endpoint TEXT NOT NULL,
    channel TEXT NOT NULL,           -- mesh | fhir | mllp
    workflow_id TEXT,
    subject TEXT,
    payload BLOB,                    -- cleared once sent
    state TEXT NOT NULL,             -- pending | sending | sent
    attempts INTEGER NOT NULL DEFAULT 0,  -- failed attempts
    next_attempt REAL NOT NULL,      -- epoch seconds
    last_error TEXT,
    remote_id TEXT,
    created_at TEXT NOT NULL,
    sent_at TEXT
);
CREATE INDEX IF NOT EXISTS attendance_outbox_due ON attendance_outbox (state, next_attempt);
"""

_PG_SCHEMA = (
    _SCHEMA.replace("occurred_epoch REAL", "occurred_epoch DOUBLE PRECISION")
    .replace("next_attempt REAL", "next_attempt DOUBLE PRECISION")
    .replace("payload BLOB", "payload BYTEA")
)

_CLAIMS = """
ALTER TABLE attendance_outbox ADD COLUMN claimed_by TEXT;
ALTER TABLE attendance_outbox ADD COLUMN claimed_until REAL;
"""

register(
    "attendance",
    [
        Migration(1, _SCHEMA, _PG_SCHEMA),
        Migration(2, _CLAIMS, _CLAIMS.replace("REAL", "DOUBLE PRECISION")),
    ],
)

_OUTBOX_COLUMNS = (
    "row_id",
    "notification_id",
    "kind",
    "endpoint",
    "channel",
    "workflow_id",
    "subject",
    "payload",
    "state",
    "attempts",
    "next_attempt",
    "last_error",
    "remote_id",
)


class StateError(ConfigurationError):
    """The state file cannot be used (not SQLite, a newer schema, locked)."""


def _outbox_row(row: Sequence[object]) -> OutboxRow:
    values = list(row)
    if values[7] is not None:  # PostgreSQL may hand back a memoryview of the bytes
        values[7] = bytes(values[7])  # type: ignore[call-overload]
    return OutboxRow(*values)  # type: ignore[arg-type]


def _now() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")


def _wall_clock(now: float) -> float:
    """The time a claim runs from: the caller's clock, unless it asked for every row
    (``now`` infinite), when claims still expire by the wall clock."""
    return now if now != float("inf") else datetime.now(UTC).timestamp()


@dataclass(frozen=True)
class OutboxSpec:
    """A message to queue: for which endpoint, over which channel, and its bytes."""

    endpoint: str
    channel: str
    payload: bytes = field(repr=False)  # the message: personal data
    workflow_id: str | None = None
    subject: str | None = None


@dataclass(frozen=True)
class OutboxRow:
    """A queued message as the dispatcher reads it."""

    row_id: str
    notification_id: str
    kind: str
    endpoint: str
    channel: str
    workflow_id: str | None
    subject: str | None
    payload: bytes | None = field(repr=False)  # the message: personal data
    state: str
    attempts: int
    next_attempt: float
    last_error: str | None
    remote_id: str | None


@dataclass(frozen=True)
class Notified:
    """A notification to record: what, about whom, from where, to whom, when, and its rows."""

    kind: str
    target_ods: str
    notification_id: str
    rows: Sequence[OutboxSpec]


class AttendanceStore:
    """One connection to the state; safe to share between threads (calls serialise)."""

    def __init__(self, path: Path | str | State, *, create: bool = True) -> None:
        """``path``: a state file, a ``postgresql://`` URL, or a ``State`` already open;
        ``create``: start a new state when there is none (else ``StateMissing``)."""
        self._owns_state = not isinstance(path, State)
        try:
            self.db = path if isinstance(path, State) else open_state(path, create=create)
            migrate(self.db, "attendance")
            with self.transaction():
                version = self._meta("attendance_schema")
                if version is None:
                    self._set_meta("attendance_schema", SCHEMA_VERSION)
                elif version != SCHEMA_VERSION:
                    raise StateError(  # the location, not ``path``: a URL's password
                        f"{self.db.location}: attendance schema {version},"
                        f" expected {SCHEMA_VERSION}"
                    )
                key = self._meta("attendance_hash_key")
                if key is None:
                    key = secrets.token_hex(32)
                    self._set_meta("attendance_hash_key", key)
        except StateUnusable as exc:
            raise StateError(str(exc)) from None
        self._key = bytes.fromhex(key)
        self.lock = threading.RLock()

    def _meta(self, key: str) -> str | None:
        row = self.db.execute("SELECT value FROM meta WHERE key=?", (key,)).fetchone()
        return None if row is None else str(row[0])

    def _set_meta(self, key: str, value: str) -> None:
        self.db.execute(
            "INSERT INTO meta VALUES (?, ?) ON CONFLICT (key) DO UPDATE SET value=excluded.value",
            (key, value),
        )

    def close(self) -> None:
        """Close the connection (unless the store was given an open state)."""
        if self._owns_state:
            self.db.close()

    def child_key(self, nhs_number: str) -> str:
        """The keyed hash that stands for the child in keys and logs."""
        return hmac.new(self._key, nhs_number.encode(), hashlib.sha256).hexdigest()[:32]

    @contextmanager
    def transaction(self) -> Iterator[State]:
        """All or nothing, holding the write lock from the start (SQLite: BEGIN IMMEDIATE)."""
        with self.db.transaction() as db:
            yield db

    # --- recording (the handler) -----------------------------------------------------------

    def seen(self, db: State, event_key: str) -> bool:
        """Whether this attendance message was recorded before."""
        found = db.execute(
            "SELECT 1 FROM attendance_event WHERE event_key=?", (event_key,)
        ).fetchone()
        return found is not None

    def notified_within(
        self,
        db: State,
        kind: str,
        child_key: str,
        site_ods: str,
        target_ods: str,
        epoch: float,
        window: float,
    ) -> bool:
        """Whether the same notification was given for an attendance less than ``window``
        seconds before or after this one (messages may arrive out of order)."""
        found = db.execute(
            "SELECT 1 FROM attendance_notified WHERE kind=? AND child_key=? AND site_ods=?"
            " AND target_ods=? AND occurred_epoch > ? AND occurred_epoch < ? LIMIT 1",
            (kind, child_key, site_ods, target_ods, epoch - window, epoch + window),
        ).fetchone()
        return found is not None

    def record(
        self,
        db: State,
        notified: Notified,
        child_key: str,
        site_ods: str,
        epoch: float,
        now: float,
    ) -> int:
        """Record a notification given and queue its rows; the rows newly queued."""
        db.execute(
            "INSERT INTO attendance_notified VALUES (?, ?, ?, ?, ?, ?)",
            (
                notified.kind,
                child_key,
                site_ods,
                notified.target_ods,
                epoch,
                notified.notification_id,
            ),
        )
        stamp = _now()
        queued = 0
        for spec in notified.rows:
            cursor = db.execute(
                "INSERT INTO attendance_outbox (row_id, notification_id, kind, endpoint,"
                " channel, workflow_id, subject, payload, state, next_attempt, created_at)"
                " VALUES (?, ?, ?, ?, ?, ?, ?, ?, 'pending', ?, ?)"
                " ON CONFLICT (row_id) DO NOTHING",
                (
                    f"{notified.notification_id}.{spec.endpoint}",
                    notified.notification_id,
                    notified.kind,
                    spec.endpoint,
                    spec.channel,
                    spec.workflow_id,
                    spec.subject,
                    spec.payload,
                    now,
                    stamp,
                ),
            )
            queued += cursor.rowcount
        return queued

    def remember_event(
        self,
        db: State,
        event_key: str,
        child_key: str,
        event_type: str,
        occurred_at: datetime,
        notifications: int,
    ) -> None:
        """Keep the attendance message's key, so a resend of it is recognised."""
        db.execute(
            "INSERT INTO attendance_event VALUES (?, ?, ?, ?, ?, ?)",
            (event_key, child_key, event_type, occurred_at.isoformat(), _now(), notifications),
        )

    # --- the outbox (the dispatcher) -------------------------------------------------------

    def due(self, now: float, limit: int = 100) -> list[OutboxRow]:
        """Rows pending or in doubt whose next attempt is due, oldest first."""
        with self.lock:
            rows = self.db.execute(
                "SELECT row_id, notification_id, kind, endpoint, channel, workflow_id, subject,"
                " payload, state, attempts, next_attempt, last_error, remote_id"
                " FROM attendance_outbox WHERE state IN ('pending', 'sending')"
                " AND next_attempt <= ? ORDER BY next_attempt, created_at, row_id LIMIT ?",
                (now, limit),
            ).fetchall()
        return [_outbox_row(row) for row in rows]

    def claim_due(
        self, now: float, worker: str, limit: int = 100, hold: float = 600.0
    ) -> list[OutboxRow]:
        """Claim rows pending or in doubt whose next attempt is due, oldest first, for
        ``worker`` for ``hold`` seconds: no other dispatcher gets them meanwhile. A claim ends
        with ``mark_sent`` or ``mark_retry`` (or lapses, should the worker die)."""
        with self.lock:
            rows = claim_rows(
                self.db,
                table="attendance_outbox",
                key="row_id",
                columns=_OUTBOX_COLUMNS,
                where="state IN ('pending', 'sending') AND next_attempt <= ?",
                params=(now,),
                order_by="next_attempt, created_at, row_id",
                worker=worker,
                now=_wall_clock(now),
                hold=hold,
                limit=limit,
            )
        return [_outbox_row(row) for row in rows]

    def release_claims(self, worker: str) -> None:
        """Give back the rows ``worker`` claimed and did not attempt (it is stopping)."""
        with self.lock:
            self.db.execute(
                "UPDATE attendance_outbox SET claimed_by=NULL, claimed_until=NULL"
                " WHERE claimed_by=?",
                (worker,),
            )

    def mark_sending(self, row_id: str) -> None:
        """Intent: this row is about to be sent (in doubt until ``mark_sent``)."""
        with self.lock, self.transaction() as db:
            db.execute("UPDATE attendance_outbox SET state='sending' WHERE row_id=?", (row_id,))

    def mark_sent(self, row_id: str, remote_id: str | None) -> None:
        """The row was delivered: keep the remote id, drop the payload."""
        with self.lock, self.transaction() as db:
            db.execute(
                "UPDATE attendance_outbox SET state='sent', remote_id=?, sent_at=?, payload=NULL,"
                " last_error=NULL, claimed_by=NULL, claimed_until=NULL WHERE row_id=?",
                (remote_id, _now(), row_id),
            )

    def mark_retry(self, row_id: str, error: str, next_attempt: float, *, in_doubt: bool) -> None:
        """A failed attempt: ``sending`` when it may have gone (resolved before a resend),
        ``pending`` when it certainly did not; either way it is tried again later."""
        state = "sending" if in_doubt else "pending"
        with self.lock, self.transaction() as db:
            db.execute(
                "UPDATE attendance_outbox SET state=?, last_error=?, next_attempt=?,"
                " attempts=attempts+1, claimed_by=NULL, claimed_until=NULL WHERE row_id=?",
                (state, error[:500], next_attempt, row_id),
            )

    def counts(self) -> dict[str, int]:
        """Outbox rows by state."""
        with self.lock:
            rows = self.db.execute(
                "SELECT state, COUNT(*) FROM attendance_outbox GROUP BY state"
            ).fetchall()
        found = {"pending": 0, "sending": 0, "sent": 0}
        found.update({str(state): int(count) for state, count in rows})
        return found

    def unsent(self, now: float) -> tuple[int, int]:
        """Rows not yet sent: (those no dispatcher holds, those a live claim holds). A row
        another dispatcher has claimed is in hand, not left behind."""
        with self.lock:
            row = self.db.execute(
                "SELECT COUNT(*), COALESCE(SUM(CASE WHEN claimed_by IS NOT NULL"
                " AND claimed_until > ? THEN 1 ELSE 0 END), 0) FROM attendance_outbox"
                " WHERE state IN ('pending', 'sending')",
                (now,),
            ).fetchone()
        total, held = int(row[0]), int(row[1])
        return total - held, held

    def rows(self) -> list[OutboxRow]:
        """Every outbox row, oldest first (for reports and tests)."""
        with self.lock:
            rows = self.db.execute(
                "SELECT row_id, notification_id, kind, endpoint, channel, workflow_id, subject,"
                " payload, state, attempts, next_attempt, last_error, remote_id"
                " FROM attendance_outbox ORDER BY created_at, row_id"
            ).fetchall()
        return [_outbox_row(row) for row in rows]

    def next_due(self) -> float | None:
        """When the earliest unsent row is due (epoch seconds), or None when none is left."""
        with self.lock:
            row = self.db.execute(
                "SELECT MIN(next_attempt) FROM attendance_outbox"
                " WHERE state IN ('pending', 'sending')"
            ).fetchone()
        return None if row is None or row[0] is None else float(row[0])
