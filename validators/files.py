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


def validate_bytes(data: bytes, path: Path, context: ValidationContext | None = None) -> FileReport:
    """Validate one file's content, whatever its format (detected), through the whole chain."""
    from interop.formats import UnknownFormat, sniff, strip_bom

    context = context or ValidationContext()
    try:
        detected = sniff(data)
        data = strip_bom(data)  # every reader then reads the file as it reads one without it
    except UnknownFormat as exc:
        return FileReport(path, issues=exc.issues, kind="unknown format")
    if detected == "cpis":
        from interop.cpis.codec import CpisInputError, message_type, validate_cpis_xml

        try:
            kind = f"CP-IS {message_type(data)}"
        except CpisInputError:
            kind = "CP-IS"
        issues = validate_cpis_xml(data)
        if not issues and kind == "CP-IS upload":
            issues = _upload_nhs_numbers(data)
        return FileReport(path, issues=issues, kind=kind)
    if detected == "er7":
        from interop.hl7v2.full_validation import validate_er7

        kind, issues = validate_er7(data)
        return FileReport(path, issues=issues, kind=kind)
    if detected == "artefact":
        loaded = parse_artefact(data, source=str(path))
        if loaded.artefact is None:
            return FileReport(path, None, loaded.issues)
        issues = list(loaded.issues)
        if loaded.ok:
            issues += validate_artefact(loaded.artefact, context)
        return FileReport(path, loaded.artefact, issues, kind=loaded.artefact.kind)
    if detected == "fhir-json" and len(data) > context.stream_above:
        from interop.validators.large_bundle import validate_large_bundle

        issues, what = validate_large_bundle(data, context)
        return FileReport(path, issues=issues, kind=f"{what} as FHIR JSON, entry by entry")
    if detected == "fhir-xml" and len(data) > context.stream_above:
        from interop.validators.large_bundle import validate_large_xml_bundle

        issues, what = validate_large_xml_bundle(data, context)
        return FileReport(path, issues=issues, kind=f"{what} as FHIR XML, entry by entry")
    from interop.fhir import FhirInputError, read_fhir_json, read_fhir_xml
    from interop.fhir.wire import FhirLimits

    label = "FHIR XML" if detected == "fhir-xml" else "FHIR JSON"
    limits = FhirLimits(max_bytes=context.max_bytes)
    try:
        resource = (
            read_fhir_xml(data, limits) if detected == "fhir-xml" else read_fhir_json(data, limits)
        )
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
            # one byte more than the limit: the readers then say the file is too large
            data = handle.read((context.max_bytes if context else MAX_FILE_BYTES) + 1)
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
