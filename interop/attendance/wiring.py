"""Wiring of the attendance rules from the configuration: sources, routes, state, dispatcher.

``interop listen mllp --config`` and ``interop demo`` both build the rules here (through
``interop.jobs.build_attendance``), so the two cannot drift apart.
"""

from __future__ import annotations

import contextlib
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING, Any

if TYPE_CHECKING:
    from interop.attendance.service import AttendanceService
    from interop.attendance.settings import AttendanceSettings
    from interop.attendance.sources import FlagSource
    from interop.config import Config
    from interop.domain import ArtefactBase

JSON = dict[str, Any]


def build_attendance(
    config: Config,
    settings: AttendanceSettings,
    state: Path | str | None = None,
    *,
    to_artefact: Callable[[JSON], ArtefactBase],
    default_state: Path,
    stand_in_flags: Callable[[Path], FlagSource] | None = None,
) -> AttendanceService:
    """The attendance rules wired to ``config``: flag and plan sources, routes, state, and a
    dispatcher with a channel per endpoint it may send to (not yet started).

    The state is ``state`` (a path or a ``postgresql://`` URL), else ``[attendance] state``,
    else the configuration's top-level ``state``, else ``default_state``.

    ``AttendanceSettingsError`` when an endpoint named is missing or of the wrong kind;
    ``LookupFailed`` when a flag source file is missing; ``StateError`` for a bad state file;
    ``DispatcherBusy`` when another process dispatches from it; ``ValueError`` for an
    endpoint that cannot be used. ``to_artefact`` reads FHIR (the core may not import the
    mappings: ``interop.jobs.build_attendance`` passes ``fhir_to_artefact``).
    ``stand_in_flags`` reads the CP-IS stand-in's register for ``flag_source = "stand-in"``:
    the stand-in is a simulator, which the core may not import (its callers, the CLI and the
    demo, pass ``interop.sandbox.cpis_spine.RegisterFlags``).
    """
    from interop.attendance.dispatch import Dispatcher, channels_for
    from interop.attendance.service import AttendanceService, Router
    from interop.attendance.settings import AttendanceSettingsError, endpoint_problems
    from interop.attendance.sources import (
        FhirFlags,
        FhirPlans,
        LedgerFlags,
    )
    from interop.attendance.store import AttendanceStore
    from interop.state import is_postgres_url
    from interop.transport.fhir_client import FhirClient

    has_mesh = config.mesh_settings is not None
    problems = endpoint_problems(settings, config.endpoints, has_mesh=has_mesh)
    if problems:
        raise AttendanceSettingsError(problems)
    path = state or settings.state or config.state or default_state
    # one dispatcher per SQLite file (a file lock beside it); a PostgreSQL outbox is shared by
    # the listeners of several machines, whose claims keep each row to one of them
    lock_path = None if is_postgres_url(path) else Path(f"{path}.dispatch-lock")
    # the endpoints messages may go to: the defaults, the alert, and (routed by the
    # directory) any mesh or fhir endpoint an organisation lists
    names = {*settings.notify, *([settings.alert] if settings.alert else [])}
    if settings.route_by_directory:
        names.update(name for entry in config.directory.values() for name in entry.endpoints)
    usable = {
        name: endpoint
        for name, endpoint in config.endpoints.items()
        if name in names
        and endpoint.kind in ("fhir", "mesh", "mllp")
        and (endpoint.kind != "mesh" or (has_mesh and endpoint.workflow_id))
    }
    with contextlib.ExitStack() as undo:  # what was opened is closed if a later step fails
        outbox = AttendanceStore(path)
        undo.callback(outbox.close)
        dispatcher = Dispatcher(
            outbox,
            {},
            retry_initial=settings.retry_initial,
            retry_max=settings.retry_max,
            lock_path=lock_path,
        )
        undo.callback(dispatcher.stop)
        dispatcher.channels.update(channels_for(usable, config.mesh_settings))
        flags: FlagSource
        if settings.flag_source == "ledger":
            authority = config.authority_settings
            phones = (
                (authority.emergency_duty_phone, authority.office_hours_phone)
                if authority is not None
                else (None, None)
            )
            flags = LedgerFlags(settings.ledger or path, la_phones=phones)
        elif settings.flag_source == "stand-in":
            assert settings.register is not None
            if stand_in_flags is None:
                raise AttendanceSettingsError(
                    [("attendance.flag_source", '"stand-in" is only available with the sandbox')]
                )
            flags = stand_in_flags(settings.register)
        else:
            assert settings.flag_endpoint is not None
            client = FhirClient.from_settings(config.endpoint(settings.flag_endpoint))
            flags = FhirFlags(client, to_artefact)
        undo.callback(flags.close)
        plans = None
        if settings.plan_source is not None:
            client = FhirClient.from_settings(config.endpoint(settings.plan_source))
            plans = FhirPlans(client, to_artefact)
            undo.callback(plans.close)
        service = AttendanceService(
            settings,
            AttendanceStore(path),
            flags,
            Router(settings, usable, config.directory),
            plans=plans,
            dispatcher=dispatcher,
        )
        undo.pop_all()
    return service
