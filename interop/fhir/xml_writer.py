"""FHIR JSON to FHIR XML by the R4 rules (https://hl7.org/fhir/R4/xml.html): the inverse of
``interop.fhir.xml_reader``.

Elements are written in the order R4 defines them, taken with their types from the R4
specification itself (``interop.fhir.r4spec``), as the reader reads them, so R4-only
resources (EffectEvidenceSynthesis, MedicinalProduct...) are written as any other. A
primitive is an element with a ``value`` attribute (``true``/``false``, a number as its JSON
text), its ``id`` attribute and ``extension`` children coming from the JSON ``_name``; a
repeating primitive pairs ``name[i]`` with ``_name[i]``. A datatype's or backbone element's
``id`` and an extension's ``url`` are attributes. A resource inside another (``resource``,
``contained``, ``outcome``) is wrapped in its element. The narrative ``div`` string is parsed
with the hardened parser and embedded as XHTML.

The resource is expected to have passed structure checking (``to_xml`` does
that first); what still cannot be written (a narrative that is not XHTML) is a
``FhirInputError`` located at its path.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from functools import cache
from typing import Any

from lxml import etree

from interop.fhir.r4spec import R4Spec
from interop.fhir.structure import model_class
from interop.fhir.wire import FhirInputError, xml_parser
from interop.fhir.xml_reader import (
    EXTENSION,
    FHIR_NS,
    XHTML_NS,
    ElementInfo,
    Node,
    elements_of,
)
from interop.issues import DTD_DECLARATION, IssueCode, error

JSON = dict[str, Any]

_DIV = f"{{{XHTML_NS}}}div"


@dataclass(frozen=True, slots=True)
class _Slot:
    """One child element in writing order: what R4 says of it, its tag (Clark notation) and
    the JSON key of a primitive's id and extensions."""

    info: ElementInfo
    tag: str
    extra_key: str


@cache
def _slots(node: Node) -> tuple[_Slot, ...]:
    """A node's child elements in R4's order (the types of a choice element side by side)."""
    infos = sorted(elements_of(node).values(), key=lambda info: info.order)
    return tuple(_Slot(info, f"{{{FHIR_NS}}}{info.name}", f"_{info.name}") for info in infos)


def _value_text(value: Any) -> str:
    """A primitive's ``value`` attribute: booleans as ``true``/``false``, numbers as the text
    a JSON writer gives them (``json.dumps``: ``repr``), so ``2`` stays ``2``, ``1.5`` ``1.5``."""
    if value is True:
        return "true"
    if value is False:
        return "false"
    if isinstance(value, int | float):
        return repr(value)
    return str(value)


class _JsonToXml:
    """One resource's conversion."""

    def resource(self, resource: JSON, parent: etree._Element | None, path: str) -> etree._Element:
        """A resource's element: the document root (``parent`` None) or inside a wrapper."""
        resource_type = str(resource.get("resourceType"))
        if not R4Spec.load().is_resource(resource_type):
            raise FhirInputError(
                [
                    error(
                        IssueCode.CODE_INVALID,
                        f"{path}.resourceType" if path else "resourceType",
                        f"'{resource_type}' is not an R4 resource type",
                    )
                ]
            )
        tag = f"{{{FHIR_NS}}}{resource_type}"
        if parent is None:
            element = etree.Element(tag, nsmap={None: FHIR_NS})
            here = resource_type
        else:
            element = etree.SubElement(parent, tag)
            here = f"{path}.ofType({resource_type})"
        self._children(resource, (resource_type, resource_type), element, here)
        return element

    def _children(self, source: JSON, node: Node, element: etree._Element, path: str) -> None:
        for slot in _slots(node):
            info = slot.info
            value = source.get(info.name)
            extra = source.get(slot.extra_key) if info.kind == "primitive" else None
            if value is None and extra is None:
                continue
            here = f"{path}.{info.name}"
            if info.repeats:
                values = value if isinstance(value, list) else []
                extras = extra if isinstance(extra, list) else []
                for index in range(max(len(values), len(extras))):
                    item = values[index] if index < len(values) else None
                    item_extra = extras[index] if index < len(extras) else None
                    self._child(slot, item, item_extra, element, f"{here}[{index}]")
            else:
                self._child(slot, value, extra, element, here)

    def _child(
        self, slot: _Slot, value: Any, extra: Any, parent: etree._Element, path: str
    ) -> None:
        info = slot.info
        if info.kind == "primitive":
            self._primitive(slot.tag, value, extra, parent, path)
        elif info.kind == "complex":
            self._complex(slot.tag, value, info.node, parent, path)
        elif info.kind == "resource":
            wrapper = etree.SubElement(parent, slot.tag)
            self.resource(value, wrapper, path)
        else:
            parent.append(_xhtml(value, path))

    def _primitive(
        self, tag: str, value: Any, extra: Any, parent: etree._Element, path: str
    ) -> None:
        element = etree.SubElement(parent, tag)
        if isinstance(extra, dict) and extra.get("id") is not None:
            element.set("id", str(extra["id"]))
        if value is not None:
            element.set("value", _value_text(value))
        if isinstance(extra, dict):
            for index, extension in enumerate(extra.get("extension") or ()):
                here = f"{path}.extension[{index}]"
                self._complex(f"{{{FHIR_NS}}}extension", extension, EXTENSION, element, here)

    def _complex(
        self, tag: str, value: JSON, node: Node, parent: etree._Element, path: str
    ) -> None:
        element = etree.SubElement(parent, tag)
        if value.get("id") is not None:
            element.set("id", str(value["id"]))
        if node == EXTENSION and value.get("url") is not None:
            element.set("url", str(value["url"]))
        self._children(value, node, element, path)


#: the opening tag of a narrative written without its namespace (``<div>``)
_BARE_DIV = re.compile(r"^(\s*<div)(?=[\s/>])")


def _parse_xhtml(text: str, path: str) -> etree._Element:
    """XHTML text parsed as FHIR XML is (the reader's hardened parser: no DTD, no entities)."""
    data = text.encode("utf-8")
    if DTD_DECLARATION.search(data):
        raise _refuse(path, "a document type declaration (DTD) is not allowed in the narrative")
    try:
        return etree.fromstring(data, xml_parser())
    except etree.XMLSyntaxError as exc:
        raise _refuse(path, f"the narrative is not well-formed XHTML: {exc.msg}") from None


def _refuse(path: str, message: str) -> FhirInputError:
    return FhirInputError([error(IssueCode.INVALID, path, message)])


def _xhtml(div: Any, path: str) -> etree._Element:
    """The narrative string as an XHTML ``div`` element; a ``<div>`` written without its
    namespace is taken as XHTML, as R4 requires it to be."""
    if not isinstance(div, str):
        raise _refuse(path, "the narrative is not a string of XHTML")
    element = _parse_xhtml(div, path)
    if element.tag == "div":
        element = _parse_xhtml(_BARE_DIV.sub(rf'\1 xmlns="{XHTML_NS}"', div, count=1), path)
    if element.tag != _DIV:
        raise _refuse(path, f'the narrative must be an XHTML div element (xmlns="{XHTML_NS}")')
    return element


def json_to_xml(resource: JSON) -> bytes:
    """A FHIR JSON resource as FHIR XML: UTF-8 bytes with an XML declaration, the FHIR
    namespace on the root, elements in R4's order."""
    root = _JsonToXml().resource(resource, None, "")
    written: bytes = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    return written


def to_xml(resource: dict[str, Any]) -> bytes:
    """FHIR JSON to FHIR XML (UTF-8 bytes with an XML declaration), by the R4 XML rules.

    The resource is validated against its R4B model first: ``FhirInputError`` for a type R4
    does not have, pydantic's ``ValidationError`` for an invalid resource, ``FhirInputError``
    for a narrative that is not XHTML.
    """
    cls = model_class(str(resource.get("resourceType")))
    if cls is None:
        raise FhirInputError(
            [error(IssueCode.CODE_INVALID, "resourceType", "not an R4 resource type")]
        )
    cls.model_validate(resource)
    return json_to_xml(resource)
