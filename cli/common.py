"""What several commands share: loading the configuration and the state file, with clear errors."""

from __future__ import annotations

import sys
from collections.abc import Callable, Collection, Iterable
from pathlib import Path
from typing import TYPE_CHECKING, Any, NoReturn, TypeVar

import click

from interop.errors import (
    EXIT_INVALID,
    EXIT_REMOTE,
    EXIT_USAGE,
    InputError,
    RemoteError,
    UsageError,
)
from interop.jobs.state import DEFAULT_STATE

if TYPE_CHECKING:
    from interop.config import Config, ConfigError
    from interop.la_export import RowProblem

#: rejected rows printed before "… N more, see --rejects"
REJECTS_SHOWN = 50

_F = TypeVar("_F", bound=Callable[..., Any])


_BY_CODE: dict[int, type[InputError | UsageError | RemoteError]] = {
    EXIT_INVALID: InputError,
    EXIT_USAGE: UsageError,
    EXIT_REMOTE: RemoteError,
}


def fail(message: str, code: int = EXIT_USAGE) -> NoReturn:
    """Stop the command: ``message`` on standard error, exit ``code`` (1 invalid input,
    2 usage, 3 remote), through the one error handler of ``interop.cli.main``."""
    raise _BY_CODE[code](message)


def load_config_or_exit(path: Path, need: Collection[str] | None = None) -> Config:
    """The configuration, or exit 2 listing every problem with its key. ``need``: the sections
    the command cannot do without (default: those of the CP-IS sync)."""
    from interop.config import CPIS_SECTIONS, ConfigError, load_config

    try:
        return load_config(path, need=CPIS_SECTIONS if need is None else need)
    except ConfigError as exc:
        raise config_error(path, exc) from None


def config_error(path: Path, exc: ConfigError) -> UsageError:
    """``path: configuration error:`` and one indented line per problem (exit 2)."""
    lines = [f"{path}: configuration error:"]
    lines += [f"  {problem.path}: {problem.message}" for problem in exc.problems]
    return UsageError("\n".join(lines))


def state_options(state_help: str) -> Callable[[_F], _F]:
    """``--state``, ``--new-state`` and ``--wait``: where a job's state is and how to hold it."""

    def decorate(command: _F) -> _F:
        command = click.option(
            "--wait",
            type=click.FloatRange(min=0),
            default=0.0,
            metavar="SECONDS",
            help="Wait this long for another run holding the state (default: exit 75 at once).",
        )(command)
        command = click.option(
            "--new-state",
            is_flag=True,
            help="Create the state if it is missing (a first run). Without it a missing or"
            " empty state is refused: restore its backup instead.",
        )(command)
        return click.option("--state", metavar="PATH|URL", help=state_help)(command)

    return decorate


def resolve_state(state: str | None, config: Config | None) -> str | Path:
    """``--state``, else the configuration's ``state``, else the default file."""
    if state is not None:
        return state
    if config is not None and config.state is not None:
        return config.state
    return DEFAULT_STATE


def reading_progress() -> Callable[[int], None] | None:
    """A progress line on standard error while a large export is read (only on a terminal:
    a scheduler's log gets no control characters)."""
    if not sys.stderr.isatty():
        return None

    def show(line: int) -> None:
        click.echo(f"\rreading and planning: line {line:,}", err=True, nl=False)

    return show


def write_rejects_or_exit(path: Path, problems: Iterable[RowProblem]) -> None:
    """Write ``--rejects FILE``; exit 2 with one line when it cannot be written."""
    from interop.la_export import write_rejects

    try:
        write_rejects(path, problems)
    except OSError as exc:
        fail(f"--rejects {path}: cannot write: {exc.strerror or exc}", 2)


__all__ = [
    "DEFAULT_STATE",
    "REJECTS_SHOWN",
    "config_error",
    "fail",
    "load_config_or_exit",
    "reading_progress",
    "resolve_state",
    "state_options",
    "write_rejects_or_exit",
]
