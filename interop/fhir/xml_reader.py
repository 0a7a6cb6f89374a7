"""FHIR XML to FHIR JSON, following the R4 XML rules (https://hl7.org/fhir/R4/xml.html).

The element tree (already parsed by the hardened parser in ``interop.fhir.wire``) is walked
alongside the R4 specification itself (``interop.fhir.r4spec``, HL7's 4.0.1 snapshots), which
says for each element where R4 XML writes it (the order), whether it repeats (a JSON array),
which types a choice element (``value[x]``) takes, whether it is a primitive (a ``value``
attribute, with its ``id`` and ``extension`` going to ``_name`` in JSON) and of which type
(booleans, integers and decimals become JSON numbers and booleans), and whether it wraps a
resource (``resource``, ``contained``, ``outcome``). The XHTML ``div`` is kept as a string.
The R4B models of ``fhir.resources`` are not asked: R4-only resources (EffectEvidenceSynthesis,
MedicinalProduct...) read as XML exactly as they do as JSON.

Reading is forgiving: every element it cannot place (unknown, foreign namespace, repeated
where R4 allows one, a value that is not of its type) becomes an ``Issue`` located at its
FHIRPath-like path (``Bundle.entry[0].resource.ofType(Flag).urgency``) with its line, and the
walk goes on. Whether required elements are there and values match their formats is the
structure stage's business (``interop.fhir.structure.check_structure``), as for JSON.
"""

from __future__ import annotations

import math
import re
from dataclasses import dataclass
from functools import cache
from typing import Any, Literal

from lxml import etree

from interop.fhir.r4spec import R4Spec
from interop.issues import Issue, IssueCode, error

FHIR_NS = "http://hl7.org/fhir"
XHTML_NS = "http://www.w3.org/1999/xhtml"
#: attributes in this namespace (``xsi:schemaLocation`` on the root) say nothing about content
_XSI_NS = "http://www.w3.org/2001/XMLSchema-instance"

JSON = dict[str, Any]
Kind = Literal["primitive", "complex", "resource", "xhtml"]

# the lexical forms of R4's numeric and boolean primitives (https://hl7.org/fhir/R4/datatypes.html)
_INTEGER = re.compile(r"-?(0|[1-9][0-9]*)")
_DECIMAL = re.compile(r"-?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?")
_INTEGER_TYPES = frozenset({"integer", "positiveInt", "unsignedInt"})
_DATE_TIME_TYPES = frozenset({"dateTime", "instant"})


#: where a type's child elements are declared in the R4 index: (type, element path), such as
#: ``("Patient", "Patient")``, ``("Patient", "Patient.contact")`` or ``("Period", "Period")``
Node = tuple[str, str]
EXTENSION: Node = ("Extension", "Extension")


@dataclass(frozen=True, slots=True)
class ElementInfo:
    """What R4 says of one child element: its XML and JSON name (``valueQuantity`` for one type
    of ``value[x]``), whether it repeats, its kind and type (a primitive type name such as
    ``decimal``, or the node declaring a complex value's children) and its place in R4 order."""

    name: str
    repeats: bool
    kind: Kind
    order: int
    primitive: str = ""
    node: Node = ("", "")


def _upper_first(text: str) -> str:
    return text[:1].upper() + text[1:]


def _info(spec: R4Spec, owner: str, name: str, element: Any, type_code: str) -> ElementInfo:
    if type_code == "xhtml":
        return ElementInfo(name, element.repeats, "xhtml", element.order, primitive="xhtml")
    if spec.is_primitive(type_code):
        return ElementInfo(name, element.repeats, "primitive", element.order, primitive=type_code)
    if type_code == "Resource":
        return ElementInfo(name, element.repeats, "resource", element.order)
    node = spec.node_of(owner, element, type_code)
    return ElementInfo(name, element.repeats, "complex", element.order, node=node)


def is_resource_node(node: Node) -> bool:
    """Whether a node is a resource's root (whose ``id`` is an element, not an attribute)."""
    return node[0] == node[1] and R4Spec.load().is_resource(node[0])


@cache
def elements_of(node: Node) -> dict[str, ElementInfo]:
    """The child elements a node's XML form may hold, by element name (each type of a choice
    element under its own name), in R4's order.

    A datatype's or backbone element's ``id`` (and an extension's ``url``) are attributes in
    XML, so they are not among its elements; a resource's ``id`` is an element.
    """
    spec = R4Spec.load()
    is_resource = is_resource_node(node)
    found: dict[str, ElementInfo] = {}
    for name, element in spec.children(*node).items():
        if not is_resource and (name == "id" or (name == "url" and node == EXTENSION)):
            continue
        if element.choice:
            for type_code in element.types:
                choice_name = name + _upper_first(type_code)
                found[choice_name] = _info(spec, node[0], choice_name, element, type_code)
        else:
            type_code = element.types[0] if element.types else "string"
            found[name] = _info(spec, node[0], name, element, type_code)
    return found


def _split(tag: str) -> tuple[str | None, str]:
    if tag.startswith("{"):
        namespace, _, local = tag[1:].partition("}")
        return namespace, local
    return None, tag


def _has_text(text: str | None) -> bool:
    return bool(text and not text.isspace())


class _TooDeep(Exception):
    """The JSON would nest deeper than the limit: the walk stops (one issue, no traceback)."""


class _XmlToJson:
    """One document's conversion; ``issues`` collects what could not be placed.

    Depths count JSON containers as ``interop.safe_json`` does (the resource object is 1, an
    array and each object in it one more), so XML and JSON input meet the same depth limit.
    """

    def __init__(self, max_depth: int) -> None:
        self.issues: list[Issue] = []
        self.max_depth = max_depth

    def _container(self, depth: int, element: etree._Element) -> None:
        if depth > self.max_depth:
            self._issue(
                IssueCode.TOO_COSTLY,
                "",  # the document as a whole, as for JSON; the line says where
                f"nesting is deeper than {self.max_depth} levels",
                element,
            )
            raise _TooDeep

    def _issue(self, code: IssueCode, path: str, message: str, element: Any) -> None:
        line = element.sourceline if isinstance(element.sourceline, int) else None
        self.issues.append(error(code, path, message, line=line))

    def resource(self, element: etree._Element, path: str, depth: int = 1) -> JSON | None:
        """A resource element (the document root, or the child of a ``resource`` wrapper)."""
        namespace, resource_type = _split(str(element.tag))
        if namespace != FHIR_NS or not R4Spec.load().is_resource(resource_type):
            message = (
                f"'{resource_type}' is not an R4 resource"
                if namespace == FHIR_NS
                else f"the element '{resource_type}' is not in the FHIR namespace {FHIR_NS}"
            )
            self._issue(IssueCode.CODE_INVALID, path or resource_type, message, element)
            return None
        here = f"{path}.ofType({resource_type})" if path else resource_type
        self._container(depth, element)
        result: JSON = {"resourceType": resource_type}
        self._attributes(element, here, allowed=())
        self._children(element, (resource_type, resource_type), here, result, depth)
        return result

    def _complex(self, element: etree._Element, node: Node, path: str, depth: int) -> JSON:
        self._container(depth, element)
        result: JSON = {}
        allowed = ("id", "url") if node == EXTENSION else ("id",)
        result.update(self._attributes(element, path, allowed))
        self._children(element, node, path, result, depth)
        return result

    def _attributes(
        self, element: etree._Element, path: str, allowed: tuple[str, ...]
    ) -> dict[str, str]:
        """The allowed attributes' values; any other attribute is an issue."""
        found: dict[str, str] = {}
        for raw_name, value in element.attrib.items():
            namespace, name = _split(str(raw_name))
            if namespace == _XSI_NS:
                continue
            if namespace is None and name in allowed:
                found[name] = str(value)
            else:
                self._issue(
                    IssueCode.STRUCTURE,
                    path,
                    f"the attribute '{name}' is not allowed here",
                    element,
                )
        return found

    def _children(
        self,
        element: etree._Element,
        node: Node,
        path: str,
        result: JSON,
        depth: int,
    ) -> None:
        """Fill ``result`` (an object at ``depth``) with an element's children."""
        # text as an element's only content is a value written the wrong way; stray text
        # between child elements holds no data and is passed over, as other readers do
        if len(element) == 0 and _has_text(element.text):
            self._issue(
                IssueCode.STRUCTURE,
                path,
                "text content is not allowed here (FHIR XML values go in value attributes)",
                element,
            )
        infos = elements_of(node)
        last_rank, last_name = -1, ""
        # a primitive list's values and their id/extensions (``given`` and ``_given``)
        primitive_lists: dict[str, tuple[list[Any], list[JSON | None]]] = {}
        for child in element:
            if not isinstance(child.tag, str):
                continue  # comments and processing instructions are dropped by the parser
            namespace, name = _split(child.tag)
            info = infos.get(name)
            if info is not None and info.kind == "xhtml":
                if namespace != XHTML_NS:
                    self._issue(
                        IssueCode.STRUCTURE,
                        f"{path}.{name}",
                        f"the narrative '{name}' must be in the XHTML namespace {XHTML_NS}",
                        child,
                    )
                    continue
            elif namespace != FHIR_NS:
                self._issue(
                    IssueCode.STRUCTURE,
                    f"{path}.{name}",
                    f"the element '{name}' is in the namespace {namespace or '(none)'}, not "
                    f"FHIR's; FHIR XML carries other data in extensions",
                    child,
                )
                continue
            if info is None:
                self._issue(
                    IssueCode.STRUCTURE,
                    f"{path}.{name}",
                    f"unknown element '{name}'",
                    child,
                )
                continue
            rank = info.order
            if rank < last_rank:
                self._issue(
                    IssueCode.STRUCTURE,
                    f"{path}.{name}",
                    f"'{name}' is out of order: R4 XML writes it before '{last_name}'",
                    child,
                )
            elif rank > last_rank:
                last_rank, last_name = rank, name
            if info.repeats:
                held = primitive_lists.get(name, ([], []))[0] if info.kind == "primitive" else None
                count = len(held) if held is not None else len(result.get(name, ()))
                here = f"{path}.{name}[{count}]"
            else:
                here = f"{path}.{name}"
                if name in result or f"_{name}" in result:
                    self._issue(
                        IssueCode.STRUCTURE,
                        here,
                        f"'{name}' appears more than once; R4 allows one",
                        child,
                    )
                    continue
            # a child's object sits one level down, or two inside its array
            self._child(child, info, here, result, primitive_lists, depth + 1 + info.repeats)
        for name, (values, extras) in primitive_lists.items():
            if any(v is not None for v in values):
                result[name] = values
            if any(e is not None for e in extras):
                result[f"_{name}"] = extras

    def _child(
        self,
        child: etree._Element,
        info: ElementInfo,
        here: str,
        result: JSON,
        primitive_lists: dict[str, tuple[list[Any], list[JSON | None]]],
        depth: int,
    ) -> None:
        name = info.name
        if info.kind == "primitive":
            value, extra = self._primitive(child, info.primitive, here, depth)
            if info.repeats:
                values, extras = primitive_lists.setdefault(name, ([], []))
                values.append(value)
                extras.append(extra)
            else:
                if value is not None:
                    result[name] = value
                if extra is not None:
                    result[f"_{name}"] = extra
            return
        if info.kind == "xhtml":
            value_out: Any = etree.tostring(child, encoding="unicode", with_tail=False)
        elif info.kind == "resource":
            value_out = self._wrapped_resource(child, here, depth)
            if value_out is None:
                return
        else:
            value_out = self._complex(child, info.node, here, depth)
        if info.repeats:
            result.setdefault(name, []).append(value_out)
        else:
            result[name] = value_out

    def _wrapped_resource(self, wrapper: etree._Element, path: str, depth: int) -> JSON | None:
        """The one resource inside a ``resource``/``contained``/``outcome`` element."""
        self._attributes(wrapper, path, allowed=())
        inner = [c for c in wrapper if isinstance(c.tag, str)]
        if len(inner) != 1:
            self._issue(
                IssueCode.STRUCTURE,
                path,
                f"holds {len(inner)} elements; it must hold exactly one resource",
                wrapper,
            )
            return None
        return self.resource(inner[0], path, depth)

    def _primitive(
        self, element: etree._Element, type_name: str, path: str, depth: int
    ) -> tuple[Any, JSON | None]:
        """A primitive's JSON value and its ``_name`` object (id and extensions, at ``depth``),
        or None."""
        attributes = self._attributes(element, path, allowed=("id", "value"))
        as_text = len(element) == 0 and _has_text(element.text)
        if as_text:
            self._issue(
                IssueCode.STRUCTURE,
                path,
                "text content is not allowed here (FHIR XML values go in value attributes)",
                element,
            )
        extra: JSON = {}
        if "id" in attributes:
            extra["id"] = attributes["id"]
        extensions: list[JSON] = []
        for child in element:
            if not isinstance(child.tag, str):
                continue
            namespace, name = _split(child.tag)
            here = f"{path}.{name}"
            if namespace != FHIR_NS or name != "extension":
                message = (
                    f"unknown element '{name}'; a primitive holds only extensions"
                    if namespace == FHIR_NS
                    else f"the element '{name}' is in the namespace {namespace or '(none)'}, "
                    "not FHIR's"
                )
                self._issue(IssueCode.STRUCTURE, here, message, child)
                continue
            here = f"{here}[{len(extensions)}]"
            extensions.append(self._complex(child, EXTENSION, here, depth + 2))
        if extensions:
            extra["extension"] = extensions
        raw = attributes.get("value")
        value = None if raw is None else self._typed(raw, type_name, path, element)
        if raw is None and not extra and not as_text:
            self._issue(
                IssueCode.STRUCTURE,
                path,
                "an element with no value attribute, id or extension (FHIR elements are "
                "never empty)",
                element,
            )
        return value, extra or None

    def _typed(self, raw: str, type_name: str, path: str, element: etree._Element) -> Any:
        """A primitive's value attribute as FHIR JSON writes it (numbers and booleans bare)."""
        if type_name == "boolean":
            if raw in ("true", "false"):
                return raw == "true"
            expected = "true or false"
        elif type_name in _INTEGER_TYPES:
            if _INTEGER.fullmatch(raw):
                return int(raw)
            expected = "an integer"
        elif type_name == "decimal":
            number = _decimal(raw)
            if number is not None:
                return number
            expected = "a decimal number"
        elif type_name in _DATE_TIME_TYPES and raw.endswith("+00:00"):
            # the same instant; FHIR JSON (and the models' JSON) write UTC as Z, the models'
            # XML as +00:00, and a twin must read the same whichever way it came
            return raw[: -len("+00:00")] + "Z"
        else:
            return raw
        self._issue(IssueCode.VALUE, path, f"the value is not {expected}", element)
        return None


def _decimal(raw: str) -> int | float | None:
    """A decimal's JSON number: an int when written without a point or exponent (JSON readers
    give the same), else the float a JSON reader gives for the same text."""
    if not _DECIMAL.fullmatch(raw):
        return None
    if not any(c in raw for c in ".eE"):
        return int(raw)
    number = float(raw)  # what json.loads gives for the same text, so twins compare equal
    return number if math.isfinite(number) else None


def xml_to_json(root: etree._Element, max_depth: int = 100) -> tuple[JSON | None, list[Issue]]:
    """A parsed FHIR XML document's resource as FHIR JSON, and what could not be placed
    (nothing else once the JSON would nest deeper than ``max_depth``)."""
    converter = _XmlToJson(max_depth)
    try:
        resource = converter.resource(root, "")
    except _TooDeep:
        return None, converter.issues[-1:]
    return resource, converter.issues
