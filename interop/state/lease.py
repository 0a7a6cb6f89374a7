"""Exclusive runs: a lease on a state, held inside the database itself.

A sync or a pull holds the lease named after its job for as long as it runs, so a second run
on the same state stops at once (``LeaseHeld``, exit 75, naming the holder) or waits. The lease
is a row of ``state_lease`` with the holder's host, pid, start time and an expiry that a
background thread renews:

- SQLite: the row is the lock. It is taken, in one ``BEGIN IMMEDIATE`` transaction, when there
  is none, when it expired (its holder stopped renewing: killed, or hung), or when its holder
  was on this host and its pid is gone (killed a moment ago: no need to wait for the expiry).
- PostgreSQL: the lock is ``pg_try_advisory_lock`` on a session of its own, which the server
  releases when the holder's connection ends, however it ends; the row only names the holder.

A run that finds its lease taken over (it was suspended past the expiry) learns it from
``Lease.check()`` and must stop before it sends anything.
"""

from __future__ import annotations

import hashlib
import os
import socket
import threading
import time
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime

from interop.state.connection import State
from interop.state.errors import LeaseHeld, LeaseLost
from interop.state.migrations import Migration, migrate, register

__all__ = ["Lease", "LeaseHolder", "acquire_lease", "lease_holder"]

register(
    "lease",
    [
        Migration(
            1,
            """
            CREATE TABLE IF NOT EXISTS state_lease (
                name TEXT PRIMARY KEY,
                token TEXT NOT NULL,
                host TEXT NOT NULL,
                pid INTEGER NOT NULL,
                label TEXT,
                started_at TEXT NOT NULL,
                renewed_at REAL NOT NULL,
                expires_at REAL NOT NULL
            );
            """,
            """
            CREATE TABLE IF NOT EXISTS state_lease (
                name TEXT PRIMARY KEY,
                token TEXT NOT NULL,
                host TEXT NOT NULL,
                pid INTEGER NOT NULL,
                label TEXT,
                started_at TEXT NOT NULL,
                renewed_at DOUBLE PRECISION NOT NULL,
                expires_at DOUBLE PRECISION NOT NULL
            );
            """,
        )
    ],
)


@dataclass(frozen=True)
class LeaseHolder:
    """Who holds a lease: where, which process, since when, until when unless renewed."""

    host: str
    pid: int
    started_at: str
    expires_at: float
    label: str | None = None

    def describe(self) -> str:
        """The holder in words, for a message."""
        until = datetime.fromtimestamp(self.expires_at, UTC).isoformat(timespec="seconds")
        what = f"{self.label} " if self.label else ""
        return (
            f"{what}pid {self.pid} on {self.host}, started {self.started_at}"
            f" (lease renewed until {until})"
        )


def _pid_alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:  # another user's process: alive
        return True
    return True


def _advisory_key(name: str) -> int:
    return int.from_bytes(
        hashlib.sha256(f"interop-lease:{name}".encode()).digest()[:8], "big", signed=True
    )


def lease_holder(state: State, name: str) -> LeaseHolder | None:
    """Who holds the lease ``name`` by its row, or None when nobody has it."""
    migrate(state, "lease")
    row = state.execute(
        "SELECT host, pid, started_at, expires_at, label FROM state_lease WHERE name = ?", (name,)
    ).fetchone()
    if row is None:
        return None
    return LeaseHolder(str(row[0]), int(row[1]), str(row[2]), float(row[3]), row[4])


class Lease:
    """A lease this process holds; release it with ``release()`` or a ``with`` block."""

    def __init__(self, state: State, name: str, token: str, ttl: float, session: State | None):
        self.state = state
        self.name = name
        self.token = token
        self.ttl = ttl
        self._session = session  # PostgreSQL: the connection holding the advisory lock
        self._lost = False
        self._stop = threading.Event()
        self._thread: threading.Thread | None = None

    # --- renewal ---------------------------------------------------------------------------

    def renew(self) -> None:
        """Push the expiry ``ttl`` seconds ahead; ``LeaseLost`` if another run took over."""
        now = time.time()
        cursor = self.state.execute(
            "UPDATE state_lease SET renewed_at = ?, expires_at = ? WHERE name = ? AND token = ?",
            (now, now + self.ttl, self.name, self.token),
        )
        if cursor.rowcount != 1 and self._session is None:
            self._lost = True
        self.check()

    def check(self) -> None:
        """Raise ``LeaseLost`` when this run no longer holds the lease: stop before sending."""
        if self._session is not None and self._session.connection.closed:
            self._lost = True  # the server ended the session, and with it the advisory lock
        if self._lost:
            raise LeaseLost(
                f"{self.state.location}: the {self.name} lease expired and another run took the"
                " state over; this run stops without sending (run it again later)"
            )

    def keep_alive(self) -> None:
        """Renew in a background thread every third of the ttl until released."""
        if self._thread is not None:
            return

        def run() -> None:
            while not self._stop.wait(self.ttl / 3):
                try:
                    self.renew()
                except LeaseLost:
                    return
                except Exception:  # a busy or failing disk: the next beat tries again
                    continue

        self._thread = threading.Thread(target=run, name=f"lease-{self.name}", daemon=True)
        self._thread.start()

    # --- the end ---------------------------------------------------------------------------

    def release(self) -> None:
        """Give the lease up (idempotent)."""
        self._stop.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None
        try:
            self.state.execute(
                "DELETE FROM state_lease WHERE name = ? AND token = ?", (self.name, self.token)
            )
        finally:
            if self._session is not None:
                self._session.close()  # ends the session: the server drops the advisory lock
                self._session = None

    def __enter__(self) -> Lease:
        return self

    def __exit__(self, *exc: object) -> None:
        self.release()


def acquire_lease(
    state: State,
    name: str,
    *,
    ttl: float = 60.0,
    wait: float = 0.0,
    label: str | None = None,
    keep_alive: bool = True,
    poll: float = 0.5,
) -> Lease:
    """Take the lease ``name`` on ``state``, waiting up to ``wait`` seconds for its holder.

    Raises ``LeaseHeld`` (a ``BusyError``: exit 75) naming the holder when it is still held
    after ``wait``. ``label`` says what the holder is doing (``"interop sync cpis"``).
    """
    migrate(state, "lease")
    deadline = time.monotonic() + wait
    while True:
        lease = _try(state, name, ttl, label)
        if lease is not None:
            if keep_alive:
                lease.keep_alive()
            return lease
        if time.monotonic() >= deadline:
            holder = lease_holder(state, name)
            # PostgreSQL: the lock is taken just before the row naming its holder is written,
            # and released just after it is removed
            who = holder.describe() if holder else "another run (starting or finishing)"
            raise LeaseHeld(
                f"{state.location} is in use by {who}; this run did nothing. Run it again when"
                " that one has finished, or wait for it."
            )
        time.sleep(min(poll, max(0.01, deadline - time.monotonic())))


def _try(state: State, name: str, ttl: float, label: str | None) -> Lease | None:
    token = uuid.uuid4().hex
    session: State | None = None
    if state.backend == "postgresql":
        session = state.reopen()
        row = session.execute("SELECT pg_try_advisory_lock(?)", (_advisory_key(name),)).fetchone()
        if not row[0]:
            session.close()
            return None
    now = time.time()
    me = (socket.gethostname(), os.getpid())
    values = (name, token, me[0], me[1], label, _stamp(), now, now + ttl)
    try:
        taken = _take(state, name, values, now, me, checked=session is None)
    except BaseException:
        if session is not None:
            session.close()
        raise
    if not taken:
        return None
    return Lease(state, name, token, ttl, session)


def _take(
    state: State,
    name: str,
    values: tuple[object, ...],
    now: float,
    me: tuple[str, int],
    *,
    checked: bool,
) -> bool:
    """Write this run into the lease row unless a live holder has it (``checked``: SQLite,
    where the row is the lock; PostgreSQL's advisory lock was taken already)."""
    with state.transaction():
        row = state.execute(
            "SELECT host, pid, expires_at FROM state_lease WHERE name = ?", (name,)
        ).fetchone()
        if row is not None and checked:
            host, pid, expires_at = str(row[0]), int(row[1]), float(row[2])
            dead = host == me[0] and pid != me[1] and not _pid_alive(pid)
            if expires_at > now and not dead:
                return False
        state.execute(
            "INSERT INTO state_lease (name, token, host, pid, label, started_at, renewed_at,"
            " expires_at) VALUES (?, ?, ?, ?, ?, ?, ?, ?) ON CONFLICT (name) DO UPDATE SET"
            " token = excluded.token, host = excluded.host, pid = excluded.pid,"
            " label = excluded.label, started_at = excluded.started_at,"
            " renewed_at = excluded.renewed_at, expires_at = excluded.expires_at",
            values,
        )
    return True


def _stamp() -> str:
    return datetime.now(UTC).isoformat(timespec="seconds")
