"""The state layer: opening, privacy, migrations, backups, leases, outbox claims, disk full.

Lease and claim tests run on both back ends (``state_url``: a SQLite file, then a real
PostgreSQL database from tests/pg_server.py).
"""

from __future__ import annotations

import os
import socket
import sqlite3
import subprocess
import sys
import threading
import time
from pathlib import Path

import pytest

from interop.errors import EXIT_BUSY, EXIT_USAGE, exit_code_for
from interop.state import (
    LeaseHeld,
    Migration,
    SchemaTooNew,
    StateError,
    StateIOError,
    StateLocked,
    StateMissing,
    StateUnusable,
    acquire_lease,
    backup,
    check,
    claim_rows,
    lease_holder,
    migrate,
    open_state,
    register,
)

# --- opening -------------------------------------------------------------------------------


def test_a_missing_or_empty_state_is_refused_unless_created(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    with pytest.raises(StateMissing, match="restore the latest backup") as missing:
        open_state(path)
    assert str(path) in str(missing.value)
    assert exit_code_for(missing.value) == EXIT_USAGE
    assert not path.exists()  # refusing creates nothing
    path.touch()  # truncate -s 0
    with pytest.raises(StateMissing):
        open_state(path)
    open_state(path, create=True).close()
    open_state(path).close()  # now it is a state


def test_an_existing_state_of_an_older_toolkit_is_not_missing(tmp_path: Path) -> None:
    path = tmp_path / "old.sqlite"
    with sqlite3.connect(path) as db:  # a ledger written before the version table existed
        db.execute("CREATE TABLE meta (key TEXT PRIMARY KEY, value TEXT NOT NULL)")
    open_state(path).close()


def test_a_file_that_is_not_sqlite_is_unusable(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    path.write_bytes(b"not a database " * 100)
    with pytest.raises(StateUnusable, match="not a usable state file"):
        open_state(path, create=True)


def test_a_state_that_cannot_be_created_is_a_clear_error(tmp_path: Path) -> None:
    (tmp_path / "a-file").write_text("")
    with pytest.raises(StateUnusable, match="cannot open the state file"):
        open_state(tmp_path / "a-file" / "state.sqlite", create=True)


def test_state_files_and_folder_are_private_whatever_the_umask(tmp_path: Path) -> None:
    path = tmp_path / "new" / "folder" / "state.sqlite"
    previous = os.umask(0)
    try:
        with open_state(path, create=True) as state:
            with state.transaction():
                state.execute("CREATE TABLE t (x)")
            modes = {p.name: p.stat().st_mode & 0o777 for p in path.parent.iterdir()}
    finally:
        os.umask(previous)
    assert modes == {"state.sqlite": 0o600, "state.sqlite-wal": 0o600, "state.sqlite-shm": 0o600}
    assert path.parent.stat().st_mode & 0o777 == 0o700


def test_an_existing_readable_state_is_made_private(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    open_state(path, create=True).close()
    path.chmod(0o644)
    open_state(path).close()
    assert path.stat().st_mode & 0o777 == 0o600


_COUNT_IN_ANOTHER_PROCESS = (
    "import sqlite3, sys; db = sqlite3.connect(sys.argv[1]);"
    " print(db.execute('SELECT COUNT(*) FROM t').fetchone()[0]); db.close()"
)


def test_opening_a_state_again_keeps_the_locks_of_this_process_s_connections(
    tmp_path: Path,
) -> None:
    """Closing any descriptor of a file drops every POSIX lock this process holds on it,
    SQLite's included: opening a state that one of our connections already has open must
    not open and close the file itself. Were the locks dropped, another process closing the
    state would take itself for the last user and delete the -wal file under our connection,
    and what we wrote next would never reach the others (howtocorrupt.html, 2.2)."""

    def count_elsewhere() -> int:
        command = [sys.executable, "-c", _COUNT_IN_ANOTHER_PROCESS, str(path)]
        found = subprocess.run(command, capture_output=True, text=True, timeout=60, check=True)
        return int(found.stdout)

    path = tmp_path / "s.sqlite"
    with open_state(path, create=True) as first:
        first.execute("CREATE TABLE t (x INTEGER)")
        open_state(path).close()  # the listener opens its state more than once
        assert count_elsewhere() == 0
        first.execute("INSERT INTO t VALUES (1)")
        assert Path(f"{path}-wal").exists()
        assert count_elsewhere() == 1


def test_one_place_for_sqlite_settings(tmp_path: Path) -> None:
    with open_state(tmp_path / "s.sqlite", create=True) as state:
        assert state.execute("PRAGMA journal_mode").fetchone()[0] == "wal"
        assert state.execute("PRAGMA synchronous").fetchone()[0] == 2  # FULL
        assert state.execute("PRAGMA foreign_keys").fetchone()[0] == 1
        assert state.execute("PRAGMA busy_timeout").fetchone()[0] == 30000


def test_a_full_disk_is_a_clear_configuration_error(tmp_path: Path) -> None:
    with open_state(tmp_path / "s.sqlite", create=True) as state:
        state.execute("CREATE TABLE big (x TEXT)")
        pages = state.execute("PRAGMA page_count").fetchone()[0]
        state.execute(f"PRAGMA max_page_count={pages + 2}")  # a disk that fills up

        def fill() -> None:
            with state.transaction():
                for _ in range(100):
                    state.execute("INSERT INTO big VALUES (?)", ("x" * 10_000,))

        with pytest.raises(StateIOError, match="disk is full") as full:
            fill()
        assert exit_code_for(full.value) == EXIT_USAGE
        assert state.execute("SELECT COUNT(*) FROM big").fetchone()[0] == 0  # rolled back


def test_a_write_waits_for_another_and_past_the_busy_timeout_is_a_clear_error(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import interop.state.connection

    path = tmp_path / "s.sqlite"
    with open_state(path, create=True) as state:
        state.execute("CREATE TABLE t (x INTEGER)")
        other = sqlite3.connect(path, isolation_level=None, check_same_thread=False)
        other.execute("BEGIN IMMEDIATE")  # another job's write, held for half a second
        other.execute("INSERT INTO t VALUES (1)")
        threading.Timer(0.5, other.execute, ("COMMIT",)).start()
        started = time.monotonic()
        with state.transaction():  # the 30 s busy timeout: it waits, then writes
            state.execute("INSERT INTO t VALUES (2)")
        assert time.monotonic() - started >= 0.4
        other.execute("BEGIN IMMEDIATE")  # now held past the timeout (cut to 0.5 s here)
        monkeypatch.setattr(interop.state.connection, "BUSY_TIMEOUT_SECONDS", 0.5)
        with (
            open_state(path) as impatient,
            pytest.raises(StateLocked, match="another job held the state's write lock") as held,
            impatient.transaction(),
        ):
            impatient.execute("INSERT INTO t VALUES (3)")
        assert exit_code_for(held.value) == EXIT_USAGE
        assert str(path) in str(held.value)
        other.execute("COMMIT")
        other.close()
        assert [row[0] for row in state.execute("SELECT x FROM t ORDER BY x")] == [1, 2]


def test_rows_answer_by_index_and_name_on_both_back_ends(state_url: str) -> None:
    with open_state(state_url, create=True) as state:
        state.executescript("CREATE TABLE t (a TEXT, b INTEGER)")
        state.executemany("INSERT INTO t VALUES (?, ?)", [("x", 1), ("y", 2)])
        row = state.execute("SELECT a, b FROM t WHERE b = ?", (2,)).fetchone()
        assert (row[0], row["b"], dict(row)) == ("y", 2, {"a": "y", "b": 2})

        def fail_half_way() -> None:
            with state.transaction():
                state.execute("INSERT INTO t VALUES ('z', 3)")
                raise ZeroDivisionError

        with pytest.raises(ZeroDivisionError):
            fail_half_way()
        assert tuple(state.execute("SELECT COUNT(*) FROM t").fetchone()) == (2,)


def test_many_rows_insert_and_upsert_the_same_on_both_back_ends(state_url: str) -> None:
    """PostgreSQL takes an INSERT's rows a thousand a statement: every row lands, across the
    batches, and an upsert whose rows repeat a key still updates it in order."""
    rows = [(f"id-{n}", n) for n in range(2_345)]
    upsert = "INSERT INTO t (a, b) VALUES (?, ?) ON CONFLICT (a) DO UPDATE SET b = excluded.b"
    with open_state(state_url, create=True) as state:
        state.executescript("CREATE TABLE t (a TEXT PRIMARY KEY, b INTEGER NOT NULL)")
        with state.transaction():
            state.executemany("INSERT INTO t (a, b) VALUES (?, ?)", rows)
        got = state.execute("SELECT a, b FROM t ORDER BY b").fetchall()
        assert [(r[0], r[1]) for r in got] == rows
        with state.transaction():
            state.executemany(upsert, [(a, -b) for a, b in rows], distinct=True)
            state.executemany(upsert, [("id-7", 1), ("id-7", 2), ("new", 3)])
        assert state.execute("SELECT SUM(b) FROM t").fetchone()[0] == -sum(range(2_345)) + 7 + 2 + 3
        assert state.execute("SELECT b FROM t WHERE a = 'id-7'").fetchone()[0] == 2


# --- migrations ----------------------------------------------------------------------------

_V1 = Migration(1, "CREATE TABLE IF NOT EXISTS widget (id TEXT PRIMARY KEY);")
_V2 = Migration(2, "ALTER TABLE widget ADD COLUMN colour TEXT;")


def test_an_older_schema_is_migrated_and_a_newer_refused(state_url: str) -> None:
    register("test-widget", [_V1])
    with open_state(state_url, create=True) as state:
        assert migrate(state, "test-widget") == 1
        state.execute("INSERT INTO widget (id) VALUES ('a')")
    register("test-widget", [_V1, _V2])  # the next release of the toolkit
    with open_state(state_url) as state:
        assert migrate(state, "test-widget") == 2
        state.execute("UPDATE widget SET colour = 'red'")  # the new column is there
        assert check(state).versions["test-widget"] == 2
    register("test-widget", [_V1])  # an older toolkit meets the newer state
    with open_state(state_url) as state:
        with pytest.raises(SchemaTooNew, match="test-widget schema is version 2, newer") as new:
            migrate(state, "test-widget")
        assert exit_code_for(new.value) == EXIT_USAGE
        assert not check(state).ok


# --- backups and checks --------------------------------------------------------------------


def test_backup_copies_a_state_in_use_privately(tmp_path: Path) -> None:
    with open_state(tmp_path / "state.sqlite", create=True) as state:
        state.execute("CREATE TABLE t (x INTEGER)")
        state.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(1000)])
        dest = backup(state, tmp_path / "copy.sqlite")
        assert check(state).ok
    assert dest.stat().st_mode & 0o777 == 0o600
    assert not list(tmp_path.glob("copy.sqlite*.part*"))
    with open_state(dest) as copy:
        assert copy.execute("SELECT COUNT(*) FROM t").fetchone()[0] == 1000
        assert check(copy).ok


class _FailingCopy(sqlite3.Connection):
    """The backup's copy, failing when it leaves WAL mode (the step after the copy)."""

    def execute(self, sql: str, *args: object) -> sqlite3.Cursor:  # type: ignore[override]
        if "journal_mode=DELETE" in sql:
            raise sqlite3.OperationalError("database or disk is full")
        return super().execute(sql, *args)


class _FailingSource:
    """A state's connection whose online backup writes the copy, then fails."""

    def __init__(self, real: sqlite3.Connection) -> None:
        self.real = real

    def backup(self, target: sqlite3.Connection) -> None:
        self.real.backup(target)
        raise sqlite3.OperationalError("disk I/O error")


def _backup_failing_at(step: str, state_path: Path, dest: Path, mp: pytest.MonkeyPatch) -> None:
    import interop.state.maintenance as maintenance

    def refuse(*args: object) -> None:
        raise OSError(28, "No space left on device")

    def copy_connect(path: Path | str) -> sqlite3.Connection:
        db = sqlite3.connect(str(path), isolation_level=None, factory=_FailingCopy)
        db.execute("PRAGMA journal_mode=WAL")  # as sqlite_connect: -wal and -shm appear
        return db

    with open_state(state_path) as state:
        if step == "create":  # the .part file exists, making it private fails
            mp.setattr(maintenance.os, "chmod", refuse)
        elif step == "copy":
            mp.setattr(state, "connection", _FailingSource(state.connection))
        elif step == "journal":
            mp.setattr(maintenance, "sqlite_connect", copy_connect)
        else:  # the copy is complete, renaming it over ``dest`` fails
            mp.setattr(Path, "replace", refuse)
        try:
            with pytest.raises(StateIOError) as failed:
                backup(state, dest)
        finally:
            mp.undo()
    assert f"cannot write the backup {dest}" in str(failed.value)
    assert exit_code_for(failed.value) == EXIT_USAGE


@pytest.mark.parametrize("step", ["create", "copy", "journal", "rename"])
def test_a_failed_backup_leaves_nothing_beside_the_destination(
    tmp_path: Path, step: str, monkeypatch: pytest.MonkeyPatch
) -> None:
    with open_state(tmp_path / "state.sqlite", create=True) as state:
        state.execute("CREATE TABLE t (x INTEGER)")
        state.executemany("INSERT INTO t VALUES (?)", [(i,) for i in range(1000)])
    folder = tmp_path / "backups"
    folder.mkdir()
    dest = folder / "copy.sqlite"
    dest.write_bytes(b"yesterday's backup")
    _backup_failing_at(step, tmp_path / "state.sqlite", dest, monkeypatch)
    assert sorted(p.name for p in folder.iterdir()) == ["copy.sqlite"]
    assert dest.read_bytes() == b"yesterday's backup"  # unchanged
    with open_state(tmp_path / "state.sqlite") as state:
        backup(state, dest)  # and the next backup works
    assert sorted(p.name for p in folder.iterdir()) == ["copy.sqlite"]


def test_a_backup_filling_the_disk_leaves_nothing_beside_the_destination(
    tmp_path: Path,
) -> None:
    """A real full disk: the file size limit (RLIMIT_FSIZE) of a child process, so small the
    copy's WAL cannot be checkpointed and SQLite leaves -wal and -shm on closing."""
    with open_state(tmp_path / "state.sqlite", create=True) as state:
        state.execute("CREATE TABLE t (x TEXT)")
        state.executemany("INSERT INTO t VALUES (?)", [("x" * 1000,) for _ in range(2000)])
    folder = tmp_path / "backups"
    folder.mkdir()
    dest = folder / "copy.sqlite"
    dest.write_bytes(b"yesterday's backup")
    script = (
        "import resource, signal, sys\n"
        "from interop.state import StateIOError, backup, open_state\n"
        "state = open_state(sys.argv[1])\n"
        "signal.signal(signal.SIGXFSZ, signal.SIG_IGN)\n"  # EFBIG, not a killed process
        "resource.setrlimit(resource.RLIMIT_FSIZE, (4096, 4096))\n"
        "try:\n"
        "    backup(state, sys.argv[2])\n"
        "except StateIOError as exc:\n"
        "    print(exc)\n"
        "    sys.exit(2)\n"
    )
    run = subprocess.run(
        [sys.executable, "-c", script, str(tmp_path / "state.sqlite"), str(dest)],
        capture_output=True,
        text=True,
        timeout=60,
    )
    assert run.returncode == 2, run.stdout + run.stderr
    assert "cannot write the backup" in run.stdout
    assert sorted(p.name for p in folder.iterdir()) == ["copy.sqlite"]
    assert dest.read_bytes() == b"yesterday's backup"


def test_a_corrupt_state_fails_the_check(tmp_path: Path) -> None:
    path = tmp_path / "state.sqlite"
    with open_state(path, create=True) as state:
        state.execute("CREATE TABLE t (x TEXT)")
        state.executemany("INSERT INTO t VALUES (?)", [("x" * 500,) for _ in range(200)])
        state.execute("PRAGMA wal_checkpoint(TRUNCATE)")
    data = bytearray(path.read_bytes())
    data[4096 * 2 : 4096 * 2 + 200] = b"\xff" * 200  # a page of the table overwritten
    path.write_bytes(bytes(data))
    try:
        with open_state(path) as state:
            assert not check(state).ok
    except StateUnusable:  # or too damaged to open at all
        pass


def test_a_postgresql_state_is_backed_up_with_pg_dump(postgres_url: str) -> None:
    with open_state(postgres_url, create=True) as state:
        with pytest.raises(StateError, match="pg_dump"):
            backup(state, "copy.sqlite")
        assert check(state).ok
    with_password = postgres_url.replace("postgresql:///", "postgresql://interop:s3cret@/")
    with open_state(with_password) as state:  # the test server trusts local sockets
        assert "s3cret" not in state.location
        assert "interop:***@" in state.location


def test_a_postgresql_password_never_appears_in_a_message() -> None:
    pytest.importorskip("psycopg")
    with pytest.raises(StateUnusable) as refused:  # nothing listens on port 1
        open_state("postgresql://interop:s3cret@127.0.0.1:1/interop?connect_timeout=5")
    assert "s3cret" not in str(refused.value)
    assert "postgresql://interop:***@127.0.0.1:1/interop" in str(refused.value)
    assert exit_code_for(refused.value) == EXIT_USAGE


# --- leases --------------------------------------------------------------------------------


def test_a_second_run_is_refused_naming_the_holder(state_url: str) -> None:
    with open_state(state_url, create=True) as state, open_state(state_url) as other:
        lease = acquire_lease(state, "cpis-sync", label="interop sync cpis")
        with pytest.raises(LeaseHeld) as held:
            acquire_lease(other, "cpis-sync")
        message = str(held.value)
        assert f"pid {os.getpid()} on {socket.gethostname()}" in message
        assert "interop sync cpis" in message
        assert exit_code_for(held.value) == EXIT_BUSY
        acquire_lease(other, "cpis-pull").release()  # another job's lease is independent
        lease.release()
        assert lease_holder(other, "cpis-sync") is None
        acquire_lease(other, "cpis-sync").release()


def test_a_waiting_run_gets_the_lease_when_the_holder_finishes(state_url: str) -> None:
    with open_state(state_url, create=True) as state, open_state(state_url) as other:
        lease = acquire_lease(state, "cpis-sync")
        threading.Timer(0.5, lease.release).start()
        started = time.monotonic()
        acquire_lease(other, "cpis-sync", wait=30, poll=0.05).release()
        assert 0.4 < time.monotonic() - started < 20


def test_a_lease_is_renewed_while_its_run_lives(state_url: str) -> None:
    with (
        open_state(state_url, create=True) as state,
        open_state(state_url) as other,
        acquire_lease(state, "cpis-sync", ttl=0.6),
    ):
        first = lease_holder(other, "cpis-sync")
        time.sleep(1.2)  # twice the ttl: only the renewals keep it
        with pytest.raises(LeaseHeld):
            acquire_lease(other, "cpis-sync")
        again = lease_holder(other, "cpis-sync")
        assert first is not None
        assert again is not None
        assert again.expires_at > first.expires_at


_HOLD_AND_DIE = """
import sys, time
from interop.state import open_state, acquire_lease
state = open_state(sys.argv[1])
acquire_lease(state, "cpis-sync", ttl=3600)
print("held", flush=True)
time.sleep(3600)
"""


def test_a_lease_left_by_a_killed_run_is_taken_over(state_url: str) -> None:
    open_state(state_url, create=True).close()
    holder = subprocess.Popen(
        [sys.executable, "-c", _HOLD_AND_DIE, state_url], stdout=subprocess.PIPE, text=True
    )
    try:
        assert holder.stdout is not None
        assert holder.stdout.readline() == "held\n"
        with open_state(state_url) as state:
            with pytest.raises(LeaseHeld, match=f"pid {holder.pid} "):
                acquire_lease(state, "cpis-sync")
            holder.kill()
            holder.wait()
            # the hour-long ttl is not waited for: the holder's pid (SQLite) or session
            # (PostgreSQL) is gone
            acquire_lease(state, "cpis-sync", wait=10, poll=0.05).release()
    finally:
        holder.kill()
        holder.wait()


def test_an_expired_lease_is_taken_over(tmp_path: Path) -> None:
    with open_state(tmp_path / "s.sqlite", create=True) as state:
        acquire_lease(state, "cpis-sync", keep_alive=False)
        state.execute("UPDATE state_lease SET pid = pid + 1, expires_at = 0")  # a hung holder
        acquire_lease(state, "cpis-sync").release()


# --- outbox claims -------------------------------------------------------------------------


def _outbox(state_url: str, rows: int) -> None:
    with open_state(state_url, create=True) as state:
        state.executescript(
            "CREATE TABLE box (id TEXT PRIMARY KEY, due DOUBLE PRECISION NOT NULL,"
            " claimed_by TEXT, claimed_until DOUBLE PRECISION)"
        )
        state.executemany(
            "INSERT INTO box (id, due) VALUES (?, ?)", [(f"r{i:03}", i) for i in range(rows)]
        )


def _claim(state_url: str, worker: str, now: float, hold: float = 60) -> list[str]:
    with open_state(state_url) as state:
        rows = claim_rows(
            state,
            table="box",
            key="id",
            columns=("id", "due"),
            where="due <= ?",
            params=(now,),
            order_by="due, id",
            worker=worker,
            now=now,
            hold=hold,
            limit=5,
        )
    return [str(r[0]) for r in rows]


def test_two_workers_never_claim_the_same_row(state_url: str) -> None:
    _outbox(state_url, 200)
    claimed: dict[str, list[str]] = {"a": [], "b": [], "c": [], "d": []}

    def work(worker: str) -> None:
        while taken := _claim(state_url, worker, now=1000):
            claimed[worker] += taken

    threads = [threading.Thread(target=work, args=(w,)) for w in claimed]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join()
    everything = [row for rows in claimed.values() for row in rows]
    assert sorted(everything) == [f"r{i:03}" for i in range(200)]  # each once, none twice


def test_claims_come_in_order_and_a_lapsed_claim_is_claimed_again(state_url: str) -> None:
    _outbox(state_url, 8)
    assert _claim(state_url, "a", now=100, hold=10) == ["r000", "r001", "r002", "r003", "r004"]
    assert _claim(state_url, "b", now=105) == ["r005", "r006", "r007"]
    assert _claim(state_url, "b", now=105) == []
    assert _claim(state_url, "c", now=111) == ["r000", "r001", "r002", "r003", "r004"]


def test_the_state_layer_sits_low_in_the_core() -> None:
    """Below transports and configuration: it imports none of the layers that use it."""
    import re

    forbidden = (
        "interop.config",
        "interop.transport",
        "interop.sync",
        "interop.attendance",
        "interop.jobs",
        "interop.cli",
        "interop.sandbox",
        "interop.mappings",
        "interop.validators",
    )
    pattern = re.compile(r"^\s*(?:from|import)\s+([\w.]+)", re.M)
    folder = Path(__file__).resolve().parents[2] / "interop" / "state"
    for path in folder.glob("*.py"):
        for name in pattern.findall(path.read_text(encoding="utf-8")):
            assert not name.startswith(forbidden), f"{path.name} imports {name}"
