"""Where the last pull from each FHIR endpoint got to: the ``--since`` watermark.

Kept in the same state as the sync ledger (``--state``: a SQLite file or a PostgreSQL
database, through ``interop.state``), in a table of its own (``fhir_watermarks``), so the
ledger's schema is untouched. The watermark is the server's own
``meta.lastUpdated`` of the latest resource a pull saw (never this machine's clock), and it is
stored only after the pull's output was written: a pull that fails part way is repeated from
the same point.
"""

from __future__ import annotations

import sqlite3
from datetime import UTC, datetime
from pathlib import Path

from interop.errors import ConfigurationError
from interop.state import Migration, State, StateUnusable, migrate, open_state, register

__all__ = ["WatermarkError", "Watermarks"]

_SCHEMA = """
CREATE TABLE IF NOT EXISTS fhir_watermarks (
    endpoint TEXT PRIMARY KEY,     -- the endpoint's configured name, or its base URL
    since TEXT NOT NULL,           -- the server's meta.lastUpdated of the latest resource seen
    updated_at TEXT NOT NULL       -- when this machine stored it (UTC)
);
"""

register("watermarks", [Migration(1, _SCHEMA)])


class WatermarkError(ConfigurationError):
    """The state file cannot be used (not SQLite, locked, read-only)."""


class Watermarks:
    """The ``--since`` watermark of each endpoint, in the state at ``path`` (a file, a
    ``postgresql://`` URL, or a ``State`` already open)."""

    def __init__(self, path: Path | str | State, *, create: bool = True) -> None:
        """``create``: start a new state when there is none (else ``StateMissing``)."""
        self._owns_state = not isinstance(path, State)
        try:
            self._db = path if isinstance(path, State) else open_state(path, create=create)
            migrate(self._db, "watermarks")
        except StateUnusable as exc:
            raise WatermarkError(str(exc)) from None

    def close(self) -> None:
        """Close the database (unless it was given open)."""
        if self._owns_state:
            self._db.close()

    def __enter__(self) -> Watermarks:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def get(self, endpoint: str) -> str | None:
        """The watermark of ``endpoint``, or None before its first pull."""
        row = self._db.execute(
            "SELECT since FROM fhir_watermarks WHERE endpoint = ?", (endpoint,)
        ).fetchone()
        return str(row[0]) if row else None

    def advance(self, endpoint: str, since: str) -> str:
        """Store ``since`` unless the stored watermark is later; return the one kept.

        A watermark never moves back: a pull of an older window (``--since`` a date before it)
        does not undo what a later pull saw.
        """
        moment = _instant(since)  # refuses what is not an ISO date or instant
        current = self.get(endpoint)
        if current is not None and _instant(current) >= moment:
            return current
        try:
            self._db.execute(
                "INSERT INTO fhir_watermarks (endpoint, since, updated_at) VALUES (?, ?, ?)"
                " ON CONFLICT (endpoint) DO UPDATE SET since = excluded.since,"
                " updated_at = excluded.updated_at",
                (endpoint, since, datetime.now(UTC).isoformat(timespec="seconds")),
            )
        except (sqlite3.DatabaseError, StateUnusable) as exc:
            raise WatermarkError(f"cannot store the watermark ({exc})") from None
        return since

    def all(self) -> dict[str, str]:
        """Every endpoint's watermark."""
        rows = self._db.execute("SELECT endpoint, since FROM fhir_watermarks ORDER BY endpoint")
        return {str(endpoint): str(since) for endpoint, since in rows}


def _instant(value: str) -> datetime:
    """An ISO date or instant as an aware datetime (a date is its midnight UTC)."""
    try:
        when = datetime.fromisoformat(value.replace("Z", "+00:00"))
    except ValueError:
        raise WatermarkError(f"not an ISO date or instant: {value!r}") from None
    return when if when.tzinfo else when.replace(tzinfo=UTC)
