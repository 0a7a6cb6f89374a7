"""The terminology stage: bound codes against local ValueSets, and codes of known CodeSystems.

Bindings come from the same compiled profiles as the profile stage (``interop.validators
.profiles``), so a binding inside a slice or an extension applies to that slice's members only.
ValueSets are expanded from what the registry holds: ``compose.include`` of a whole local
CodeSystem whose ``content`` is ``complete`` (every code, nested concepts included), enumerated
``include.concept``, ``include.valueSet`` (intersected with the include's system when both are
given), and ``exclude``. Stored ``expansion``s are not used: an IG's expansion of a SNOMED CT
refset is a snapshot that may be partial or stale.

What a value is checked as: a ``code`` (or other string) by its code alone; a Coding or a
Quantity by system and code; a CodeableConcept passes when any of its codings is in the set.

Outcomes, by binding strength:

* ``required``: a code outside an expandable value set is an error (``code-invalid``), and so
  is a CodeableConcept without any coding. A code the registry cannot decide (SNOMED CT, a
  filter, a CodeSystem or ValueSet not loaded) is one warning (``not-supported``) naming why,
  once per file and value set (not once per element), and a Coding without a system is one.
* ``extensible``: a code outside an expandable value set is a warning; anything undecidable is
  silent (other codes are allowed anyway).
* ``preferred`` and ``example``: nothing.

Beside bindings, every Coding (or Quantity) whose system is a CodeSystem in the registry with
``content: complete`` must use one of its codes (``check_code``): an unknown code there is an
error even where no binding asks for it (the plan type in a CP-IS flag's ``code``, say).
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass, field
from enum import Enum
from typing import Any

from interop.issues import Issue, IssueCode, Severity
from interop.validators.profiles import Binding, resources_in, run_profiles, validate_against
from interop.validators.registry import JSON, ConformanceRegistry, StageContext

_MAX_VALUE_SET_DEPTH = 16


@dataclass(frozen=True)
class Expansion:
    """What a ValueSet is known to hold: exact codes per system, and what cannot be listed."""

    codes: dict[str, frozenset[str]] = field(default_factory=dict)
    #: systems with codes that cannot be listed here (SNOMED CT filters, systems not loaded)
    open_systems: frozenset[str] = frozenset()
    #: something unknown may add codes of any system (an included ValueSet not loaded)
    open: bool = False
    #: why the expansion is not exact, for messages
    reasons: tuple[str, ...] = ()

    def contains(self, system: str, code: str) -> bool | None:
        """Whether a system's code is in the set; None when that cannot be decided."""
        if code in self.codes.get(system, ()):
            return True
        if system in self.open_systems or self.open:
            return None
        return False

    def contains_code(self, code: str) -> bool | None:
        """Whether a code (with no system, a ``code`` element) is in the set; None: unknown."""
        if any(code in codes for codes in self.codes.values()):
            return True
        return None if self.open_systems or self.open else False

    @property
    def exact(self) -> bool:
        """Whether every member is known."""
        return not self.open_systems and not self.open


def _union(parts: list[Expansion]) -> Expansion:
    codes: dict[str, frozenset[str]] = {}
    for part in parts:
        for system, found in part.codes.items():
            codes[system] = codes.get(system, frozenset()) | found
    return Expansion(
        codes,
        frozenset().union(*(p.open_systems for p in parts)),
        any(p.open for p in parts),
        tuple(dict.fromkeys(r for p in parts for r in p.reasons)),
    )


def _intersection(parts: list[Expansion]) -> Expansion:
    result, *rest = parts
    for other in rest:
        result = _intersect(result, other)
    return result


def _intersect(one: Expansion, other: Expansion) -> Expansion:
    codes: dict[str, frozenset[str]] = {}
    open_systems: set[str] = set()
    mentioned = set(one.codes) | one.open_systems | set(other.codes) | other.open_systems
    for system in mentioned:
        one_open = system in one.open_systems or one.open
        other_open = system in other.open_systems or other.open
        if not (system in one.codes or one_open) or not (system in other.codes or other_open):
            continue  # one side has none of this system's codes
        if one_open or other_open:
            open_systems.add(system)  # which codes both keep cannot be told
        else:
            codes[system] = one.codes[system] & other.codes[system]
    return Expansion(
        codes,
        frozenset(open_systems),
        one.open and other.open,
        tuple(dict.fromkeys(one.reasons + other.reasons)),
    )


def _difference(kept: Expansion, removed: Expansion) -> Expansion:
    codes: dict[str, frozenset[str]] = {}
    open_systems = set(kept.open_systems)
    for system, found in kept.codes.items():
        if system in removed.open_systems or removed.open:
            open_systems.add(system)  # some of these codes may be excluded; cannot tell which
        else:
            codes[system] = found - removed.codes.get(system, frozenset())
    return Expansion(
        codes,
        frozenset(open_systems),
        kept.open,
        tuple(dict.fromkeys(kept.reasons + removed.reasons)),
    )


def _concept_codes(concepts: Any) -> Iterator[str]:
    for concept in concepts or ():
        if isinstance(concept, dict):
            if isinstance(concept.get("code"), str):
                yield concept["code"]
            yield from _concept_codes(concept.get("concept"))


def code_system_codes(registry: ConformanceRegistry, system: str) -> frozenset[str] | None:
    """Every code of a CodeSystem the registry holds completely; None when it cannot list them."""
    key = ("codes", system)
    if key not in registry.memo:
        definition = registry.code_system(system)
        codes = None
        if definition is not None and definition.get("content") == "complete":
            found = _concept_codes(definition.get("concept"))
            if definition.get("caseSensitive") is False:
                found = (c.casefold() for c in found)
            codes = frozenset(found)
        registry.memo[key] = codes
    result: frozenset[str] | None = registry.memo[key]
    return result


def _case_sensitive(registry: ConformanceRegistry, system: str) -> bool:
    definition = registry.code_system(system)
    return definition is None or definition.get("caseSensitive") is not False


def expand(registry: ConformanceRegistry, url: str, _depth: int = 0) -> Expansion:
    """A ValueSet's expansion from local CodeSystems and enumerations (cached per registry)."""
    key = ("expansion", url)
    found: Expansion | None = registry.memo.get(key)
    if found is not None:
        return found
    definition = registry.value_set(url)
    if definition is None or _depth > _MAX_VALUE_SET_DEPTH:
        return Expansion(open=True, reasons=(f"ValueSet {url} is not available",))
    registry.memo[key] = Expansion(open=True, reasons=(f"ValueSet {url} includes itself",))
    compose = definition.get("compose")
    compose = compose if isinstance(compose, dict) else {}
    includes = [_include(registry, i, _depth) for i in compose.get("include") or () if i]
    result = _union(includes) if includes else Expansion(open=True, reasons=(f"{url}: no compose",))
    excludes = [_include(registry, i, _depth) for i in compose.get("exclude") or () if i]
    if excludes:
        result = _difference(result, _union(excludes))
    registry.memo[key] = result
    return result


def _include(registry: ConformanceRegistry, part: Any, depth: int) -> Expansion:
    if not isinstance(part, dict):
        return Expansion()
    parts: list[Expansion] = []
    system = part.get("system")
    if isinstance(system, str):
        if part.get("concept"):
            parts.append(Expansion({system: frozenset(_concept_codes(part["concept"]))}))
        elif part.get("filter"):
            parts.append(
                Expansion(open_systems=frozenset({system}), reasons=(f"a filter on {system}",))
            )
        else:
            codes = code_system_codes(registry, system)
            if codes is None:
                why = f"CodeSystem {system} is not available (complete)"
                parts.append(Expansion(open_systems=frozenset({system}), reasons=(why,)))
            elif not _case_sensitive(registry, system):
                # codes are kept case-folded; an exact match is then not decidable here
                parts.append(
                    Expansion(
                        open_systems=frozenset({system}),
                        reasons=(f"CodeSystem {system} is case-insensitive",),
                    )
                )
            else:
                parts.append(Expansion({system: codes}))
    for value_set in part.get("valueSet") or ():
        if isinstance(value_set, str):
            parts.append(expand(registry, value_set, depth + 1))
    return _intersection(parts) if parts else Expansion()


# -- checking values ----------------------------------------------------------------------------


def check_code(
    system: str, code: str, registry: ConformanceRegistry, location: str = ""
) -> list[Issue]:
    """An error when ``code`` is not in ``system``, a complete CodeSystem the registry holds."""
    codes = code_system_codes(registry, system)
    if codes is None:
        return []
    wanted = code if _case_sensitive(registry, system) else code.casefold()
    if wanted in codes:
        return []
    return [
        Issue(
            Severity.ERROR,
            IssueCode.CODE_INVALID,
            location,
            f"'{code}' is not a code of {system}",
            rule_source=system,
        )
    ]


class _Verdict(Enum):
    IN = "in"
    OUT = "out"
    UNKNOWN = "unknown"  # the value set cannot be expanded for this code
    NO_SYSTEM = "no-system"  # a Coding with a code and no system
    NO_CODE = "no-code"  # a CodeableConcept with text only, or no coding with a code
    NOT_CODED = "not-coded"  # not a coded value at all (a Reference, a boolean...)


def _coding_verdict(coding: JSON, expansion: Expansion) -> _Verdict:
    system, code = coding.get("system"), coding["code"]
    if not isinstance(system, str):
        return _Verdict.NO_SYSTEM
    found = expansion.contains(system, code)
    return _Verdict.UNKNOWN if found is None else _Verdict.IN if found else _Verdict.OUT


def _verdict(location: str, value: Any, expansion: Expansion) -> tuple[str, _Verdict, str]:
    """Where to report, whether the value is in the set, and how to name the value."""
    if isinstance(value, str):
        found = expansion.contains_code(value)
        verdict = _Verdict.UNKNOWN if found is None else _Verdict.IN if found else _Verdict.OUT
        return location, verdict, f"code '{value}'"
    if not isinstance(value, dict):
        return location, _Verdict.NOT_CODED, ""
    if "coding" in value or "text" in value:
        codings = value.get("coding")
        coded = [
            (i, c)
            for i, c in enumerate(codings if isinstance(codings, list) else ())
            if isinstance(c, dict) and isinstance(c.get("code"), str)
        ]
        if not coded:
            return location, _Verdict.NO_CODE, "a concept without a coded value"
        verdicts = [_coding_verdict(c, expansion) for _, c in coded]
        where = f"{location}.coding[{coded[0][0]}]" if len(coded) == 1 else location
        shown = ", ".join(f"code '{c['code']}' of {c.get('system', 'no system')}" for _, c in coded)
        for verdict in (_Verdict.IN, _Verdict.UNKNOWN, _Verdict.NO_SYSTEM):
            if verdict in verdicts:
                return where, verdict, shown
        return where, _Verdict.OUT, shown
    if not isinstance(value.get("code"), str):
        return location, _Verdict.NOT_CODED, ""
    shown = f"code '{value['code']}' of {value.get('system', 'no system')}"
    return location, _coding_verdict(value, expansion), shown


class _BindingChecker:
    """The profile walk's callback: one bound value against its ValueSet."""

    def __init__(self, registry: ConformanceRegistry) -> None:
        self.registry = registry
        #: value sets already said to be undecidable: once per file, not once per element
        self.undecided: set[str] = set()

    def __call__(
        self, binding: Binding, location: str, value: Any, rule_id: str, source: str
    ) -> list[Issue]:
        strength = binding.strength
        if strength not in ("required", "extensible"):
            return []
        expansion = expand(self.registry, binding.value_set)
        where, verdict, shown = _verdict(location, value, expansion)
        required = strength == "required"
        value_set = binding.value_set
        if verdict is _Verdict.OUT or (verdict is _Verdict.NO_CODE and required):
            return [
                Issue(
                    Severity.ERROR if required else Severity.WARNING,
                    IssueCode.CODE_INVALID,
                    where,
                    f"{shown} is not in the value set {value_set} ({strength} binding)",
                    rule_id,
                    source,
                )
            ]
        if required and verdict in (_Verdict.UNKNOWN, _Verdict.NO_SYSTEM):
            if verdict is _Verdict.UNKNOWN:
                if value_set in self.undecided:
                    return []
                self.undecided.add(value_set)
            why = (
                "a Coding needs a system"
                if verdict is _Verdict.NO_SYSTEM
                else "; ".join(expansion.reasons[:2])
            )
            return [
                Issue(
                    Severity.WARNING,
                    IssueCode.NOT_SUPPORTED,
                    where,
                    f"{shown} could not be checked against {value_set}: {why}"
                    + ("; said once per file" if verdict is _Verdict.UNKNOWN else ""),
                    rule_id,
                    source,
                )
            ]
        return []


def _codings(value: Any, location: str) -> Iterator[tuple[str, JSON]]:
    """Every object with a string ``system`` and ``code`` (Codings, Quantities), located."""
    if isinstance(value, dict):
        if isinstance(value.get("system"), str) and isinstance(value.get("code"), str):
            yield location, value
        for key, item in value.items():
            if isinstance(item, dict):
                if key == "resource" and isinstance(item.get("resourceType"), str):
                    continue  # Bundle entries are walked as resources of their own
                yield from _codings(item, f"{location}.{key}")
            elif isinstance(item, list):
                for i, element in enumerate(item):
                    if isinstance(element, dict):
                        yield from _codings(element, f"{location}.{key}[{i}]")


def check_codes(resource: JSON, registry: ConformanceRegistry) -> list[Issue]:
    """``check_code`` on every Coding of a resource (and of its Bundle entries)."""
    issues: list[Issue] = []
    for where, inner in resources_in(resource):
        for location, coding in _codings(inner, where):
            issues += check_code(coding["system"], coding["code"], registry, location)
    return issues


def terminology_stage(resource: dict[str, Any], ctx: StageContext) -> list[Issue]:
    """The terminology stage of the validation chain: bindings, then codes of known systems."""
    if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
        return []
    registry = ctx.registry
    issues = run_profiles(resource, registry, tuple(ctx.profiles), _BindingChecker(registry))
    # an error on a bound code already says what an unknown code of its system would
    reported = {i.location for i in issues if i.code is IssueCode.CODE_INVALID and i.is_error}
    issues += [i for i in check_codes(resource, registry) if i.location not in reported]
    return issues


def bindings_against(
    resource: dict[str, Any], profile_url: str, registry: ConformanceRegistry
) -> list[Issue]:
    """The bindings of one profile (and its available bases) on one resource."""
    return validate_against(
        resource, profile_url, registry, binding_check=_BindingChecker(registry)
    )
