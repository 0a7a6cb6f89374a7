"""The toolkit's workflows, once: each job takes typed inputs, returns a result object, prints
nothing (progress goes to an optional callback) and raises from the ``interop.errors`` tree.

The CLI commands, the demo and the benchmarks call these functions; so can a local authority
scheduling a job from Python::

    from interop.jobs import run_cpis_sync
    result = run_cpis_sync(export, state=ledger, config=load_config(path))

Dependencies point one way (ARCHITECTURE.md): jobs use the validators and mappings and the
core; they never import ``interop.cli`` or ``interop.sandbox`` (the sandbox's stand-in flag
source is handed in by the caller).
"""

from interop.jobs.attendance import (
    DispatchResult,
    attendance_service,
    build_attendance,
    dispatch_attendances,
    handle_attendance,
)
from interop.jobs.cpis_lookup import CpisLookupResult, cpis_lookup
from interop.jobs.cpis_replies import CpisRepliesResult, pull_cpis_replies
from interop.jobs.cpis_sync import CpisSyncResult, SyncProgress, run_cpis_sync
from interop.jobs.pull_artefacts import PullResult, pull_artefacts
from interop.jobs.push_artefacts import PushEvent, PushOutcome, push_artefacts

__all__ = [
    "CpisLookupResult",
    "CpisRepliesResult",
    "CpisSyncResult",
    "DispatchResult",
    "PullResult",
    "PushEvent",
    "PushOutcome",
    "SyncProgress",
    "attendance_service",
    "build_attendance",
    "cpis_lookup",
    "dispatch_attendances",
    "handle_attendance",
    "ods_check",
    "pds_trace",
    "pull_artefacts",
    "pull_cpis_replies",
    "push_artefacts",
    "run_cpis_sync",
    "state",
    "state_admin",
]
