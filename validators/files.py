"""Validate files and folders — artefact JSON, FHIR JSON/XML, CP-IS XML — one report each."""

from __future__ import annotations

from collections.abc import Iterable, Iterator
from dataclasses import dataclass, field
from pathlib import Path

from interop.artefact_json import parse_artefact
from interop.domain import ArtefactBase
from interop.issues import Issue
from interop.validators.chain import ValidationContext, validate_artefact, validate_resource

#: file endings validated when a folder is given
VALIDATED_SUFFIXES = (".json", ".xml", ".hl7")
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


def validate_bytes(data: bytes, path: Path, context: ValidationContext | None = None) -> FileReport:
    """Validate one file's content, whatever its format (detected), through the whole chain."""
    context = context or ValidationContext()
    if _is_cpis(data):
        from interop.cpis.codec import CpisInputError, message_type, validate_cpis_xml

        try:
            kind = f"CP-IS {message_type(data)}"
        except CpisInputError:
            kind = "CP-IS"
        issues = validate_cpis_xml(data)
        if not issues and kind == "CP-IS upload":
            issues = _upload_nhs_numbers(data)
        return FileReport(path, issues=issues, kind=kind)
    if data.lstrip(b"\x0b\r\n ").startswith(b"MSH"):
        from interop.hl7v2.full_validation import validate_er7

        kind, issues = validate_er7(data)
        return FileReport(path, issues=issues, kind=kind)
    from interop.mappings.convert import detect_format

    detected = detect_format(data)
    if detected == "artefact":
        loaded = parse_artefact(data, source=str(path))
        if loaded.artefact is None:
            return FileReport(path, None, loaded.issues)
        issues = list(loaded.issues)
        if loaded.ok:
            issues += validate_artefact(loaded.artefact, context)
        return FileReport(path, loaded.artefact, issues, kind=loaded.artefact.kind)
    from interop.fhir import FhirInputError, read_fhir_json, read_fhir_xml

    label = "FHIR XML" if detected == "fhir-xml" else "FHIR JSON"
    try:
        resource = read_fhir_xml(data) if detected == "fhir-xml" else read_fhir_json(data)
    except FhirInputError as exc:
        return FileReport(path, issues=exc.issues, kind=label)
    result = validate_resource(resource, context)
    what = result.kind or str(resource.get("resourceType", "resource"))
    return FileReport(path, result.artefact, result.issues, kind=f"{what} as {label}")


def _upload_nhs_numbers(data: bytes) -> list[Issue]:
    """NHS numbers of a schema-valid upload, which the XSD only knows as ten digits.

    (CP-IS itself answers such a record with CPR04 rather than refusing the file, so the codec
    reads them; the validator says so before the file is sent.)
    """
    from interop.cpis.upload import ROOT, UploadReader
    from interop.domain.rules import RULES
    from interop.identifiers import InvalidNhsNumber, check_nhs_number
    from interop.issues import IssueCode, error

    reader = UploadReader(data)
    reader.header()
    issues: list[Issue] = []
    for result in reader.records():
        if result.record is None:
            continue
        try:
            check_nhs_number(result.record.nhs_number)
        except InvalidNhsNumber as exc:
            where = f"/{ROOT}/component[{result.index}]/*/subject/*/id/@extension"
            rule = RULES["C01"]
            issues.append(
                error(
                    IssueCode.VALUE,
                    where,
                    str(exc),
                    rule_id=rule.id,
                    rule_source=rule.source,
                    line=result.line,
                )
            )
    return issues


def validate_file(path: Path, context: ValidationContext | None = None) -> FileReport:
    """Read and validate one file."""
    try:
        with path.open("rb") as handle:
            data = handle.read(MAX_FILE_BYTES + 1)
    except OSError as exc:
        return FileReport(path, io_error=exc.strerror or str(exc))
    return validate_bytes(data, path, context)


def validate_paths(
    paths: Iterable[Path], context: ValidationContext | None = None
) -> Iterator[FileReport]:
    """Validate every file named or found below the folders named, sharing one context."""
    context = context or ValidationContext()
    for path in collect_files(paths):
        yield validate_file(path, context)
