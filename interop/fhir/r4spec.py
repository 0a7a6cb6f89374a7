"""The R4 (4.0.1) base specification as data: types, their elements in order, bindings.

``profiles/r4/r4-index.json`` is derived by ``scripts/build_r4_index.py`` from HL7's package
``hl7.fhir.r4.examples`` 4.0.1 (CC0-1.0, SHA-256 checked): every resource, datatype and
primitive the specification defines, each with its snapshot's elements in the order R4 XML
writes them (``[path, min, max, types, binding]``), each primitive's regex, and the code lists
of the ValueSets that required and extensible bindings name. ``R4Spec.load()`` reads it once.

This, not the R4B models of ``fhir.resources``, decides what R4 allows: R4-only resources
(EffectEvidenceSynthesis, MedicinalProduct...) are resources here, and the order, cardinality
and bindings are R4's own.
"""

from __future__ import annotations

import json
import re
from dataclasses import dataclass, field
from functools import cache
from importlib.resources import files
from typing import Any

INDEX = ("r4", "r4-index.json")
#: types whose children are declared inline at the element's own path
_INLINE = frozenset({"BackboneElement", "Element"})


@dataclass(frozen=True, slots=True)
class ElementDef:
    """One element of a type: its JSON name (``value`` for ``value[x]``), cardinality, types
    (a ``#Path`` type names the element whose children it reuses), binding and XML order."""

    name: str
    path: str
    min: int
    max: int | None
    types: tuple[str, ...]
    binding: tuple[str, str] | None
    order: int

    @property
    def choice(self) -> bool:
        """Whether this is a choice element (``value[x]``)."""
        return self.path.endswith("[x]")

    @property
    def repeats(self) -> bool:
        """Whether JSON holds it as an array."""
        return self.max is None or self.max > 1


@dataclass(frozen=True, slots=True)
class ValueSetCodes:
    """What the index lists of a ValueSet: codes per system, and why it is open (if it is)."""

    codes: dict[str, frozenset[str]]
    open: str | None
    all_codes: frozenset[str] = field(default_factory=frozenset)


class R4Spec:
    """The index, with children of each element computed once."""

    def __init__(self, index: dict[str, Any]) -> None:
        self.source: dict[str, str] = index["source"]
        self.types: dict[str, dict[str, Any]] = index["types"]
        self.regexes: dict[str, re.Pattern[str] | None] = {
            name: re.compile(pattern, re.ASCII) if pattern else None
            for name, pattern in index["primitives"].items()
        }
        self.value_sets: dict[str, ValueSetCodes] = {}
        for url, entry in index["valueSets"].items():
            codes = {s: frozenset(c) for s, c in entry["codes"].items()}
            everything = frozenset().union(*codes.values()) if codes else frozenset()
            self.value_sets[url] = ValueSetCodes(codes, entry["open"], everything)
        self._children: dict[tuple[str, str], dict[str, ElementDef]] = {}
        self._orders: dict[str, dict[str, ElementDef]] = {}

    @classmethod
    def load(cls) -> R4Spec:
        """The shipped index, read once per process."""
        return _load()

    def is_resource(self, name: str) -> bool:
        """Whether ``name`` is a concrete R4 resource type."""
        entry = self.types.get(name)
        return entry is not None and entry["kind"] == "resource" and not entry["abstract"]

    def is_primitive(self, name: str) -> bool:
        """Whether ``name`` is an R4 primitive type."""
        return name in self.regexes

    def children(self, type_name: str, path: str) -> dict[str, ElementDef]:
        """The child elements at ``path`` of ``type_name`` (``Patient``, ``Patient.contact``),
        by JSON name (``value[x]`` as ``value``), in XML order."""
        key = (type_name, path)
        found = self._children.get(key)
        if found is None:
            found = {}
            depth = path.count(".") + 1
            entry = self.types.get(type_name)
            for order, (element_path, low, high, types, binding) in enumerate(
                entry["elements"] if entry else ()
            ):
                if element_path.count(".") != depth or not element_path.startswith(path + "."):
                    continue
                name = element_path.rpartition(".")[2].removesuffix("[x]")
                found[name] = ElementDef(
                    name,
                    element_path,
                    int(low),
                    None if high == "*" else int(high),
                    tuple(types),
                    (binding[0], binding[1]) if binding else None,
                    order,
                )
            self._children[key] = found
        return found

    def has_children(self, type_name: str, path: str) -> bool:
        """Whether the element at ``path`` declares children inline (a backbone element)."""
        return bool(self.children(type_name, path))

    def node_of(self, owner: str, element: ElementDef, type_code: str) -> tuple[str, str]:
        """Where the children of one of an element's values are declared: (type, path)."""
        if type_code.startswith("#"):
            return owner, type_code[1:]
        if type_code in _INLINE and self.has_children(owner, element.path):
            return owner, element.path
        return type_code, type_code


@cache
def _load() -> R4Spec:
    text = files("interop.profiles").joinpath(*INDEX).read_text(encoding="utf-8")
    return R4Spec(json.loads(text))
