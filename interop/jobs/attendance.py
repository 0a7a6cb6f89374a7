"""The attendance job: the attendance rules built from the configuration, for the MLLP listener
(``interop listen mllp``), the one-shot dispatch (``interop listen dispatch``) and the demo.

The wiring itself is ``interop.attendance.wiring``; this module gives it the toolkit's FHIR
mapping and turns its failures into one configuration error each.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING

from interop.errors import EXIT_OK, EXIT_REMOTE, ConfigurationError
from interop.jobs.state import DEFAULT_STATE
from interop.privacy import protect_logger

if TYPE_CHECKING:
    from interop.attendance.service import AttendanceService
    from interop.attendance.settings import AttendanceSettings
    from interop.attendance.sources import FlagSource
    from interop.config import Config
    from interop.hl7v2.adt import AttendanceHandler

__all__ = [
    "DEFAULT_STATE",
    "DispatchResult",
    "attendance_service",
    "build_attendance",
    "dispatch_attendances",
    "handle_attendance",
]

StandInFlags = Callable[[Path], "FlagSource"]

_log = logging.getLogger("interop.cli.listen")  # the name operators' log filters know
protect_logger(_log.name)  # as every logger of the listener: NHS numbers masked


def build_attendance(
    config: Config,
    settings: AttendanceSettings,
    state: Path | str | None = None,
    *,
    stand_in_flags: StandInFlags | None = None,
) -> AttendanceService:
    """The attendance rules wired to ``config`` (``interop.attendance.wiring``), reading FHIR
    with the toolkit's mappings; not yet started. ``stand_in_flags`` reads the CP-IS
    stand-in's register (the sandbox's ``RegisterFlags``) for ``flag_source = "stand-in"``.
    Raises what the wiring raises (see ``interop.attendance.wiring.build_attendance``)."""
    from interop.attendance.wiring import build_attendance as build
    from interop.mappings.fhir import fhir_to_artefact

    return build(
        config,
        settings,
        state,
        to_artefact=fhir_to_artefact,
        default_state=DEFAULT_STATE,
        stand_in_flags=stand_in_flags,
    )


def attendance_service(
    config: Config,
    settings: AttendanceSettings,
    state: Path | str | None = None,
    *,
    stand_in_flags: StandInFlags | None = None,
) -> AttendanceService:
    """The attendance rules of ``config`` and its ``[attendance]`` ``settings``, not started;
    ``state`` is a SQLite file or a ``postgresql://`` URL (see ``build_attendance``).

    ``ConfigurationError`` (exit 2) when they cannot be built: ``[attendance]`` names a missing
    endpoint, a flag source cannot be read, the state is unusable, or another process
    dispatches from the same SQLite file."""
    from interop.attendance.dispatch import DispatcherBusy
    from interop.attendance.settings import AttendanceSettingsError
    from interop.attendance.sources import LookupFailed
    from interop.attendance.store import StateError

    try:
        return build_attendance(config, settings, state, stand_in_flags=stand_in_flags)
    except AttendanceSettingsError as exc:
        lines = [f"{config.source}: configuration error:"]
        lines += [f"  {path}: {message}" for path, message in exc.problems]
        raise ConfigurationError("\n".join(lines)) from exc
    except (LookupFailed, StateError, DispatcherBusy, ValueError) as exc:
        raise ConfigurationError(f"attendance rules: {exc}") from exc


def handle_attendance(
    service: AttendanceService | None, config: Config | None
) -> AttendanceHandler:
    """What the listener calls for each attendance: the rules' handler, or without
    ``[attendance]`` one that acknowledges and logs only (saying so once)."""
    from interop.hl7v2.adt import log_only_handler

    if service is not None:
        return service.handle
    if config is None:
        _log.info("no --config: attendances are acknowledged and logged; nobody is notified")
    else:
        _log.info(
            "configuration %s has no [attendance] section: attendances are acknowledged and "
            "logged, nobody is notified",
            config.source,
        )
    return log_only_handler


@dataclass(frozen=True)
class DispatchResult:
    """One dispatch pass: ``sent`` by this pass, ``left`` (still queued: a send failed),
    ``elsewhere`` (being sent by another dispatcher of a shared state) and ``sent_in_all``
    (the outbox's sent rows, whichever run sent them)."""

    sent: int
    left: int
    elsewhere: int = 0
    sent_in_all: int = 0

    @property
    def exit_code(self) -> int:
        """3 when some sends failed (they stay queued), else 0."""
        return EXIT_REMOTE if self.left else EXIT_OK


def dispatch_attendances(
    config: Config,
    settings: AttendanceSettings,
    state: Path | str | None = None,
    *,
    stand_in_flags: StandInFlags | None = None,
) -> DispatchResult:
    """Send the attendance notifications still queued in the state, once.

    ``ConfigurationError`` when the rules cannot be built (see ``attendance_service``)."""
    service = attendance_service(config, settings, state, stand_in_flags=stand_in_flags)
    try:
        counts = service.drain(everything=True)
        sent = service.dispatcher.sent if service.dispatcher is not None else 0
        left, elsewhere = service.store.unsent(time.time())
    finally:
        service.close()
    return DispatchResult(sent, left, elsewhere, counts["sent"])
