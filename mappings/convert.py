"""Convert one artefact between artefact JSON, FHIR JSON and FHIR XML, detecting the input.

Pure: bytes in, bytes out. Every route passes through the domain artefact (the hub), so what
comes out has been checked by the domain model whatever went in.
"""

from __future__ import annotations

import json

from interop.artefact_json import dump_artefact, parse_artefact
from interop.domain import ArtefactBase
from interop.errors import InputError
from interop.issues import Issue, IssueCode, error
from interop.mappings.fhir import artefact_to_fhir, fhir_to_artefact
from interop.mappings.fhir_common import MappingError


class ConversionError(InputError):
    """The input could not be converted; ``detected`` names what it looked like."""

    def __init__(self, detected: str, issues: list[Issue]) -> None:
        super().__init__(f"{detected}: " + "; ".join(i.describe() for i in issues[:3]))
        self.detected = detected
        self.issues = issues


def detect_format(data: bytes) -> str:
    """'fhir-xml', 'fhir', 'cpis', 'er7' or 'artefact' (``interop.formats.sniff``), or
    'unknown' for input the toolkit does not read."""
    from interop.formats import UnknownFormat, sniff

    try:
        found = sniff(data)
    except UnknownFormat:
        return "unknown"
    return "fhir" if found == "fhir-json" else found


def read_artefact(data: bytes) -> tuple[str, ArtefactBase]:
    """The artefact in artefact JSON, FHIR JSON or XML, or a one-record CP-IS upload, and the
    format detected."""
    from interop.fhir import FhirInputError, check_structure, read_fhir_json, read_fhir_xml
    from interop.formats import UnknownFormat, control_characters, sniff, strip_bom

    try:
        found = sniff(data)
        data = strip_bom(data)  # read as the same file without it
    except UnknownFormat as exc:
        raise ConversionError("unknown", exc.issues) from None
    detected = "fhir" if found == "fhir-json" else found
    if detected == "er7":
        message = "HL7 v2 ER7 maps to attendance events, not to an artefact"
        raise ConversionError(detected, [error(IssueCode.NOT_SUPPORTED, "", message)])
    if detected == "cpis":
        return detected, _read_cpis(data)
    if detected == "artefact":
        loaded = parse_artefact(data)
        if loaded.artefact is None or not loaded.ok:
            raise ConversionError(detected, loaded.issues)
        unwritable = control_characters(loaded.artefact.model_dump(mode="json"))
        if unwritable:
            raise ConversionError(detected, unwritable)
        return detected, loaded.artefact
    try:
        resource = read_fhir_xml(data) if detected == "fhir-xml" else read_fhir_json(data)
        # structure first (the XML reader checks only the XML rules): wrong types and missing
        # required elements are then reported by element, before any mapping
        problems = [i for i in check_structure(resource) if i.is_error]  # warnings do not stop it
        if problems:
            raise ConversionError(detected, problems)
        return detected, fhir_to_artefact(resource)
    except (FhirInputError, MappingError) as exc:
        raise ConversionError(detected, exc.issues) from None


def _read_cpis(data: bytes) -> ArtefactBase:
    from interop.cpis.codec import CpisInputError, read_upload
    from interop.domain import ResponsibleLocalAuthority
    from interop.mappings.cpis import record_to_flag

    try:
        header, records = read_upload(data)
        found = list(records)
    except CpisInputError as exc:
        raise ConversionError("cpis", exc.issues) from None
    if len(found) != 1:
        message = f"the upload holds {len(found)} records; map converts one artefact at a time"
        raise ConversionError("cpis", [error(IssueCode.NOT_SUPPORTED, "", message)])
    la = ResponsibleLocalAuthority(ods_code=header.la_ods_code, name=header.la_name)
    try:
        return record_to_flag(found[0], la)
    except MappingError as exc:
        raise ConversionError("cpis", exc.issues) from None


def _write_cpis(artefact: ArtefactBase) -> bytes:
    import io
    import uuid
    from datetime import UTC, datetime

    from interop.cpis.codec import write_upload
    from interop.cpis.model import UploadHeader
    from interop.domain import ChildProtectionFlag
    from interop.mappings.cpis import flag_to_record

    if not isinstance(artefact, ChildProtectionFlag):
        message = f"only a child protection flag maps to CP-IS, not a {artefact.kind}"
        raise ConversionError(artefact.kind, [error(IssueCode.NOT_SUPPORTED, "$.kind", message)])
    la = artefact.responsible_la
    header = UploadHeader(str(uuid.uuid4()), datetime.now(UTC), la.ods_code, la.name)
    buffer = io.BytesIO()
    write_upload(header, [flag_to_record(artefact)], buffer)
    return buffer.getvalue()


def convert(data: bytes, target: str) -> bytes:
    """The artefact in ``data`` written as ``target``: 'fhir', 'fhir-xml', 'cpis' (an LA
    upload of the one record) or 'artefact'."""
    _, artefact = read_artefact(data)
    if target == "cpis":
        return _write_cpis(artefact)
    if target == "artefact":
        return (dump_artefact(artefact) + "\n").encode("utf-8")
    bundle = artefact_to_fhir(artefact)
    if target == "fhir":
        return (json.dumps(bundle, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    if target == "fhir-xml":
        from interop.fhir import to_xml

        return to_xml(bundle)
    raise ConversionError(target, [error(IssueCode.NOT_SUPPORTED, "", f"unknown target {target}")])
