"""The terminology stage: bindings from the compiled profiles, ValueSet expansion, code checks."""

from __future__ import annotations

import copy
from dataclasses import dataclass
from typing import Any

import pytest

from interop.fhir.wire import read_fhir_json
from interop.fixtures import load_manifest
from interop.issues import Issue, IssueCode, Severity
from interop.validators.registry import ConformanceRegistry
from interop.validators.terminology import (
    bindings_against,
    check_code,
    expand,
    terminology_stage,
)

BASE = "https://fhir.safeguarding-interop.org/"
FLAG = "Bundle.entry[0].resource.ofType(Flag)"
CARE_TEAM = "Bundle.entry[1].resource.ofType(CareTeam)"
SNOMED = "http://snomed.info/sct"


@dataclass(frozen=True)
class Ctx:
    registry: ConformanceRegistry
    profiles: tuple[str, ...] = ()


@pytest.fixture(scope="module")
def toolkit() -> ConformanceRegistry:
    return ConformanceRegistry.toolkit()


@pytest.fixture(scope="module")
def ctx(toolkit: ConformanceRegistry) -> Ctx:
    return Ctx(toolkit)


_CACHE: dict[str, dict[str, Any]] = {}


def bundle(path: str) -> dict[str, Any]:
    if path not in _CACHE:
        fixture = next(f for f in load_manifest() if f.path == f"fhir/{path}.json")
        _CACHE[path] = read_fhir_json(fixture.read_bytes())
    return copy.deepcopy(_CACHE[path])


def found(issues: list[Issue]) -> list[tuple[str, str, str]]:
    return [(i.location, i.code.value, i.severity.value) for i in issues]


# -- the toolkit's bindings, on mutated fixtures ------------------------------------------------


def test_unknown_code_in_a_required_binding_is_one_error(ctx: Ctx) -> None:
    doc = bundle("child-protection-flag/cpp-active")
    doc["entry"][1]["resource"]["category"][0]["coding"][0]["code"] = "XYZ"
    issues = terminology_stage(doc, ctx)
    where = f"{CARE_TEAM}.category[0].coding[0]"
    assert found(issues) == [(where, "code-invalid", "error")]  # not twice (binding and system)
    assert issues[0].rule_id == "CareTeam.category"
    assert issues[0].rule_source == f"{BASE}StructureDefinition/ChildProtectionCareTeam"
    assert f"{BASE}ValueSet/plan-type" in issues[0].message
    assert "'XYZ'" in issues[0].message


def test_a_bound_extension_value(ctx: Ctx) -> None:
    doc = bundle("child-protection-flag/cpp-active")
    doc["entry"][0]["resource"]["extension"][0]["valueCoding"]["code"] = "99"
    issues = terminology_stage(doc, ctx)
    assert found(issues) == [(f"{FLAG}.extension[0].valueCoding", "code-invalid", "error")]
    assert issues[0].rule_source == f"{BASE}StructureDefinition/ext-abuse-category"


def test_a_code_of_a_known_code_system_outside_any_binding(ctx: Ctx) -> None:
    doc = bundle("child-protection-flag/cpp-active")
    doc["entry"][0]["resource"]["code"]["coding"][1]["code"] = "ZZZ"  # the plan type
    issues = terminology_stage(doc, ctx)
    assert found(issues) == [(f"{FLAG}.code.coding[1]", "code-invalid", "error")]
    assert issues[0].rule_source == f"{BASE}CodeSystem/plan-type"


def test_a_concept_passes_when_any_coding_is_in_the_set(ctx: Ctx) -> None:
    doc = bundle("child-protection-flag/cpp-active")
    category = doc["entry"][1]["resource"]["category"][0]
    category["coding"].insert(0, {"system": SNOMED, "code": "1064311000000109"})
    assert terminology_stage(doc, ctx) == []
    category["coding"] = [{"system": SNOMED, "code": "1064311000000109"}]
    category["text"] = "Child protection plan"
    assert found(terminology_stage(doc, ctx)) == [
        (f"{CARE_TEAM}.category[0].coding[0]", "code-invalid", "error")
    ]
    del category["coding"]  # text only: no code from the required value set
    assert found(terminology_stage(doc, ctx)) == [
        (f"{CARE_TEAM}.category[0]", "code-invalid", "error")
    ]


def test_a_coding_without_a_system_cannot_be_checked(ctx: Ctx) -> None:
    doc = bundle("child-protection-flag/cpp-active")
    del doc["entry"][1]["resource"]["category"][0]["coding"][0]["system"]
    issues = terminology_stage(doc, ctx)
    assert found(issues) == [(f"{CARE_TEAM}.category[0].coding[0]", "not-supported", "warning")]
    assert "system" in issues[0].message


def test_a_binding_inside_a_slice_applies_to_its_members_only(ctx: Ctx) -> None:
    doc = bundle("child-protection-flag/cpp-active")
    flag = doc["entry"][0]["resource"]
    # a Coding from another extension (not abuse-category): the abuse-category binding ignores it
    flag["extension"].append(
        {"url": "https://example.org/other", "valueCoding": {"system": "urn:x", "code": "99"}}
    )
    assert terminology_stage(doc, ctx) == []


def test_every_valid_fixture_has_no_terminology_issue(ctx: Ctx) -> None:
    fixtures = [f for f in load_manifest() if f.format == "fhir-json" and f.expect == "valid"]
    assert len(fixtures) >= 20
    for fixture in fixtures:
        assert terminology_stage(read_fhir_json(fixture.read_bytes()), ctx) == [], fixture.path


# -- check_code ---------------------------------------------------------------------------------


def test_check_code(toolkit: ConformanceRegistry) -> None:
    system = f"{BASE}CodeSystem/plan-type"
    assert check_code(system, "CPP", toolkit) == []
    (issue,) = check_code(system, "cpp", toolkit, "Flag.code.coding[1]")
    assert (issue.severity, issue.code, issue.location) == (
        Severity.ERROR,
        IssueCode.CODE_INVALID,
        "Flag.code.coding[1]",
    )
    assert check_code(SNOMED, "anything", toolkit) == []  # not a complete local code system
    assert check_code("urn:unknown", "x", toolkit) == []


# -- expansion and binding strengths, with a small terminology of its own -----------------------

CS = "https://example.org/CodeSystem/colour"
CS_FRAGMENT = "https://example.org/CodeSystem/shade"
VS = "https://example.org/ValueSet/"
ANY_CASE = "https://example.org/CodeSystem/any-case"


def code_system(url: str, concepts: list[dict[str, Any]], **more: Any) -> dict[str, Any]:
    return {
        "resourceType": "CodeSystem",
        "url": url,
        "status": "active",
        "content": "complete",
        "concept": concepts,
        **more,
    }


def value_set(name: str, compose: dict[str, Any]) -> dict[str, Any]:
    return {"resourceType": "ValueSet", "url": VS + name, "status": "active", "compose": compose}


def flag_profile(name: str, strength: str, value_set_url: str, element: str) -> dict[str, Any]:
    """A Flag profile binding one element (``code`` or ``status``) to a value set."""
    return {
        "resourceType": "StructureDefinition",
        "url": f"https://example.org/StructureDefinition/{name}",
        "name": "BoundFlag",
        "status": "draft",
        "kind": "resource",
        "abstract": False,
        "type": "Flag",
        "baseDefinition": "http://hl7.org/fhir/StructureDefinition/Flag",
        "derivation": "constraint",
        "differential": {
            "element": [
                {
                    "id": f"Flag.{element}",
                    "path": f"Flag.{element}",
                    "binding": {"strength": strength, "valueSet": value_set_url},
                }
            ]
        },
    }


@pytest.fixture(scope="module")
def terms() -> ConformanceRegistry:
    registry = ConformanceRegistry("terms")
    resources = [
        code_system(
            CS,
            [
                {"code": "red", "concept": [{"code": "crimson"}, {"code": "scarlet"}]},
                {"code": "blue"},
            ],
        ),
        code_system(CS_FRAGMENT, [{"code": "light"}], content="fragment"),
        code_system(
            "https://example.org/CodeSystem/any-case", [{"code": "Up"}], caseSensitive=False
        ),
        value_set("all", {"include": [{"system": CS}]}),
        value_set("reds", {"include": [{"system": CS, "concept": [{"code": "crimson"}]}]}),
        value_set(
            "not-red", {"include": [{"system": CS}], "exclude": [{"valueSet": [VS + "reds"]}]}
        ),
        value_set("via", {"include": [{"valueSet": [VS + "reds"]}, {"system": "urn:other"}]}),
        value_set(
            "snomed",
            {
                "include": [
                    {
                        "system": SNOMED,
                        "filter": [{"property": "concept", "op": "is-a", "value": "1"}],
                    },
                    {"system": CS, "concept": [{"code": "blue"}]},
                ]
            },
        ),
        value_set("fragment", {"include": [{"system": CS_FRAGMENT}]}),
        value_set("missing", {"include": [{"valueSet": [VS + "nowhere"]}]}),
        value_set("statuses", {"include": [{"system": CS, "concept": [{"code": "blue"}]}]}),
    ]
    for strength in ("required", "extensible", "preferred"):
        for name in ("all", "snomed", "missing"):
            resources.append(flag_profile(f"{strength}-code-{name}", strength, VS + name, "code"))
    resources.append(flag_profile("required-status", "required", VS + "statuses", "status"))
    for resource in resources:
        assert registry.add(resource)
    return registry


def test_expansion_of_a_complete_code_system_includes_nested_concepts(
    terms: ConformanceRegistry,
) -> None:
    colours = expand(terms, VS + "all")
    assert colours.exact
    assert colours.codes == {CS: frozenset({"red", "crimson", "scarlet", "blue"})}


def test_expansion_with_value_sets_and_excludes(terms: ConformanceRegistry) -> None:
    assert expand(terms, VS + "not-red").codes == {CS: frozenset({"red", "scarlet", "blue"})}
    via = expand(terms, VS + "via")
    assert via.contains(CS, "crimson") is True
    assert via.contains(CS, "blue") is False
    assert via.contains("urn:other", "x") is None  # a system not loaded: cannot tell


def test_expansions_that_cannot_be_decided(terms: ConformanceRegistry) -> None:
    mixed = expand(terms, VS + "snomed")
    assert mixed.contains(SNOMED, "123") is None
    assert mixed.contains(CS, "blue") is True
    assert mixed.contains(CS, "red") is False
    assert mixed.contains("urn:elsewhere", "x") is False
    assert expand(terms, VS + "fragment").contains(CS_FRAGMENT, "light") is None
    missing = expand(terms, VS + "missing")
    assert missing.contains(CS, "red") is None
    assert "not available" in missing.reasons[0]
    assert expand(terms, VS + "absent").open


def flag(code: dict[str, Any] | None = None, status: str = "active") -> dict[str, Any]:
    return {
        "resourceType": "Flag",
        "status": status,
        "code": code or {"coding": [{"system": CS, "code": "red"}]},
        "subject": {"reference": "Patient/1"},
    }


def outcome(terms: ConformanceRegistry, profile: str, resource: dict[str, Any]) -> list[Any]:
    url = f"https://example.org/StructureDefinition/{profile}"
    return [(i.severity.value, i.code.value) for i in bindings_against(resource, url, terms)]


def test_binding_strengths(terms: ConformanceRegistry) -> None:
    purple = flag({"coding": [{"system": CS, "code": "purple"}]})
    assert outcome(terms, "required-code-all", flag()) == []
    assert outcome(terms, "required-code-all", purple) == [("error", "code-invalid")]
    assert outcome(terms, "extensible-code-all", purple) == [("warning", "code-invalid")]
    assert outcome(terms, "preferred-code-all", purple) == []
    text_only = flag({"text": "a colour"})
    assert outcome(terms, "required-code-all", text_only) == [("error", "code-invalid")]
    assert outcome(terms, "extensible-code-all", text_only) == []


def test_a_value_set_that_cannot_be_expanded_is_at_most_a_warning(
    terms: ConformanceRegistry,
) -> None:
    snomed = flag({"coding": [{"system": SNOMED, "code": "22298006"}]})
    assert outcome(terms, "required-code-snomed", snomed) == [("warning", "not-supported")]
    assert outcome(terms, "extensible-code-snomed", snomed) == []
    assert outcome(terms, "required-code-missing", flag()) == [("warning", "not-supported")]
    assert outcome(terms, "extensible-code-missing", flag()) == []
    # the decidable part of a partly undecidable value set still decides
    assert outcome(terms, "required-code-snomed", flag()) == [("error", "code-invalid")]


def test_a_code_typed_primitive(terms: ConformanceRegistry) -> None:
    assert outcome(terms, "required-status", flag(status="blue")) == []
    issues = bindings_against(
        flag(status="inactive"), "https://example.org/StructureDefinition/required-status", terms
    )
    assert found(issues) == [("Flag.status", "code-invalid", "error")]
    assert "'inactive'" in issues[0].message


def test_a_case_insensitive_code_system(terms: ConformanceRegistry) -> None:
    assert check_code(ANY_CASE, "UP", terms) == []
    assert len(check_code(ANY_CASE, "down", terms)) == 1


def test_a_value_of_a_type_the_element_does_not_allow_is_left_to_the_profile_stage(
    ctx: Ctx,
) -> None:
    doc = bundle("child-protection-flag/cpp-active")
    extension = doc["entry"][0]["resource"]["extension"][0]
    extension["valueString"] = "99"
    del extension["valueCoding"]
    assert terminology_stage(doc, ctx) == []


def test_an_undecidable_value_set_is_one_warning_per_file(terms: ConformanceRegistry) -> None:
    """SNOMED CT cannot be expanded offline: said once per file, not once per element."""
    url = "https://example.org/StructureDefinition/required-code-snomed"
    flags = []
    for code in ("22298006", "38341003", "73211009"):
        one = flag({"coding": [{"system": SNOMED, "code": code}]})
        one["meta"] = {"profile": [url]}
        flags.append({"resource": one})
    bundle = {"resourceType": "Bundle", "type": "collection", "entry": flags}
    issues = terminology_stage(bundle, Ctx(terms))
    assert [(i.severity.value, i.code.value) for i in issues] == [("warning", "not-supported")]
    assert "once per file" in issues[0].message
