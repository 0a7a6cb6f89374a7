"""The invariants stage: FHIR R4 core and profile constraints, as FHIRPath, on every node.

``check_invariants(resource, constraints)`` walks a resource (and the resources inside it: Bundle
entries, contained resources) once. A constraint applies at every node whose element path is its
``path`` (``Bundle.entry``, ``Patient.contact``, ``Questionnaire.item`` at any depth) and, for a
datatype constraint (``Period``, ``Reference``, ``Timing.repeat``), wherever that datatype occurs,
its specialisations included (``Age`` is a ``Quantity``). Types come from fhirpathpy's R4 model
(``interop.validators.fhirpath_model``). A constraint passes only when its expression gives
exactly ``[True]``; an expression that cannot be evaluated is a warning saying so, never an
exception.

``core_constraints(resource_type)`` gives the published R4 (4.0.1) invariants that apply to a
resource type, from ``profiles/r4-core-invariants.json`` (which also lists what is left out and
why). ``invariants_stage(resource, ctx)`` adds the constraints of the profiles a resource claims
(``meta.profile``) or the caller names (``ctx.profiles``).

Locations follow the toolkit's convention: ``Bundle.entry[2].resource.ofType(Composition)``
``.section[0]``; JSON names for choice elements (``valueQuantity``); a primitive's extension is
``birthDate.extension[0]``.

How it stays fast (``benchmarks/invariants.py`` measures it):

- ele-1 and ext-1 (on every element and extension) are checked in Python with the meaning of
  their expressions. So are four R4 invariants whose published expressions cannot run as meant
  on a FHIRPath engine that follows the specification: dom-3 (fhirpathpy's ``as()`` refuses a
  collection of several items), and ref-1, bdl-8 and ras-2, written for the R4 Java engine that
  reads ``not()`` or ``is()`` of an empty collection as a boolean (with FHIRPath's own rules every
  Reference without a ``reference`` would fail ref-1). The data file says so for each.
- An expression that only looks at its node through the names it navigates, when none of those
  names is in the node, gives the same result as on an empty node: that result is computed once
  per expression and element type (``interop.validators.fhirpath_guard`` finds the names).
- Otherwise the native evaluator for the common FHIRPath subset
  (``interop.validators.fhirpath_native``) runs the compiled expression, and fhirpathpy
  evaluates the node whenever that evaluator gives up. Tests check that both paths give the same
  outcome on every node of the fixtures and of mutated resources.
"""

from __future__ import annotations

import json
import re
from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from decimal import Decimal
from enum import Enum
from functools import cache, lru_cache
from importlib.resources import files
from typing import Any, Protocol
from weakref import WeakKeyDictionary

from fhirpathpy import compile as fhirpath_compile
from fhirpathpy.engine.nodes import ResourceNode
from fhirpathpy.parser import parse as fhirpath_parse

from interop.issues import Issue, IssueCode, Severity
from interop.validators.constraint import Constraint
from interop.validators.fhirpath_guard import navigated_names
from interop.validators.fhirpath_model import CHOICES, ELSEWHERE, MODEL, PATH2TYPE, type_chain
from interop.validators.fhirpath_native import Bail, Env, Item, Native, Scope, compile_native

JSON = dict[str, Any]
AST = dict[str, Any]
CORE_DATA = "r4-core-invariants.json"
FHIR_BASE = "http://hl7.org/fhir/StructureDefinition/"

#: element paths with children of their own (backbone elements), which path2Type leaves out
_BACKBONE = frozenset(p.rsplit(".", 1)[0] for p in PATH2TYPE if p.count(".") > 1)
#: "Observation.valueQuantity" -> "Observation.value": JSON names of choice elements
_CHOICE_BASE = {f"{path}{t}": path for path, types in CHOICES.items() for t in types}
#: names of choice elements anywhere in R4 (value, effective, onset...)
_CHOICE_NAMES = frozenset(path.rsplit(".", 1)[1] for path in CHOICES)
_NATIVE_ELEMENT_KEYS = frozenset({"ele-1", "ext-1"})


# --- outcomes ------------------------------------------------------------------------------


@dataclass(frozen=True)
class Outcome:
    """What evaluating a constraint at one node gave: passed, failed, or could not evaluate."""

    passed: bool
    error: str | None = None


PASS = Outcome(True)
FAIL = Outcome(False)


def _outcome(result: Sequence[Any]) -> Outcome:
    # True == 1 in Python: only the boolean itself passes
    return PASS if len(result) == 1 and result[0] is True else FAIL


# --- the R4 core invariants as data ---------------------------------------------------------


@cache
def _core_data() -> JSON:
    data: JSON = json.loads(files("interop.profiles").joinpath(CORE_DATA).read_text("utf-8"))
    return data


def _constraint(raw: JSON) -> Constraint:
    severity = Severity.WARNING if raw["severity"] == "warning" else Severity.ERROR
    return Constraint(
        raw["key"], severity, raw["human"], raw["expression"], raw["path"], raw["source"]
    )


@cache
def _core(resource_type: str, best_practice: bool) -> tuple[Constraint, ...]:
    data = _core_data()
    applies = set(type_chain(resource_type))
    found = [_constraint(raw) for raw in data["native"]]
    for raw in data["constraints"]:
        if raw.get("bestPractice") and not best_practice:
            continue
        defined_on = raw["source"].removeprefix(FHIR_BASE)
        if defined_on in applies or "Resource" not in type_chain(defined_on):
            found.append(_constraint(raw))  # the resource's own, or a datatype's
    return tuple(found)


def core_constraints(resource_type: str, *, best_practice: bool = False) -> list[Constraint]:
    """The published R4 invariants a resource of this type must meet, datatypes' included.

    Best-practice guidelines (dom-6: a resource should have a narrative) only when asked for.
    """
    return list(_core(resource_type, best_practice))


# --- the walk ---------------------------------------------------------------------------------


#: a location, built only when an issue needs it: (parent, segment)
_Loc = tuple[Any, str]


def _render(loc: _Loc | str) -> str:
    parts: list[str] = []
    current: Any = loc
    while isinstance(current, tuple):
        current, segment = current
        parts.append(segment)
    parts.append(current)
    return "".join(reversed(parts))


def _is_primitive(type_name: str) -> bool:
    return type_name[:1].islower() or type_name.startswith("System.")


class _Kind(Enum):
    PRIMITIVE = 1
    COMPLEX = 2
    RESOURCE = 3
    UNKNOWN = 4


@dataclass(frozen=True)
class _ChildInfo:
    """What the model says of a child element: its paths, type and kind."""

    elem_path: str  # from the resource: Flag.period.start, Observation.value[x]
    base: str  # fhirpathpy's type path for it: Period, Bundle.entry, Questionnaire.item
    type_name: str
    types: tuple[str, ...]  # the type and those it derives from
    kind: _Kind


_CHILDREN: dict[tuple[str, str, str], _ChildInfo] = {}


def _child(elem_path: str, base: str, key: str) -> _ChildInfo:
    """The model's view of child ``key`` of a node at ``elem_path`` with type path ``base``."""
    found = _CHILDREN.get((elem_path, base, key))
    if found is None:
        model_path = f"{base}.{key}"
        model_path = ELSEWHERE.get(model_path, model_path)
        choice = _CHOICE_BASE.get(model_path)
        name = key if choice is None else choice.rsplit(".", 1)[1] + "[x]"
        child_elem = f"{elem_path}.{name}"
        type_name = PATH2TYPE.get(model_path)
        if type_name is None:
            if model_path in _BACKBONE:
                found = _ChildInfo(
                    child_elem, model_path, "BackboneElement", _BACKBONE_TYPES, _Kind.COMPLEX
                )
            else:
                found = _ChildInfo(child_elem, model_path, "", (), _Kind.UNKNOWN)
        elif type_name == "Resource":
            found = _ChildInfo(child_elem, model_path, type_name, (), _Kind.RESOURCE)
        elif _is_primitive(type_name):
            found = _ChildInfo(child_elem, type_name, type_name, (), _Kind.PRIMITIVE)
        else:
            found = _ChildInfo(
                child_elem, type_name, type_name, type_chain(type_name), _Kind.COMPLEX
            )
        _CHILDREN[(elem_path, base, key)] = found
    return found


def _child_of_type(elem_path: str, type_name: str) -> _ChildInfo:
    return _ChildInfo(elem_path, type_name, type_name, (), _Kind.PRIMITIVE)


_BACKBONE_TYPES = ("BackboneElement", "Element")


@dataclass
class _Walk:
    """One pass over a resource unit; nested resources are collected, not entered."""

    rules: _RuleSet
    env: Env
    fast: bool
    issues: list[Issue]
    #: resources found inside the unit: (resource, location, whether it is contained)
    nested: list[tuple[JSON, _Loc | str, bool]] = field(default_factory=list)

    def resource(self, resource: JSON, loc: _Loc | str) -> None:
        rtype = str(resource.get("resourceType"))
        self._apply(resource, loc, rtype, rtype, type_chain(rtype), resource=True)
        self._children(resource, loc, rtype, rtype)

    def _apply(
        self,
        node: JSON,
        loc: _Loc | str,
        elem_path: str,
        base: str,
        types: tuple[str, ...],
        *,
        resource: bool = False,
    ) -> None:
        for rule in self.rules.at(elem_path, base, types):
            if self.fast and rule.guard is not None and rule.absent_from(node):
                self._report(rule, rule.on_empty(base, resource, self.env), loc)
                continue
            self._report(rule, rule.evaluate(node, base, resource, self.env, self.fast), loc)

    def _report(self, rule: _Rule, outcome: Outcome, loc: _Loc | str) -> None:
        if outcome.passed:
            return
        c = rule.constraint
        if outcome.error is None:
            self.issues.append(
                Issue(c.severity, IssueCode.INVARIANT, _render(loc), c.human, c.key, c.source)
            )
        else:
            message = f"invariant {c.key} could not be checked: its expression failed to evaluate"
            self.issues.append(
                Issue(
                    Severity.WARNING,
                    IssueCode.INVARIANT,
                    _render(loc),
                    f"{message} ({outcome.error})",
                    c.key,
                    c.source,
                )
            )

    def _element_issue(self, key: str, loc: _Loc | str) -> None:
        c = self.rules.natives[key]
        self.issues.append(
            Issue(c.severity, IssueCode.INVARIANT, _render(loc), c.human, c.key, c.source)
        )

    def _children(self, node: JSON, loc: _Loc | str, elem_path: str, base: str) -> None:
        for key, value in node.items():
            if key[:1] == "_":
                if key[1:] not in node:  # a primitive with only an id or extensions
                    info = _child(elem_path, base, key[1:])
                    self._primitive(key[1:], None, value, loc, info.elem_path, info.type_name)
                continue
            info = _child(elem_path, base, key)
            kind = info.kind
            if kind is _Kind.PRIMITIVE:
                ext = node.get("_" + key)
                if ext is None and value is not None and not isinstance(value, list):
                    if info.elem_path in self.rules.primitive_paths:
                        self._apply_primitive(value, None, (loc, "." + key), info)
                    continue  # a plain value: nothing else to check
                self._primitive(key, value, ext, loc, info.elem_path, info.type_name)
            elif kind is _Kind.COMPLEX:
                self._complex(key, value, loc, info)
            elif kind is _Kind.RESOURCE:
                self._resources(key, value, loc)
            elif kind is _Kind.UNKNOWN:
                self._unknown(key, value, loc)

    def _complex(self, key: str, value: Any, loc: _Loc | str, info: _ChildInfo) -> None:
        listed = isinstance(value, list)
        items = value if listed else [value]
        extension = info.types[0] == "Extension"
        for i, item in enumerate(items):
            if not isinstance(item, dict):
                continue  # the structure stage reports a value of the wrong shape
            here: _Loc = (loc, f".{key}[{i}]" if listed else "." + key)
            self._element(item, here, extension=extension)
            self._apply(item, here, info.elem_path, info.base, info.types)
            self._children(item, here, info.elem_path, info.base)

    def _element(self, item: JSON, loc: _Loc | str, *, extension: bool) -> None:
        """ele-1 (a child besides id) and, on an extension, ext-1 (a value or extensions)."""
        if self.rules.ele1 and not any(k != "id" and _present(v) for k, v in item.items()):
            self._element_issue("ele-1", loc)
        if extension and self.rules.ext1:
            has_value = any(
                (k.startswith("value") and k[5:6].isupper()) or k.startswith("_value") for k in item
            )
            if _present(item.get("extension")) == has_value:
                self._element_issue("ext-1", loc)

    def _primitive(
        self, key: str, value: Any, ext: Any, loc: _Loc | str, elem_path: str, type_name: str
    ) -> None:
        values = value if isinstance(value, list) else [value]
        exts = ext if isinstance(ext, list) else [ext]
        repeated = isinstance(value, list) or isinstance(ext, list)
        for i in range(max(len(values), len(exts))):
            item = values[i] if i < len(values) else None
            extra = exts[i] if i < len(exts) else None
            here: _Loc = (loc, f".{key}[{i}]" if repeated else "." + key)
            ext_items = extra.get("extension") if isinstance(extra, dict) else None
            if self.rules.ele1 and item is None and not _present(ext_items):
                self._element_issue("ele-1", here)
            if elem_path in self.rules.primitive_paths:
                self._apply_primitive(item, extra, here, _child_of_type(elem_path, type_name))
            if isinstance(extra, dict):
                self._children(extra, here, elem_path, "Element")

    def _apply_primitive(self, value: Any, ext: Any, loc: _Loc, info: _ChildInfo) -> None:
        """A profile's constraint on a primitive element (``Patient.birthDate``)."""
        node = ResourceNode.create_node(value, info.type_name, _data=ext)  # type: ignore[no-untyped-call]
        for rule in self.rules.at(info.elem_path, info.elem_path, ()):
            self._report(rule, rule.evaluate_node(node, self.env), loc)

    def _resources(self, key: str, value: Any, loc: _Loc | str) -> None:
        items = value if isinstance(value, list) else [value]
        for i, item in enumerate(items):
            if isinstance(item, dict) and isinstance(item.get("resourceType"), str):
                index = f"[{i}]" if isinstance(value, list) else ""
                here: _Loc = (loc, f".{key}{index}.ofType({item['resourceType']})")
                self.nested.append((item, here, key == "contained"))

    def _unknown(self, key: str, value: Any, loc: _Loc | str) -> None:
        """An element R4 does not define: the structure stage reports it; extensions inside
        still get ele-1 and ext-1."""
        items = value if isinstance(value, list) else [value]
        for i, item in enumerate(items):
            if isinstance(item, dict):
                here: _Loc = (loc, f".{key}[{i}]" if isinstance(value, list) else f".{key}")
                self._children(item, here, "?", "Element")


def _present(value: Any) -> bool:
    """Whether a JSON value makes at least one FHIRPath item (an empty object still does)."""
    if isinstance(value, list):
        return any(v is not None for v in value)
    return value is not None


# --- compiled constraints -------------------------------------------------------------------


def _no_trace(*_: Any) -> None:
    """trace() would print to standard output; the stage keeps quiet."""


def _has_value(inputs: list[Any]) -> list[bool]:
    """FHIR's hasValue(): a single primitive that has a value (not just extensions)."""
    return [len(inputs) == 1 and inputs[0] is not None and not isinstance(inputs[0], dict | list)]


_OPTIONS: dict[str, Any] = {
    "userInvocationTable": {"hasValue": {"fn": _has_value, "arity": {0: []}}},
    "traceFn": _no_trace,
}


@dataclass(eq=False)
class _Rule:
    """One constraint, compiled once: fhirpathpy, the native evaluator, the empty-node guard."""

    constraint: Constraint
    fhirpath: Callable[..., list[Any]] | None = None
    compile_error: str | None = None
    native: Native | None = None
    special: Callable[[JSON, Env], Outcome] | None = None
    guard: frozenset[str] | None = None
    #: the guard's names that are also names of choice elements (value for valueQuantity)
    guard_choices: tuple[str, ...] = ()
    _empty: dict[tuple[str, bool], Outcome] = field(default_factory=dict)

    @classmethod
    def build(cls, constraint: Constraint) -> _Rule:
        rule = cls(constraint)
        special = _specials().get((constraint.key, constraint.expression))
        if special is not None:
            rule.special = special
            return rule
        try:
            ast = _parse(constraint.expression)
            rule.fhirpath = fhirpath_compile(constraint.expression, MODEL, _OPTIONS)
        except Exception as exc:  # a profile's expression fhirpathpy cannot parse
            rule.compile_error = f"{type(exc).__name__}: {exc}"[:200]
            return rule
        rule.guard = navigated_names(ast)
        rule.guard_choices = tuple(sorted((rule.guard or frozenset()) & _CHOICE_NAMES))
        try:
            rule.native = compile_native(ast["children"][0])
        except Bail:
            rule.native = None
        return rule

    def evaluate(self, node: JSON, base: str, resource: bool, env: Env, fast: bool) -> Outcome:
        if self.special is not None:
            return self.special(node, env)
        if fast and self.native is not None:
            path = str(node.get("resourceType")) if resource else base
            try:
                return _outcome(self.native([Item(node, path)], Scope(env)))
            except Exception:  # Bail, or anything unforeseen: fhirpathpy decides
                pass
        return self._full(node if resource else _node(node, base), env)

    def evaluate_node(self, node: Any, env: Env) -> Outcome:
        return self._full(node, env)

    def absent_from(self, node: JSON) -> bool:
        """Whether none of the names the expression navigates is in the node."""
        guard = self.guard or frozenset()
        for name in guard:
            if name in node or "_" + name in node:
                return False
        for key in node if self.guard_choices else ():
            bare = key.lstrip("_")
            for name in self.guard_choices:
                if bare.startswith(name) and bare[len(name) : len(name) + 1].isupper():
                    return False
        return True

    def on_empty(self, base: str, resource: bool, env: Env) -> Outcome:
        """The outcome on a node holding none of the names the expression looks at."""
        key = (base, resource)
        if key not in self._empty:
            empty: JSON = {"resourceType": base} if resource else {}
            self._empty[key] = self.evaluate(empty, base, resource, env, fast=False)
        return self._empty[key]

    def _full(self, node: Any, env: Env) -> Outcome:
        if self.fhirpath is None:
            return Outcome(False, self.compile_error)
        try:
            result = self.fhirpath(node, {"resource": env.resource, "rootResource": env.root})
        except Exception as exc:  # fhirpathpy raises plain Exceptions for type errors
            return Outcome(False, _ADDRESS.sub("", f"{type(exc).__name__}: {exc}")[:200])
        return _outcome(result)


#: object addresses in fhirpathpy's messages (they differ from one run to the next)
_ADDRESS = re.compile(r" at 0x[0-9a-f]+")


def _parse(expression: str) -> AST:
    """fhirpathpy's syntax tree of an expression (its parser has no type annotations)."""
    tree: AST = fhirpath_parse(expression)  # type: ignore[no-untyped-call]
    return tree


def _node(data: JSON, path: str) -> Any:
    return ResourceNode.create_node(data, path)  # type: ignore[no-untyped-call]


class _RuleSet:
    """Constraints indexed by the element path or type they apply at."""

    def __init__(self, constraints: Iterable[Constraint]) -> None:
        seen: dict[tuple[str, str, str], Constraint] = {}
        for c in constraints:
            # a constraint inside a slice (Bundle.entry:flag) is left out: no element path
            # selects only the slice's members
            if ":" not in c.path:
                seen.setdefault((c.key, c.path, c.expression), c)
        #: ele-1 and ext-1, checked in Python on every element (the first definition given wins)
        self.natives: dict[str, Constraint] = {}
        for c in seen.values():
            if c.key in _NATIVE_ELEMENT_KEYS:
                self.natives.setdefault(c.key, c)
        self.ele1 = "ele-1" in self.natives
        self.ext1 = "ext-1" in self.natives
        self._by_path: dict[str, list[_Rule]] = {}
        for c in seen.values():
            if c.key not in _NATIVE_ELEMENT_KEYS:
                self._by_path.setdefault(c.path, []).append(_Rule.build(c))
        #: paths a primitive element may have (only those are looked up for primitives)
        self.primitive_paths = frozenset(p for p in self._by_path if "." in p)
        self._at: dict[tuple[str, str, tuple[str, ...]], list[_Rule]] = {}

    def at(self, elem_path: str, base: str, types: tuple[str, ...]) -> list[_Rule]:
        """Rules at an element path, at its model path (``Timing.repeat`` in any Timing,
        ``Questionnaire.item`` at any depth), on its type and on the types it derives from."""
        key = (elem_path, base, types)
        found = self._at.get(key)
        if found is None:
            found = []
            for name in (elem_path, base, *types):
                for rule in self._by_path.get(name, ()):
                    if rule not in found:
                        found.append(rule)
            self._at[key] = found
        return found


@lru_cache(maxsize=512)
def _rules(constraints: tuple[Constraint, ...]) -> _RuleSet:
    return _RuleSet(constraints)


# --- dom-3, checked in Python ------------------------------------------------------------------


def _dom3(resource: JSON, env: Env) -> Outcome:
    """dom-3: every contained resource is referred to from elsewhere in the resource (``#id``
    in a reference, or a canonical/uri/url value), or itself refers to the container (``#``)."""
    contained = resource.get("contained")
    if not isinstance(contained, list) or not contained:
        return PASS
    everywhere = set(_references(resource, str(resource.get("resourceType"))))
    for item in contained:
        if not isinstance(item, dict) or not isinstance(item.get("id"), str):
            continue  # '#' + {} is empty: the criteria is empty, the resource not selected
        if f"#{item['id']}" in everywhere:
            continue
        inside = _references(item, str(item.get("resourceType")))
        if "#" not in inside:
            return FAIL
    return PASS


def _references(node: JSON, base: str) -> Iterator[str]:
    """Values of every ``reference`` child and every canonical, uri or url element below."""
    for key, value in node.items():
        name = key.lstrip("_")
        model_path = ELSEWHERE.get(f"{base}.{name}", f"{base}.{name}")
        type_name = PATH2TYPE.get(model_path, "")
        items = value if isinstance(value, list) else [value]
        for item in items:
            if isinstance(item, str) and not key.startswith("_"):
                if key == "reference" or type_name in ("canonical", "uri", "url"):
                    yield item
            elif isinstance(item, dict):
                if "resourceType" in item:
                    child_base = str(item["resourceType"])
                elif type_name and not _is_primitive(type_name) and type_name != "Resource":
                    child_base = type_name
                else:
                    child_base = model_path
                yield from _references(item, child_base)


def _ref1(reference: JSON, env: Env) -> Outcome:
    """ref-1: a local reference (``#id``) names a contained resource of %rootResource."""
    value = reference.get("reference")
    if not isinstance(value, str) or not value.startswith("#"):
        return PASS
    contained = env.root.get("contained")
    items = contained if isinstance(contained, list) else []
    ids = [c.get("id") for c in items if isinstance(c, dict)]
    # '#' alone: substring(1) is empty, so the published expression fails it too
    return PASS if value[1:] and value[1:] in ids else FAIL


def _bdl8(entry: JSON, env: Env) -> Outcome:
    """bdl-8: a fullUrl, when there is one, is not a version-specific reference."""
    full_url = entry.get("fullUrl")
    return FAIL if isinstance(full_url, str) and "/_history/" in full_url else PASS


def _ras2(prediction: JSON, env: Env) -> Outcome:
    """ras-2: a decimal probability, when there is one, is at most 100."""
    probability = prediction.get("probabilityDecimal")
    if isinstance(probability, int | float | Decimal) and not isinstance(probability, bool):
        return PASS if probability <= 100 else FAIL
    return PASS  # absent, or not a number (the structure stage reports that)


_NATIVE_RULES: dict[str, Callable[[JSON, Env], Outcome]] = {
    "dom-3": _dom3,
    "ref-1": _ref1,
    "bdl-8": _bdl8,
    "ras-2": _ras2,
}


@cache
def _specials() -> dict[tuple[str, str], Callable[[JSON, Env], Outcome]]:
    """The core constraints checked in Python, by (key, published expression): a profile's
    constraint of the same key but another expression still goes to FHIRPath."""
    return {
        (raw["key"], raw["expression"]): _NATIVE_RULES[raw["key"]]
        for raw in _core_data()["constraints"]
        if raw.get("evaluation") == "native"
    }


# --- public API ---------------------------------------------------------------------------------


def check_invariants(
    resource: JSON, constraints: Iterable[Constraint], *, fast_path: bool = True
) -> list[Issue]:
    """Every constraint on every node it applies to, in the resource and the resources inside it.

    ``fast_path=False`` evaluates every expression with fhirpathpy (for benchmarks and tests).
    """
    rules = _rules(tuple(constraints))
    return _check(resource, lambda unit, is_root: rules, fast_path)


def _check(
    resource: JSON,
    rules_for: Callable[[JSON, bool], _RuleSet],
    fast: bool,
) -> list[Issue]:
    issues: list[Issue] = []
    if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
        return issues
    pending: list[tuple[JSON, _Loc | str, JSON, bool]] = [
        (resource, str(resource["resourceType"]), resource, True)
    ]
    while pending:
        unit, loc, container, is_root = pending.pop(0)
        walk = _Walk(rules_for(unit, is_root), Env(unit, container), fast, issues)
        walk.resource(unit, loc)
        for nested, nested_loc, contained in walk.nested:
            # a contained resource's %rootResource is its container; a Bundle entry is its own
            pending.append((nested, nested_loc, unit if contained else nested, False))
    return issues


class ConstraintSource(Protocol):
    """Where a profile's constraints come from (``ConformanceRegistry`` is one)."""

    def constraints(self, url: str) -> list[Constraint]:
        """The invariants a profile and its base definitions declare."""
        ...


class InvariantsContext(Protocol):
    """What the invariants stage needs from the validation chain's context."""

    @property
    def registry(self) -> ConstraintSource:
        """Profiles' constraints by canonical URL."""
        ...

    @property
    def profiles(self) -> tuple[str, ...]:
        """Profiles named by the caller, checked beside each resource's ``meta.profile``."""
        ...


def invariants_stage(resource: JSON, ctx: InvariantsContext) -> list[Issue]:
    """R4 core invariants of each resource's type, and those of the profiles it claims.

    Bundle entries and contained resources are checked with their own types' and profiles'
    constraints; the caller's profiles (``ctx.profiles``) apply to the top resource.
    """
    registry = ctx.registry
    named = tuple(ctx.profiles)
    # compiled rule sets live in the registry's memo when it has one (dropped when it changes)
    memo = getattr(registry, "memo", None)
    if not isinstance(memo, dict):
        memo = _memo_of(registry)

    def rules_for(unit: JSON, is_root: bool) -> _RuleSet:
        resource_type = str(unit.get("resourceType"))
        urls = _claimed(unit) + (named if is_root else ())
        key = ("invariants", "|".join((resource_type, *urls)))
        rules = memo.get(key)
        if not isinstance(rules, _RuleSet):
            found = list(_core(resource_type, False))
            for url in urls:
                found.extend(registry.constraints(url))
            rules = memo[key] = _rules(tuple(found))
        return rules

    return _check(resource, rules_for, True)


_MEMOS: WeakKeyDictionary[Any, dict[tuple[str, str], Any]] = WeakKeyDictionary()


def _memo_of(registry: Any) -> dict[tuple[str, str], Any]:
    """Rule sets for a constraint source without a ``memo`` of its own (kept while it lives;
    a source whose constraints change should have a memo it clears, as the registry does)."""
    try:
        return _MEMOS.setdefault(registry, {})
    except TypeError:  # cannot be weakly referenced: no caching across calls
        return {}


def _claimed(resource: JSON) -> tuple[str, ...]:
    meta = resource.get("meta")
    profiles = meta.get("profile") if isinstance(meta, dict) else None
    return tuple(p for p in profiles or () if isinstance(p, str))
