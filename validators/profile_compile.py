"""Compiling StructureDefinition differentials into the rules the profile stage applies.

Each StructureDefinition's *differential* is compiled once per registry (``compile_profile``,
kept in the registry's memo) into a tree of ``Rule``s, one per element id; ``profile_chain``
gives a profile with every ``baseDefinition`` above it that the registry holds, nearest first (a
profile derived from a UK Core profile brings the UK Core one along when UK Core is loaded).
Choice elements' type slices (``value[x]:valueQuantity``) become the renamed elements they are;
each slice gets the tests that recognise its members, from its discriminators and the values the
slice (or the element it inherits from, here or in a base) fixes at the discriminator path.

What cannot be compiled is noted on the ``CompiledProfile`` (``notes``), never raised: an
element id outside the profile's type, a ``contentReference``, a type slice of unknown type, a
slicing that cannot be found, or a slice whose members cannot be recognised (left unchecked).
"""

from __future__ import annotations

import re
from collections.abc import Iterator
from typing import Any

from interop.validators.profile_rules import (
    CHOICE_SUFFIXES,
    UNSET,
    Binding,
    CompiledProfile,
    Discriminator,
    Rule,
    SliceTest,
    Slicing,
    dig,
)
from interop.validators.registry import ConformanceRegistry, element_ids

JSON = dict[str, Any]
_CORE_SD = "http://hl7.org/fhir/StructureDefinition/"


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
            elif slice_name.startswith(prefix) and slice_name[len(prefix) :] in CHOICE_SUFFIXES:
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
