"""Convert one artefact between artefact JSON, FHIR JSON and FHIR XML, detecting the input.

Pure: bytes in, bytes out. Every route passes through the domain artefact (the hub), so what
comes out has been checked by the domain model whatever went in.
"""

from __future__ import annotations

import json

from interop.artefact_json import dump_artefact, parse_artefact
from interop.domain import ArtefactBase
from interop.issues import Issue, IssueCode, error
from interop.mappings.fhir import artefact_to_fhir, fhir_to_artefact
from interop.mappings.fhir_common import MappingError
from interop.safe_json import JsonInputError, parse_json


class ConversionError(Exception):
    """The input could not be converted; ``detected`` names what it looked like."""

    def __init__(self, detected: str, issues: list[Issue]) -> None:
        super().__init__(f"{detected}: " + "; ".join(i.describe() for i in issues[:3]))
        self.detected = detected
        self.issues = issues


def detect_format(data: bytes) -> str:
    """'fhir-xml', 'fhir' or 'artefact': XML by its first byte, JSON by its top-level keys.

    Unreadable JSON counts as 'artefact', whose reader then says what is wrong with it.
    """
    head = data.lstrip(b"\xef\xbb\xbf \t\r\n")
    if head.startswith(b"<"):
        return "fhir-xml"
    try:
        value = parse_json(data)
    except JsonInputError:
        return "artefact"
    if isinstance(value, dict) and "resourceType" in value and "kind" not in value:
        return "fhir"
    return "artefact"


def read_artefact(data: bytes) -> tuple[str, ArtefactBase]:
    """The artefact in artefact JSON, FHIR JSON or FHIR XML, and the format detected."""
    from interop.fhir import FhirInputError, check_structure, read_fhir_json, read_fhir_xml

    detected = detect_format(data)
    if detected == "artefact":
        loaded = parse_artefact(data)
        if loaded.artefact is None or not loaded.ok:
            raise ConversionError(detected, loaded.issues)
        return detected, loaded.artefact
    try:
        resource = read_fhir_xml(data) if detected == "fhir-xml" else read_fhir_json(data)
        # structure first: wrong types are then reported by element, before any mapping
        problems = check_structure(resource) if detected == "fhir" else []
        if problems:
            raise ConversionError(detected, problems)
        return detected, fhir_to_artefact(resource)
    except (FhirInputError, MappingError) as exc:
        raise ConversionError(detected, exc.issues) from None


def convert(data: bytes, target: str) -> bytes:
    """The artefact in ``data`` written as ``target`` ('fhir', 'fhir-xml' or 'artefact')."""
    _, artefact = read_artefact(data)
    if target == "artefact":
        return (dump_artefact(artefact) + "\n").encode("utf-8")
    bundle = artefact_to_fhir(artefact)
    if target == "fhir":
        return (json.dumps(bundle, indent=2, ensure_ascii=False) + "\n").encode("utf-8")
    if target == "fhir-xml":
        from interop.fhir import to_xml

        return to_xml(bundle)
    raise ConversionError(target, [error(IssueCode.NOT_SUPPORTED, "", f"unknown target {target}")])
