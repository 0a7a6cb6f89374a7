"""``[attendance]``: what the attendance rules read, where their notifications go, their state.

Keys (paths are relative to the configuration file)::

    [attendance]
    flag_source = "ledger"          # "ledger" | "stand-in" | "endpoint:NAME" (a fhir endpoint)
    ledger = "interop-state.sqlite" # "ledger": the LA's CP-IS sync ledger (default: the state)
    register = "cpis-register.sqlite" # "stand-in": the CP-IS stand-in's register (required)
    plan_source = "la-fhir"         # fhir endpoint holding health treatment plans (optional)
    notify = ["la-mesh", "la-fhir"] # mesh / fhir endpoints told of (a) and (b) by default
    route_by_directory = true       # an LA in [directory] with mesh/fhir endpoints is told there
    key_worker_workflow_id = "..."  # MESH workflow of (b) on a mesh endpoint (else fhir only)
    alert = "trust-fhir"            # fhir: a Flag; mllp: an HL7 v2 ORU^R01 (optional)
    state = "attendance.sqlite"     # the state file (``--state`` overrides it)
    dedupe_hours = 24               # one notification per child, organisation and kind per window
    retry_initial = 2.0             # seconds before the first retry of a failed send
    retry_max = 300.0               # the longest wait between retries

``read_attendance_settings`` checks the keys' shapes and raises ``AttendanceSettingsError``
listing every problem with its key path; ``endpoint_problems`` checks the endpoint names
against the loaded configuration (they exist and are of a kind that fits).

The section lives in the configuration package (``interop.attendance.settings`` re-exports
it for the attendance service), so reading a configuration never imports the service.
"""

from __future__ import annotations

import re
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, Any, Literal

from interop.errors import ConfigurationError

if TYPE_CHECKING:
    from interop.config.models import EndpointSettings

__all__ = [
    "ATTENDANCE_KEYS",
    "AttendanceSettings",
    "AttendanceSettingsError",
    "FlagSourceKind",
    "endpoint_problems",
    "read_attendance_settings",
]

FlagSourceKind = Literal["ledger", "stand-in", "endpoint"]

ATTENDANCE_KEYS = (
    "flag_source",
    "ledger",
    "register",
    "plan_source",
    "notify",
    "route_by_directory",
    "key_worker_workflow_id",
    "alert",
    "state",
    "dedupe_hours",
    "retry_initial",
    "retry_max",
)
# the same shapes [endpoints] accepts for endpoint names and MESH workflow ids
_ENDPOINT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
_WORKFLOW = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,99}$")


class AttendanceSettingsError(ConfigurationError, ValueError):
    """``[attendance]`` cannot be used; ``problems`` are (key path, message) pairs."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(f"{path}: {message}" for path, message in problems))


@dataclass(frozen=True)
class AttendanceSettings:
    """``[attendance]``: see the module's docstring for each key."""

    flag_source: FlagSourceKind
    notify: tuple[str, ...]
    flag_endpoint: str | None = None
    ledger: Path | None = None
    register: Path | None = None
    plan_source: str | None = None
    route_by_directory: bool = True
    key_worker_workflow_id: str | None = None
    alert: str | None = None
    state: Path | None = None
    dedupe_hours: float = 24.0
    retry_initial: float = 2.0
    retry_max: float = 300.0

    def endpoint_names(self) -> tuple[str, ...]:
        """Every endpoint these settings name (whose secrets the listener must read)."""
        names = [self.flag_endpoint, self.plan_source, *self.notify, self.alert]
        return tuple(dict.fromkeys(n for n in names if n is not None))


def read_attendance_settings(table: Mapping[str, Any], base: Path) -> AttendanceSettings:
    """``[attendance]`` read from its TOML table; ``base`` is the configuration file's folder.

    ``AttendanceSettingsError`` lists every problem (unknown key, wrong type, bad value).
    """
    reader = _Reader(table, base)
    settings = reader.read()
    if reader.problems:
        raise AttendanceSettingsError(reader.problems)
    assert settings is not None
    return settings


def endpoint_problems(
    settings: AttendanceSettings,
    endpoints: Mapping[str, EndpointSettings],
    *,
    has_mesh: bool,
) -> list[tuple[str, str]]:
    """The (key path, message) problems of the endpoints ``settings`` name, checked against the
    configured ``endpoints`` (all of them read) and whether ``[mesh]`` is present."""
    problems: list[tuple[str, str]] = []

    def check(key: str, name: str | None, kinds: tuple[str, ...]) -> None:
        if name is None:
            return
        endpoint = endpoints.get(name)
        if endpoint is None:
            problems.append((f"attendance.{key}", f"no endpoint {name!r} in [endpoints]"))
        elif endpoint.kind not in kinds:
            wanted = " or ".join(kinds)
            problems.append(
                (f"attendance.{key}", f"endpoint {name!r} is {endpoint.kind}, not {wanted}")
            )
        elif endpoint.kind == "mesh" and not has_mesh:
            problems.append(
                (f"attendance.{key}", f"endpoint {name!r} is sent with [mesh], which is missing")
            )
        elif endpoint.kind == "mesh" and not endpoint.workflow_id:
            problems.append((f"attendance.{key}", f"mesh endpoint {name!r} has no workflow_id"))

    check("flag_source", settings.flag_endpoint, ("fhir",))
    check("plan_source", settings.plan_source, ("fhir",))
    for name in settings.notify:
        check("notify", name, ("mesh", "fhir"))
    check("alert", settings.alert, ("fhir", "mllp"))
    return problems


class _Reader:
    def __init__(self, table: Mapping[str, Any], base: Path) -> None:
        self.table = table
        self.base = base
        self.problems: list[tuple[str, str]] = []

    def problem(self, key: str, message: str) -> None:
        self.problems.append((f"attendance.{key}" if key else "attendance", message))

    def text(self, key: str, *, required: bool = False) -> str | None:
        value = self.table.get(key)
        if value is None:
            if required:
                self.problem(key, "required")
            return None
        if not isinstance(value, str) or not value.strip():
            self.problem(key, "expected a non-empty string")
            return None
        return value.strip()

    def endpoint_name(self, key: str, value: str | None) -> str | None:
        if value is not None and not _ENDPOINT_NAME.fullmatch(value):
            self.problem(key, f"{value!r} is not an endpoint name")
            return None
        return value

    def path(self, key: str) -> Path | None:
        value = self.text(key)
        return None if value is None else self.base / value

    def number(self, key: str, default: float, low: float, high: float) -> float:
        value = self.table.get(key, default)
        if isinstance(value, bool) or not isinstance(value, int | float):
            self.problem(key, "expected a number")
            return default
        if not low <= value <= high:
            self.problem(key, f"must be between {low:g} and {high:g}")
            return default
        return float(value)

    def read(self) -> AttendanceSettings | None:
        for key in self.table:
            if key not in ATTENDANCE_KEYS:
                self.problem(key, f"unknown key (known: {', '.join(ATTENDANCE_KEYS)})")
        source = self.text("flag_source", required=True)
        kind: FlagSourceKind = "ledger"
        flag_endpoint = None
        if source is not None:
            if source in ("ledger", "stand-in"):
                kind = "ledger" if source == "ledger" else "stand-in"
            elif source.startswith("endpoint:"):
                kind = "endpoint"
                flag_endpoint = self.endpoint_name("flag_source", source[len("endpoint:") :])
                if flag_endpoint is None and source == "endpoint:":
                    self.problem("flag_source", "name the endpoint: endpoint:NAME")
            else:
                self.problem(
                    "flag_source", 'must be "ledger", "stand-in" or "endpoint:NAME" (fhir)'
                )
        register = self.path("register")
        if source == "stand-in" and register is None:
            self.problem("register", 'required with flag_source = "stand-in"')
        notify = self.table.get("notify")
        names: list[str] = []
        if notify is None:
            self.problem("notify", "required: the endpoints the responsible LA is told through")
        elif not isinstance(notify, list) or not notify:
            self.problem("notify", "expected a non-empty list of endpoint names")
        else:
            for item in notify:
                if isinstance(item, str) and _ENDPOINT_NAME.fullmatch(item.strip()):
                    names.append(item.strip())
                else:
                    self.problem("notify", f"{item!r} is not an endpoint name")
        route = self.table.get("route_by_directory", True)
        if not isinstance(route, bool):
            self.problem("route_by_directory", "expected a boolean")
            route = True
        workflow = self.text("key_worker_workflow_id")
        if workflow is not None and not _WORKFLOW.fullmatch(workflow):
            self.problem(
                "key_worker_workflow_id",
                "a workflow id is up to 100 letters, digits, '_', '.', ':' or '-'",
            )
        retry_initial = self.number("retry_initial", 2.0, 0.01, 3600)
        retry_max = self.number("retry_max", 300.0, 0.01, 86400)
        if retry_max < retry_initial:
            self.problem("retry_max", "must not be less than retry_initial")
        settings = AttendanceSettings(
            flag_source=kind,
            notify=tuple(dict.fromkeys(names)),
            flag_endpoint=flag_endpoint,
            ledger=self.path("ledger"),
            register=register,
            plan_source=self.endpoint_name("plan_source", self.text("plan_source")),
            route_by_directory=route,
            key_worker_workflow_id=workflow,
            alert=self.endpoint_name("alert", self.text("alert")),
            state=self.path("state"),
            dedupe_hours=self.number("dedupe_hours", 24.0, 1 / 60, 24 * 7),
            retry_initial=retry_initial,
            retry_max=retry_max,
        )
        return None if self.problems else settings
