"""``[attendance]``: what the attendance rules read, where their notifications go, their state.

Keys (paths are relative to the configuration file; ``ledger`` and ``state`` may also be a
``postgresql://`` URL, as the top-level ``state``)::

    [attendance]
    flag_source = "ledger"          # "ledger" | "stand-in" | "endpoint:NAME" (a fhir endpoint)
    ledger = "interop-state.sqlite" # "ledger": the LA's CP-IS sync ledger (default: the state)
    register = "cpis-register.sqlite" # "stand-in": the CP-IS stand-in's register (required)
    plan_source = "la-fhir"         # fhir endpoint holding health treatment plans (optional)
    notify = ["la-mesh", "la-fhir"] # mesh / fhir endpoints told of (a) and (b) by default
    route_by_directory = true       # an LA in [directory] with mesh/fhir endpoints is told there
    key_worker_workflow_id = "..."  # MESH workflow of (b) on a mesh endpoint (else fhir only)
    alert = "trust-fhir"            # fhir: a Flag; mllp: an HL7 v2 ORU^R01 (optional)
    state = "attendance.sqlite"     # the state (``--state`` overrides it; default: the top-level
                                    # ``state``, else interop-state.sqlite)
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

from collections.abc import Mapping
from pathlib import Path
from typing import TYPE_CHECKING, Annotated, Any, ClassVar, Literal

from pydantic import BeforeValidator, ConfigDict, TypeAdapter, ValidationError
from pydantic.dataclasses import dataclass

from interop.config.values import (
    ENDPOINT_NAME,
    WORKFLOW,
    WORKFLOW_RULE,
    ReadContext,
    from_file,
    issue,
    issues,
)
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
# what "missing" means for the keys without a default
_REQUIRED = {
    "flag_source": "required",
    "notify": "required: the endpoints the responsible LA is told through",
}
_NUMBERS = {
    "dedupe_hours": (1 / 60, 24 * 7),
    "retry_initial": (0.01, 3600),
    "retry_max": (0.01, 86400),
}


class AttendanceSettingsError(ConfigurationError, ValueError):
    """``[attendance]`` cannot be used; ``problems`` are (key path, message) pairs."""

    def __init__(self, problems: list[tuple[str, str]]) -> None:
        self.problems = tuple(problems)
        super().__init__("; ".join(f"{path}: {message}" for path, message in problems))


def _text(value: Any) -> str:
    if not isinstance(value, str) or not value.strip():
        raise issue("expected a non-empty string")
    return value.strip()


def _endpoint_name(value: Any, _: ReadContext) -> str:
    name = _text(value)
    if not ENDPOINT_NAME.fullmatch(name):
        raise issue(f"{name!r} is not an endpoint name")
    return name


def _path(value: Any, context: ReadContext) -> Path:
    return context.base / _text(value)


def _path_or_url(value: Any, context: ReadContext) -> Path | str:
    """A state: a path relative to the file, or a PostgreSQL URL as given."""
    text = _text(value)
    if text.startswith(("postgresql://", "postgres://")):
        return text
    return context.base / Path(text).expanduser()


def _notify(value: Any, _: ReadContext) -> tuple[str, ...]:
    if not isinstance(value, list) or not value:
        raise issue("expected a non-empty list of endpoint names")
    wrong = [
        ((), f"{item!r} is not an endpoint name")
        for item in value
        if not (isinstance(item, str) and ENDPOINT_NAME.fullmatch(item.strip()))
    ]
    if wrong:
        raise issues(wrong, value)
    return tuple(dict.fromkeys(item.strip() for item in value))


def _workflow(value: Any, _: ReadContext) -> str:
    found = _text(value)
    if not WORKFLOW.fullmatch(found):
        raise issue(WORKFLOW_RULE)
    return found


def _flag(value: Any, _: ReadContext) -> bool:
    if not isinstance(value, bool):
        raise issue("expected a boolean")
    return value


def _number(value: Any, low: float, high: float) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise issue("expected a number")
    if not low <= value <= high:
        raise issue(f"must be between {low:g} and {high:g}")
    return float(value)


def _bounded(key: str) -> BeforeValidator:
    low, high = _NUMBERS[key]
    return from_file(lambda value, _: _number(value, low, high))


_Name = Annotated[str | None, from_file(_endpoint_name)]
_Path = Annotated[Path | None, from_file(_path)]
_State = Annotated[Path | str | None, from_file(_path_or_url)]


@dataclass(frozen=True, config=ConfigDict(extra="forbid"))
class AttendanceSettings:
    """``[attendance]``: see the module's docstring for each key."""

    FILE_KEYS: ClassVar[tuple[str, ...]] = ATTENDANCE_KEYS

    flag_source: FlagSourceKind
    notify: Annotated[tuple[str, ...], from_file(_notify)]
    flag_endpoint: str | None = None
    ledger: _State = None
    register: _Path = None
    plan_source: _Name = None
    route_by_directory: Annotated[bool, from_file(_flag)] = True
    key_worker_workflow_id: Annotated[str | None, from_file(_workflow)] = None
    alert: _Name = None
    state: _State = None
    dedupe_hours: Annotated[float, _bounded("dedupe_hours")] = 24.0
    retry_initial: Annotated[float, _bounded("retry_initial")] = 2.0
    retry_max: Annotated[float, _bounded("retry_max")] = 300.0

    def endpoint_names(self) -> tuple[str, ...]:
        """Every endpoint these settings name (whose secrets the listener must read)."""
        names = [self.flag_endpoint, self.plan_source, *self.notify, self.alert]
        return tuple(dict.fromkeys(n for n in names if n is not None))


_ADAPTER = TypeAdapter(AttendanceSettings)


def read_attendance_settings(table: Mapping[str, Any], base: Path) -> AttendanceSettings:
    """``[attendance]`` read from its TOML table; ``base`` is the configuration file's folder.

    ``AttendanceSettingsError`` lists every problem (unknown key, wrong type, bad value).
    """
    problems = [
        (f"attendance.{key}", f"unknown key (known: {', '.join(ATTENDANCE_KEYS)})")
        for key in table
        if key not in ATTENDANCE_KEYS
    ]
    data = {key: value for key, value in table.items() if key in ATTENDANCE_KEYS}
    # "endpoint:NAME" is two settings: where flags come from, and which endpoint
    source_problems, source, endpoint = _flag_source(table.get("flag_source"))
    if "flag_source" in table:
        data["flag_source"] = source
        if endpoint is not None:
            data["flag_endpoint"] = endpoint
    problems += [("attendance.flag_source", message) for message in source_problems]
    context = {"read": ReadContext(base)}
    settings = None
    try:
        settings = _ADAPTER.validate_python(data, context=context)
    except ValidationError as exc:
        for error in exc.errors(include_url=False, include_input=False):
            key = ".".join(str(part) for part in error["loc"])
            key = "flag_source" if key == "flag_endpoint" else key
            if error["type"] == "missing":
                message = _REQUIRED.get(key, "required")
            elif error["type"] == "config":
                message = str((error.get("ctx") or {})["message"])
            elif key == "flag_source" and source_problems:
                continue  # already said in the reader's words
            else:
                message = error["msg"]
            problems.append((f"attendance.{key}", message))
    problems += _checks(table)
    if problems or settings is None:
        raise AttendanceSettingsError(problems)
    return settings


def _flag_source(value: Any) -> tuple[list[str], str, str | None]:
    """(problems, kind, endpoint) of a ``flag_source`` value."""
    if value is None:
        return [], "ledger", None
    if not isinstance(value, str) or not value.strip():
        return ["expected a non-empty string"], "ledger", None
    source = value.strip()
    if source in ("ledger", "stand-in"):
        return [], source, None
    if source.startswith("endpoint:"):
        name = source[len("endpoint:") :]
        if not ENDPOINT_NAME.fullmatch(name):
            wrong = [f"{name!r} is not an endpoint name"]
            return (
                [*wrong, "name the endpoint: endpoint:NAME"] if not name else wrong,
                "endpoint",
                None,
            )
        return [], "endpoint", name
    return ['must be "ledger", "stand-in" or "endpoint:NAME" (fhir)'], "ledger", None


def _checks(table: Mapping[str, Any]) -> list[tuple[str, str]]:
    """The problems of keys that go together."""
    found: list[tuple[str, str]] = []
    source = table.get("flag_source")
    register = table.get("register")
    given = isinstance(register, str) and bool(register.strip())
    if isinstance(source, str) and source.strip() == "stand-in" and not given:
        found.append(("attendance.register", 'required with flag_source = "stand-in"'))

    def number_or_default(key: str, default: float) -> float:
        try:
            return _number(table.get(key, default), *_NUMBERS[key])
        except Exception:  # reported by the key itself; the default stands in for it
            return default

    if number_or_default("retry_max", 300.0) < number_or_default("retry_initial", 2.0):
        found.append(("attendance.retry_max", "must not be less than retry_initial"))
    return found


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
