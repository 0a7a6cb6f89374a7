"""``open_state``: the one place that opens a state (SQLite file or PostgreSQL database).

A ``State`` is a small DB-API-like wrapper: ``execute``/``executemany`` with ``?`` placeholders
on either back end, ``transaction()`` that holds the write lock from its start, rows that
answer both ``row[0]`` and ``row["name"]``. Every SQLite connection gets the same settings here
(WAL, ``synchronous=FULL``, a busy timeout, foreign keys), and a state file, its ``-wal`` and
``-shm`` files and a folder created for it are private (0600/0700) whatever the umask: the
state holds the personal data of the records it sends.

Disk-full and I/O failures of either back end become ``StateIOError`` (exit 2) with a message
that says what to do, instead of a driver traceback.
"""

from __future__ import annotations

import os
import re
import sqlite3
import stat
import threading
from collections.abc import Iterable, Iterator, Sequence
from contextlib import contextmanager
from pathlib import Path
from typing import Any, Literal, Protocol
from urllib.parse import urlsplit, urlunsplit

from interop.state.errors import StateIOError, StateLocked, StateMissing, StateUnusable

__all__ = [
    "BUSY_TIMEOUT_SECONDS",
    "Cursor",
    "State",
    "is_postgres_url",
    "open_state",
    "sqlite_connect",
]

#: How long a statement waits for another connection's write lock before failing.
BUSY_TIMEOUT_SECONDS = 30.0

Backend = Literal["sqlite", "postgresql"]
Params = Sequence[Any]

_PRIVATE_FILE = 0o600
_PRIVATE_FOLDER = 0o700


class Cursor(Protocol):
    """What callers use of a DB-API cursor, on either back end."""

    @property
    def rowcount(self) -> int: ...

    def fetchone(self) -> Any: ...

    def fetchall(self) -> list[Any]: ...

    def __iter__(self) -> Iterator[Any]: ...


def is_postgres_url(location: str | Path) -> bool:
    """Whether ``location`` names a PostgreSQL database rather than a SQLite file."""
    return isinstance(location, str) and location.startswith(("postgresql://", "postgres://"))


def _redacted(url: str) -> str:
    """A PostgreSQL URL without its password, for messages."""
    parts = urlsplit(url)
    if parts.password is None:
        return url
    netloc = parts.netloc.rsplit("@", 1)[1]
    user = parts.username or ""
    return urlunsplit(parts._replace(netloc=f"{user}:***@{netloc}"))


def _io_problem(exc: BaseException, where: str) -> StateIOError | None:
    """The ``StateIOError`` a driver error stands for, if it is a disk or I/O failure."""
    text = str(exc).lower()
    if "disk is full" in text or "database or disk is full" in text:
        return StateIOError(
            f"{where}: the disk is full; free space and run the job again"
            " (the state is as it was before the step that failed)"
        )
    if "disk i/o error" in text:
        return StateIOError(
            f"{where}: the file system failed a read or write (disk I/O error);"
            " check the disk, then run `interop state check`"
        )
    if type(exc).__name__ in ("DiskFull", "IoError", "InsufficientResources"):
        return StateIOError(f"{where}: the database server cannot write ({exc})")
    return None


def _private_file(path: Path) -> None:
    """Create ``path`` empty and private, or make an existing one private.

    An existing file is never opened here: closing any descriptor of a file drops every POSIX
    lock this process holds on it, those of its SQLite connections included, and another
    process would then delete the -wal file under them (SQLite's howtocorrupt.html, 2.2).
    """
    if not path.parent.exists():
        path.parent.mkdir(parents=True, mode=_PRIVATE_FOLDER)
        os.chmod(path.parent, _PRIVATE_FOLDER)  # mkdir's mode passes through the umask
    try:
        fd = os.open(path, os.O_RDWR | os.O_CREAT | os.O_EXCL, _PRIVATE_FILE)
    except FileExistsError:
        pass
    else:
        os.close(fd)
    _tighten(path)


def _tighten(path: Path) -> None:
    """Take group and other permissions off a file this user owns."""
    try:
        info = path.stat()
    except FileNotFoundError:
        return
    if info.st_mode & 0o077 and info.st_uid == os.getuid():
        os.chmod(path, stat.S_IMODE(info.st_mode) & 0o700)


def sqlite_connect(path: Path | str) -> sqlite3.Connection:
    """A SQLite connection with the toolkit's settings (the one place for PRAGMAs).

    Rows are ``sqlite3.Row`` (by index and by name). Autocommit mode (transactions are
    explicit ``BEGIN IMMEDIATE``), WAL so readers never block the writer,
    ``synchronous=FULL`` because an acknowledgement or a send follows each commit and must
    find it on disk, a busy timeout, and foreign keys enforced.
    """
    db = sqlite3.connect(
        str(path),
        isolation_level=None,
        timeout=BUSY_TIMEOUT_SECONDS,
        check_same_thread=False,
    )
    db.row_factory = sqlite3.Row
    db.execute("PRAGMA journal_mode=WAL")
    db.execute("PRAGMA synchronous=FULL")
    db.execute("PRAGMA foreign_keys=ON")
    return db


class _PgRow(tuple[Any, ...]):
    """A PostgreSQL row that answers ``row[0]``, ``row["name"]`` and ``dict(row)``."""

    _names: tuple[str, ...]

    def __getitem__(self, key: Any) -> Any:
        if isinstance(key, str):
            return tuple.__getitem__(self, self._names.index(key))
        return tuple.__getitem__(self, key)

    def keys(self) -> tuple[str, ...]:
        """The column names, as ``sqlite3.Row.keys``."""
        return self._names


def _pg_row_factory(cursor: Any) -> Any:
    names = tuple(column.name for column in cursor.description or ())
    row_class = type("Row", (_PgRow,), {"_names": names})

    def make(values: Sequence[Any]) -> _PgRow:
        row: _PgRow = row_class(values)
        return row

    return make


#: the row of an ``INSERT … VALUES (?, …)`` (no parentheses inside: the toolkit's inserts)
_VALUES = re.compile(r"\bVALUES\s*(\([^()]*\))", re.IGNORECASE)
#: rows an INSERT carries on PostgreSQL (its limit is 65,535 parameters a statement)
_ROWS_PER_INSERT = 1000


class State:
    """One connection to a state; safe to share between threads (statements serialise)."""

    def __init__(self, backend: Backend, connection: Any, location: str, url: str) -> None:
        self.backend: Backend = backend
        self.connection = connection
        #: where the state is, fit for messages (a path, or a URL without its password)
        self.location = location
        self._url = url
        self._lock = threading.RLock()
        self._sql: dict[str, str] = {}

    # --- statements ------------------------------------------------------------------------

    def _translate(self, sql: str) -> str:
        if self.backend == "sqlite":
            return sql
        found = self._sql.get(sql)
        if found is None:
            # no statement of the toolkit has a literal ? or %; psycopg wants %s
            found = self._sql[sql] = sql.replace("%", "%%").replace("?", "%s")
        return found

    def execute(self, sql: str, params: Params = ()) -> Cursor:
        """Run one statement (``?`` placeholders on both back ends)."""
        with self._lock, self._errors():
            cursor: Cursor = self.connection.execute(self._translate(sql), params)
            return cursor

    def executemany(self, sql: str, params: Iterable[Params], *, distinct: bool = False) -> Cursor:
        """Run one statement for each set of parameters.

        ``distinct``: the rows of an ``INSERT … ON CONFLICT … DO UPDATE`` never repeat a key,
        so PostgreSQL may take them many rows a statement (a statement may not update one row
        twice); other INSERTs are batched anyway.
        """
        with self._lock, self._errors():
            if self.backend == "sqlite":
                cursor: Cursor = self.connection.executemany(sql, params)
                return cursor
            rows = list(params)
            pg_cursor = self.connection.cursor()
            values = _VALUES.search(sql)
            batched = (
                values is not None
                and sql.count("?") == values.group(1).count("?")
                and (distinct or "DO UPDATE" not in sql.upper())
            )
            if values is None or not batched:
                pg_cursor.executemany(self._translate(sql), rows)
                return pg_cursor  # type: ignore[no-any-return]
            # An INSERT: many rows a statement. psycopg's executemany sends one statement per
            # row (pipelined), ~40 µs each in the client: 300,000 rows took over 10 s.
            group = values.group(1)
            for start in range(0, len(rows), _ROWS_PER_INSERT):
                chunk = rows[start : start + _ROWS_PER_INSERT]
                statement = (
                    sql[: values.start(1)] + ", ".join([group] * len(chunk)) + sql[values.end(1) :]
                )
                pg_cursor.execute(self._translate(statement), [v for row in chunk for v in row])
            return pg_cursor  # type: ignore[no-any-return]

    def executescript(self, sql: str) -> None:
        """Run several statements without parameters (schema changes)."""
        with self._lock, self._errors():
            if self.backend == "sqlite":
                self.connection.executescript(sql)
            else:
                self.connection.execute(sql)

    @contextmanager
    def transaction(self) -> Iterator[State]:
        """All or nothing, holding the write lock from the start; yields this state.

        SQLite: ``BEGIN IMMEDIATE``, so two writers never interleave a read and a write.
        PostgreSQL: a transaction on this connection (row locks taken by the statements).
        """
        with self._lock:
            with self._errors():
                self.connection.execute("BEGIN IMMEDIATE" if self.backend == "sqlite" else "BEGIN")
            try:
                yield self
            except BaseException:
                # SQLite has rolled back already after some errors (a full disk)
                if self.backend != "sqlite" or self.connection.in_transaction:
                    with self._errors():
                        self.connection.execute("ROLLBACK")
                raise
            with self._errors():
                self.connection.execute("COMMIT")

    @contextmanager
    def _errors(self) -> Iterator[None]:
        try:
            yield
        except Exception as exc:
            problem = _io_problem(exc, self.location)
            if problem is not None:
                raise problem from exc
            if self.backend == "sqlite" and isinstance(exc, sqlite3.DatabaseError):
                text = str(exc)
                if "database is locked" in text:  # the busy timeout ran out
                    raise StateLocked(
                        f"{self.location}: another job held the state's write lock for more"
                        f" than {BUSY_TIMEOUT_SECONDS:g} seconds; nothing of this step was"
                        " written: run the job again"
                    ) from None
                if "not a database" in text or "malformed" in text:
                    raise StateUnusable(
                        f"{self.location}: not a usable state file ({text})"
                    ) from None
            raise

    # --- life ------------------------------------------------------------------------------

    def reopen(self) -> State:
        """A second, independent connection to the same state (for another thread or a lease)."""
        if self._url == ":memory:":
            raise StateUnusable("an in-memory state cannot be opened twice")
        return open_state(self._url, create=False)

    def close(self) -> None:
        """Close the connection (idempotent)."""
        with self._lock:
            try:
                self.connection.close()
            except Exception:  # closing twice, or a server already gone
                return

    def __enter__(self) -> State:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()

    def tables(self) -> set[str]:
        """The tables the state holds."""
        if self.backend == "sqlite":
            rows = self.execute("SELECT name FROM sqlite_master WHERE type='table'")
        else:
            rows = self.execute(
                "SELECT table_name FROM information_schema.tables"
                " WHERE table_schema = current_schema()"
            )
        return {str(row[0]) for row in rows}

    def __repr__(self) -> str:
        return f"State({self.backend}, {self.location!r})"


def open_state(location: str | Path, *, create: bool = False) -> State:
    """Open the state at ``location``: a SQLite file path (or ``:memory:``) or a
    ``postgresql://`` URL.

    A state that is missing or empty (no file, a 0-byte file, a database without the toolkit's
    tables) raises ``StateMissing`` unless ``create`` is true: a lost state must never look like
    a first run. A file that is not SQLite raises ``StateUnusable``.
    """
    from interop.state.migrations import ensure_version_table, has_version_table

    if is_postgres_url(location):
        state = _open_postgres(str(location))
    else:
        state = _open_sqlite(location, create=create)
    try:
        if not has_version_table(state):
            if not create and not _legacy_sqlite_state(state):
                raise StateMissing(_missing_message(state.location))
            ensure_version_table(state)
    except BaseException:
        state.close()
        raise
    return state


def _open_sqlite(location: str | Path, *, create: bool) -> State:
    url = str(location)
    if url == ":memory:":
        return State("sqlite", sqlite_connect(url), url, url)
    path = Path(location).expanduser()
    empty = not path.exists() or path.stat().st_size == 0
    if empty and not create:
        raise StateMissing(_missing_message(str(path)))
    try:
        _private_file(path)
    except OSError as exc:
        raise StateUnusable(f"{path}: cannot open the state file ({exc.strerror})") from None
    try:
        db = sqlite_connect(path)
        db.execute("SELECT COUNT(*) FROM sqlite_master").fetchone()
    except sqlite3.DatabaseError as exc:
        problem = _io_problem(exc, str(path))
        if problem is not None:
            raise problem from exc
        raise StateUnusable(f"{path}: not a usable state file ({exc})") from None
    for suffix in ("-wal", "-shm"):  # created by SQLite with the file's mode; made sure of
        _tighten(path.with_name(path.name + suffix))
    return State("sqlite", db, str(path), str(path))


def _open_postgres(url: str) -> State:
    try:
        import psycopg
    except ImportError:
        raise StateUnusable(
            "a postgresql:// state needs psycopg: pip install 'safeguarding-interop[postgres]'"
        ) from None
    where = _redacted(url)
    try:
        connection = psycopg.connect(url, autocommit=True, row_factory=_pg_row_factory)
    except psycopg.Error as exc:
        raise StateUnusable(f"{where}: cannot connect ({exc})") from None
    return State("postgresql", connection, where, url)


def _legacy_sqlite_state(state: State) -> bool:
    """Whether a SQLite file predates the version table but holds a state (kept and migrated)."""
    return state.backend == "sqlite" and bool(
        state.tables() & {"meta", "records", "fhir_watermarks", "attendance_outbox", "plan"}
    )


def _missing_message(where: str) -> str:
    return (
        f"no state at {where} (missing or empty). If this is the first run, create it"
        " explicitly (--new-state); if it was lost, restore the latest backup"
        " (made with `interop state backup`) to that place. Without it every record"
        " would be sent again."
    )
