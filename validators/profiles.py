"""The profile stage: StructureDefinition differentials, as compiled rules, checked on FHIR JSON.

Each StructureDefinition's differential is compiled once per registry into a tree of ``Rule``s
(``interop.validators.profile_compile``; the rules themselves are in
``interop.validators.profile_rules``) and applied to plain FHIR JSON dicts together with every
``baseDefinition`` above it that the registry holds (a profile derived from a UK Core profile
applies the UK Core one too when UK Core is loaded). Which profiles apply: each resource's
``meta.profile`` and the profiles the caller names; in a Bundle, the Bundle and every
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
compiled with the rest and checked by ``interop.validators.terminology``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Iterator
from typing import Any

from interop.issues import Issue, IssueCode, Severity
from interop.validators.profile_compile import compile_profile, profile_chain
from interop.validators.profile_rules import (
    CHOICE_SUFFIXES,
    CHOICE_TYPES,
    UNSET,
    Binding,
    CompiledProfile,
    Discriminator,
    Rule,
    SliceTest,
    Slicing,
    dig,
    matches_pattern,
    same,
    short_json,
)
from interop.validators.registry import ConformanceRegistry, StageContext

# the stage, and the compiled rules and compiler for code that imports them from here
__all__ = [
    "CHOICE_TYPES",
    "JSON",
    "UNSET",
    "Binding",
    "BindingCheck",
    "CompiledProfile",
    "Discriminator",
    "Rule",
    "SliceTest",
    "Slicing",
    "claimed_profiles",
    "compile_profile",
    "dig",
    "matches_pattern",
    "profile_chain",
    "profile_stage",
    "resources_in",
    "run_profiles",
    "same",
    "validate_against",
]

JSON = dict[str, Any]
#: a RESTful reference's type: ``Patient/123``, ``https://host/fhir/Patient/123/_history/2``
_REST_REFERENCE = re.compile(
    r"(?:^|/)([A-Z][A-Za-z]{1,63})/[A-Za-z0-9\-.]{1,64}(?:/_history/[A-Za-z0-9\-.]{1,64})?$"
)
_MAX_EXTENSION_DEPTH = 16
_MAX_BUNDLE_DEPTH = 8


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
                and name[len(prefix) :] in CHOICE_SUFFIXES
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
                f"must be exactly {short_json(rule.fixed)}",
                rule,
                url,
            )
        if rule.pattern is not UNSET and not matches_pattern(value, rule.pattern):
            self.add(
                Severity.ERROR,
                IssueCode.VALUE,
                location,
                f"must match the pattern {short_json(rule.pattern)}",
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
    full_urls: dict[str, str] | None = None,
) -> list[Issue]:
    """Apply every profile that concerns ``resource`` (and its Bundle entries).

    ``full_urls`` (resource types by fullUrl) adds to those of ``resource``'s own entries: the
    other entries of a Bundle validated entry by entry.

    With ``binding_check`` it checks only bindings (the terminology stage); without, everything
    else (the profile stage), including 'profile not available' notes.
    """
    if not isinstance(resource, dict) or not isinstance(resource.get("resourceType"), str):
        return []  # the structure stage says why
    walk = _Walk(registry, binding_check)
    walk.full_urls = {**(full_urls or {}), **_full_urls(resource)}
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
    # a large Bundle's other entries, when the context carries them (ValidationContext does)
    full_urls: dict[str, str] | None = getattr(ctx, "bundle_full_urls", None)
    return run_profiles(resource, ctx.registry, tuple(ctx.profiles), full_urls=full_urls)


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
