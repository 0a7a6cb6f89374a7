"""A folder endpoint (``kind = "folder"``): files dropped into a directory another system reads.

``FolderEndpoint`` writes each message as one file, atomically: the bytes go to a hidden
temporary file in the same folder, are flushed to disk, then renamed into place, so a reader
polling the folder never sees half a file. Names are bare file names (no path separators, no
leading dot); writing a name again replaces the file, which keeps a repeated send idempotent.
A file the folder cannot take (missing permission, full disk) is a ``FolderError``.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import TYPE_CHECKING

from interop.transport.base import Endpoint, TransportError

if TYPE_CHECKING:
    from interop.config import EndpointSettings

__all__ = ["FolderEndpoint", "FolderError"]


class FolderError(TransportError):
    """The folder could not be written or read."""


class FolderEndpoint(Endpoint):
    """One folder; ``name`` is the configured endpoint name, or the folder's path."""

    def __init__(self, path: Path, *, name: str | None = None) -> None:
        self.path = Path(path)
        self.name = name or str(self.path)

    @classmethod
    def from_settings(cls, settings: EndpointSettings) -> FolderEndpoint:
        """The endpoint of a configured ``kind = "folder"`` endpoint."""
        if settings.kind != "folder" or settings.path is None:
            raise ValueError(f"endpoint {settings.name} is a {settings.kind} endpoint, not folder")
        return cls(settings.path, name=settings.name)

    def __repr__(self) -> str:
        return f"FolderEndpoint({str(self.path)!r})"

    def write(self, filename: str, data: bytes) -> Path:
        """Write ``data`` as ``filename`` (made or replaced whole); the folder is made when
        absent. Returns the file's path."""
        _check_name(filename)
        target = self.path / filename
        try:
            self.path.mkdir(parents=True, exist_ok=True)
            handle, temporary = tempfile.mkstemp(dir=self.path, prefix=f".{filename}.")
            try:
                with os.fdopen(handle, "wb") as out:
                    out.write(data)
                    out.flush()
                    os.fsync(out.fileno())
                os.replace(temporary, target)
            except BaseException:
                Path(temporary).unlink(missing_ok=True)
                raise
        except OSError as exc:
            raise FolderError(f"{self.name}: cannot write {filename}: {_reason(exc)}") from None
        return target

    def files(self) -> list[str]:
        """The names of the files in the folder (none while it does not exist), sorted;
        hidden files, such as a write in progress, are left out."""
        try:
            entries = list(self.path.iterdir()) if self.path.exists() else []
        except OSError as exc:
            raise FolderError(f"{self.name}: cannot list the folder: {_reason(exc)}") from None
        return sorted(p.name for p in entries if p.is_file() and not p.name.startswith("."))

    def read(self, filename: str) -> bytes:
        """The bytes of ``filename``."""
        _check_name(filename)
        try:
            return (self.path / filename).read_bytes()
        except OSError as exc:
            raise FolderError(f"{self.name}: cannot read {filename}: {_reason(exc)}") from None

    def close(self) -> None:
        """Nothing to release: every write is complete when ``write`` returns."""


def _check_name(filename: str) -> None:
    if (
        not filename
        or filename.startswith(".")
        or "/" in filename
        or "\\" in filename
        or "\x00" in filename
    ):
        raise ValueError("a folder endpoint takes a bare file name (no path, no leading dot)")


def _reason(exc: OSError) -> str:
    return exc.strerror or type(exc).__name__
