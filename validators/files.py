"""Validate files and folders of artefact JSON, one report per file."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from interop.artefact_json import read_artefact_file
from interop.domain import ArtefactBase
from interop.issues import Issue

#: file endings validated when a folder is given
VALIDATED_SUFFIXES = (".json",)


@dataclass
class FileReport:
    """What validating one file found. ``io_error`` is set when it could not be read."""

    path: Path
    artefact: ArtefactBase | None = None
    issues: list[Issue] = field(default_factory=list)
    io_error: str | None = None

    @property
    def errors(self) -> list[Issue]:
        """The issues of error severity."""
        return [i for i in self.issues if i.is_error]

    @property
    def ok(self) -> bool:
        """Read, and no errors."""
        return self.io_error is None and not self.errors


def collect_files(paths: Iterable[Path]) -> Iterator[Path]:
    """Files as given, and every ``*.json`` below each folder, in a stable order."""
    for path in paths:
        if path.is_dir():
            yield from sorted(
                p for p in path.rglob("*") if p.is_file() and p.suffix in VALIDATED_SUFFIXES
            )
        else:
            yield path


def validate_file(path: Path) -> FileReport:
    """Read and validate one artefact JSON file."""
    try:
        loaded = read_artefact_file(path)
    except OSError as exc:
        return FileReport(path, io_error=exc.strerror or str(exc))
    return FileReport(path, loaded.artefact, loaded.issues)


def validate_paths(paths: Iterable[Path]) -> Iterator[FileReport]:
    """Validate every file named or found below the folders named."""
    for path in collect_files(paths):
        yield validate_file(path)
