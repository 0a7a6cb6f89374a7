"""Opening the state the jobs keep (the CP-IS ledger, the pull watermarks), with one message,
and holding it for a run: a sync or a pull takes the state's lease, so two runs never share it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

#: where the jobs keep their state when the caller does not say (the CLI's --state default)
DEFAULT_STATE = Path("interop-state.sqlite")

if TYPE_CHECKING:
    from interop.state import Lease, State
    from interop.sync.ledger import Ledger
    from interop.sync.watermarks import Watermarks

__all__ = [
    "DEFAULT_STATE",
    "LeasedSender",
    "StateOptions",
    "held_state",
    "open_ledger",
    "open_watermarks",
    "state_location",
]


@dataclass(frozen=True)
class StateOptions:
    """How a job may use its state: ``new`` creates a missing one (a first run; otherwise a
    missing or empty state is refused), ``wait`` is how long to wait for another run's lease
    (seconds; 0: stop at once with ``LeaseHeld``, exit 75)."""

    new: bool = False
    wait: float = 0.0


def state_location(state: Path | str) -> Path | str:
    """A ``postgresql://`` URL as given, anything else as a path."""
    from interop.state import is_postgres_url

    text = os.fspath(state)
    return text if is_postgres_url(text) else Path(text)


@contextmanager
def held_state(
    state: Path | str, lease: str, label: str, options: StateOptions | None = None
) -> Iterator[tuple[State, Lease]]:
    """The state at ``state`` opened and its lease ``lease`` held for the block.

    ``StateMissing`` (exit 2) when it is missing or empty and ``options.new`` is false;
    ``LeaseHeld`` (exit 75, naming the holder) when another run holds it after ``options.wait``.
    """
    from interop.state import acquire_lease, open_state

    options = options or StateOptions()
    opened = open_state(state_location(state), create=options.new)
    try:
        with acquire_lease(opened, lease, wait=options.wait, label=label) as held:
            yield opened, held
    finally:
        opened.close()


class LeasedSender:
    """A transport whose every send and lookup first renews the run's lease, which checks in
    the database that this run still holds it (``LeaseLost``: another run took the state over
    while this one was suspended; nothing more is sent)."""

    def __init__(self, inner: Any, lease: Lease) -> None:
        self._inner = inner
        self._lease = lease

    def send(self, *args: Any, **kwargs: Any) -> str:
        """Renew (and so check) the lease, then send through the wrapped transport."""
        self._lease.renew()
        return str(self._inner.send(*args, **kwargs))

    def find_by_local_id(self, local_id: str) -> object | None:
        """Renew (and so check) the lease, then ask the wrapped transport."""
        self._lease.renew()
        found: object | None = self._inner.find_by_local_id(local_id)
        return found


def open_ledger(path: Path | str | State, *, create: bool = True) -> Ledger:
    """The CP-IS ledger (created when absent unless ``create`` is false); ``LedgerError``
    ("state file: ...") when the file cannot be used."""
    from interop.sync.ledger import Ledger, LedgerError

    try:
        return Ledger(path, create=create)
    except LedgerError as exc:
        raise LedgerError(f"state file: {exc}") from None


def open_watermarks(path: Path | str | State) -> Watermarks:
    """The pull watermarks (created when absent); ``WatermarkError`` ("state file: ...")."""
    from interop.sync.watermarks import WatermarkError, Watermarks

    try:
        return Watermarks(path)
    except WatermarkError as exc:
        raise WatermarkError(f"state file: {exc}") from None
