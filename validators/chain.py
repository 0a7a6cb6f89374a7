"""The validation chain: syntax → structure → terminology → profile → invariants → rules.

Each stage is a function ``stage(resource, context) -> list[Issue]`` that can be used alone;
``validate_resource`` runs them in order on one FHIR resource (a Bundle's entries included) and
``validate_artefact`` runs the guidance's rules on a domain artefact. ``ValidationContext``
carries what the stages share: the conformance resources (the toolkit's own profiles and any
implementation guide loaded with ``--ig``), the profiles named by the caller, the day and the
edition of the guidance the business rules are checked for, and whether the environment is
production (outside production, real NHS numbers are worth a warning).

The stages after structure run even when structure found errors (they read plain JSON, so one
problem does not hide the others), but the business rules need a mapped artefact and so run
only on a resource with no errors. An issue found by two stages at the same place is reported
once.
"""

from __future__ import annotations

from collections.abc import Callable, Iterable, Iterator, Sequence
from dataclasses import dataclass, field
from datetime import date
from functools import cached_property
from pathlib import Path
from typing import TYPE_CHECKING, Any

from interop.formats import control_characters
from interop.identifiers import (
    NHS_NUMBER_SYSTEM,
    SNOMED_SYSTEM,
    TEST_BLOCK,
    InvalidNhsNumber,
    InvalidSnomedCode,
    check_nhs_number,
    check_snomed_concept_id,
)
from interop.issues import Issue, IssueCode, Severity, error
from interop.validators.business_rules import DEFAULT_EDITION, EDITIONS

if TYPE_CHECKING:
    from interop.domain import ArtefactBase
    from interop.validators.registry import ConformanceRegistry

JSON = dict[str, Any]
NHS_RULE_SOURCE = "NHS number: modulus 11 check digit (NHS Data Dictionary)"


@dataclass
class ValidationContext:
    """What the stages share. Build it once per run: the registry is loaded lazily, once."""

    igs: tuple[Path, ...] = ()
    profiles: tuple[str, ...] = ()
    as_of: date = field(default_factory=date.today)
    edition: str = DEFAULT_EDITION
    production: bool = True
    #: the largest FHIR input read (``--max-size``); JSON and XML alike
    max_bytes: int = 64 * 1024 * 1024
    #: FHIR JSON or XML larger than this is validated entry by entry (``validators.large_bundle``)
    stream_above: int = 16 * 1024 * 1024
    #: while a large Bundle is validated entry by entry: the resource type of each of its
    #: entries by fullUrl, so the profile stage resolves references between entries
    bundle_full_urls: dict[str, str] = field(default_factory=dict)

    def __post_init__(self) -> None:
        if self.edition not in EDITIONS:
            raise ValueError(f"edition {self.edition!r} is not one of {', '.join(EDITIONS)}")

    @cached_property
    def registry(self) -> ConformanceRegistry:
        """The toolkit's conformance resources plus every ``--ig`` folder."""
        from interop.validators.registry import ConformanceRegistry

        registry = ConformanceRegistry.toolkit()
        if self.igs:
            registry = registry.with_folders(self.igs)
        return registry

    @property
    def registry_issues(self) -> list[Issue]:
        """Problems met while loading the implementation guides (files that could not be read)."""
        return list(self.registry.load_issues)


Stage = Callable[[JSON, ValidationContext], list[Issue]]


def structure_stage(resource: JSON, context: ValidationContext) -> list[Issue]:
    """Structure: every element known, of the right type, required elements of R4 present."""
    from interop.fhir import check_structure

    return check_structure(resource)


def terminology_stage(resource: JSON, context: ValidationContext) -> list[Issue]:
    """Terminology: codes against the ValueSets their elements are bound to."""
    from interop.validators.terminology import terminology_stage as stage

    return stage(resource, context)


def profile_stage(resource: JSON, context: ValidationContext) -> list[Issue]:
    """Profiles: the StructureDefinitions the resource claims or the caller names."""
    from interop.validators.profiles import profile_stage as stage

    return stage(resource, context)


def invariants_stage(resource: JSON, context: ValidationContext) -> list[Issue]:
    """Invariants: R4 core and profile constraints, as FHIRPath."""
    from interop.validators.invariants import invariants_stage as stage

    return stage(resource, context)


def nhs_number_stage(resource: JSON, context: ValidationContext) -> list[Issue]:
    """Every NHS number identifier: its check digit, and outside production, the test block."""
    issues: list[Issue] = []
    for location, value in _with_system(
        resource, resource.get("resourceType", ""), NHS_NUMBER_SYSTEM, "value"
    ):
        issues.extend(_nhs_number_issues(value, location, context))
    return issues


def snomed_code_stage(resource: JSON, context: ValidationContext) -> list[Issue]:
    """Every SNOMED CT code made of digits: a concept id with a valid Verhoeff check digit.

    A code with anything but digits is a post-coordinated expression and is left alone; whether
    a concept exists needs a terminology server (the terminology stage does not decide SNOMED CT).
    """
    issues: list[Issue] = []
    root = resource.get("resourceType", "")
    for location, value in _with_system(resource, root, SNOMED_SYSTEM, "code"):
        if not isinstance(value, str) or not value.isdigit():
            continue
        try:
            check_snomed_concept_id(value)
        except InvalidSnomedCode as exc:
            issues.append(error(IssueCode.CODE_INVALID, location, f"SNOMED CT: {exc}"))
    return issues


def identifiers_stage(resource: JSON, context: ValidationContext) -> list[Issue]:
    """The check digits of NHS numbers and SNOMED CT concept ids."""
    return nhs_number_stage(resource, context) + snomed_code_stage(resource, context)


#: the chain for a FHIR resource, in order
FHIR_STAGES: tuple[tuple[str, Stage], ...] = (
    ("structure", structure_stage),
    ("terminology", terminology_stage),
    ("profile", profile_stage),
    ("invariants", invariants_stage),
    ("identifiers", identifiers_stage),
)


def _with_system(node: Any, path: str, system: str, key: str) -> Iterator[tuple[str, Any]]:
    """(location, value) of ``key`` of every element with ``system``: the ``value`` of an
    Identifier, the ``code`` of a Coding."""
    if isinstance(node, dict):
        if node.get("system") == system and key in node:
            yield f"{path}.{key}", node[key]
        for name, child in node.items():
            if isinstance(child, dict | list):
                step = name
                if name == "resource" and isinstance(child, dict):
                    step = f"resource.ofType({child.get('resourceType', 'Resource')})"
                yield from _with_system(child, f"{path}.{step}", system, key)
    elif isinstance(node, list):
        for index, child in enumerate(node):
            yield from _with_system(child, f"{path}[{index}]", system, key)


def _nhs_number_issues(value: Any, location: str, context: ValidationContext) -> list[Issue]:
    try:
        digits = check_nhs_number(value)
    except InvalidNhsNumber as exc:
        return [
            error(IssueCode.VALUE, location, str(exc), rule_id="NHS", rule_source=NHS_RULE_SOURCE)
        ]
    if not context.production and not TEST_BLOCK[0] <= int(digits) <= TEST_BLOCK[1]:
        return [
            Issue(
                Severity.WARNING,
                IssueCode.VALUE,
                location,
                "outside production only NHS numbers from the test block 9000000000-9999999999 "
                "are expected; this one may be a real person's",
                rule_id="NHS-TEST",
                rule_source="configuration [environment] name is not production",
            )
        ]
    return []


def _dedupe(issues: Iterable[Issue]) -> list[Issue]:
    """One problem once: of the issues at the same place with the same severity and code, a
    rule's (profile element, invariant, guidance rule) are kept, each distinct one once, and a
    generic one (such as R4's own "field required") only when no rule said it."""
    groups: dict[tuple[str, str, str], list[Issue]] = {}
    for issue in issues:
        groups.setdefault((issue.severity.value, issue.code.value, issue.location), []).append(
            issue
        )
    kept: list[Issue] = []
    for group in groups.values():
        ruled = [i for i in group if i.rule_id]
        seen: set[tuple[str | None, str]] = set()
        for issue in ruled or group[:1]:
            if (issue.rule_id, issue.message) not in seen:
                seen.add((issue.rule_id, issue.message))
                kept.append(issue)
    return kept


@dataclass
class ResourceResult:
    """A FHIR resource through the chain: every issue, and the artefact when it maps to one."""

    issues: list[Issue]
    artefact: ArtefactBase | None = None
    kind: str | None = None


def validate_resource(
    resource: JSON,
    context: ValidationContext,
    stages: Sequence[tuple[str, Stage]] = FHIR_STAGES,
    *,
    map_artefact: bool = True,
) -> ResourceResult:
    """Run the FHIR stages, then, for a whole toolkit artefact (its Bundle, or a forms tool's
    QuestionnaireResponse) with no error, map it and run the guidance's rules on it.

    ``map_artefact=False`` stops after the FHIR stages: for one resource of an artefact taken
    out of its Bundle (a server checking a transaction's entries one by one).
    """
    issues: list[Issue] = []
    for _, stage in stages:
        issues.extend(stage(resource, context))
    issues = _dedupe(issues)
    from interop.mappings.fhir import detect_kind

    kind = detect_kind(resource) if map_artefact else None
    if resource.get("resourceType") not in ("Bundle", "QuestionnaireResponse"):
        kind = None  # a resource alone is part of an artefact, never all of one
    if kind is None or any(i.is_error for i in issues):
        return ResourceResult(issues, kind=kind)
    from interop.mappings.fhir import fhir_to_artefact
    from interop.mappings.fhir_common import MappingError

    try:
        artefact = fhir_to_artefact(resource)
    except MappingError as exc:
        return ResourceResult(issues + exc.issues, kind=kind)
    return ResourceResult(issues + validate_artefact(artefact, context), artefact, kind)


def validate_artefact(artefact: ArtefactBase, context: ValidationContext) -> list[Issue]:
    """The guidance's rules on one artefact (its consistency rules ran when it was read), and
    outside production a warning for NHS numbers outside the test block."""
    from interop.validators.business_rules import check_artefact

    issues = check_artefact(artefact, as_of=context.as_of, edition=context.edition)
    issues = control_characters(artefact.model_dump(mode="json"), "$") + issues
    if not context.production:
        for location, value in _artefact_nhs_numbers(artefact.model_dump(mode="json"), "$"):
            issues.extend(_nhs_number_issues(value, location, context))
    return issues


def _artefact_nhs_numbers(node: Any, path: str) -> Iterator[tuple[str, Any]]:
    if isinstance(node, dict):
        for key, child in node.items():
            if key == "nhs_number" and isinstance(child, str):
                yield f"{path}.{key}", child
            elif isinstance(child, dict | list):
                yield from _artefact_nhs_numbers(child, f"{path}.{key}")
    elif isinstance(node, list):
        for index, child in enumerate(node):
            yield from _artefact_nhs_numbers(child, f"{path}[{index}]")


def resource_validator(context: ValidationContext | None = None) -> Callable[[JSON], list[Issue]]:
    """The FHIR stages as a function of one resource, for servers that validate what they
    receive (``interop serve``): a server sees a transaction's resources one by one, so it
    does not map them back to artefacts."""
    shared = context or ValidationContext()

    def validate(resource: JSON) -> list[Issue]:
        return validate_resource(resource, shared, map_artefact=False).issues

    return validate
