"""What a file is, from its first bytes: the one format sniffer of ``validate``, ``map``, push and
the MLLP listener.

``sniff(data)`` answers one of ``FORMATS`` or raises ``UnknownFormat`` (an ``IssuesError``
whose issue says what the toolkit reads). It looks only at the start of the input, never
parses it whole, so a 100 MB Bundle costs a glance:

- a UTF-8 byte order mark is passed over (``strip_bom`` gives the bytes without it); a UTF-16
  or UTF-32 one is refused with the fix (save as UTF-8);
- ``MSH`` (after blanks or an MLLP start block) is HL7 v2 ER7;
- ``<`` is XML: CP-IS when the HL7 v3 namespace is on its root, else FHIR XML (whose reader
  says when the root is not in the FHIR namespace);
- ``{`` is JSON: FHIR JSON when it has a ``"resourceType"`` key (R4 resources may have a
  ``kind`` element: StructureDefinition, CapabilityStatement...), artefact JSON when its
  ``"kind"`` names an artefact kind, and otherwise JSON the readers will say more about
  (artefact JSON's reader, which knows the toolkit's fields);
- anything else is "not a format the toolkit reads".
"""

from __future__ import annotations

import codecs
import re
from typing import Any, Literal

from interop.issues import Issue, IssueCode, IssuesError, error

Format = Literal["artefact", "fhir-json", "fhir-xml", "cpis", "er7"]
FORMATS: tuple[Format, ...] = ("artefact", "fhir-json", "fhir-xml", "cpis", "er7")
READS = "artefact JSON, FHIR R4 JSON or XML, CP-IS XML (HL7 v3) and HL7 v2 ER7"

_HEAD = 64 * 1024
_BOMS = (
    (codecs.BOM_UTF32_LE, "UTF-32"),
    (codecs.BOM_UTF32_BE, "UTF-32"),
    (codecs.BOM_UTF16_LE, "UTF-16"),
    (codecs.BOM_UTF16_BE, "UTF-16"),
)
_BLANKS = b" \t\r\n"
_MLLP_START = b"\x0b"
_HL7_V3 = b"urn:hl7-org:v3"
#: a key is a quoted name followed by a colon; inside a JSON string a quote would be escaped
_RESOURCE_TYPE = re.compile(rb'"resourceType"\s*:')
_KIND = re.compile(rb'"kind"\s*:\s*"([a-z-]{1,64})"')
#: the root element's start tag, after the XML declaration, comments and processing steps
_ROOT_TAG = re.compile(rb"<(?![?!])[^>]*>")


class UnknownFormat(IssuesError):
    """Input the toolkit does not read; the one issue says why and what it reads."""


def strip_bom(data: bytes, subject: str = "the file") -> bytes:
    """The bytes without a UTF-8 byte order mark; ``UnknownFormat`` for a UTF-16/32 one
    (its message names the input as ``subject``: "the file", "the message")."""
    for bom, name in _BOMS:
        if data.startswith(bom):
            raise UnknownFormat(
                [
                    error(
                        IssueCode.INVALID,
                        "",
                        f"{subject} is {name} (it starts with a {name} byte order mark); "
                        "save it as UTF-8",
                    )
                ]
            )
    return data.removeprefix(codecs.BOM_UTF8)


def _artefact_kinds() -> frozenset[str]:
    from interop.domain import ARTEFACT_KINDS

    return frozenset(ARTEFACT_KINDS)


def sniff(data: bytes, subject: str = "the file") -> Format:
    """The format of ``data`` (see the module's docstring), or ``UnknownFormat`` (whose
    message names the input as ``subject``)."""
    head = strip_bom(data[: _HEAD + 4], subject).lstrip(_BLANKS)
    if head.lstrip(_MLLP_START + _BLANKS).startswith(b"MSH"):
        return "er7"
    if head.startswith(b"<"):
        root = _ROOT_TAG.search(head)
        return "cpis" if root is not None and _HL7_V3 in root.group(0) else "fhir-xml"
    if head.startswith(b"{"):
        if _RESOURCE_TYPE.search(head):
            return "fhir-json"
        kind = _KIND.search(head)
        if kind is not None and kind.group(1).decode() in _artefact_kinds():
            return "artefact"
        if len(data) > _HEAD and _RESOURCE_TYPE.search(data):
            return "fhir-json"  # a large resource whose resourceType comes late
        return "artefact"  # its reader says what is missing, by field
    what = "empty" if not head else "not a format the toolkit reads"
    raise UnknownFormat([error(IssueCode.INVALID, "", f"{subject} is {what} (it reads {READS})")])


#: what FHIR strings and XML 1.0 cannot hold: below U+0020 but tab, LF and CR; U+FFFE, U+FFFF
_CONTROL = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")


def control_characters(node: Any, path: str = "$") -> list[Issue]:
    """An error for each text in a JSON value (an artefact's, say) holding a character no
    FHIR string or XML writer can carry, located by its JSON path (``$.subject.given_name``):
    what is called valid must be writable in every format."""
    if isinstance(node, str):
        found = _CONTROL.search(node)
        if found is None:
            return []
        message = (
            f"the control character U+{ord(found.group()):04X} is not allowed: FHIR strings "
            "and XML cannot carry it"
        )
        return [error(IssueCode.VALUE, path, message)]
    issues: list[Issue] = []
    if isinstance(node, dict):
        for key, child in node.items():
            issues += control_characters(child, f"{path}.{key}")
    elif isinstance(node, list):
        for index, child in enumerate(node):
            issues += control_characters(child, f"{path}[{index}]")
    return issues
