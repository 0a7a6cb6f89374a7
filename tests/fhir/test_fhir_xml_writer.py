"""FHIR XML written by the R4 rules, the exact inverse of the reader: every fixture, generated
conformance resource and UK Core example reads back as it was, element ids are attributes,
primitive ids and extensions are kept, values keep their text, elements come in R4's order."""

from __future__ import annotations

import json
from pathlib import Path
from typing import Any

import pytest
from lxml import etree
from pydantic import ValidationError
from r4_package import NEEDS_UKCORE

from interop.fhir import FhirInputError, check_structure, read_fhir_json, read_fhir_xml, to_xml
from interop.fhir.xml_writer import json_to_xml
from interop.fixtures import load_manifest
from interop.issues import IssueCode

F = "http://hl7.org/fhir"
XHTML = "http://www.w3.org/1999/xhtml"
NS = {"f": F, "h": XHTML}
ROOT = Path(__file__).resolve().parents[2]
UKCORE_EXAMPLES = Path(__file__).resolve().parents[3] / "shared" / "ukcore" / "examples"
#: UK Core examples the structure stage refuses, so there is no valid resource to write
UKCORE_REFUSED = {
    # its extension holds both valueCode and valueCodeableConcept; R4 allows one value[x]
    "Extension-UKCore-ConditionEpisode-Example.xml",
    # elements out of R4 XML order: text after status; meta after text
    "Extension-UKCore-CodingSCT-IllicitDrugs-Example.xml",
    "UKCore-Observation-Lab-Albumin-Example.xml",
}

FIXTURES = [f for f in load_manifest() if f.format == "fhir-json" and f.expect == "valid"]
PROFILES = sorted(
    p
    for p in (ROOT / "profiles").glob("*.json")
    if p.name not in ("package.json", "r4-core-invariants.json")
)


def written(resource: dict[str, Any]) -> etree._Element:
    return etree.fromstring(to_xml(resource))


def child_names(element: etree._Element) -> list[str]:
    return [etree.QName(c).localname for c in element if isinstance(c.tag, str)]


@pytest.mark.parametrize("fixture", FIXTURES, ids=str)
def test_every_valid_json_fixture_reads_back_as_written(fixture: Any) -> None:
    resource = read_fhir_json(fixture.read_bytes())
    assert read_fhir_xml(to_xml(resource)) == resource


def test_every_generated_conformance_resource_reads_back_as_written() -> None:
    assert len(PROFILES) >= 20
    differ = []
    for path in PROFILES:
        resource = read_fhir_json(path.read_bytes())
        if read_fhir_xml(to_xml(resource)) != resource:
            differ.append(path.name)
    assert differ == []


@NEEDS_UKCORE
def test_every_uk_core_example_reads_back_as_written() -> None:
    refused, differ = [], []
    examples = sorted(UKCORE_EXAMPLES.glob("*.xml"))
    assert len(examples) > 100
    for path in examples:
        try:
            resource = read_fhir_xml(path.read_bytes())
        except FhirInputError:
            refused.append(path.name)
            continue
        if any(i.is_error for i in check_structure(resource)):
            refused.append(path.name)
        elif read_fhir_xml(to_xml(resource)) != resource:
            differ.append(path.name)
    assert differ == []
    assert set(refused) == UKCORE_REFUSED


def test_document_is_utf8_with_declaration_and_fhir_namespace_on_the_root() -> None:
    xml = to_xml({"resourceType": "Patient", "name": [{"family": "Ñúñez"}]})
    assert xml.startswith(b"<?xml version='1.0' encoding='UTF-8'?>")
    assert b'<Patient xmlns="http://hl7.org/fhir">' in xml
    assert "Ñúñez".encode() in xml


def test_patient_elements_come_in_r4_order_not_alphabetical() -> None:
    patient = {
        "resourceType": "Patient",
        "name": [{"given": ["Ana"], "family": "Ash", "use": "official"}],
        "active": True,
        "identifier": [{"value": "9434765919", "system": "https://fhir.nhs.uk/Id/nhs-number"}],
        "text": {"status": "generated", "div": f'<div xmlns="{XHTML}">Ana</div>'},
        "meta": {"profile": ["https://example.org/p"]},
        "birthDate": "2014-06-01",
        "gender": "female",
        "id": "p1",
        "extension": [{"url": "https://example.org/e", "valueBoolean": True}],
    }
    root = written(patient)
    assert child_names(root) == [
        "id",
        "meta",
        "text",
        "extension",
        "identifier",
        "active",
        "name",
        "gender",
        "birthDate",
    ]
    assert child_names(root.find("f:name", NS)) == ["use", "family", "given"]
    assert child_names(root.find("f:identifier", NS)) == ["system", "value"]


def test_element_ids_and_extension_urls_are_attributes() -> None:
    patient = {
        "resourceType": "Patient",
        "id": "p1",
        "name": [{"id": "n1", "family": "Ash"}],
        "extension": [{"id": "e1", "url": "https://example.org/e", "valueString": "x"}],
    }
    root = written(patient)
    assert root.find("f:id", NS).get("value") == "p1"  # a resource's id is an element
    name = root.find("f:name", NS)
    assert name.get("id") == "n1"
    assert name.find("f:id", NS) is None
    extension = root.find("f:extension", NS)
    assert dict(extension.attrib) == {"id": "e1", "url": "https://example.org/e"}
    assert child_names(extension) == ["valueString"]
    assert read_fhir_xml(to_xml(patient)) == patient


def test_primitive_ids_and_extensions_come_from_underscore_names() -> None:
    extension = {"url": "https://example.org/a", "valueBoolean": True}
    patient = {
        "resourceType": "Patient",
        "name": [
            {
                "given": ["Ana", "Bo", None],
                "_given": [None, {"id": "g2", "extension": [extension]}, {"id": "g3"}],
            }
        ],
        "birthDate": "2014-06-01",
        "_birthDate": {"id": "b1"},
        "_gender": {"extension": [extension]},
    }
    root = written(patient)
    given = root.findall("f:name/f:given", NS)
    assert [dict(g.attrib) for g in given] == [
        {"value": "Ana"},
        {"id": "g2", "value": "Bo"},
        {"id": "g3"},
    ]
    assert given[1].find("f:extension", NS).get("url") == "https://example.org/a"
    assert dict(root.find("f:birthDate", NS).attrib) == {"id": "b1", "value": "2014-06-01"}
    gender = root.find("f:gender", NS)
    assert gender.get("value") is None
    assert child_names(gender) == ["extension"]
    assert read_fhir_xml(to_xml(patient)) == patient


def test_values_keep_their_text_fractional_seconds_utc_and_numbers() -> None:
    observation = json.loads(
        """{"resourceType": "Observation", "status": "final", "code": {"text": "weight"},
        "effectiveDateTime": "2026-01-02T10:00:00.000Z",
        "issued": "2026-01-02T10:00:00.120+01:00",
        "valueQuantity": {"value": 21.50, "unit": "kg"},
        "component": [
          {"code": {"text": "a"}, "valueQuantity": {"value": 2}},
          {"code": {"text": "b"}, "valueQuantity": {"value": 1e-7}},
          {"code": {"text": "c"}, "valueInteger": -3},
          {"code": {"text": "d"}, "valueBoolean": false}
        ]}"""
    )
    root = written(observation)
    assert root.find("f:effectiveDateTime", NS).get("value") == "2026-01-02T10:00:00.000Z"
    assert root.find("f:issued", NS).get("value") == "2026-01-02T10:00:00.120+01:00"
    assert root.find("f:valueQuantity/f:value", NS).get("value") == "21.5"
    values = [
        v.get("value")
        for v in root.iterfind("f:component/*", NS)
        if etree.QName(v).localname != "code"
    ]
    assert values == [None, None, "-3", "false"]
    assert [v.get("value") for v in root.iterfind("f:component/f:valueQuantity/f:value", NS)] == [
        "2",
        "1e-07",
    ]
    back = read_fhir_xml(to_xml(observation))
    assert back == observation
    assert type(back["component"][0]["valueQuantity"]["value"]) is int


def test_narrative_is_written_as_xhtml_and_reads_back_as_the_same_string() -> None:
    div = f'<div xmlns="{XHTML}"><p>Child <b>A</b> &amp; sibling</p><br/>\n<p>2 &lt; 3</p></div>'
    patient = {"resourceType": "Patient", "text": {"status": "generated", "div": div}}
    root = written(patient)
    narrative = root.find("f:text/h:div", NS)
    assert narrative is not None
    assert narrative.find("h:p/h:b", NS).text == "A"
    assert read_fhir_xml(to_xml(patient)) == patient


def test_narrative_without_its_namespace_is_written_in_xhtml() -> None:
    patient = {"resourceType": "Patient", "text": {"status": "generated", "div": "<div>A</div>"}}
    back = read_fhir_xml(to_xml(patient))
    assert back["text"]["div"] == f'<div xmlns="{XHTML}">A</div>'


@pytest.mark.parametrize(
    ("div", "says"),
    [
        ("plain text", "not well-formed"),
        (f'<div xmlns="{XHTML}">&nbsp;</div>', "not well-formed"),
        (f'<!DOCTYPE d [<!ENTITY x "y">]><div xmlns="{XHTML}">&x;</div>', "DTD"),
        (f'<p xmlns="{XHTML}">A</p>', "XHTML div"),
    ],
)
def test_narrative_that_is_not_xhtml_is_refused_with_its_location(div: str, says: str) -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"resource": {"resourceType": "Patient", "text": {"status": "generated", "div": div}}}
        ],
    }
    with pytest.raises(FhirInputError) as caught:
        to_xml(bundle)
    [issue] = caught.value.issues
    assert issue.location == "Bundle.entry[0].resource.ofType(Patient).text.div"
    assert says in issue.message


def test_resources_inside_others_are_wrapped() -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "batch-response",
        "entry": [
            {
                "fullUrl": "urn:uuid:0b9c4d52-4a6e-4f6a-9d0e-1d6b1f2b7c11",
                "resource": {
                    "resourceType": "Flag",
                    "contained": [{"resourceType": "Practitioner", "id": "p1"}],
                    "status": "active",
                    "code": {"text": "x"},
                    "subject": {"reference": "#p1"},
                },
            },
            {
                "response": {
                    "status": "400",
                    "outcome": {
                        "resourceType": "OperationOutcome",
                        "issue": [{"severity": "error", "code": "invalid"}],
                    },
                }
            },
        ],
    }
    root = written(bundle)
    flag = root.find("f:entry/f:resource/f:Flag", NS)
    assert child_names(root.find("f:entry", NS)) == ["fullUrl", "resource"]
    assert child_names(flag) == ["contained", "status", "code", "subject"]
    assert flag.find("f:contained/f:Practitioner/f:id", NS).get("value") == "p1"
    assert root.find("f:entry/f:response/f:outcome/f:OperationOutcome", NS) is not None
    assert read_fhir_xml(to_xml(bundle)) == bundle


def test_invalid_resources_are_refused_as_before() -> None:
    with pytest.raises(FhirInputError) as caught:
        to_xml({"resourceType": "Nonsense"})
    assert caught.value.issues[0].code is IssueCode.CODE_INVALID
    with pytest.raises(ValidationError):
        to_xml({"resourceType": "Patient", "birthDate": "soon"})
    with pytest.raises(ValidationError):
        to_xml({"resourceType": "Patient", "colour": "red"})


def test_writer_alone_names_a_resource_type_r4_lacks_where_it_is() -> None:
    with pytest.raises(FhirInputError) as caught:
        json_to_xml({"resourceType": "Bundle", "entry": [{"resource": {"resourceType": "Period"}}]})
    assert caught.value.issues[0].location == "Bundle.entry[0].resource.resourceType"
