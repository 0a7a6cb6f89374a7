"""What can go wrong with a state, each on the branch of ``interop.errors`` that sets its exit
code: an unusable, missing, too new or failing state is the local machine's problem (exit 2);
a state another run holds is ``BusyError`` (exit 75)."""

from __future__ import annotations

from interop.errors import BusyError, ConfigurationError

__all__ = [
    "LeaseHeld",
    "LeaseLost",
    "SchemaTooNew",
    "StateError",
    "StateIOError",
    "StateLocked",
    "StateMissing",
    "StateUnusable",
]


class StateError(ConfigurationError):
    """The state cannot be used as it is (exit 2)."""


class StateUnusable(StateError):
    """The file or database is not a usable state (not SQLite, unreachable, refused)."""


class StateMissing(StateError):
    """The state is missing or empty, and was not asked to be created.

    A lost state would make the next run send every record again: the job stops instead.
    """


class SchemaTooNew(StateError):
    """The state was written by a newer version of the toolkit."""


class StateIOError(StateError):
    """The disk is full, or the file system or database server failed a write."""


class StateLocked(StateError):
    """Another job held the state's write lock past the busy timeout (SQLite): nothing of the
    step under way was written; running the job again carries on."""


class LeaseLost(StateError):
    """This run's lease expired and another run took the state over: stop before sending."""


class LeaseHeld(BusyError):
    """Another run holds the state (exit 75); the message names it."""
