"""The profile stage: StructureDefinition differentials compiled into checks on FHIR JSON.

Each StructureDefinition's *differential* is compiled once per registry (``compile_profile``)
into a tree of ``Rule``s, one per element id, and applied to plain FHIR JSON dicts together
with every ``baseDefinition`` above it that the registry holds (a profile derived from a UK Core
profile applies the UK Core one too when UK Core is loaded). Which profiles apply: each
resource's ``meta.profile`` and the profiles the caller names; in a Bundle, the Bundle and every
``entry[i].resource`` by its own ``meta.profile``, located as
``Bundle.entry[3].resource.ofType(Flag).code.coding[0]`` (the form ``interop.fhir.structure``
and the mappings use).

A profile the caller names applies to the resource when it is of the profile's type, else to
every Bundle entry of that type. Notes: a claimed or named profile the registry does not hold
is one information issue ("profile not available", never an error); a claimed profile of
another resource type is an error. Every issue's ``rule_id`` is the element id
(``Patient.identifier:nhsNumber``) and ``rule_source`` the profile's canonical URL.

Checked: min/max cardinality (a nested element only where its parent exists; a primitive with
only ``_name`` extensions counts as present); ``fixed[x]``
(equality) and ``pattern[x]`` (partial match; in an array some element must match); choice
elements (``value[x]`` with its allowed types, renamed paths such as ``valueQuantity`` and type
slices ``value[x]:valueQuantity``); slicing with discriminators ``value`` and ``pattern`` (the
value a slice fixes at the discriminator path, e.g. identifier by ``system``, coding by
``system`` or ``coding.code``, extension by ``url``), ``exists``, and ``type`` on a path that
holds a resource; slice cardinality and ``closed`` slicing; extension slices (the url of the
slice's type profile, its cardinality and, when that Extension's StructureDefinition is loaded,
its own differential: value[x] type, sub-extensions, bindings); reference targets
(``type.targetProfile``: the target's resource type, from the Bundle by ``fullUrl``, a
``#contained`` id, a ``Type/id`` reference or ``Reference.type``).

Limits, by design never reported as errors: a discriminator of type ``profile``, a ``type``
discriminator other than on a resource, a path with a FHIRPath function (``resolve()``,
``extension(url)``) or a slice whose discriminating value cannot be found make that slice
unchecked (and a ``closed`` slicing with such a slice unenforced); a reference that cannot be
resolved is not checked; ``contentReference`` elements are skipped; type profiles other than an
extension's (``Reference(X)`` is checked by type only, ``Bundle.entry.resource`` profiles are
not), ``ordered`` slicing and re-slicing beyond a slice's own members, contained resources,
``mustSupport``, ``maxLength``, ``minValue``/``maxValue`` and
invariants (the invariants stage's work) are not checked here. A baseDefinition that is not in
the registry (R4 core definitions never are) is silently absent from the chain. Bindings are
compiled here and checked by ``interop.validators.terminology``.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from enum import Enum
from typing import Any, Final

from interop.issues import Issue, IssueCode, Severity
from interop.validators.registry import ConformanceRegistry, StageContext, element_ids

JSON = dict[str, Any]


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
_CHOICE_SUFFIXES = frozenset(t[:1].upper() + t[1:] for t in CHOICE_TYPES)
_CORE_SD = "http://hl7.org/fhir/StructureDefinition/"
#: a RESTful reference's type: ``Patient/123``, ``https://host/fhir/Patient/123/_history/2``
_REST_REFERENCE = re.compile(
    r"(?:^|/)([A-Z][A-Za-z]{1,63})/[A-Za-z0-9\-.]{1,64}(?:/_history/[A-Za-z0-9\-.]{1,64})?$"
)
_MAX_EXTENSION_DEPTH = 16
_MAX_BUNDLE_DEPTH = 8


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
        return f"{where} = " + " & ".join(_short_json(e) for e in self.expected)


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


def _short_json(value: Any) -> str:
    text = value if isinstance(value, str) else json.dumps(value, separators=(",", ":"))
    return text if len(text) <= 160 else text[:157] + "..."


# -- compiling ----------------------------------------------------------------------------------


def compile_profile(registry: ConformanceRegistry, url: str) -> CompiledProfile | None:
    """A StructureDefinition compiled (once per registry), or None when it is not available."""
    key = ("profile", url)
    if key in registry.memo:
        found: CompiledProfile | None = registry.memo[key]
        return found
    definition = registry.structure_definition(url)
    registry.memo[key] = None  # a cycle of baseDefinitions ends here
    if definition is None:
        return None
    base_url = definition.get("baseDefinition")
    base = compile_profile(registry, base_url) if isinstance(base_url, str) else None
    compiled = _Compiler(registry, definition, base).run()
    registry.memo[key] = compiled
    return compiled


def profile_chain(registry: ConformanceRegistry, url: str) -> tuple[CompiledProfile, ...]:
    """A profile and its available baseDefinitions, compiled, nearest first."""
    key = ("chain", url)
    found: tuple[CompiledProfile, ...] | None = registry.memo.get(key)
    if found is None:
        chain: list[CompiledProfile] = []
        current = compile_profile(registry, url)
        while current is not None and current not in chain:
            chain.append(current)
            current = current.base
        found = tuple(chain)
        if found or registry.structure_definition(url) is None:
            registry.memo[key] = found  # not while the profile itself is being compiled
    return found


def _discriminator(raw: Any) -> Discriminator | None:
    if not isinstance(raw, dict) or not isinstance(raw.get("type"), str):
        return None
    path = raw.get("path")
    if not isinstance(path, str):
        return Discriminator(raw["type"], None)
    if path == "$this":
        return Discriminator(raw["type"], ())
    parts = tuple(path.removeprefix("$this.").split("."))
    if any(not re.fullmatch(r"[A-Za-z][A-Za-z0-9_]*", p) for p in parts):
        return Discriminator(raw["type"], None)  # resolve(), extension('...'), ofType()...
    return Discriminator(raw["type"], parts)


_WITHOUT_SLICES = re.compile(r":[^.]*")


def _strings(value: Any) -> list[str]:
    """The strings of a JSON array (nothing for anything else)."""
    return [v for v in value if isinstance(v, str)] if isinstance(value, list) else []


class _Compiler:
    def __init__(
        self, registry: ConformanceRegistry, definition: JSON, base: CompiledProfile | None
    ) -> None:
        self.registry = registry
        self.definition = definition
        self.base = base
        self.url = str(definition.get("url"))
        self.type = str(definition.get("type"))
        self.root = Rule(element_id=self.type, name=self.type)
        self.index: dict[str, Rule] = {self.type: self.root}
        self.notes: list[str] = []

    def run(self) -> CompiledProfile:
        differential = self.definition.get("differential")
        raw = differential.get("element") if isinstance(differential, dict) else None
        elements = [e for e in raw or () if isinstance(e, dict)]
        for element, element_id in zip(elements, element_ids(elements), strict=True):
            rule = self._rule_at(element_id)
            if rule is None:
                self.notes.append(f"{element_id}: not an element of {self.type}; skipped")
            elif "contentReference" in element:
                self.notes.append(f"{element_id}: contentReference is not followed")
            else:
                self._apply(rule, element)
        compiled = CompiledProfile(self.url, self.type, self.root, self.index, self.base)
        self._finish(self.root)
        compiled.notes = self.notes
        return compiled

    def _rule_at(self, element_id: str) -> Rule | None:
        first, *rest = element_id.split(".")
        if first != self.type:
            return None
        rule, current_id = self.root, first
        for part in rest:
            name, _, slice_name = part.partition(":")
            current_id += f".{name}"
            child = rule.children.get(name)
            if child is None:
                child = rule.children[name] = Rule(element_id=current_id, name=name)
                self.index[current_id] = child
            rule = child
            if slice_name:
                current_id += f":{slice_name}"
                piece = rule.slices.get(slice_name)
                if piece is None:
                    piece = Rule(element_id=current_id, name=name, slice_name=slice_name)
                    rule.slices[slice_name] = piece
                    self.index[current_id] = piece
                rule = piece
        return rule

    def _apply(self, rule: Rule, element: JSON) -> None:
        low, high = element.get("min"), element.get("max")
        if isinstance(low, int) and not isinstance(low, bool):
            rule.min = low
        if isinstance(high, str) and high.isdigit():
            rule.max = int(high)
        for key, value in element.items():
            if key.startswith("fixed") and key[5:6].isupper():
                rule.fixed = value
            elif key.startswith("pattern") and key[7:8].isupper():
                rule.pattern = value
        listed = element.get("type")
        types = [t for t in listed if isinstance(t, dict)] if isinstance(listed, list) else []
        if types:
            rule.types = tuple(str(t.get("code")) for t in types)
            rule.choice_suffixes = frozenset(t[:1].upper() + t[1:] for t in rule.types)
            profiles = [p for t in types for p in _strings(t.get("profile"))]
            if rule.types == ("Extension",) and profiles:
                rule.extension_url = profiles[0]
            references = [t for t in types if t.get("code") == "Reference"]
            targets = [p for t in references for p in _strings(t.get("targetProfile"))]
            if targets:
                rule.target_types = self._target_types(targets)
        binding = element.get("binding")
        if isinstance(binding, dict) and isinstance(binding.get("valueSet"), str):
            rule.binding = Binding(str(binding.get("strength")), binding["valueSet"])
        slicing = element.get("slicing")
        if isinstance(slicing, dict):
            raw = slicing.get("discriminator")
            found = [_discriminator(d) for d in raw] if isinstance(raw, list) else []
            rule.slicing = Slicing(
                tuple(d for d in found if d is not None), slicing.get("rules") == "closed"
            )

    def _target_types(self, targets: list[str]) -> frozenset[str] | None:
        """The resource types references may point at; None when any target is unknown."""
        found: set[str] = set()
        for target in targets:
            definition = self.registry.structure_definition(target)
            if definition is not None and isinstance(definition.get("type"), str):
                found.add(definition["type"])
            elif target.startswith(_CORE_SD) and target[len(_CORE_SD) :].isalpha():
                found.add(target[len(_CORE_SD) :])
            else:
                return None
        return None if {"Resource", "DomainResource"} & found else frozenset(found)

    def _finish(self, rule: Rule) -> None:
        for child in list(rule.children.values()):
            prefix = child.choice_prefix
            if prefix is not None and child.slices:
                self._unslice_choice(rule, child, prefix)
        for child in rule.children.values():
            for piece in child.slices.values():
                self._finish(piece)
            self._finish(child)
            if child.slices:
                self._resolve_slices(child)
        rule.profile_checks = (
            rule.min > 0
            or rule.max is not None
            or rule.fixed is not UNSET
            or rule.pattern is not UNSET
            or rule.target_types is not None
            or (rule.choice_prefix is not None and bool(rule.types))
            or any(c.profile_checks for c in rule.children.values())
            or bool(rule.slices)
            or (rule.extension_url is not None and self._extension_has(rule, "profile_checks"))
        )
        rule.binding_checks = (
            (rule.binding is not None and rule.binding.strength in ("required", "extensible"))
            or any(c.binding_checks for c in rule.children.values())
            or any(s.binding_checks for s in rule.slices.values())
            or (rule.extension_url is not None and self._extension_has(rule, "binding_checks"))
        )

    def _extension_has(self, rule: Rule, flag: str) -> bool:
        assert rule.extension_url is not None
        chain = profile_chain(self.registry, rule.extension_url)
        return any(getattr(p.root, flag) for p in chain)

    def _unslice_choice(self, parent: Rule, choice: Rule, prefix: str) -> None:
        """Type slices of ``value[x]`` become the renamed elements they are (``valueQuantity``)."""
        for slice_name, piece in choice.slices.items():
            if len(piece.types) == 1:
                key = prefix + piece.types[0][:1].upper() + piece.types[0][1:]
            elif slice_name.startswith(prefix) and slice_name[len(prefix) :] in _CHOICE_SUFFIXES:
                key = slice_name
            else:
                self.notes.append(f"{piece.element_id}: type slice of unknown type; skipped")
                continue
            piece.name, piece.slice_name, piece.choice_prefix = key, None, None
            parent.children.setdefault(key, piece)
        choice.slices, choice.slicing = {}, None

    def _resolve_slices(self, rule: Rule) -> None:
        slicing = rule.slicing or self._inherited_slicing(rule)
        if slicing is None:
            self.notes.append(f"{rule.element_id}: slices without a known slicing; unchecked")
            return
        rule.slicing = slicing
        for piece in rule.slices.values():
            tests: list[SliceTest] = []
            for discriminator in slicing.discriminators:
                test = _slice_test(piece, discriminator)
                for other in self._counterparts(piece) if test is None else ():
                    test = _slice_test(other, discriminator)
                    if test is not None:
                        break
                if test is None:
                    break
                tests.append(test)
            else:
                if tests:
                    piece.tests = tuple(tests)
            if piece.tests is None:
                self.notes.append(f"{piece.element_id}: members cannot be recognised; unchecked")
        _index_slices(rule)

    def _counterparts(self, rule: Rule) -> Iterator[Rule]:
        """Where else an element is defined: the same element outside the slices it sits in
        (a slice inherits its parent's children), then in the baseDefinitions."""
        element_id = rule.element_id
        head, dot, last = element_id.rpartition(".")
        unsliced = _WITHOUT_SLICES.sub("", head) + dot + last if dot else element_id
        if unsliced != element_id and unsliced in self.index:
            yield self.index[unsliced]
        for candidate in dict.fromkeys((element_id, unsliced)):
            found = self.base.lookup(candidate) if self.base is not None else None
            if found is not None:
                yield found

    def _inherited_slicing(self, rule: Rule) -> Slicing | None:
        for other in self._counterparts(rule):
            if other.slicing is not None:
                return other.slicing
        if self.base is not None:
            found = self.base.lookup(_WITHOUT_SLICES.sub("", rule.element_id))
            if found is not None and found.slicing is not None:
                return found.slicing
        if rule.name in ("extension", "modifierExtension"):  # the base Element's own slicing
            return Slicing((Discriminator("value", ("url",)),), closed=False)
        return None


def _index_slices(rule: Rule) -> None:
    """Set ``slice_key`` when one string at one key tells every slice's members."""
    keys: set[str] = set()
    index: dict[str, list[Rule]] = {}
    for piece in rule.slices.values():
        tests = piece.tests
        if tests is None or len(tests) != 1:
            return
        (test,) = tests
        if test.kind != "equals" or len(test.path) != 1 or len(test.expected) != 1:
            return
        if not isinstance(test.expected[0], str):
            return
        keys.add(test.path[0])
        index.setdefault(test.expected[0], []).append(piece)
    if len(keys) == 1:
        rule.slice_key, rule.slice_index = keys.pop(), index


def _slice_test(piece: Rule, discriminator: Discriminator) -> SliceTest | None:
    path = discriminator.path
    if path is None:
        return None
    if discriminator.kind in ("value", "pattern"):
        if path == ("url",) and piece.extension_url is not None:
            return SliceTest(path, "equals", (piece.extension_url,))
        return _expected_at(piece, path, path)
    if discriminator.kind == "exists":
        target = _descend(piece, path)
        if target is not None and target.min >= 1:
            return SliceTest(path, "exists", (True,))
        if target is not None and target.max == 0:
            return SliceTest(path, "exists", (False,))
        return None
    if discriminator.kind == "type" and path:
        target = _descend(piece, path)
        if target is not None and len(target.types) == 1:
            return SliceTest(path, "type", (target.types[0],))
    return None


def _expected_at(rule: Rule, rest: tuple[str, ...], path: tuple[str, ...]) -> SliceTest | None:
    """The value a slice fixes at a discriminator path, from a fixed[x]/pattern[x] on the way."""
    for kind, value in (("equals", rule.fixed), ("pattern", rule.pattern)):
        if value is not UNSET:
            expected = dig(value, rest)
            return SliceTest(path, kind, tuple(expected)) if expected else None
    if not rest:
        return None
    child = rule.children.get(rest[0])
    return _expected_at(child, rest[1:], path) if child is not None else None


def _descend(rule: Rule, path: tuple[str, ...]) -> Rule | None:
    current: Rule | None = rule
    for name in path:
        current = current.children.get(name) if current is not None else None
    return current


# -- applying -----------------------------------------------------------------------------------

#: checks one bound value: (binding, location, value, rule id, profile url) → issues
BindingCheck = Callable[[Binding, str, Any, str, str], list[Issue]]
_Item = tuple[str, str, Any, Any]  # JSON key, location, value, the object holding its children


def _items(parent: JSON, rule: Rule, parent_location: str) -> list[_Item]:
    """An element's values in a JSON object, with ``_name`` (primitive extensions) joined in."""
    prefix = rule.choice_prefix
    if prefix is None:
        keys = [rule.name] if rule.name in parent or f"_{rule.name}" in parent else []
    else:
        keys = []
        for key in parent:
            name = key[1:] if key.startswith("_") else key
            if (
                name.startswith(prefix)
                and name[len(prefix) :] in _CHOICE_SUFFIXES
                and name not in keys
            ):
                keys.append(name)
    found: list[_Item] = []
    for key in keys:
        value, extra = parent.get(key), parent.get(f"_{key}")
        if isinstance(value, list) or isinstance(extra, list):
            values = value if isinstance(value, list) else []
            extras = extra if isinstance(extra, list) else []
            for i in range(max(len(values), len(extras))):
                item = values[i] if i < len(values) else None
                more = extras[i] if i < len(extras) else None
                if item is not None or more is not None:
                    holder = item if isinstance(item, dict) else more
                    found.append((key, f"{parent_location}.{key}[{i}]", item, holder))
        elif value is not None or extra is not None:
            holder = value if isinstance(value, dict) else extra
            found.append((key, f"{parent_location}.{key}", value, holder))
    return found


class _Walk:
    """One pass of compiled rules over resources, collecting issues."""

    def __init__(self, registry: ConformanceRegistry, binding_check: BindingCheck | None) -> None:
        self.registry = registry
        self.binding_check = binding_check
        self.profile_mode = binding_check is None
        self.issues: list[Issue] = []
        self.full_urls: dict[str, str] = {}
        self.contained: dict[str, str] = {}
        self.depth = 0

    def add(
        self, severity: Severity, code: IssueCode, where: str, message: str, rule: Rule, url: str
    ) -> None:
        self.issues.append(Issue(severity, code, where, message, rule.element_id, url))

    def apply(self, profile: CompiledProfile, resource: JSON, location: str) -> None:
        contained = resource.get("contained")
        self.contained = {
            str(c["id"]): str(c.get("resourceType"))
            for c in contained or ()
            if isinstance(c, dict) and "id" in c
        }
        self.item(profile.root, profile.url, location, resource, resource)

    def children(self, rule: Rule, url: str, holder: JSON, location: str) -> None:
        for child in rule.children.values():
            if child.profile_checks if self.profile_mode else child.binding_checks:
                self.element(child, url, holder, location)

    def element(self, rule: Rule, url: str, parent: JSON, parent_location: str) -> None:
        items = _items(parent, rule, parent_location)
        where = f"{parent_location}.{rule.name}"
        if self.profile_mode:
            count = len(items)
            if count < rule.min:
                self.add(
                    Severity.ERROR,
                    IssueCode.REQUIRED,
                    where,
                    f"at least {rule.min} required, found {count}",
                    rule,
                    url,
                )
            if rule.max is not None and count > rule.max:
                self.add(
                    Severity.ERROR,
                    IssueCode.STRUCTURE,
                    where,
                    "not allowed"
                    if rule.max == 0
                    else f"at most {rule.max} allowed, found {count}",
                    rule,
                    url,
                )
        for key, location, value, holder in items:
            self.item(rule, url, location, value, holder, key)
        if rule.slices and items:
            self.slices(rule, url, items, where)
        elif rule.slices and self.profile_mode:
            for piece in rule.slices.values():
                if piece.tests is not None and piece.min > 0:
                    self.slice_count(piece, url, where, 0)

    def item(
        self, rule: Rule, url: str, location: str, value: Any, holder: Any, key: str = ""
    ) -> None:
        if self.profile_mode:
            if value is not None:
                self.value_checks(rule, url, location, value, key)
        elif not rule.allows(key):
            return  # a type the element does not allow: the profile stage says so
        elif rule.binding is not None and value is not None and self.binding_check is not None:
            self.issues += self.binding_check(rule.binding, location, value, rule.element_id, url)
        if rule.extension_url is not None and isinstance(holder, dict):
            self.extension(rule.extension_url, location, holder)
        if isinstance(holder, dict):
            self.children(rule, url, holder, location)

    def value_checks(self, rule: Rule, url: str, location: str, value: Any, key: str) -> None:
        if rule.fixed is not UNSET and not same(value, rule.fixed):
            self.add(
                Severity.ERROR,
                IssueCode.VALUE,
                location,
                f"must be exactly {_short_json(rule.fixed)}",
                rule,
                url,
            )
        if rule.pattern is not UNSET and not matches_pattern(value, rule.pattern):
            self.add(
                Severity.ERROR,
                IssueCode.VALUE,
                location,
                f"must match the pattern {_short_json(rule.pattern)}",
                rule,
                url,
            )
        if not rule.allows(key):
            allowed = ", ".join(sorted(rule.choice_suffixes))
            self.add(
                Severity.ERROR,
                IssueCode.STRUCTURE,
                location,
                f"type {key[len(rule.choice_prefix or '') :]} is not allowed here "
                f"(allowed: {allowed})",
                rule,
                url,
            )
        if rule.target_types is not None and isinstance(value, dict):
            target = self.target_type(value)
            if target is not None and target not in rule.target_types:
                self.add(
                    Severity.ERROR,
                    IssueCode.STRUCTURE,
                    location,
                    f"refers to a {target}; allowed: {', '.join(sorted(rule.target_types))}",
                    rule,
                    url,
                )

    def target_type(self, reference: JSON) -> str | None:
        """The resource type a Reference points at, when it can be told without fetching."""
        text = reference.get("reference")
        if isinstance(text, str):
            if text in self.full_urls:
                return self.full_urls[text]
            if text.startswith("#"):
                return self.contained.get(text[1:])
            match = _REST_REFERENCE.search(text)
            if match:
                return match.group(1)
        declared = reference.get("type")
        return declared if isinstance(declared, str) else None

    def extension(self, url: str, location: str, extension: JSON) -> None:
        if self.depth >= _MAX_EXTENSION_DEPTH:
            return
        self.depth += 1
        for profile in profile_chain(self.registry, url):
            if profile.type == "Extension":
                self.item(profile.root, profile.url, location, extension, extension)
        self.depth -= 1

    def slices(self, rule: Rule, url: str, items: list[_Item], where: str) -> None:
        claimed: set[int] = set()
        for piece, members in self.members(rule, items):
            if self.profile_mode:
                self.slice_count(piece, url, where, len(members))
            elif not piece.binding_checks:
                continue
            for i in members:
                claimed.add(i)
                key, location, value, holder = items[i]
                self.item(piece, url, location, value, holder, key)
        known = all(piece.tests is not None for piece in rule.slices.values())
        if self.profile_mode and rule.slicing and rule.slicing.closed and known:
            for i, (_, location, _, _) in enumerate(items):
                if i not in claimed:
                    self.add(
                        Severity.ERROR,
                        IssueCode.STRUCTURE,
                        location,
                        "matches none of the slices of a closed slicing ("
                        + ", ".join(rule.slices)
                        + ")",
                        rule,
                        url,
                    )

    @staticmethod
    def members(rule: Rule, items: list[_Item]) -> list[tuple[Rule, list[int]]]:
        """Each recognisable slice and the positions of the items that belong to it."""
        if rule.slice_key is not None:
            found: dict[int, list[int]] = {id(p): [] for p in rule.slices.values()}
            key, index = rule.slice_key, rule.slice_index
            for i, (_, _, value, _) in enumerate(items):
                tag = value.get(key) if isinstance(value, dict) else None
                for piece in index.get(tag, ()) if isinstance(tag, str) else ():
                    found[id(piece)].append(i)
            return [(p, found[id(p)]) for p in rule.slices.values()]
        return [
            (
                piece,
                [
                    i
                    for i, (_, _, value, holder) in enumerate(items)
                    if all(t.passes(value if value is not None else holder) for t in piece.tests)
                ],
            )
            for piece in rule.slices.values()
            if piece.tests is not None
        ]

    def slice_count(self, piece: Rule, url: str, where: str, count: int) -> None:
        assert piece.tests is not None
        what = f"slice '{piece.slice_name}' ({'; '.join(t.describe() for t in piece.tests)})"
        if count < piece.min:
            self.add(
                Severity.ERROR,
                IssueCode.REQUIRED,
                where,
                f"{what}: at least {piece.min} required, found {count}",
                piece,
                url,
            )
        if piece.max is not None and count > piece.max:
            self.add(
                Severity.ERROR,
                IssueCode.STRUCTURE,
                where,
                f"{what}: at most {piece.max} allowed, found {count}",
                piece,
                url,
            )


# -- the stage ----------------------------------------------------------------------------------


def resources_in(resource: JSON, location: str | None = None) -> Iterator[tuple[str, JSON]]:
    """A resource and, for a Bundle, every entry's resource (nested Bundles too), located."""
    yield from _resources_in(resource, location or str(resource.get("resourceType")), 0)


def _resources_in(resource: JSON, location: str, depth: int) -> Iterator[tuple[str, JSON]]:
    yield location, resource
    if resource.get("resourceType") != "Bundle" or depth >= _MAX_BUNDLE_DEPTH:
        return
    for i, entry in enumerate(resource.get("entry") or ()):
        inner = entry.get("resource") if isinstance(entry, dict) else None
        if isinstance(inner, dict) and isinstance(inner.get("resourceType"), str):
            where = f"{location}.entry[{i}].resource.ofType({inner['resourceType']})"
            yield from _resources_in(inner, where, depth + 1)


def _full_urls(resource: JSON, depth: int = 0) -> dict[str, str]:
    found: dict[str, str] = {}
    if resource.get("resourceType") != "Bundle" or depth >= _MAX_BUNDLE_DEPTH:
        return found
    for entry in resource.get("entry") or ():
        if not isinstance(entry, dict):
            continue
        inner = entry.get("resource")
        if isinstance(inner, dict) and isinstance(inner.get("resourceType"), str):
            full_url = entry.get("fullUrl")
            if isinstance(full_url, str):
                found[full_url] = inner["resourceType"]
            found.update(_full_urls(inner, depth + 1))
    return found


def claimed_profiles(resource: JSON, location: str) -> list[tuple[str, str]]:
    """The profiles a resource claims in ``meta.profile``, each with its location."""
    meta = resource.get("meta")
    claimed = meta.get("profile") if isinstance(meta, dict) else None
    if not isinstance(claimed, list):
        return []
    return [
        (url, f"{location}.meta.profile[{i}]")
        for i, url in enumerate(claimed)
        if isinstance(url, str)
    ]


def run_profiles(
    resource: Any,
    registry: ConformanceRegistry,
    named: tuple[str, ...] = (),
    binding_check: BindingCheck | None = None,
) -> list[Issue]:
    """Apply every profile that concerns ``resource`` (and its Bundle entries).

    With ``binding_check`` it checks only bindings (the terminology stage); without, everything
    else (the profile stage), including 'profile not available' notes.
    """
    if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
        return []  # the structure stage says why
    walk = _Walk(registry, binding_check)
    walk.full_urls = _full_urls(resource)
    plan: list[tuple[str, JSON, list[tuple[str, str]]]] = [
        (where, res, claimed_profiles(res, where)) for where, res in resources_in(resource)
    ]
    for url in named:
        _plan_named(walk, plan, url, registry)
    for where, res, urls in plan:
        applied: set[str] = set()
        for url, claimed_at in urls:
            chain = profile_chain(registry, url)
            if not chain:
                if walk.profile_mode:
                    walk.issues.append(
                        Issue(
                            Severity.INFORMATION,
                            IssueCode.NOT_SUPPORTED,
                            claimed_at,
                            f"profile not available: {url}; its rules were not checked",
                        )
                    )
                continue
            if chain[0].type != res["resourceType"]:
                if walk.profile_mode:
                    walk.issues.append(
                        Issue(
                            Severity.ERROR,
                            IssueCode.STRUCTURE,
                            claimed_at,
                            f"profile {url} is for {chain[0].type}, not {res['resourceType']}",
                            rule_source=url,
                        )
                    )
                continue
            for profile in chain:
                if profile.url not in applied:
                    applied.add(profile.url)
                    walk.apply(profile, res, where)
    return _unique(walk.issues)


def _plan_named(
    walk: _Walk,
    plan: list[tuple[str, JSON, list[tuple[str, str]]]],
    url: str,
    registry: ConformanceRegistry,
) -> None:
    """A profile the caller names applies to the resource, or else to the Bundle's entries of
    its type."""
    top_where, top, top_urls = plan[0]
    chain = profile_chain(registry, url)
    if not chain or chain[0].type == top["resourceType"]:
        top_urls.append((url, top_where))
        return
    targets = [urls for _, res, urls in plan[1:] if res["resourceType"] == chain[0].type]
    for urls in targets:
        urls.append((url, top_where))
    if not targets and walk.profile_mode:
        walk.issues.append(
            Issue(
                Severity.WARNING,
                IssueCode.NOT_SUPPORTED,
                top_where,
                f"profile {url} is for {chain[0].type}; no resource here is one",
                rule_source=url,
            )
        )


def _unique(issues: list[Issue]) -> list[Issue]:
    seen: set[tuple[str, str, str, str]] = set()
    unique: list[Issue] = []
    for issue in issues:
        key = (issue.severity.value, issue.code.value, issue.location, issue.message)
        if key not in seen:
            seen.add(key)
            unique.append(issue)
    return unique


def profile_stage(resource: dict[str, Any], ctx: StageContext) -> list[Issue]:
    """The profile stage of the validation chain: every profile rule except bindings."""
    return run_profiles(resource, ctx.registry, tuple(ctx.profiles))


def validate_against(
    resource: dict[str, Any],
    profile_url: str,
    registry: ConformanceRegistry,
    *,
    binding_check: BindingCheck | None = None,
) -> list[Issue]:
    """One profile (with its available baseDefinitions) on one resource, whatever it claims
    (a Bundle's entries are not visited); bindings only when ``binding_check`` is given."""
    chain = profile_chain(registry, profile_url)
    where = str(resource.get("resourceType"))
    if not chain:
        if binding_check is not None:
            return []
        return [
            Issue(
                Severity.INFORMATION,
                IssueCode.NOT_SUPPORTED,
                where,
                f"profile not available: {profile_url}; its rules were not checked",
            )
        ]
    walk = _Walk(registry, binding_check)
    walk.full_urls = _full_urls(resource)
    for profile in chain:
        walk.apply(profile, resource, where)
    return _unique(walk.issues)
