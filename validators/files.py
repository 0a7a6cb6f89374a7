"""Validate files and folders — artefact JSON, FHIR JSON/XML, CP-IS XML — one report each."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from interop.artefact_json import parse_artefact
from interop.domain import ArtefactBase
from interop.issues import Issue

#: file endings validated when a folder is given
VALIDATED_SUFFIXES = (".json", ".xml")
MAX_FILE_BYTES = 200 * 1024 * 1024
HL7_V3_NAMESPACE = b"urn:hl7-org:v3"


@dataclass
class FileReport:
    """What validating one file found. ``io_error`` is set when it could not be read."""

    path: Path
    artefact: ArtefactBase | None = None
    issues: list[Issue] = field(default_factory=list)
    io_error: str | None = None
    #: what the file was read as: an artefact kind, "CP-IS upload", "FHIR"...
    kind: str = "artefact"

    @property
    def errors(self) -> list[Issue]:
        """The issues of error severity."""
        return [i for i in self.issues if i.is_error]

    @property
    def ok(self) -> bool:
        """Read, and no errors."""
        return self.io_error is None and not self.errors


def collect_files(paths: Iterable[Path]) -> Iterator[Path]:
    """Files as given, and every ``*.json`` and ``*.xml`` below each folder, in a stable order."""
    for path in paths:
        if path.is_dir():
            yield from sorted(
                p for p in path.rglob("*") if p.is_file() and p.suffix in VALIDATED_SUFFIXES
            )
        else:
            yield path


def _is_cpis(data: bytes) -> bool:
    head = data.lstrip()[:4096]
    return head.startswith(b"<") and HL7_V3_NAMESPACE in head


def validate_bytes(data: bytes, path: Path) -> FileReport:
    """Validate one file's content, whatever its format (detected)."""
    if _is_cpis(data):
        from interop.cpis.codec import CpisInputError, message_type, validate_cpis_xml

        try:
            kind = f"CP-IS {message_type(data)}"
        except CpisInputError:
            kind = "CP-IS"
        return FileReport(path, issues=validate_cpis_xml(data), kind=kind)
    from interop.mappings.convert import ConversionError, detect_format, read_artefact

    detected = detect_format(data)
    if detected == "artefact":
        loaded = parse_artefact(data, source=str(path))
        kind = loaded.artefact.kind if loaded.artefact is not None else "artefact"
        return FileReport(path, loaded.artefact, loaded.issues, kind=kind)
    try:
        _, artefact = read_artefact(data)
    except ConversionError as exc:
        return FileReport(path, issues=exc.issues, kind=f"FHIR ({detected})")
    return FileReport(path, artefact, kind=f"{artefact.kind} as FHIR ({detected})")


def validate_file(path: Path) -> FileReport:
    """Read and validate one file."""
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        return FileReport(path, io_error=exc.strerror or str(exc))
    return validate_bytes(data, path)


def validate_paths(paths: Iterable[Path]) -> Iterator[FileReport]:
    """Validate every file named or found below the folders named."""
    for path in collect_files(paths):
        yield validate_file(path)
