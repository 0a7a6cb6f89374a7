"""Numbered schema migrations per component, and the one table that records where each is.

Each component of a state (the CP-IS ledger, the pull watermarks, the attendance outbox, the
stand-in's register) registers its migrations with ``register``; ``migrate(state, component)``
applies those the state has not had yet, in one transaction, and refuses a state that a newer
toolkit wrote (``SchemaTooNew``) rather than guess at it. Versions live in ``state_schema``
(component, version); a file written before that table existed is treated as having had none
of them, which is safe because every first migration only creates what is missing.
"""

from __future__ import annotations

import sqlite3
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING

from interop.state.errors import SchemaTooNew

if TYPE_CHECKING:  # connection imports this module when it opens a state
    from interop.state.connection import State

__all__ = [
    "Migration",
    "ensure_version_table",
    "has_version_table",
    "known_components",
    "migrate",
    "register",
    "schema_versions",
]

VERSION_TABLE = "state_schema"

_VERSION_DDL = f"""
CREATE TABLE IF NOT EXISTS {VERSION_TABLE} (
    component TEXT PRIMARY KEY,
    version INTEGER NOT NULL,
    updated_at TEXT NOT NULL
);
"""


@dataclass(frozen=True)
class Migration:
    """One step of a component's schema: SQL for SQLite, and for PostgreSQL when it differs,
    or a function for what SQL alone cannot say."""

    version: int
    sqlite: str = ""
    postgresql: str | None = None
    apply: Callable[[State], None] | None = None

    def run(self, state: State) -> None:
        """Apply this step inside the caller's transaction."""
        sql = (
            self.sqlite if state.backend == "sqlite" or self.postgresql is None else self.postgresql
        )
        if state.backend == "sqlite":
            # executescript would commit the migration's transaction first
            for statement in _statements(sql):
                state.execute(statement)
        elif sql.strip():
            state.executescript(sql)
        if self.apply is not None:
            self.apply(state)


_REGISTRY: dict[str, tuple[Migration, ...]] = {}


def register(component: str, migrations: Sequence[Migration]) -> None:
    """Declare ``component``'s migrations (numbered 1, 2, ... without gaps)."""
    numbers = [m.version for m in migrations]
    if numbers != list(range(1, len(numbers) + 1)):
        raise ValueError(f"{component}: migrations must be numbered 1..n, got {numbers}")
    _REGISTRY[component] = tuple(migrations)


def known_components() -> dict[str, int]:
    """Each registered component and the schema version this toolkit writes."""
    return {name: len(steps) for name, steps in _REGISTRY.items()}


def has_version_table(state: State) -> bool:
    """Whether the state has been initialised by ``open_state``."""
    return VERSION_TABLE in state.tables()


def ensure_version_table(state: State) -> None:
    """Create the version table (a new state)."""
    if state.backend == "sqlite":
        state.execute(_VERSION_DDL)
    else:
        state.executescript(_VERSION_DDL)


def schema_versions(state: State) -> dict[str, int]:
    """Each component's schema version in ``state``."""
    rows = state.execute(f"SELECT component, version FROM {VERSION_TABLE}").fetchall()
    return {str(row[0]): int(row[1]) for row in rows}


def _version(state: State, component: str) -> int:
    row = state.execute(
        f"SELECT version FROM {VERSION_TABLE} WHERE component = ?", (component,)
    ).fetchone()
    return 0 if row is None else int(row[0])


def migrate(state: State, component: str) -> int:
    """Bring ``component``'s tables up to date; return the version it is at.

    Raises ``SchemaTooNew`` when a newer toolkit wrote the state.
    """
    steps = _REGISTRY[component]
    latest = len(steps)
    if _version(state, component) == latest:  # the usual case needs no write lock
        return latest
    with state.transaction():
        if state.backend == "postgresql":  # two first runs at once must not both create
            state.execute("SELECT pg_advisory_xact_lock(?)", (_MIGRATION_LOCK,))
        current = _version(state, component)
        if current > latest:
            raise SchemaTooNew(
                f"{state.location}: the {component} schema is version {current}, newer than"
                f" this toolkit knows ({latest}); use the newer toolkit, or restore a backup"
                " made by this version"
            )
        for step in steps[current:]:
            step.run(state)
        state.execute(
            f"INSERT INTO {VERSION_TABLE} (component, version, updated_at) VALUES (?, ?, ?)"
            " ON CONFLICT (component) DO UPDATE SET version = excluded.version,"
            " updated_at = excluded.updated_at",
            (component, latest, datetime.now(UTC).isoformat(timespec="seconds")),
        )
    return latest


_MIGRATION_LOCK = 0x5AFE_0001  # an advisory-lock key of the toolkit's own


def _statements(script: str) -> list[str]:
    """The statements of a SQL script, one by one (SQLite decides where each ends)."""
    found, pending = [], ""
    for line in script.splitlines(keepends=True):
        pending += line
        if sqlite3.complete_statement(pending):
            found.append(pending.strip())
            pending = ""
    if pending.strip():
        found.append(pending.strip())
    return found
