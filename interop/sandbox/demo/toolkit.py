"""What the demo needs from the layers above the core, handed in by the caller.

The core never imports ``interop.mappings`` or ``interop.validators`` (ARCHITECTURE.md), and
the demo lives in the core so that the sandboxes it starts stay beside the transports. So, as
``CpisSync`` is given its mapping, the demo is given a ``Toolkit``: the mappings and checks it
calls, in the core's own types. ``interop.cli.demo_cmd.demo_toolkit()`` builds the real one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any

from interop.cpis.model import CpisRecord
from interop.domain import ArtefactBase, ChildProtectionFlag, ResponsibleLocalAuthority
from interop.issues import Issue

if TYPE_CHECKING:
    from interop.attendance.service import AttendanceService
    from interop.attendance.settings import AttendanceSettings
    from interop.config import Config

JSON = dict[str, Any]

__all__ = ["JSON", "FileCheck", "FixtureCheck", "Toolkit"]


@dataclass(frozen=True)
class FileCheck:
    """What the whole validation chain made of one file."""

    #: what it was read as: an artefact kind, "travel-alert as FHIR JSON", "CP-IS upload"...
    kind: str
    artefact: ArtefactBase | None
    issues: tuple[Issue, ...]

    @property
    def errors(self) -> tuple[Issue, ...]:
        """The issues of error severity."""
        return tuple(issue for issue in self.issues if issue.is_error)


@dataclass(frozen=True)
class FixtureCheck:
    """One shipped conformance fixture against what its manifest expects."""

    path: str
    kind: str
    format: str
    expect: str
    as_expected: bool
    #: the first problem found (an invalid fixture), or what differs (not as expected)
    note: str | None = None


@dataclass(frozen=True)
class Toolkit:
    """The mappings and checks the demo calls (see the module's docstring)."""

    flag_to_record: Callable[[ChildProtectionFlag], CpisRecord]
    record_to_flag: Callable[[CpisRecord, ResponsibleLocalAuthority], ChildProtectionFlag]
    to_fhir: Callable[[ArtefactBase], JSON]
    from_fhir: Callable[[JSON], ArtefactBase]
    #: validate one file's bytes (its name for the messages) through the whole chain
    check_file: Callable[[bytes, str], FileCheck]
    #: the FHIR sandbox's check of every write (the validation chain)
    resource_validator: Callable[[JSON], list[Issue]]
    #: every shipped conformance fixture against its manifest
    check_fixtures: Callable[[], list[FixtureCheck]]
    #: the attendance rules wired as ``interop listen mllp --config`` wires them (the
    #: configuration, its ``[attendance]``, the state file), not yet started
    build_attendance: Callable[[Config, AttendanceSettings, Path], AttendanceService]
