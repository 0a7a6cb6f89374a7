"""UK Core, loaded as a user would load an implementation guide, against its own examples.

Every example in ``../shared/ukcore/examples`` goes through structure, profile and terminology
with the UK Core profile it illustrates; none may give an error except those listed in
``EXPECTED_ERRORS``, each with the reason the example itself is wrong. The toolkit's fixtures
must also stay clean when UK Core's profiles join the chain above the toolkit's.
"""

from __future__ import annotations

import copy
from collections import Counter
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import pytest
from r4_package import NEEDS_UKCORE

from interop.fhir.structure import check_structure
from interop.fhir.wire import FhirInputError, read_fhir_json, read_fhir_xml
from interop.fixtures import load_manifest
from interop.issues import Issue, Severity
from interop.validators.profiles import profile_chain, profile_stage
from interop.validators.registry import ConformanceRegistry
from interop.validators.terminology import terminology_stage

UKCORE = Path(__file__).resolve().parents[3] / "shared" / "ukcore"
UK = "https://fhir.hl7.org.uk/StructureDefinition/"

pytestmark = NEEDS_UKCORE

#: examples that are wrong themselves: file → (location, issue code, why the example is wrong)
EXPECTED_ERRORS: dict[str, set[tuple[str, str]]] = {
    # The extension carries both valueCode and valueCodeableConcept; an extension holds at
    # most one value[x]. The example reads; the structure stage refuses the pair, and the
    # profile stage the valueCode its extension definition does not allow.
    "Extension-UKCore-ConditionEpisode-Example.xml": {
        ("Condition.extension[0]", "structure"),
        ("Condition.extension[0].valueCode", "structure"),
    },
    # Elements out of the order R4 XML fixes (the reader refuses them): text written after
    # status, and meta after text.
    "Extension-UKCore-CodingSCT-IllicitDrugs-Example.xml": {("Observation.text", "structure")},
    "UKCore-Observation-Lab-Albumin-Example.xml": {("Observation.meta", "structure")},
}


@dataclass(frozen=True)
class Ctx:
    registry: ConformanceRegistry
    profiles: tuple[str, ...] = ()


@dataclass(frozen=True)
class Outcome:
    """One example through the stages: the profile it was checked with, and what was found."""

    profile: str | None
    issues: tuple[Issue, ...]
    chain: int  # how many profiles (the named one and its loaded bases) applied


@pytest.fixture(scope="module")
def registry() -> ConformanceRegistry:
    return ConformanceRegistry.toolkit().with_folders([UKCORE])


def profile_for(name: str, resource: dict[str, Any], registry: ConformanceRegistry) -> str | None:
    """The UK Core profile an example illustrates: the longest profile name its file name
    starts with (``UKCore-Observation-VitalSigns-BMI-Example``), else UK Core's profile of its
    resource type (the extension examples)."""
    resource_type = resource["resourceType"]
    candidates = [
        url
        for url in registry.urls("StructureDefinition")
        if url.startswith(UK)
        and name.startswith(url.removeprefix(UK) + "-")
        and (registry.structure_definition(url) or {}).get("type") == resource_type
    ]
    if candidates:
        return max(candidates, key=len)
    fallback = f"{UK}UKCore-{resource_type}"
    return fallback if registry.structure_definition(fallback) else None


def validate(name: str, data: bytes, registry: ConformanceRegistry) -> Outcome:
    try:
        resource = read_fhir_xml(data)
    except FhirInputError as exc:
        return Outcome(None, tuple(exc.issues), 0)
    profile = profile_for(name, resource, registry)
    ctx = Ctx(registry, (profile,) if profile else ())
    issues = check_structure(resource) + profile_stage(resource, ctx)
    issues += terminology_stage(resource, ctx)
    chain = len(profile_chain(registry, profile)) if profile else 0
    return Outcome(profile, tuple(issues), chain)


@pytest.fixture(scope="module")
def outcomes(registry: ConformanceRegistry) -> dict[str, Outcome]:
    examples = sorted((UKCORE / "examples").glob("*.xml"))
    return {path.name: validate(path.name, path.read_bytes(), registry) for path in examples}


def test_ukcore_loads_completely(registry: ConformanceRegistry) -> None:
    assert len(registry.urls("StructureDefinition")) >= 150 + 70  # UK Core's and the toolkit's
    assert registry.read_all() == []  # XML files are otherwise read when first needed
    assert registry.load_issues == []
    assert all(registry.value_set(url) for url in registry.urls("ValueSet"))


def test_every_example_is_checked_against_a_profile(outcomes: dict[str, Outcome]) -> None:
    assert len(outcomes) == len(list((UKCORE / "examples").glob("*.xml")))
    assert len(outcomes) > 100
    unchecked = [n for n, o in outcomes.items() if o.chain == 0 and n not in EXPECTED_ERRORS]
    assert unchecked == []


def test_no_example_gives_an_unexpected_error(outcomes: dict[str, Outcome]) -> None:
    errors = {
        name: {(i.location, i.code.value) for i in outcome.issues if i.is_error}
        for name, outcome in outcomes.items()
    }
    unexpected = {
        name: sorted(found)
        for name, found in errors.items()
        if found and found != EXPECTED_ERRORS.get(name)
    }
    assert unexpected == {}
    assert {n: e for n, e in errors.items() if e} == EXPECTED_ERRORS
    severities = Counter(i.severity.value for o in outcomes.values() for i in o.issues)
    print(  # the figures the report quotes (pytest -s)
        f"\nUK Core examples: {len(outcomes)} files, {severities['error']} errors "
        f"(expected: {sum(map(len, EXPECTED_ERRORS.values()))}), {severities['warning']} warnings, "
        f"{severities['information']} notes"
    )


def test_warnings_are_only_about_what_cannot_be_checked(outcomes: dict[str, Outcome]) -> None:
    warnings = [i for o in outcomes.values() for i in o.issues if i.severity is Severity.WARNING]
    assert all(i.code.value in ("not-supported", "code-invalid") for i in warnings)


def test_toolkit_fixtures_stay_clean_under_ukcore(registry: ConformanceRegistry) -> None:
    ctx = Ctx(registry)
    fixtures = [f for f in load_manifest() if f.format == "fhir-json" and f.expect == "valid"]
    applied = 0
    for fixture in fixtures:
        resource = read_fhir_json(fixture.read_bytes())
        issues = profile_stage(resource, ctx) + terminology_stage(resource, ctx)
        assert [i for i in issues if i.is_error] == [], fixture.path
        applied += len(profile_chain(registry, resource["meta"]["profile"][0]))
    assert applied >= 2 * len(fixtures)  # the Bundle profiles now apply UKCore-Bundle too


@pytest.fixture(scope="module")
def blood_pressure() -> dict[str, Any]:
    path = UKCORE / "examples" / "UKCore-Observation-VitalSigns-BloodPressure-Example.xml"
    return read_fhir_xml(path.read_bytes())


def test_ukcore_rules_loaded_from_xml_are_live(
    registry: ConformanceRegistry, blood_pressure: dict[str, Any]
) -> None:
    """Slices named only by their element ids in the XML are recognised and checked."""
    ctx = Ctx(registry, (f"{UK}UKCore-Observation-VitalSigns-BloodPressure",))
    assert profile_stage(blood_pressure, ctx) == []
    broken = copy.deepcopy(blood_pressure)
    broken["status"] = "preliminary"  # fixed 'final' in UKCore-Observation-VitalSigns
    broken["component"][0]["code"]["text"] = "Top number"  # component slicing is closed
    broken["code"]["coding"] = [c for c in broken["code"]["coding"] if "loinc" not in c["system"]]
    issues = profile_stage(broken, ctx)
    assert sorted((i.location, i.code.value, i.rule_id) for i in issues) == [
        ("Observation.code.coding", "required", "Observation.code.coding:loinc"),
        ("Observation.component", "required", "Observation.component:SystolicBP"),
        ("Observation.component[0]", "structure", "Observation.component"),
        ("Observation.status", "value", "Observation.status"),
    ]
