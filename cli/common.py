"""What several commands share: loading the configuration and the state file, with clear errors."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import TYPE_CHECKING, NoReturn

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


__all__ = ["DEFAULT_STATE", "config_error", "fail", "load_config_or_exit"]
