"""The state layer: one place that opens, migrates, locks, backs up and checks a job's state.

``open_state(path_or_url)`` gives a ``State`` on SQLite (a file; the default) or PostgreSQL
(``postgresql://…``, for shared deployments). The CP-IS ledger, the pull watermarks, the
attendance outbox and the stand-in's register keep their tables in it, each migrated by
``migrate``; ``acquire_lease`` makes a run exclusive; ``claim_rows`` lets outbox workers share
the work without sending a row twice; ``backup`` and ``check`` look after the file.

It sits in the core below transports and configuration and imports neither.
"""

from interop.state.connection import State, is_postgres_url, open_state, sqlite_connect
from interop.state.errors import (
    LeaseHeld,
    LeaseLost,
    SchemaTooNew,
    StateError,
    StateIOError,
    StateLocked,
    StateMissing,
    StateUnusable,
)
from interop.state.lease import Lease, LeaseHolder, acquire_lease, lease_holder
from interop.state.maintenance import StateReport, backup, check
from interop.state.migrations import Migration, migrate, register, schema_versions
from interop.state.outbox import claim_rows

__all__ = [
    "Lease",
    "LeaseHeld",
    "LeaseHolder",
    "LeaseLost",
    "Migration",
    "SchemaTooNew",
    "State",
    "StateError",
    "StateIOError",
    "StateLocked",
    "StateMissing",
    "StateReport",
    "StateUnusable",
    "acquire_lease",
    "backup",
    "check",
    "claim_rows",
    "connection",
    "is_postgres_url",
    "lease",
    "lease_holder",
    "migrate",
    "open_state",
    "register",
    "schema_versions",
    "sqlite_connect",
]
