"""FHIR JSON and XML from untrusted bytes, and FHIR XML out.

XML is parsed with DTDs, entity expansion and network access off and libxml2's default depth
and size limits on; a document that declares a DTD at all is refused, which closes entity
bombs and external entities before any expansion could happen.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from lxml import etree

from interop.fhir.r4spec import R4Spec
from interop.fhir.xml_reader import FHIR_NS as FHIR_NS  # re-exported: the registry peeks with it
from interop.fhir.xml_reader import xml_to_json
from interop.issues import DTD_DECLARATION, IssueCode, IssuesError, error
from interop.safe_json import JsonInputError, JsonLimits, parse_json

_DOCTYPE = DTD_DECLARATION
MAX_XML_BYTES = 20 * 1024 * 1024


class FhirInputError(IssuesError):
    """Input that is not a readable FHIR resource; ``issues`` say what and where."""


@dataclass(frozen=True)
class FhirLimits:
    """Bounds on FHIR input: bytes (JSON and XML) and JSON nesting depth."""

    max_bytes: int = MAX_XML_BYTES
    max_depth: int = 100


_DEFAULT = FhirLimits()


def xml_parser() -> etree.XMLParser:
    """The hardened parser of all FHIR XML: no entities, no DTD, no network, no huge trees."""
    return etree.XMLParser(
        resolve_entities=False,
        no_network=True,
        load_dtd=False,
        dtd_validation=False,
        huge_tree=False,
        remove_comments=True,
        remove_pis=True,
    )


def read_fhir_json(data: bytes | str, limits: FhirLimits = _DEFAULT) -> dict[str, Any]:
    """FHIR JSON bytes to a resource dict, or ``FhirInputError``."""
    try:
        value = parse_json(data, JsonLimits(max_bytes=limits.max_bytes, max_depth=limits.max_depth))
    except JsonInputError as exc:
        raise FhirInputError([exc.issue]) from None
    if not isinstance(value, dict) or not isinstance(value.get("resourceType"), str):
        raise FhirInputError(
            [error(IssueCode.STRUCTURE, "", "a FHIR resource is an object with a resourceType")]
        )
    return value


def read_fhir_xml(data: bytes, limits: FhirLimits = _DEFAULT) -> dict[str, Any]:
    """FHIR XML bytes to a resource dict (FHIR JSON form), or ``FhirInputError`` with every
    element that could not be placed, located (path and line).

    Only the XML rules are applied here; R4 structure (required elements, value formats) is
    checked by ``check_structure``, as for JSON.
    """
    if len(data) > limits.max_bytes:
        raise FhirInputError(
            [
                error(
                    IssueCode.TOO_COSTLY,
                    "",
                    f"the input is {len(data):,} bytes; the limit is {limits.max_bytes:,}",
                )
            ]
        )
    if _DOCTYPE.search(data):
        raise FhirInputError(
            [error(IssueCode.INVALID, "", "a document type declaration (DTD) is not allowed")]
        )
    try:
        root = etree.fromstring(data, xml_parser())
    except etree.XMLSyntaxError as exc:
        line, column = exc.position
        raise FhirInputError(
            [
                error(
                    IssueCode.INVALID,
                    "",
                    f"not well-formed XML: {exc.msg}",
                    line=line,
                    column=column,
                )
            ]
        ) from None
    if etree.QName(root).namespace != FHIR_NS:
        raise FhirInputError(
            [
                error(
                    IssueCode.STRUCTURE,
                    "",
                    f"the root element is not in the FHIR namespace {FHIR_NS}",
                )
            ]
        )
    resource_type = etree.QName(root).localname
    if not R4Spec.load().is_resource(resource_type):
        raise FhirInputError(
            [
                error(
                    IssueCode.CODE_INVALID,
                    resource_type,
                    f"'{resource_type}' is not an R4 resource",
                )
            ]
        )
    resource, issues = xml_to_json(root, limits.max_depth)
    if issues or resource is None:
        raise FhirInputError(issues)
    return resource
