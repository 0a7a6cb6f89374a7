"""The mappings and checks the demo's simulators and checking steps are handed by the caller.

The demo's workflow steps (sync, replies, lookup, push, the attendance rules) call
``interop.jobs`` like any caller. What is left here is what the simulators (the CP-IS stand-in
publishing on FHIR, the FHIR sandbox's write check) and the conformance step use, handed in so
that a test can replace one. ``interop.cli.demo_cmd.demo_toolkit()`` builds the real one.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import TYPE_CHECKING, Any

from interop.cpis.model import CpisRecord
from interop.domain import ArtefactBase, ChildProtectionFlag, ResponsibleLocalAuthority
from interop.issues import Issue

if TYPE_CHECKING:
    pass

JSON = dict[str, Any]

__all__ = ["JSON", "FixtureCheck", "Toolkit"]


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

    record_to_flag: Callable[[CpisRecord, ResponsibleLocalAuthority], ChildProtectionFlag]
    to_fhir: Callable[[ArtefactBase], JSON]
    #: the FHIR sandbox's check of every write (the validation chain)
    resource_validator: Callable[[JSON], list[Issue]]
    #: every shipped conformance fixture against its manifest
    check_fixtures: Callable[[], list[FixtureCheck]]
