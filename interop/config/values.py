"""The value types of ``interop.toml``, as pydantic validators with the reader's own messages.

Each type is ``Annotated[T, BeforeValidator(...)]``: while a file is read (validation context
``{"read": ReadContext}``), the validator checks the TOML value and raises an ``issue``
worded for the person editing the file; a value a caller builds in code (no context) is
trusted as it is, so ``dataclasses.replace`` and test settings keep working.

Secrets and PEM files are resolved here too: ``{ env = "NAME" }`` or ``{ file = "path" }``
becomes a ``Secret`` (or a ``Path``), read only when ``ReadContext.resolve`` is true.
"""

from __future__ import annotations

import os
import re
import stat
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field, fields
from pathlib import Path
from typing import Annotated, Any, TypeVar

from pydantic import BeforeValidator, TypeAdapter, ValidationError, ValidationInfo
from pydantic_core import InitErrorDetails, PydanticCustomError

from interop.config.messages import PEM_HINT, SECRET_HINT, did_you_mean, reason, type_name

# MESH mailbox ids are short upper-case alphanumerics (X26ABC1, X26HC005); MESH treats them
# case-insensitively, and the authorisation token must carry the same case as the URL, so the
# configuration normalises them to upper case.
MAILBOX = re.compile(r"^[A-Za-z0-9]{3,20}$")
# Workflow ids are opaque, but '*' and '!' are MESH's inbox-filter syntax and whitespace breaks
# the mex-workflowid header, so neither is allowed.
WORKFLOW = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.:\-]{0,99}$")
# Endpoint names are typed on the command line, where "://" marks a URL instead.
ENDPOINT_NAME = re.compile(r"^[A-Za-z0-9][A-Za-z0-9_.\-]{0,63}$")
WORKFLOW_RULE = "a workflow id is up to 100 letters, digits, '_', '.', ':' or '-'"


@dataclass(frozen=True)
class Secret:
    """A secret value and where it came from; its repr and str never show the value."""

    source: str
    value: str = field(repr=False)

    def __str__(self) -> str:
        return f"<secret from {self.source}>"


@dataclass(frozen=True)
class ReadContext:
    """What a file's values are read against: its folder, whether secrets and files are read
    (not for a section or endpoint the command does not need), the environment's name, and
    whether the file declares it (``[environment] name``) or it is production by default, and
    then what a production guard's message adds (None: how to declare it in the file)."""

    base: Path
    resolve: bool = True
    environment: str | None = "production"
    environment_declared: bool = True
    production_hint: str | None = None


def issue(message: str) -> PydanticCustomError:
    """A configuration problem as pydantic carries it (``loading.problems_of`` reads it back).

    The message travels in the context, not the template, so its braces
    (``{ env = "NAME" }``) are not taken for placeholders.
    """
    return PydanticCustomError("config", "{message}", {"message": message})


def issues(found: Sequence[tuple[tuple[str, ...], str]], value: object) -> ValidationError:
    """Several problems at once, each at a location below the value being validated."""
    details = [InitErrorDetails(type=issue(m), loc=loc, input=value) for loc, m in found]
    return ValidationError.from_exception_data("configuration", details)


def reading(info: ValidationInfo) -> ReadContext | None:
    """The read context of this validation; None when a caller builds settings in code."""
    context = info.context
    found = context.get("read") if isinstance(context, Mapping) else None
    return found if isinstance(found, ReadContext) else None


_T = TypeVar("_T")


def from_file(check: Callable[[Any, ReadContext], _T]) -> BeforeValidator:
    """A validator that runs ``check`` on values read from a file and trusts the others."""

    def validate(value: Any, info: ValidationInfo) -> Any:
        context = reading(info)
        return value if context is None else check(value, context)

    return BeforeValidator(validate)


def _typed(value: Any, kind: type | tuple[type, ...], expected: str) -> Any:
    # bool is an int in Python, but `timeout = true` is a mistake, not one second.
    if (isinstance(value, bool) and kind is not bool) or not isinstance(value, kind):
        raise issue(f"expected {expected}, found {type_name(value)}")
    return value


def text(value: Any, _: ReadContext | None = None) -> str:
    """A non-empty string, stripped."""
    stripped = str(_typed(value, str, "a string")).strip()
    if not stripped:
        raise issue("must not be empty")
    return stripped


def number(low: float, high: float) -> BeforeValidator:
    """A number more than ``low`` and at most ``high`` (an integer is read as a number)."""

    def check(value: Any, _: ReadContext) -> float:
        if not low < float(_typed(value, (int, float), "a number")) <= high:
            raise issue(f"must be more than {low:g} and at most {high:g}")
        return float(value)

    return from_file(check)


def integer(low: int, high: int) -> BeforeValidator:
    """An integer from ``low`` to ``high``."""

    def check(value: Any, _: ReadContext) -> int:
        if not low <= int(_typed(value, int, "an integer")) <= high:
            raise issue(f"must be between {low} and {high}")
        return int(value)

    return from_file(check)


def flag(expected: str = "a boolean") -> BeforeValidator:
    """``true`` or ``false``."""
    return from_file(lambda value, _: _typed(value, bool, expected))


def mailbox(value: Any, _: ReadContext | None = None) -> str:
    """A MESH mailbox id, upper-cased."""
    found = text(value)
    if not MAILBOX.fullmatch(found):
        raise issue("a MESH mailbox id is 3 to 20 letters or digits")
    return found.upper()


def workflow_id(value: Any, _: ReadContext | None = None) -> str:
    """A MESH workflow id."""
    found = text(value)
    if not WORKFLOW.fullmatch(found):
        raise issue(WORKFLOW_RULE)
    return found


def _reference(value: Any, hint: str) -> tuple[str, str]:
    """The ("env" | "file", name) of a ``{ env = ... }`` / ``{ file = ... }`` setting."""
    if not isinstance(value, dict):
        # Never echo the value: a plain string here is most likely the secret itself.
        raise issue(f"expected a table, found {type_name(value)}; {hint}")
    kinds = [k for k in ("env", "file") if k in value]
    if set(value) - {"env", "file"} or len(kinds) != 1:
        raise issue(f"expected exactly one of 'env' or 'file'; {hint}")
    name = value[kinds[0]]
    if not isinstance(name, str) or not name.strip():
        raise issues([((kinds[0],), "expected a non-empty string")], value)
    return kinds[0], name.strip()


def secret(value: Any, context: ReadContext) -> Secret:
    """A ``Secret`` read from the environment variable or the file the value names."""
    if isinstance(value, Secret):
        return value
    kind, name = _reference(value, SECRET_HINT)
    if not context.resolve:
        return Secret(f"{kind}:{name}", "")
    if kind == "env":
        read = os.environ.get(name)
        if read is None:
            raise issue(f"environment variable {name} is not set")
        source = f"env:{name}"
    else:
        file = context.base / name
        try:
            _check_private(file)
            read = file.read_text(encoding="utf-8")
        except (OSError, UnicodeDecodeError) as exc:
            why = reason(exc) if isinstance(exc, OSError) else "not UTF-8 text"
            raise issue(f"cannot read secret file {file}: {why}") from None
        # Files usually end with a newline that is not part of the secret.
        read = read.removesuffix("\n").removesuffix("\r")
        source = f"file:{file}"
    if not read.strip():
        raise issue(f"the secret from {source} is empty")
    return Secret(source, read)


def _check_private(file: Path) -> None:
    """Refuse a secret file the group or others may read: the secret is as good as public."""
    mode = file.stat().st_mode
    if stat.S_ISREG(mode) and mode & 0o077:
        raise issue(
            f"secret file {file} can be read by others (mode {stat.S_IMODE(mode):04o});"
            f" make it private: chmod 600 {file}"
        )


def pem_file(value: Any, context: ReadContext) -> Path:
    """The PEM file a ``{ file = ... }`` names, or the path an ``{ env = ... }`` variable holds."""
    if isinstance(value, Path):
        return value
    kind, name = _reference(value, PEM_HINT)
    if not context.resolve:
        return Path(name)
    if kind == "env":
        named = os.environ.get(name)
        if named is None or not named.strip():
            raise issue(f"environment variable {name} is not set")
        name = named.strip()
    file = context.base / name
    try:
        with file.open("rb"):
            pass
    except OSError as exc:
        raise issue(f"cannot read file {file}: {reason(exc)}") from None
    return file


def relative_path(value: Any, context: ReadContext) -> Path:
    """A path relative to the configuration file."""
    return value if isinstance(value, Path) else context.base / text(value)


class _Hint:
    """Metadata: what to add to "missing required setting" for this field."""

    def __init__(self, hint: str) -> None:
        self.hint = hint


Text = Annotated[str, from_file(text)]
Mailbox = Annotated[str, from_file(mailbox)]
WorkflowId = Annotated[str, from_file(workflow_id)]
SecretValue = Annotated[Secret, from_file(secret), _Hint(SECRET_HINT)]
PemFile = Annotated[Path, from_file(pem_file)]
RelativePath = Annotated[Path, from_file(relative_path)]
Flag = Annotated[bool, flag()]


_M = TypeVar("_M")


def unknown_keys(
    table: Mapping[str, Any], allowed: tuple[str, ...], *, what: str = "key"
) -> list[tuple[tuple[str, ...], str]]:
    """A problem for each key of ``table`` not in ``allowed``, with the close name if any."""
    return [
        ((key,), f"unknown {what}{did_you_mean(key, allowed)}; allowed: {', '.join(allowed)}")
        for key in table
        if key not in allowed
    ]


def read_table(
    cls: type[_M],
    table: Mapping[str, Any],
    context: ReadContext,
    *,
    extra: Mapping[str, Any] | None = None,
    defaults: Mapping[str, Any] | None = None,
    found: list[tuple[tuple[str, ...], str]] | None = None,
) -> _M:
    """``table`` read into ``cls`` (a pydantic dataclass with ``FILE_KEYS``).

    Every problem is raised at once as a ``ValidationError`` whose errors are ``issue``s:
    unknown keys, ``found`` (the caller's own checks), missing and invalid values. ``extra``
    holds values that are not keys of the table (an endpoint's name); ``defaults`` values
    read as if the file gave them (a default path is relative to the file too).
    """
    allowed: tuple[str, ...] = cls.FILE_KEYS  # type: ignore[attr-defined]
    names = {f.name for f in fields(cls)}  # type: ignore[arg-type]  # a dataclass
    data = {key: value for key, value in table.items() if key in allowed and key in names}
    data = {**(defaults or {}), **data, **(extra or {})}
    problems = unknown_keys(table, allowed)
    result = None
    try:
        result = _adapter(cls).validate_python(data, context={"read": context})
    except ValidationError as exc:
        problems += _worded(cls, exc)
    # the checks of several keys after those of each key, as a reader goes down the table
    problems += found or []
    checks = getattr(cls, "checks", None)
    if checks is not None:
        problems += checks(table, context)
    if problems or result is None:
        raise issues(problems, dict(table))
    return result


_ADAPTERS: dict[type, TypeAdapter[Any]] = {}


def _adapter(cls: type[_M]) -> TypeAdapter[_M]:
    # building an adapter costs more than reading a table with it: one per class
    found = _ADAPTERS.get(cls)
    if found is None:
        found = _ADAPTERS[cls] = TypeAdapter(cls)
    return found


def _worded(cls: type, exc: ValidationError) -> list[tuple[tuple[str, ...], str]]:
    """pydantic's errors in the reader's words (``issue`` messages are already worded)."""
    hints = {f.name: _hint_of(cls, f.name) for f in fields(cls)}
    worded = []
    for error in exc.errors(include_url=False, include_input=False):
        loc = tuple(str(part) for part in error["loc"])
        if error["type"] == "config":
            message = str((error.get("ctx") or {})["message"])
        elif error["type"] == "missing":
            hint = hints.get(loc[-1], "") if len(loc) == 1 else ""
            message = "missing required setting" + (f"; {hint}" if hint else "")
        else:
            message = error["msg"]
        worded.append((loc, message))
    return worded


def _hint_of(cls: type, name: str) -> str:
    info = getattr(cls, "__pydantic_fields__", {}).get(name)
    for item in getattr(info, "metadata", ()):
        if isinstance(item, _Hint):
            return item.hint
    return ""
