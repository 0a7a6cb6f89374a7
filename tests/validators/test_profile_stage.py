"""The profile stage and the conformance registry: toolkit fixtures pass, mutations are located."""

from __future__ import annotations

import copy
import json
from dataclasses import dataclass
from importlib.resources import files
from pathlib import Path
from typing import Any

import pytest

from interop.fhir.wire import read_fhir_json, read_fhir_xml
from interop.fixtures import Fixture, load_manifest
from interop.issues import Issue, IssueCode, Severity
from interop.validators.profiles import (
    compile_profile,
    profile_chain,
    profile_stage,
    validate_against,
)
from interop.validators.registry import ConformanceRegistry, element_ids
from interop.validators.terminology import terminology_stage

BASE = "https://fhir.safeguarding-interop.org/StructureDefinition/"
NHS = "https://fhir.nhs.uk/Id/nhs-number"
FLAG = "Bundle.entry[0].resource.ofType(Flag)"
PATIENT = "Bundle.entry[2].resource.ofType(Patient)"
TEST_PROFILE = "https://example.org/StructureDefinition/FlagAboutAPatient"
LOINC = "http://loinc.org"


@dataclass(frozen=True)
class Ctx:
    """The context the stages need (the chain's ValidationContext has the same attributes)."""

    registry: ConformanceRegistry
    profiles: tuple[str, ...] = ()


def valid_fhir_fixtures() -> list[Fixture]:
    return [
        f for f in load_manifest() if f.format in ("fhir-json", "fhir-xml") and f.expect == "valid"
    ]


def read_fixture(fixture: Fixture) -> dict[str, Any]:
    data = fixture.read_bytes()
    return read_fhir_json(data) if fixture.format == "fhir-json" else read_fhir_xml(data)


_CACHE: dict[str, dict[str, Any]] = {}


def bundle(path: str) -> dict[str, Any]:
    """A fresh copy of a valid FHIR JSON fixture (read once per module)."""
    if path not in _CACHE:
        fixture = next(f for f in load_manifest() if f.path == f"fhir/{path}.json")
        _CACHE[path] = read_fixture(fixture)
    return copy.deepcopy(_CACHE[path])


@pytest.fixture(scope="module")
def toolkit() -> ConformanceRegistry:
    return ConformanceRegistry.toolkit()


@pytest.fixture(scope="module")
def ctx(toolkit: ConformanceRegistry) -> Ctx:
    return Ctx(toolkit)


def found(issues: list[Issue]) -> list[tuple[str, str]]:
    return [(i.location, i.code.value) for i in issues if i.severity is not Severity.INFORMATION]


# -- no crying wolf -----------------------------------------------------------------------------


@pytest.mark.parametrize("fixture", valid_fhir_fixtures(), ids=lambda f: f.path)
def test_every_valid_fixture_passes_both_stages(fixture: Fixture, ctx: Ctx) -> None:
    resource = read_fixture(fixture)
    assert profile_stage(resource, ctx) == []
    assert terminology_stage(resource, ctx) == []


def test_the_fixtures_exercise_every_toolkit_profile(toolkit: ConformanceRegistry) -> None:
    claimed = {
        p
        for f in valid_fhir_fixtures()
        if f.format == "fhir-json"
        for entry in [read_fixture(f), *(e["resource"] for e in read_fixture(f)["entry"])]
        for p in entry.get("meta", {}).get("profile", [])
    }
    profiles = {
        u
        for u in toolkit.urls("StructureDefinition")
        if toolkit.structure_definition(u)["type"] != "Extension"  # type: ignore[index]
    }
    assert profiles <= claimed


def toolkit_conformance_resources() -> list[dict[str, Any]]:
    """Every generated resource under profiles/ (StructureDefinitions to CapabilityStatement)."""
    return [
        read_fhir_json(entry.read_bytes())
        for entry in sorted(files("interop.profiles").iterdir(), key=lambda e: e.name)
        if entry.name.endswith(".json") and entry.name[:1].isupper()  # Type-id.json
    ]


def test_every_toolkit_conformance_resource_passes_and_compiles_fully(
    toolkit: ConformanceRegistry, ctx: Ctx
) -> None:
    resources = toolkit_conformance_resources()
    assert len(resources) > 100
    for resource in resources:
        assert [i for i in profile_stage(resource, ctx) if i.severity != "information"] == []
        assert terminology_stage(resource, ctx) == []
    for url in toolkit.urls("StructureDefinition"):
        compiled = compile_profile(toolkit, url)
        assert compiled is not None
        assert compiled.notes == [], url  # every slice of every toolkit profile is recognised


def test_a_profile_is_compiled_once_per_registry(toolkit: ConformanceRegistry) -> None:
    url = f"{BASE}ChildProtectionFlag"
    assert compile_profile(toolkit, url) is compile_profile(toolkit, url)
    assert profile_chain(toolkit, url)[0].url == url


# -- mutations, each found exactly where it is --------------------------------------------------


def entry_of(doc: dict[str, Any], resource_type: str) -> int:
    """The position of the first entry of a resource type."""
    types = [e["resource"]["resourceType"] for e in doc["entry"]]
    return types.index(resource_type)


def test_missing_required_element(ctx: Ctx) -> None:
    doc = bundle("child-protection-flag/cpp-active")
    doc["entry"][0]["resource"]["period"] = {"end": "2027-01-01"}
    issues = profile_stage(doc, ctx)
    assert found(issues) == [(f"{FLAG}.period.start", "required")]
    assert issues[0].rule_id == "Flag.period.start"
    assert issues[0].rule_source == f"{BASE}ChildProtectionFlag"


def test_a_nested_element_is_required_only_where_its_parent_exists(ctx: Ctx) -> None:
    doc = bundle("strategy-discussion-health-report/s47-diabetes-neglect")
    composition = doc["entry"][0]["resource"]
    composition["event"] = [{"detail": [{"display": "no period"}]}]
    assert found(profile_stage(doc, ctx)) == []  # Composition.event.period.start: no period
    composition["event"] = [{"period": {"end": "2026-05-20"}}]
    assert found(profile_stage(doc, ctx)) == [
        ("Bundle.entry[0].resource.ofType(Composition).event[0].period.start", "required")
    ]


def test_too_many(ctx: Ctx) -> None:
    doc = bundle("health-treatment-plan/type1-diabetes")
    plan = doc["entry"][0]["resource"]
    plan["careTeam"].append(dict(plan["careTeam"][0]))
    issues = profile_stage(doc, ctx)
    assert found(issues) == [("Bundle.entry[0].resource.ofType(CarePlan).careTeam", "structure")]
    assert "at most 1" in issues[0].message


def test_wrong_pattern_code_and_pattern_concept(ctx: Ctx) -> None:
    doc = bundle("child-protection-flag/cpp-active")
    doc["type"] = "batch"
    flag = doc["entry"][0]["resource"]
    flag["code"]["coding"] = flag["code"]["coding"][1:]  # the CP-IS coding gone
    assert found(profile_stage(doc, ctx)) == [
        ("Bundle.type", "value"),
        (f"{FLAG}.code", "value"),
    ]


def test_a_pattern_matches_partially_and_any_array_item(ctx: Ctx) -> None:
    doc = bundle("child-protection-flag/cpp-active")
    codings = doc["entry"][0]["resource"]["code"]["coding"]
    codings.reverse()  # CP-IS is now the last coding
    codings[-1]["userSelected"] = True  # more than the pattern says
    assert found(profile_stage(doc, ctx)) == []


def test_fixed_value_of_an_extension_url_and_value_type(ctx: Ctx) -> None:
    doc = bundle("child-protection-flag/cpp-active")
    extension = doc["entry"][0]["resource"]["extension"][0]
    extension["valueString"] = extension.pop("valueCoding")["code"]
    issues = profile_stage(doc, ctx)
    assert found(issues) == [(f"{FLAG}.extension[0].valueString", "structure")]
    assert issues[0].rule_source == f"{BASE}ext-abuse-category"
    assert "Coding" in issues[0].message


def test_extension_missing(ctx: Ctx) -> None:
    doc = bundle("health-treatment-plan/type1-diabetes")
    at = next(
        i
        for i, e in enumerate(doc["entry"])
        if e["resource"]["resourceType"] == "MedicationStatement"
    )
    del doc["entry"][at]["resource"]["extension"]
    issues = profile_stage(doc, ctx)
    where = f"Bundle.entry[{at}].resource.ofType(MedicationStatement).extension"
    assert found(issues) == [(where, "required")]
    assert "ResponsibleParty" in issues[0].message
    assert f"{BASE}ext-responsible-party" in issues[0].message


def test_extension_duplicated(ctx: Ctx) -> None:
    doc = bundle("child-protection-flag/cpp-active")
    flag = doc["entry"][0]["resource"]
    flag["extension"].append(copy.deepcopy(flag["extension"][0]))
    issues = profile_stage(doc, ctx)
    assert found(issues) == [(f"{FLAG}.extension", "structure")]
    assert "AbuseCategory" in issues[0].message
    assert issues[0].rule_id == "Flag.extension:AbuseCategory"


def test_a_complex_extension_closed_to_unknown_parts(ctx: Ctx) -> None:
    doc = bundle("health-treatment-plan/type1-diabetes")
    at = next(
        i
        for i, e in enumerate(doc["entry"])
        if e["resource"]["resourceType"] == "MedicationStatement"
    )
    party = doc["entry"][at]["resource"]["extension"][0]
    party["extension"].append({"url": "nickname", "valueString": "K"})
    party["extension"][0]["valueString"] = "role as text"  # beside its valueCoding
    where = f"Bundle.entry[{at}].resource.ofType(MedicationStatement).extension[0]"
    assert found(profile_stage(doc, ctx)) == [
        (f"{where}.extension[0].valueString", "structure"),
        (f"{where}.extension[2]", "structure"),
    ]


def test_identifier_slice_missing(ctx: Ctx) -> None:
    doc = bundle("child-protection-flag/cpp-active")
    patient = doc["entry"][2]["resource"]
    patient["identifier"] = [i for i in patient["identifier"] if i["system"] != NHS]
    issues = profile_stage(doc, ctx)
    assert found(issues) == [(f"{PATIENT}.identifier", "required")]
    assert NHS in issues[0].message
    assert issues[0].rule_id == "Patient.identifier:nhsNumber"


def test_identifier_slice_twice(ctx: Ctx) -> None:
    doc = bundle("child-protection-flag/cpp-active")
    identifiers = doc["entry"][2]["resource"]["identifier"]
    identifiers.append({"system": NHS, "value": "9434765870"})
    assert found(profile_stage(doc, ctx)) == [(f"{PATIENT}.identifier", "structure")]


def test_required_and_sliced_elements_absent_altogether(ctx: Ctx) -> None:
    doc = bundle("child-protection-flag/cpp-active")
    del doc["entry"][2]["resource"]["identifier"]
    assert found(profile_stage(doc, ctx)) == [(f"{PATIENT}.identifier", "required")]


# -- reference targets and the base chain, with a profile derived from a toolkit one ------------


@pytest.fixture(scope="module")
def with_test_profile(toolkit: ConformanceRegistry) -> ConformanceRegistry:
    extra = ConformanceRegistry("test")
    extra.add(
        {
            "resourceType": "StructureDefinition",
            "url": TEST_PROFILE,
            "name": "FlagAboutAPatient",
            "status": "draft",
            "kind": "resource",
            "abstract": False,
            "type": "Flag",
            "baseDefinition": f"{BASE}ChildProtectionFlag",
            "derivation": "constraint",
            "differential": {
                "element": [
                    {"id": "Flag", "path": "Flag"},
                    {
                        "id": "Flag.subject",
                        "path": "Flag.subject",
                        "type": [
                            {"code": "Reference", "targetProfile": [f"{BASE}SafeguardingPatient"]}
                        ],
                    },
                    {
                        "id": "Flag.author",
                        "path": "Flag.author",
                        "type": [
                            {
                                "code": "Reference",
                                "targetProfile": [
                                    "http://hl7.org/fhir/StructureDefinition/Organization",
                                    "http://hl7.org/fhir/StructureDefinition/Practitioner",
                                ],
                            }
                        ],
                    },
                ]
            },
        }
    )
    return ConformanceRegistry.combine(toolkit, extra)


def test_reference_to_the_wrong_type_in_the_bundle(with_test_profile: ConformanceRegistry) -> None:
    doc = bundle("child-protection-flag/cpp-active")
    flag = doc["entry"][0]["resource"]
    assert found(profile_stage(doc, Ctx(with_test_profile, (TEST_PROFILE,)))) == []
    flag["subject"] = {"reference": doc["entry"][3]["fullUrl"]}  # the Organization
    issues = profile_stage(doc, Ctx(with_test_profile, (TEST_PROFILE,)))
    assert found(issues) == [(f"{FLAG}.subject", "structure")]
    assert "Organization" in issues[0].message
    assert issues[0].rule_source == TEST_PROFILE


def test_reference_types_from_the_reference_text(with_test_profile: ConformanceRegistry) -> None:
    doc = bundle("child-protection-flag/cpp-active")
    flag = doc["entry"][0]["resource"]
    checks = Ctx(with_test_profile, (TEST_PROFILE,))
    flag["author"] = {"reference": "https://example.org/fhir/Patient/123/_history/2"}
    assert found(profile_stage(doc, checks)) == [(f"{FLAG}.author", "structure")]
    flag["author"] = {"reference": "Practitioner/123"}
    assert found(profile_stage(doc, checks)) == []
    flag["author"] = {"identifier": {"value": "LA465"}, "type": "Patient"}
    assert found(profile_stage(doc, checks)) == [(f"{FLAG}.author", "structure")]


def test_an_unresolvable_reference_is_not_an_error(with_test_profile: ConformanceRegistry) -> None:
    doc = bundle("child-protection-flag/cpp-active")
    flag = doc["entry"][0]["resource"]
    flag["subject"] = {"reference": "urn:uuid:00000000-0000-0000-0000-000000000000"}
    flag["author"] = {"display": "A local authority"}
    assert found(profile_stage(doc, Ctx(with_test_profile, (TEST_PROFILE,)))) == []


def test_a_derived_profile_applies_its_bases(with_test_profile: ConformanceRegistry) -> None:
    flag = bundle("child-protection-flag/cpp-active")["entry"][0]["resource"]
    flag["meta"]["profile"] = [TEST_PROFILE]
    del flag["identifier"]
    issues = validate_against(flag, TEST_PROFILE, with_test_profile)
    assert found(issues) == [("Flag.identifier", "required")]
    assert issues[0].rule_source == f"{BASE}ChildProtectionFlag"
    assert found(profile_stage(flag, Ctx(with_test_profile))) == [("Flag.identifier", "required")]


# -- which profiles apply -----------------------------------------------------------------------


def test_a_profile_not_in_the_registry_is_one_note(ctx: Ctx) -> None:
    doc = bundle("child-protection-flag/cpp-active")
    doc["entry"][1]["resource"]["meta"]["profile"].append("https://example.org/Unknown")
    issues = profile_stage(doc, ctx)
    assert [(i.severity, i.code, i.location) for i in issues] == [
        (
            Severity.INFORMATION,
            IssueCode.NOT_SUPPORTED,
            "Bundle.entry[1].resource.ofType(CareTeam).meta.profile[1]",
        )
    ]
    assert "profile not available" in issues[0].message
    named = profile_stage(bundle("child-protection-flag/cpp-active"), Ctx(ctx.registry, ("x",)))
    assert [(i.severity, i.location) for i in named] == [(Severity.INFORMATION, "Bundle")]


def test_a_profile_of_another_resource_type_is_an_error(ctx: Ctx) -> None:
    doc = bundle("child-protection-flag/cpp-active")
    doc["entry"][1]["resource"]["meta"]["profile"] = [f"{BASE}ChildProtectionFlag"]
    issues = profile_stage(doc, ctx)
    assert found(issues) == [
        ("Bundle.entry[1].resource.ofType(CareTeam).meta.profile[0]", "structure")
    ]


def test_a_named_profile_applies_to_the_bundle_entries_of_its_type(ctx: Ctx) -> None:
    doc = bundle("child-protection-flag/cpp-active")
    for entry in doc["entry"]:
        entry["resource"].pop("meta")
    del doc["entry"][2]["resource"]["birthDate"]
    assert found(profile_stage(doc, ctx)) == []  # nothing claimed, nothing named
    named = Ctx(ctx.registry, (f"{BASE}SafeguardingPatient",))
    assert found(profile_stage(doc, named)) == [(f"{PATIENT}.birthDate", "required")]
    nowhere = Ctx(ctx.registry, (f"{BASE}TravelAlertFlag",))
    issues = profile_stage(bundle("health-needs-checklist/core-group"), nowhere)
    assert [(i.severity, i.location) for i in issues] == [(Severity.WARNING, "Bundle")]


def test_input_that_is_not_a_resource_is_left_to_the_structure_stage(ctx: Ctx) -> None:
    assert profile_stage([], ctx) == []  # type: ignore[arg-type]
    assert profile_stage({"id": "x"}, ctx) == []


# -- compiling: choice types, discriminators, what is skipped -----------------------------------


def make_registry(*resources: dict[str, Any]) -> ConformanceRegistry:
    registry = ConformanceRegistry("test")
    for resource in resources:
        assert registry.add(resource)
    return registry


def sd(url: str, type_: str, elements: list[dict[str, Any]], base: str = "") -> dict[str, Any]:
    return {
        "resourceType": "StructureDefinition",
        "url": url,
        "name": "Test",
        "status": "draft",
        "kind": "resource",
        "abstract": False,
        "type": type_,
        "baseDefinition": base or f"http://hl7.org/fhir/StructureDefinition/{type_}",
        "derivation": "constraint",
        "differential": {"element": elements},
    }


OBSERVATION_PROFILE = sd(
    "https://example.org/Obs",
    "Observation",
    [
        {"id": "Observation.value[x]", "path": "Observation.value[x]", "min": 1},
        {
            "id": "Observation.value[x]",
            "path": "Observation.value[x]",
            "slicing": {"discriminator": [{"type": "type", "path": "$this"}], "rules": "closed"},
        },
        {
            "id": "Observation.value[x]:valueQuantity",
            "path": "Observation.value[x]",
            "sliceName": "valueQuantity",
            "type": [{"code": "Quantity"}],
        },
        {
            "id": "Observation.value[x]:valueQuantity.system",
            "path": "Observation.value[x].system",
            "fixedUri": "http://unitsofmeasure.org",
        },
        {
            "id": "Observation.effective[x]",
            "path": "Observation.effective[x]",
            "type": [{"code": "dateTime"}, {"code": "Period"}],
        },
        {
            "id": "Observation.component",
            "path": "Observation.component",
            "slicing": {
                "discriminator": [{"type": "pattern", "path": "code"}],
                "rules": "closed",
            },
        },
        {
            "id": "Observation.component:systolic",
            "path": "Observation.component",
            "sliceName": "systolic",
            "min": 1,
            "max": "1",
        },
        {
            "id": "Observation.component:systolic.code",
            "path": "Observation.component.code",
            "patternCodeableConcept": {
                "coding": [{"system": "http://loinc.org", "code": "8480-6"}]
            },
        },
        {
            "id": "Observation.component:systolic.value[x]",
            "path": "Observation.component.value[x]",
            "min": 1,
        },
        {
            "id": "Observation.performer",
            "path": "Observation.performer",
            "slicing": {"discriminator": [{"type": "profile", "path": "resolve()"}]},
        },
        {
            "id": "Observation.performer:gp",
            "path": "Observation.performer",
            "sliceName": "gp",
            "min": 1,
        },
        {
            "id": "Observation.note",
            "path": "Observation.note",
            "slicing": {"discriminator": [{"type": "exists", "path": "authorString"}]},
        },
        {"id": "Observation.note:signed", "path": "Observation.note", "sliceName": "signed"},
        {
            "id": "Observation.note:signed.authorString",
            "path": "Observation.note.authorString",
            "min": 1,
        },
        {
            "id": "Observation.note:signed.time",
            "path": "Observation.note.time",
            "min": 1,
        },
        {"id": "Observation.hasMember", "path": "Observation.hasMember", "contentReference": "#x"},
    ],
)


def observation(**changes: Any) -> dict[str, Any]:
    base: dict[str, Any] = {
        "resourceType": "Observation",
        "status": "final",
        "code": {"text": "blood pressure"},
        "valueQuantity": {"value": 1, "system": "http://unitsofmeasure.org", "code": "1"},
        "effectiveDateTime": "2026-01-01",
        "component": [
            {
                "code": {"coding": [{"system": "http://loinc.org", "code": "8480-6"}]},
                "valueQuantity": {"value": 120},
            }
        ],
    }
    base.update(changes)
    return {k: v for k, v in base.items() if v is not None}


def test_choice_types_type_slices_and_pattern_slices() -> None:
    registry = make_registry(OBSERVATION_PROFILE)
    url = "https://example.org/Obs"
    assert validate_against(observation(), url, registry) == []
    assert found(validate_against(observation(valueQuantity=None), url, registry)) == [
        ("Observation.value[x]", "required")
    ]
    wrong_system = observation(valueQuantity={"value": 1, "system": "urn:other"})
    assert found(validate_against(wrong_system, url, registry)) == [
        ("Observation.valueQuantity.system", "value")
    ]
    period = observation(effectiveDateTime=None, effectivePeriod={"start": "2026-01-01"})
    assert validate_against(period, url, registry) == []
    instant = observation(effectiveDateTime=None, effectiveInstant="2026-01-01T00:00:00Z")
    assert found(validate_against(instant, url, registry)) == [
        ("Observation.effectiveInstant", "structure")
    ]
    no_value = observation(component=[{"code": observation()["component"][0]["code"]}])
    assert found(validate_against(no_value, url, registry)) == [
        ("Observation.component[0].value[x]", "required")
    ]
    other = {"code": {"coding": [{"system": "http://loinc.org", "code": "8462-4"}]}}
    assert found(validate_against(observation(component=[other]), url, registry)) == [
        ("Observation.component", "required"),
        ("Observation.component[0]", "structure"),  # closed: no slice for it
    ]


def test_exists_discriminator() -> None:
    registry = make_registry(OBSERVATION_PROFILE)
    url = "https://example.org/Obs"
    notes = [{"text": "unsigned"}, {"text": "signed", "authorString": "Dr A"}]
    assert found(validate_against(observation(note=notes), url, registry)) == [
        ("Observation.note[1].time", "required")
    ]


def test_unsupported_features_are_skipped_and_noted() -> None:
    registry = make_registry(OBSERVATION_PROFILE)
    compiled = compile_profile(registry, "https://example.org/Obs")
    assert compiled is not None
    assert any("contentReference" in note for note in compiled.notes)
    assert any("Observation.performer:gp" in note for note in compiled.notes)
    # performer:gp (min 1) cannot be recognised: no error although no performer is present
    assert validate_against(observation(), "https://example.org/Obs", registry) == []


def test_element_ids_are_inferred_from_the_order_of_a_differential() -> None:
    elements: list[dict[str, Any]] = [
        {"path": "Patient"},
        {"path": "Patient.extension", "sliceName": "a"},
        {"path": "Patient.extension.value[x]"},
        {"path": "Patient.extension", "sliceName": "b"},
        {"path": "Patient.identifier"},
        {"path": "Patient.identifier", "sliceName": "nhs"},
        {"path": "Patient.identifier.system"},
        {"path": "Patient.identifier.extension", "sliceName": "status"},
        {"path": "Patient.identifier.extension.url"},
        {"path": "Patient.name", "id": "Patient.name"},
    ]
    assert element_ids(elements) == [
        "Patient",
        "Patient.extension:a",
        "Patient.extension:a.value[x]",
        "Patient.extension:b",
        "Patient.identifier",
        "Patient.identifier:nhs",
        "Patient.identifier:nhs.system",
        "Patient.identifier:nhs.extension:status",
        "Patient.identifier:nhs.extension:status.url",
        "Patient.name",
    ]


# -- the registry -------------------------------------------------------------------------------

XML_PROFILE = b"""<?xml version="1.0" encoding="UTF-8"?>
<StructureDefinition xmlns="http://hl7.org/fhir">
  <url value="https://example.org/StructureDefinition/XmlPatient"/>
  <version value="1.0.0"/>
  <name value="XmlPatient"/>
  <status value="draft"/>
  <kind value="resource"/>
  <abstract value="false"/>
  <type value="Patient"/>
  <baseDefinition value="http://hl7.org/fhir/StructureDefinition/Patient"/>
  <derivation value="constraint"/>
  <differential>
    <element id="Patient">
      <path value="Patient"/>
      <constraint>
        <key value="xml-1"/>
        <severity value="error"/>
        <human value="A name or a telecom"/>
        <expression value="name.exists() or telecom.exists()"/>
      </constraint>
    </element>
    <element id="Patient.identifier">
      <path value="Patient.identifier"/>
      <slicing>
        <discriminator><type value="value"/><path value="system"/></discriminator>
        <rules value="open"/>
      </slicing>
    </element>
    <element id="Patient.identifier:nhsNumber">
      <path value="Patient.identifier"/>
      <sliceName value="nhsNumber"/>
      <min value="1"/>
      <max value="1"/>
      <constraint>
        <key value="xml-2"/>
        <severity value="error"/>
        <human value="inside a slice"/>
        <expression value="value.exists()"/>
      </constraint>
    </element>
    <element id="Patient.identifier:nhsNumber.system">
      <path value="Patient.identifier.system"/>
      <fixedUri value="https://fhir.nhs.uk/Id/nhs-number"/>
    </element>
  </differential>
</StructureDefinition>
"""


@pytest.fixture
def ig_folder(tmp_path: Path) -> Path:
    (tmp_path / "sd").mkdir()
    (tmp_path / "sd" / "XmlPatient.xml").write_bytes(XML_PROFILE)
    (tmp_path / "package.json").write_text('{"name": "example.ig"}')
    (tmp_path / "broken.json").write_text('{"resourceType": "ValueSet", ')
    (tmp_path / "entity.xml").write_bytes(
        b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY e "e">]><ValueSet xmlns="http://hl7.org/fhir"/>'
    )
    (tmp_path / "example.xml").write_bytes(
        b'<Patient xmlns="http://hl7.org/fhir"><id value="p"/></Patient>'
    )
    (tmp_path / "notes.txt").write_text("not a resource")
    (tmp_path / "unclosed.xml").write_bytes(b'<ValueSet xmlns="http://hl7.org/fhir"><url ')
    (tmp_path / "sd" / "Invalid.xml").write_bytes(
        XML_PROFILE.replace(b"XmlPatient", b"Invalid").replace(b"<min ", b"<minimum ")
    )
    return tmp_path


def test_an_xml_ig_folder_loads_with_its_slices(
    ig_folder: Path, toolkit: ConformanceRegistry
) -> None:
    registry = toolkit.with_folders([ig_folder])
    url = "https://example.org/StructureDefinition/XmlPatient"
    assert registry.structure_definition(url) is registry.structure_definition(f"{url}|1.0.0")
    assert registry.structure_definition(f"{BASE}SafeguardingPatient") is not None
    compiled = compile_profile(registry, url)
    assert compiled is not None
    assert compiled.notes == []
    patient = {"resourceType": "Patient", "identifier": [{"system": "urn:x", "value": "1"}]}
    issues = validate_against(patient, url, registry)
    assert found(issues) == [("Patient.identifier", "required")]
    assert issues[0].rule_id == "Patient.identifier:nhsNumber"


def test_unreadable_files_are_warnings_with_their_path(ig_folder: Path) -> None:
    registry = ConformanceRegistry("ig")
    issues = registry.load_folder(ig_folder)
    assert sorted((Path(i.location).name, i.severity) for i in issues) == [
        ("broken.json", Severity.WARNING),
        ("entity.xml", Severity.WARNING),
        ("unclosed.xml", Severity.WARNING),
    ]
    assert "DTD" in next(i.message for i in issues if i.location.endswith("entity.xml"))
    assert "line 1" in next(i.message for i in issues if i.location.endswith("unclosed.xml"))
    assert registry.load_issues == issues
    invalid = "https://example.org/StructureDefinition/Invalid"
    assert registry.urls("StructureDefinition") == [
        invalid,
        "https://example.org/StructureDefinition/XmlPatient",
    ]
    # a well-formed file that is not valid FHIR is reported when it is first needed
    assert registry.structure_definition(invalid) is None
    assert [Path(i.location).name for i in registry.load_issues[len(issues) :]] == ["Invalid.xml"]
    assert registry.read_all() == []  # nothing else left to read
    upfront = ConformanceRegistry("ig")
    upfront.load_folder(ig_folder)
    assert [Path(i.location).name for i in upfront.read_all()] == ["Invalid.xml"]
    assert registry.urls("StructureDefinition") == [
        "https://example.org/StructureDefinition/XmlPatient"
    ]
    missing = registry.load_folder(ig_folder / "absent")
    assert [(i.severity, i.code) for i in missing] == [(Severity.ERROR, IssueCode.INVALID)]


def test_constraints_of_a_profile_and_its_bases(ig_folder: Path) -> None:
    registry = ConformanceRegistry("ig")
    registry.load_folder(ig_folder)
    constraints = registry.constraints("https://example.org/StructureDefinition/XmlPatient")
    assert [(c.key, c.path, c.severity) for c in constraints] == [
        ("xml-1", "Patient", Severity.ERROR)  # xml-2 sits in a slice: left out
    ]
    assert constraints[0].source == "https://example.org/StructureDefinition/XmlPatient"
    assert registry.constraints("https://example.org/absent") == []


def test_combined_registries_prefer_the_first_and_the_toolkit_is_shared(
    toolkit: ConformanceRegistry,
) -> None:
    url = f"{BASE}SafeguardingPatient"
    shadow = make_registry(sd(url, "Patient", [{"id": "Patient.gender", "path": "Patient.gender"}]))
    assert ConformanceRegistry.combine(toolkit, shadow).structure_definition(
        url
    ) is toolkit.structure_definition(url)
    assert ConformanceRegistry.combine(shadow, toolkit).structure_definition(
        url
    ) is shadow.structure_definition(url)
    assert ConformanceRegistry.toolkit() is toolkit
    with pytest.raises(RuntimeError, match="shared"):
        toolkit.add(shadow.structure_definition(url))  # type: ignore[arg-type]
    assert not shadow.add({"resourceType": "Patient", "url": "x"})
    assert not shadow.add(json.loads('{"resourceType": "ValueSet"}'))  # no url
