"""A compiled profile as data: ``Rule``s, slicing and slice tests, and how values are matched.

``interop.validators.profile_compile`` builds a ``CompiledProfile`` per StructureDefinition: a
tree of ``Rule``s, one per element id (or slice of one), with what the differential says of it
(cardinality, ``fixed[x]``, ``pattern[x]``, types, reference targets, binding, slicing and the
``SliceTest``s that recognise a slice's members). ``interop.validators.profiles`` applies them.
``same``, ``matches_pattern`` and ``dig`` are the JSON matching both share: FHIR's equality
(``true`` is not ``1``) and pattern matching (in an array some item must match).
"""

from __future__ import annotations

import json
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Final


class _Unset(Enum):
    UNSET = "unset"


UNSET: Final = _Unset.UNSET

#: the type names a choice element's JSON key may end with (``valueQuantity``, ``onsetAge``)
CHOICE_TYPES = frozenset(
    (
        *("base64Binary", "boolean", "canonical", "code", "date", "dateTime", "decimal", "id"),
        *("instant", "integer", "markdown", "oid", "positiveInt", "string", "time"),
        *("unsignedInt", "uri", "url", "uuid", "Address", "Age", "Annotation", "Attachment"),
        *("CodeableConcept", "CodeableReference", "Coding", "ContactDetail", "ContactPoint"),
        *("Contributor", "Count", "DataRequirement", "Distance", "Dosage", "Duration"),
        *("Expression", "HumanName", "Identifier", "Meta", "Money", "ParameterDefinition"),
        *("Period", "Quantity", "Range", "Ratio", "RatioRange", "Reference", "RelatedArtifact"),
        *("SampledData", "Signature", "Timing", "TriggerDefinition", "UsageContext"),
    )
)
#: the same as they end a JSON key (``Quantity``, ``DateTime``)
CHOICE_SUFFIXES = frozenset(t[:1].upper() + t[1:] for t in CHOICE_TYPES)


@dataclass(frozen=True, slots=True)
class Binding:
    """An element's binding: how strongly its codes must come from ``value_set``."""

    strength: str
    value_set: str


@dataclass(frozen=True, slots=True)
class Discriminator:
    """How a slicing tells its slices apart (``value`` at ``system``...)."""

    kind: str
    path: tuple[str, ...] | None  # () for $this; None when the path uses FHIRPath functions


@dataclass(frozen=True, slots=True)
class Slicing:
    """A sliced element's discriminators and whether other members are allowed."""

    discriminators: tuple[Discriminator, ...]
    closed: bool


@dataclass(frozen=True, slots=True)
class SliceTest:
    """One test an item must pass to be a member of a slice."""

    path: tuple[str, ...]
    kind: str  # "equals", "pattern", "exists" or "type"
    expected: tuple[Any, ...]

    def passes(self, item: Any) -> bool:
        """Whether ``item`` passes this test."""
        values = dig(item, self.path)
        if self.kind == "exists":
            return bool(values) is self.expected[0]
        if self.kind == "equals":
            return all(any(same(v, e) for v in values) for e in self.expected)
        if self.kind == "pattern":
            return all(any(matches_pattern(v, e) for v in values) for e in self.expected)
        return any(
            isinstance(v, dict) and v.get("resourceType") == self.expected[0] for v in values
        )

    def describe(self) -> str:
        """``system = https://fhir.nhs.uk/Id/nhs-number`` and the like, for messages."""
        where = ".".join(self.path) or "$this"
        if self.kind == "exists":
            return f"{where} {'present' if self.expected[0] else 'absent'}"
        return f"{where} = " + " & ".join(short_json(e) for e in self.expected)


@dataclass(eq=False, slots=True)
class Rule:
    """What a profile says about one element (or one slice of it), with its children."""

    element_id: str
    name: str  # the element's name in its parent: 'identifier', 'value[x]', 'valueQuantity'
    min: int = 0
    max: int | None = None
    fixed: Any = UNSET
    pattern: Any = UNSET
    types: tuple[str, ...] = ()
    target_types: frozenset[str] | None = None
    binding: Binding | None = None
    extension_url: str | None = None
    slice_name: str | None = None
    slicing: Slicing | None = None
    children: dict[str, Rule] = field(default_factory=dict)
    slices: dict[str, Rule] = field(default_factory=dict)
    #: for a slice: the tests that recognise its members; None when they cannot be known
    tests: tuple[SliceTest, ...] | None = None
    #: whether anything in this subtree checks structure / bindings (prunes the walk)
    profile_checks: bool = False
    binding_checks: bool = False
    #: ``value`` for ``value[x]``; None for an element that is not a choice
    choice_prefix: str | None = None
    #: the key endings a choice element's types allow (``Quantity``...); empty: any
    choice_suffixes: frozenset[str] = frozenset()
    #: when every slice is recognised by one string at one key (extensions by url,
    #: identifiers by system): that key and the slices by value, to match in one pass
    slice_key: str | None = None
    slice_index: dict[str, list[Rule]] = field(default_factory=dict)

    def __post_init__(self) -> None:
        self.choice_prefix = self.name[:-3] if self.name.endswith("[x]") else None

    def allows(self, key: str) -> bool:
        """Whether a JSON key (``valueString``) is of a type this choice element allows."""
        prefix = self.choice_prefix
        if prefix is None or not self.choice_suffixes or not key:
            return True
        return key[len(prefix) :] in self.choice_suffixes


@dataclass(eq=False)
class CompiledProfile:
    """A StructureDefinition's differential as rules, and the profile it derives from."""

    url: str
    type: str
    root: Rule
    index: dict[str, Rule]
    base: CompiledProfile | None
    notes: list[str] = field(default_factory=list)

    def lookup(self, element_id: str) -> Rule | None:
        """The rule of an element id here or in the nearest base that has one."""
        found = self.index.get(element_id)
        if found is None and self.base is not None:
            return self.base.lookup(element_id)
        return found


# -- matching values ----------------------------------------------------------------------------


def same(value: Any, expected: Any) -> bool:
    """JSON equality that does not take ``true`` for ``1``."""
    if isinstance(value, bool) or isinstance(expected, bool):
        return value is expected
    return bool(value == expected)


def matches_pattern(value: Any, pattern: Any) -> bool:
    """FHIR pattern matching: every element of ``pattern`` is in ``value`` (arrays: some item)."""
    if isinstance(pattern, dict):
        return isinstance(value, dict) and all(
            key in value and matches_pattern(value[key], part) for key, part in pattern.items()
        )
    if isinstance(pattern, list):
        items = value if isinstance(value, list) else [value]
        return all(any(matches_pattern(item, part) for item in items) for part in pattern)
    return same(value, pattern)


def dig(value: Any, path: tuple[str, ...]) -> list[Any]:
    """The values at a dotted path below ``value`` (arrays flattened)."""
    values = value if isinstance(value, list) else [value]
    for name in path:
        found: list[Any] = []
        for item in values:
            if isinstance(item, dict) and name in item:
                got = item[name]
                found.extend(got if isinstance(got, list) else [got])
        values = found
    return values


def short_json(value: Any) -> str:
    """A value for a message: a string as it is, anything else as compact JSON, cut short."""
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    return text if len(text) <= 160 else text[:157] + "..."
