"""Claiming outbox rows, so that two workers never send the same row.

A worker claims the rows it will attempt: one statement marks them ``claimed_by`` the worker
until ``claimed_until`` and returns them. SQLite runs it inside ``BEGIN IMMEDIATE`` (one writer
at a time); PostgreSQL selects with ``FOR UPDATE SKIP LOCKED``, so concurrent workers take
different rows without waiting on each other. A claim not released (its worker died) lapses at
``claimed_until`` and the row is claimed again: the row's own state (``sending``) still says it
may have gone, and the next worker resolves that before any resend.
"""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from interop.state.connection import State

__all__ = ["claim_rows"]


def claim_rows(
    state: State,
    *,
    table: str,
    key: str,
    columns: Sequence[str],
    where: str,
    params: Sequence[Any],
    order_by: str,
    worker: str,
    now: float,
    hold: float,
    limit: int,
) -> list[Any]:
    """Claim up to ``limit`` rows of ``table`` matching ``where`` (and not claimed by a live
    claim) for ``worker`` until ``now + hold``; the claimed rows' ``columns``, in ``order_by``.

    ``table`` needs ``claimed_by TEXT`` and ``claimed_until REAL`` columns; ``table``, ``key``,
    ``columns``, ``where`` and ``order_by`` are the caller's own SQL, never input.
    """
    skip_locked = " FOR UPDATE SKIP LOCKED" if state.backend == "postgresql" else ""
    sql = (
        f"UPDATE {table} SET claimed_by = ?, claimed_until = ? WHERE {key} IN ("
        f"SELECT {key} FROM {table} WHERE ({where})"
        " AND (claimed_by IS NULL OR claimed_until <= ?)"
        f" ORDER BY {order_by} LIMIT ?{skip_locked}) RETURNING {', '.join(columns)}"
    )
    with state.transaction():
        rows = state.execute(sql, (worker, now + hold, *params, now, limit)).fetchall()
    wanted = {row[0]: row for row in rows}
    if not wanted:
        return []
    # RETURNING gives no order: read the order back for the rows just claimed
    marks = ",".join("?" * len(wanted))
    ordered = state.execute(
        f"SELECT {key} FROM {table} WHERE {key} IN ({marks}) ORDER BY {order_by}",
        tuple(wanted),
    ).fetchall()
    return [wanted[row[0]] for row in ordered]
