"""Backing up and checking a state (``interop state backup DEST``, ``interop state check``)."""

from __future__ import annotations

import os
import sqlite3
from contextlib import suppress
from dataclasses import dataclass, field
from pathlib import Path

from interop.state.connection import State, sqlite_connect
from interop.state.errors import StateError, StateIOError
from interop.state.migrations import known_components, schema_versions

__all__ = ["StateReport", "backup", "check"]


def backup(state: State, dest: Path | str) -> Path:
    """Copy a SQLite state to ``dest`` while jobs may be using it (SQLite's online backup).

    The copy is consistent (one transaction's view), private (0600), and written beside
    ``dest`` then renamed, so ``dest`` is never half a backup. PostgreSQL states are backed up
    with the server's own tool, ``pg_dump``: this refuses and says so.
    """
    if state.backend != "sqlite":
        raise StateError(
            f"{state.location} is a PostgreSQL state: back it up with pg_dump (for instance"
            " `pg_dump --format=custom --file=state.dump DBNAME`), restore with pg_restore"
        )
    target = Path(dest).expanduser()
    if target.is_dir():
        raise StateError(f"{target} is a folder: give the backup's file name")
    partial = target.with_name(target.name + ".part")
    leftovers = [partial.with_name(partial.name + suffix) for suffix in ("", "-wal", "-shm")]
    _remove(leftovers)  # a copy an earlier, killed backup left
    try:
        _copy_into(state, partial)
        partial.replace(target)
    except (sqlite3.Error, OSError) as exc:
        raise StateIOError(f"cannot write the backup {target}: {exc}") from None
    finally:
        # Whatever failed (creating, copying, switching the journal, renaming), nothing of
        # the copy stays beside ``dest``; after success only the WAL files are left to remove.
        _remove(leftovers)
    return target


def _copy_into(state: State, partial: Path) -> None:
    """Write a private, self-contained copy of ``state`` to ``partial`` (a new file)."""
    fd = os.open(partial, os.O_RDWR | os.O_CREAT | os.O_EXCL, 0o600)
    os.close(fd)
    os.chmod(partial, 0o600)  # whatever the umask
    copy = sqlite_connect(partial)
    try:
        with state._lock:  # the backup reads through this state's connection
            state.connection.backup(copy)
        copy.execute("PRAGMA journal_mode=DELETE")  # one self-contained file
    finally:
        copy.close()


def _remove(paths: list[Path]) -> None:
    """Delete those of ``paths`` that exist; one that cannot be deleted is left, not raised."""
    for path in paths:
        with suppress(OSError):
            path.unlink(missing_ok=True)


@dataclass
class StateReport:
    """What ``check`` found: problems (none when the state is sound) and schema versions."""

    location: str
    backend: str
    versions: dict[str, int] = field(default_factory=dict)
    problems: list[str] = field(default_factory=list)

    @property
    def ok(self) -> bool:
        """Whether the state is sound."""
        return not self.problems


def check(state: State) -> StateReport:
    """The state's integrity (SQLite's ``integrity_check``) and each component's schema
    version against the one this toolkit writes."""
    report = StateReport(state.location, state.backend)
    if state.backend == "sqlite":
        try:
            rows = state.execute("PRAGMA integrity_check").fetchall()
        except sqlite3.DatabaseError as exc:  # too damaged to even check
            report.problems.append(str(exc))
            return report
        report.problems += [str(r[0]) for r in rows if str(r[0]) != "ok"]
    else:
        state.execute("SELECT 1").fetchone()
    report.versions = schema_versions(state)
    known = known_components()
    for component, version in sorted(report.versions.items()):
        expected = known.get(component)
        if expected is not None and version > expected:
            report.problems.append(
                f"{component}: schema {version} is newer than this toolkit's ({expected})"
            )
    return report
