"""The sync ledger: what was planned, sent, acknowledged and received, in the job's state.

Every step that matters is a transaction, and intent is recorded before an action:

1. planning puts the changed records into uploads (state ``planned``) in one transaction;
2. before a send the upload becomes ``sending``; after it, ``sent`` with the MESH message id;
3. a reply is recorded as processed before it is acknowledged on MESH.

A crash between any two steps leaves the ledger saying exactly what may be in doubt: an upload
still ``sending`` is resolved by tracking its local id, a reply processed but not acknowledged
is acknowledged again without being applied twice.

An upload that cannot be built (a record the XML writer refuses) is never left planned: its
records are marked ``failed`` with the reason and the upload ``failed``, so it cannot wedge
every later run; a failed record is planned again only when its content changes.

The ledger lives in the state layer (``interop.state``): a SQLite file by default, or a
PostgreSQL database. The ledger holds the personal data of the records it sends (it must
rebuild an upload file exactly); protect it like the export itself.
"""

from __future__ import annotations

import json
from collections.abc import Iterator, Sequence
from contextlib import contextmanager
from dataclasses import dataclass, fields
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any

from interop.codes import PlanType
from interop.cpis.model import CpisRecord, SubjectKind
from interop.errors import ConfigurationError
from interop.state import Migration, State, StateUnusable, migrate, open_state, register

SCHEMA_VERSION = "1"

_SCHEMA = """
CREATE TABLE IF NOT EXISTS meta (key TEXT PRIMARY KEY, value TEXT NOT NULL);
CREATE TABLE IF NOT EXISTS records (
    la_ods TEXT NOT NULL,
    local_id TEXT NOT NULL,
    content_hash TEXT NOT NULL,
    row_hash TEXT,                 -- the export row's cells when last planned
    status TEXT NOT NULL,          -- queued | sent | accepted | rejected | resubmit | failed
    upload_id TEXT NOT NULL,       -- the upload carrying the latest content
    outcome TEXT,                  -- CPRxx from the acknowledgement
    outcome_detail TEXT,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (la_ods, local_id)
);
CREATE TABLE IF NOT EXISTS uploads (
    upload_id TEXT PRIMARY KEY,    -- the LAUFI file id and the MESH local id
    la_ods TEXT NOT NULL,
    la_name TEXT NOT NULL,
    created_at TEXT NOT NULL,
    state TEXT NOT NULL,           -- planned | sending | sent | acknowledged | failed
    message_id TEXT,
    record_count INTEGER NOT NULL,
    file_code TEXT,
    sent_at TEXT,
    acknowledged_at TEXT
);
CREATE TABLE IF NOT EXISTS upload_records (
    upload_id TEXT NOT NULL REFERENCES uploads(upload_id),
    seq INTEGER NOT NULL,
    local_id TEXT NOT NULL,
    payload TEXT NOT NULL,         -- the CpisRecord as JSON, to rebuild the file exactly
    PRIMARY KEY (upload_id, seq)
);
CREATE TABLE IF NOT EXISTS inbox (
    message_id TEXT PRIMARY KEY,
    kind TEXT NOT NULL,
    received_at TEXT NOT NULL,
    payload TEXT NOT NULL,         -- the reply as JSON
    acknowledged_at TEXT
);
"""

# PostgreSQL has no implicit rowid: an identity column keeps "oldest first" exact (both the
# uploads and the inbox tables end with their acknowledged_at column)
_PG_SCHEMA = _SCHEMA.replace(
    "    acknowledged_at TEXT\n);",
    "    acknowledged_at TEXT,\n    rowid BIGINT GENERATED ALWAYS AS IDENTITY\n);",
)

# 2: records are marked sent, failed and acknowledged by upload; without an index each of a
# national run's 30 uploads scanned all 150,000 records
_BY_UPLOAD = "CREATE INDEX IF NOT EXISTS records_by_upload ON records (upload_id);"

register("ledger", [Migration(1, _SCHEMA, _PG_SCHEMA), Migration(2, _BY_UPLOAD)])

#: The state of a record (and of an upload) that could not be built into an upload file.
FAILED = "failed"
#: The outcome a failed record keeps; ``outcome_detail`` holds the reason.
BUILD_FAILED = "BUILD-FAILED"


class LedgerError(ConfigurationError):
    """The state file cannot be used (not a ledger, a newer schema, locked)."""


def now_utc() -> str:
    """The current time as an ISO string (UTC)."""
    return datetime.now(UTC).isoformat(timespec="seconds")


_RECORD_FIELDS = tuple(f.name for f in fields(CpisRecord))
_SORTED_FIELDS = tuple(sorted(_RECORD_FIELDS))
_encode = json.JSONEncoder(separators=(",", ":"), default=str).encode


def record_to_json(record: CpisRecord) -> str:
    """A CP-IS record as canonical JSON (sorted keys): stored and hashed.

    Its text is the record's fingerprint in every ledger written so far, so it must never
    change: the same as ``json.dumps(fields, sort_keys=True, default=str,
    separators=(",", ":"))``, with the dates written here rather than through ``default``
    (150,000 records a run).
    """
    # a shallow read of the fields: every value is a str, a str enum, a date or None
    data = {}
    for name in _SORTED_FIELDS:
        value = getattr(record, name)
        data[name] = value.isoformat() if type(value) is date else value
    return _encode(data)


def record_from_json(text: str) -> CpisRecord:
    """The CP-IS record stored by ``record_to_json``."""
    data: dict[str, Any] = json.loads(text)
    for key in ("date_of_birth", "start_date", "end_date", "delete_date", "expected_delivery_date"):
        if data[key] is not None:
            data[key] = date.fromisoformat(data[key])
    plan_type = PlanType.lookup(data["plan_type"])
    if plan_type is None:
        raise LedgerError(f"the state file holds an unknown plan type {data['plan_type']!r}")
    data["plan_type"] = plan_type
    data["subject_kind"] = SubjectKind(data["subject_kind"])
    return CpisRecord(**data)


@dataclass(frozen=True)
class PlannedRecord:
    """A record going into an upload: the record, its JSON, and the fingerprints to keep."""

    record: CpisRecord
    json: str
    content_hash: str
    row_hash: str | None = None


@dataclass(frozen=True)
class LedgerRecord:
    """What the ledger knows of one record (by LA and local id)."""

    la_ods: str
    local_id: str
    content_hash: str
    row_hash: str | None
    status: str
    upload_id: str
    outcome: str | None
    outcome_detail: str | None


@dataclass(frozen=True)
class Upload:
    """One upload file and where it is in its life."""

    upload_id: str
    la_ods: str
    la_name: str
    created_at: str
    state: str
    message_id: str | None
    record_count: int
    file_code: str | None


class Ledger:
    """The sync state: a SQLite file (or ``:memory:`` for tests), a ``postgresql://`` URL, or
    a ``State`` already open (the job that holds its lease passes it)."""

    def __init__(self, path: Path | str | State, *, create: bool = True) -> None:
        """``create``: start a new ledger when there is none; with False a missing or empty
        state raises ``interop.state.StateMissing`` instead of looking like a first run."""
        self._owns_state = not isinstance(path, State)
        try:
            self.db = path if isinstance(path, State) else open_state(path, create=create)
            migrate(self.db, "ledger")
            row = self.db.execute("SELECT value FROM meta WHERE key='schema'").fetchone()
            if row is None:
                self.db.execute("INSERT INTO meta VALUES ('schema', ?)", (SCHEMA_VERSION,))
        except StateUnusable as exc:
            raise LedgerError(str(exc)) from None
        if row is not None and row["value"] != SCHEMA_VERSION:
            self.close()
            raise LedgerError(
                f"{self.db.location}: state file schema {row['value']}, expected {SCHEMA_VERSION}"
            )

    def close(self) -> None:
        """Close the database (unless the ledger was given an open state)."""
        if self._owns_state:
            self.db.close()

    def __enter__(self) -> Ledger:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    @contextmanager
    def transaction(self) -> Iterator[State]:
        """All or nothing: a crash inside leaves the ledger as it was before."""
        with self.db.transaction() as db:
            yield db

    # --- records ---------------------------------------------------------------------------

    def records(self) -> dict[tuple[str, str], LedgerRecord]:
        """Every record the ledger knows, by (LA ODS code, local id)."""
        rows = self.db.execute(
            "SELECT la_ods, local_id, content_hash, row_hash, status, upload_id, outcome,"
            " outcome_detail FROM records"
        )
        return {(r[0], r[1]): LedgerRecord(*r) for r in rows}

    # --- uploads ---------------------------------------------------------------------------

    def plan_upload(
        self,
        upload_id: str,
        la_ods: str,
        la_name: str,
        records: list[PlannedRecord],
    ) -> None:
        """Record an upload of ``records`` as planned, and each record as queued in it."""
        stamp = now_utc()
        with self.transaction() as db:
            db.execute(
                "INSERT INTO uploads (upload_id, la_ods, la_name, created_at, state, record_count)"
                " VALUES (?, ?, ?, ?, 'planned', ?)",
                (upload_id, la_ods, la_name, stamp, len(records)),
            )
            db.executemany(
                "INSERT INTO upload_records VALUES (?, ?, ?, ?)",
                [
                    (upload_id, seq, planned.record.record_id, planned.json)
                    for seq, planned in enumerate(records)
                ],
            )
            db.executemany(
                "INSERT INTO records"
                " (la_ods, local_id, content_hash, row_hash, status, upload_id, updated_at)"
                " VALUES (?, ?, ?, ?, 'queued', ?, ?)"
                " ON CONFLICT (la_ods, local_id) DO UPDATE SET content_hash=excluded.content_hash,"
                " row_hash=excluded.row_hash, status='queued', upload_id=excluded.upload_id,"
                " outcome=NULL, outcome_detail=NULL, updated_at=excluded.updated_at",
                [
                    (
                        la_ods,
                        p.record.record_id,
                        p.content_hash,
                        p.row_hash,
                        upload_id,
                        stamp,
                    )
                    for p in records
                ],
                distinct=True,  # an upload's records are distinct local ids of one authority
            )

    def uploads(self, *states: str) -> list[Upload]:
        """Uploads in the given states (all when none), oldest first."""
        query = (
            "SELECT upload_id, la_ods, la_name, created_at, state, message_id, record_count,"
            " file_code FROM uploads"
        )
        params: tuple[str, ...] = ()
        if states:
            query += f" WHERE state IN ({','.join('?' * len(states))})"
            params = states
        rows = self.db.execute(query + " ORDER BY created_at, rowid", params)
        return [Upload(**dict(r)) for r in rows]

    def upload(self, upload_id: str) -> Upload | None:
        """One upload by its id."""
        found = [u for u in self.uploads() if u.upload_id == upload_id]
        return found[0] if found else None

    def upload_records(self, upload_id: str) -> Iterator[CpisRecord]:
        """The records of an upload, in file order."""
        rows = self.db.execute(
            "SELECT payload FROM upload_records WHERE upload_id=? ORDER BY seq", (upload_id,)
        )
        for row in rows:
            yield record_from_json(row["payload"])

    def mark_sending(self, upload_id: str) -> None:
        """Intent: this upload is about to be sent (in doubt until ``mark_sent``)."""
        with self.transaction() as db:
            db.execute("UPDATE uploads SET state='sending' WHERE upload_id=?", (upload_id,))

    def mark_sent(self, upload_id: str, message_id: str) -> None:
        """The upload is on MESH with ``message_id``; its records are sent."""
        stamp = now_utc()
        with self.transaction() as db:
            db.execute(
                "UPDATE uploads SET state='sent', message_id=?, sent_at=? WHERE upload_id=?",
                (message_id, stamp, upload_id),
            )
            db.execute(
                "UPDATE records SET status='sent', updated_at=?"
                " WHERE upload_id=? AND status='queued'",
                (stamp, upload_id),
            )

    def mark_planned(self, upload_id: str) -> None:
        """A send that certainly did not happen: the upload waits for the next run."""
        with self.transaction() as db:
            db.execute("UPDATE uploads SET state='planned' WHERE upload_id=?", (upload_id,))

    def fail_records(self, upload_id: str, failures: Sequence[tuple[str, str]]) -> int:
        """Take records the upload file cannot carry out of a planned upload.

        ``failures`` are (local id, reason); each record becomes ``failed`` with its reason,
        so it is planned again only when its content changes. Returns how many records the
        upload keeps; an upload left with none is ``failed`` itself.
        """
        stamp = now_utc()
        with self.transaction() as db:
            db.executemany(
                "DELETE FROM upload_records WHERE upload_id=? AND local_id=?",
                [(upload_id, local_id) for local_id, _ in failures],
            )
            db.executemany(
                "UPDATE records SET status='failed', outcome=?, outcome_detail=?, updated_at=?"
                " WHERE upload_id=? AND local_id=?",
                [(BUILD_FAILED, reason[:500], stamp, upload_id, lid) for lid, reason in failures],
            )
            left = int(
                db.execute(
                    "SELECT COUNT(*) FROM upload_records WHERE upload_id=?", (upload_id,)
                ).fetchone()[0]
            )
            db.execute(
                "UPDATE uploads SET record_count=?, state=? WHERE upload_id=?",
                (left, "planned" if left else FAILED, upload_id),
            )
        return left

    def mark_failed(self, upload_id: str, reason: str) -> None:
        """The upload cannot be built at all: it and every record in it are ``failed``."""
        stamp = now_utc()
        with self.transaction() as db:
            db.execute("UPDATE uploads SET state=? WHERE upload_id=?", (FAILED, upload_id))
            db.execute(
                "UPDATE records SET status='failed', outcome=?, outcome_detail=?, updated_at=?"
                " WHERE upload_id=? AND status='queued'",
                (BUILD_FAILED, reason[:500], stamp, upload_id),
            )

    # --- replies ---------------------------------------------------------------------------

    def inbox_entry(self, message_id: str) -> Any:
        """A reply already received (a row by name and index), or None."""
        row: Any = self.db.execute(
            "SELECT * FROM inbox WHERE message_id=?", (message_id,)
        ).fetchone()
        return row

    def record_acknowledgement(
        self,
        message_id: str,
        file_id: str,
        file_code: str,
        outcomes: list[tuple[str, str, str | None]],
        payload: dict[str, Any],
    ) -> bool:
        """Apply CP-IS's acknowledgement of upload ``file_id`` and keep the reply.

        ``outcomes`` are (local id, CPR code, detail). A record whose latest content went in a
        later upload keeps its state: the acknowledgement is about content since replaced.
        Returns False when no upload has that file id (the reply is kept all the same).
        """
        stamp = now_utc()
        with self.transaction() as db:
            self._keep_reply(db, message_id, "acknowledgement", payload, stamp)
            upload = db.execute(
                "SELECT la_ods FROM uploads WHERE upload_id=?", (file_id,)
            ).fetchone()
            if upload is None:
                return False
            db.execute(
                "UPDATE uploads SET state='acknowledged', file_code=?, acknowledged_at=?"
                " WHERE upload_id=?",
                (file_code, stamp, file_id),
            )
            if file_code == "CPF05":  # Spine unavailable: resubmit every record of the file
                db.execute(
                    "UPDATE records SET status='resubmit', updated_at=? WHERE upload_id=?",
                    (stamp, file_id),
                )
                return True
            db.executemany(
                "UPDATE records SET status=?, outcome=?, outcome_detail=?, updated_at=?"
                " WHERE la_ods=? AND local_id=? AND upload_id=?",
                [
                    (
                        "accepted" if code == "CPR06" else "rejected",
                        code,
                        detail,
                        stamp,
                        upload["la_ods"],
                        local_id,
                        file_id,
                    )
                    for local_id, code, detail in outcomes
                ],
            )
            if file_code in ("CPF01", "CPF04") and not outcomes:
                db.execute(
                    "UPDATE records SET status='rejected', outcome=?, updated_at=?"
                    " WHERE upload_id=?",
                    (file_code, stamp, file_id),
                )
        return True

    def record_notification(self, message_id: str, kind: str, payload: dict[str, Any]) -> None:
        """Keep an access or inactive-NHS-number notification."""
        with self.transaction() as db:
            self._keep_reply(db, message_id, kind, payload, now_utc())

    @staticmethod
    def _keep_reply(
        db: State, message_id: str, kind: str, payload: dict[str, Any], stamp: str
    ) -> None:
        db.execute(
            "INSERT INTO inbox (message_id, kind, received_at, payload) VALUES (?, ?, ?, ?)",
            (message_id, kind, stamp, json.dumps(payload, sort_keys=True, default=str)),
        )

    def mark_acknowledged(self, message_id: str) -> None:
        """The reply is acknowledged on MESH."""
        with self.transaction() as db:
            db.execute(
                "UPDATE inbox SET acknowledged_at=? WHERE message_id=?", (now_utc(), message_id)
            )

    def replies(self, kind: str) -> list[dict[str, Any]]:
        """Every reply of a kind, oldest first, as stored."""
        rows = self.db.execute(
            "SELECT message_id, received_at, payload FROM inbox WHERE kind=?"
            " ORDER BY received_at, rowid",
            (kind,),
        )
        return [
            {
                "message_id": r["message_id"],
                "received_at": r["received_at"],
                **json.loads(r["payload"]),
            }
            for r in rows
        ]
