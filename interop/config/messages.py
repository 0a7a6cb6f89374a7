"""Configuration problems and their messages: each names its key path (``mesh.password``),
suggests the close name for a near miss, and never contains a secret."""

from __future__ import annotations

import difflib
from collections.abc import Iterable
from dataclasses import dataclass
from pathlib import Path

from interop.errors import ConfigurationError

SECRET_HINT = (
    'a secret is never written in the configuration file: write { env = "NAME" } to read it '
    'from an environment variable, or { file = "path" } to read it from a file'
)
PEM_HINT = (
    'write { file = "path/to/file.pem" } (relative to the configuration file) or '
    '{ env = "NAME" } naming an environment variable that holds the path'
)


@dataclass(frozen=True)
class ConfigProblem:
    """One problem of a configuration file: where (``mesh.password``) and what."""

    path: str
    message: str

    def __str__(self) -> str:
        return f"{self.path}: {self.message}" if self.path else self.message


class ConfigError(ConfigurationError):
    """The configuration cannot be used; ``problems`` lists every problem found."""

    def __init__(self, source: Path, problems: list[ConfigProblem]) -> None:
        self.source = source
        self.problems = tuple(problems)
        lines = "\n".join(f"  {problem}" for problem in problems)
        super().__init__(f"invalid configuration {source}:\n{lines}")

    @property
    def paths(self) -> tuple[str, ...]:
        """The key paths of the problems, in the order found."""
        return tuple(problem.path for problem in self.problems)


def did_you_mean(name: str, known: Iterable[str]) -> str:
    """`` (did you mean 'x'?)`` for the known name closest to ``name``, or an empty string."""
    close = difflib.get_close_matches(name, list(known), n=1)
    return f" (did you mean {close[0]!r}?)" if close else ""


def reason(exc: OSError) -> str:
    """Why a file could not be read, without the path (the caller names it)."""
    return exc.strerror or type(exc).__name__


def type_name(value: object) -> str:
    """A TOML value's type in words: "a string", "a table"..."""
    names = {str: "a string", bool: "a boolean", int: "an integer", float: "a number"}
    names |= {dict: "a table", list: "an array"}
    return names.get(type(value), type(value).__name__)
