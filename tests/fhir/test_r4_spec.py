"""The shipped R4 index (profiles/r4/r4-index.json) and the structure checks made from it."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import pytest
from fhir.resources.R4B import get_fhir_model_class
from r4_package import ROOT, r4_package

from interop.fhir import check_structure
from interop.fhir.r4spec import R4Spec

SPEC = R4Spec.load()
X = 'xmlns="http://www.w3.org/1999/xhtml"'


def _errors(resource: dict[str, object]) -> list[tuple[str, str]]:
    return [(i.location, i.message) for i in check_structure(resource) if i.is_error]


def test_the_index_says_where_it_comes_from() -> None:
    assert SPEC.source["package"] == "hl7.fhir.r4.examples"
    assert SPEC.source["version"] == "4.0.1"
    assert SPEC.source["license"] == "CC0-1.0"
    assert len(SPEC.source["tarball_sha256"]) == 64


@pytest.mark.slow
def test_the_index_is_what_the_script_derives_from_the_package() -> None:
    r4_package()  # fetched (or skipped/failed) first, with the reason
    result = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "build_r4_index.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert result.returncode == 0, result.stdout + result.stderr


def test_required_code_lists_agree_with_the_r4b_models_enum_values() -> None:
    """fhir.resources carries the allowed codes of required-bound code elements; for the
    elements R4 and R4B share, the index has the same codes, except where the models cut the
    list at a '+' of the short description (``amended +``), where the index has more."""
    agree, longer = 0, []
    for type_name in SPEC.types:
        if not SPEC.is_resource(type_name):
            continue
        try:
            model = get_fhir_model_class(type_name)
        except (KeyError, ValueError):  # an R4-only resource: R4B has no model of it
            continue
        for name, element in SPEC.children(type_name, type_name).items():
            field = model.model_fields.get(name)
            extra = field.json_schema_extra if field is not None else None
            listed = extra.get("enum_values") if isinstance(extra, dict) else None
            if not listed or element.binding is None or element.binding[0] != "required":
                continue
            codes = SPEC.value_sets[element.binding[1]]
            if codes.open is not None:
                continue  # a grammar-based system (BCP 13): nothing to compare
            if set(listed) == codes.all_codes:
                agree += 1
            else:
                assert "+" in listed, element.path
                assert set(listed) - {"+"} < codes.all_codes, element.path
                longer.append(element.path)
    assert agree >= 150
    assert len(longer) <= 10


@pytest.mark.parametrize(
    "resource_type",
    [
        "EffectEvidenceSynthesis",
        "RiskEvidenceSynthesis",
        "MedicinalProduct",
        "SubstanceSpecification",
    ],
)
def test_r4_only_resources_are_r4_resources(resource_type: str) -> None:
    assert SPEC.is_resource(resource_type)
    assert _errors({"resourceType": resource_type, "id": "x"}) == [] or all(
        "required" in m for _, m in _errors({"resourceType": resource_type})
    )


def test_r4b_only_resources_are_not() -> None:
    assert _errors({"resourceType": "SubscriptionTopic"}) == [
        ("resourceType", "'SubscriptionTopic' is not an R4 resource")
    ]


def test_primitive_extensions_are_read_everywhere() -> None:
    translation = {
        "url": "http://hl7.org/fhir/StructureDefinition/translation",
        "extension": [
            {"url": "lang", "valueCode": "de"},
            {"url": "content", "valueString": "Hallo"},
        ],
    }
    resource = {
        "resourceType": "CodeSystem",
        "status": "active",
        "content": "complete",
        "extension": [
            {
                "url": "http://example.org/x",
                "valueString": "Hi",
                "_valueString": {"extension": [translation]},
            }
        ],
        "concept": [{"code": "a", "display": "A", "_display": {"extension": [translation]}}],
        "_date": {"extension": [{"url": "http://example.org/why", "valueCode": "unknown"}]},
    }
    assert _errors(resource) == []
    names = {
        "resourceType": "Patient",
        "name": [{"given": ["A", None], "_given": [None, {"id": "g"}]}],
    }
    assert _errors(names) == []
    broken = {"resourceType": "Patient", "name": [{"given": ["A", None]}]}
    assert _errors(broken) == [("Patient.name[0].given[1]", "null with no value beside it")]


@pytest.mark.parametrize(
    ("resource", "location", "message"),
    [
        (
            {"resourceType": "Patient", "gender": "banana"},
            "Patient.gender",
            "administrative-gender",
        ),
        (
            {"resourceType": "Patient", "telecom": [{"system": "banana"}]},
            "Patient.telecom[0].system",
            "contact-point-system",
        ),
        (
            {
                "resourceType": "AllergyIntolerance",
                "patient": {"reference": "Patient/1"},
                "clinicalStatus": {
                    "coding": [
                        {
                            "system": "http://terminology.hl7.org/CodeSystem/allergyintolerance-clinical",
                            "code": "banana",
                        }
                    ]
                },
            },
            "AllergyIntolerance.clinicalStatus.coding[0]",
            "allergyintolerance-clinical",
        ),
        (
            {"resourceType": "Patient", "name": [{"family": "A\u000bB"}]},
            "Patient.name[0].family",
            "U+000B",
        ),
        ({"resourceType": "Patient", "gender": "male "}, "Patient.gender", "whitespace"),
        ({"resourceType": "Patient", "id": "a b"}, "Patient.id", "not a FHIR id"),
        (
            {"resourceType": "Patient", "birthDate": "2014-06-31"},
            "Patient.birthDate",
            "not a FHIR date",
        ),
        ({"resourceType": "Patient", "name": []}, "Patient.name", "empty array"),
        ({"resourceType": "Patient", "active": "true"}, "Patient.active", "wrong JSON type"),
        (
            {
                "resourceType": "Patient",
                "text": {
                    "status": "generated",
                    "div": '<div xmlns="http://www.w3.org/1999/xhtml"><p>x<script>alert(1)</script></p></div>',
                },
            },
            "Patient.text.div/p/script",
            "<script>",
        ),
        (
            {
                "resourceType": "Patient",
                "text": {
                    "status": "generated",
                    "div": f'<div {X}><a href="javascript:x()">x</a></div>',
                },
            },
            "Patient.text.div/a",
            "script",
        ),
        (
            {
                "resourceType": "Patient",
                "text": {
                    "status": "generated",
                    "div": '<div xmlns="http://www.w3.org/1999/xhtml"><form/>x</div>',
                },
            },
            "Patient.text.div/form",
            "<form>",
        ),
        (
            {"resourceType": "Patient", "text": {"status": "generated", "div": "<div>x</div>"}},
            "Patient.text.div",
            "XHTML namespace",
        ),
        (
            {
                "resourceType": "Patient",
                "text": {
                    "status": "generated",
                    "div": '<div xmlns="http://www.w3.org/1999/xhtml"> </div>',
                },
            },
            "Patient.text.div",
            "txt-2",
        ),
    ],
)
def test_each_r4_rule_is_an_error_at_its_element(
    resource: dict[str, object], location: str, message: str
) -> None:
    errors = _errors(resource)
    assert any(where == location and message in text for where, text in errors), errors


def test_a_structural_error_hides_no_missing_element() -> None:
    flag = {"resourceType": "Flag", "colour": "red", "period": {"start": "soon"}}
    found = {where for where, _ in _errors(flag)}
    assert {"Flag.colour", "Flag.period.start", "Flag.status", "Flag.code", "Flag.subject"} <= found


def test_an_image_from_another_site_is_a_warning_only() -> None:
    div = f'<div {X}><img src="http://x.example/i.png" alt="i"/></div>'
    issues = check_structure(
        {"resourceType": "Patient", "text": {"status": "generated", "div": div}}
    )
    assert [(i.severity.value, i.location) for i in issues] == [("warning", "Patient.text.div/img")]


def test_grammar_based_code_systems_are_checked_by_their_form() -> None:
    attachment = {
        "resourceType": "DocumentReference",
        "status": "current",
        "content": [{"attachment": {"contentType": "application/pdf"}}],
    }
    assert _errors(attachment) == []
    attachment["content"][0]["attachment"]["contentType"] = "pdf"  # type: ignore[index]
    assert [w for w, _ in _errors(attachment)] == [
        "DocumentReference.content[0].attachment.contentType"
    ]


def test_the_index_is_small_enough_to_ship() -> None:
    index = ROOT / "profiles" / "r4" / "r4-index.json"
    assert index.stat().st_size < 1_000_000
    assert json.loads(index.read_text("utf-8"))["source"]["license"] == "CC0-1.0"


def test_profiles_ship_the_index() -> None:
    from importlib.resources import files

    assert files("interop.profiles").joinpath("r4", "r4-index.json").is_file()
    assert Path(str(files("interop.profiles"))).name == "profiles"
