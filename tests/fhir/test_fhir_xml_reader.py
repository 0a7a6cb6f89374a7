"""FHIR XML read by the R4 XML rules: every fixture's XML twin reads as its JSON twin, ids and
primitive extensions are kept, and every element that cannot be placed is located."""

from __future__ import annotations

import json

import pytest

from interop.fhir import FhirInputError, check_structure, read_fhir_json, read_fhir_xml, to_xml
from interop.fhir.wire import FhirLimits
from interop.fixtures import Fixture, load_manifest
from interop.issues import Issue, IssueCode
from interop.mappings.convert import ConversionError, read_artefact

F = 'xmlns="http://hl7.org/fhir"'
XHTML = "http://www.w3.org/1999/xhtml"

VALID_JSON = [f for f in load_manifest() if f.format == "fhir-json" and f.expect == "valid"]
VALID_XML = [f for f in load_manifest() if f.format == "fhir-xml" and f.expect == "valid"]


def refused(data: bytes | str, limits: FhirLimits | None = None) -> list[Issue]:
    raw = data.encode() if isinstance(data, str) else data
    with pytest.raises(FhirInputError) as caught:
        read_fhir_xml(raw, limits) if limits else read_fhir_xml(raw)
    assert caught.value.issues
    return caught.value.issues


def flag_bundle(flag_body: str) -> str:
    """A one-entry Bundle whose Flag holds ``flag_body``, one element a line (lines 4-)."""
    return (
        f"<Bundle {F}>\n"
        '<type value="collection"/>\n'
        "<entry><resource><Flag>\n"
        f"{flag_body}\n"
        "</Flag></resource></entry>\n"
        "</Bundle>"
    )


def test_every_fixture_has_both_twins() -> None:
    assert len(VALID_XML) == len(VALID_JSON) >= 20
    assert {f.path[:-4] for f in VALID_XML} == {f.path[:-5] for f in VALID_JSON}


@pytest.mark.parametrize("fixture", VALID_XML, ids=str)
def test_xml_twin_reads_as_its_json_twin(fixture: Fixture) -> None:
    json_twin = next(f for f in VALID_JSON if f.path == fixture.path[:-4] + ".json")
    assert read_fhir_xml(fixture.read_bytes()) == read_fhir_json(json_twin.read_bytes())


@pytest.mark.parametrize("fixture", VALID_JSON, ids=str)
def test_json_fixture_round_trips_through_xml(fixture: Fixture) -> None:
    resource = read_fhir_json(fixture.read_bytes())
    assert read_fhir_xml(to_xml(resource)) == resource


def test_values_take_their_json_types() -> None:
    xml = f"""<Observation {F}>
      <status value="final"/>
      <code><text value="weight"/></code>
      <valueQuantity><value value="21.50"/><unit value="kg"/></valueQuantity>
      <component><code><text value="a"/></code><valueInteger value="-3"/></component>
      <component><code><text value="b"/></code><valueBoolean value="false"/></component>
      <component><code><text value="c"/></code><valueQuantity><value value="2"/></valueQuantity>
      </component>
    </Observation>"""
    resource = read_fhir_xml(xml.encode())
    assert resource["valueQuantity"] == {"value": 21.5, "unit": "kg"}
    # a decimal reads as a JSON reader reads the same text: 21.50 as a float, 2 as an int
    assert resource["valueQuantity"]["value"] == json.loads("21.50")
    assert [c.get("valueInteger", c.get("valueBoolean")) for c in resource["component"][:2]] == [
        -3,
        False,
    ]
    assert type(resource["component"][2]["valueQuantity"]["value"]) is int
    assert check_structure(resource) == []


def test_utc_reads_as_z_and_other_text_is_kept_as_written() -> None:
    xml = f"""<Flag {F}><status value="active"/><code><text value="x"/></code>
      <subject><reference value="Patient/1"/></subject>
      <period><start value="2026-01-02T10:00:00.000+00:00"/><end value="2026-01-03T10:00:00+01:00"/>
      </period></Flag>"""
    period = read_fhir_xml(xml.encode())["period"]
    assert period == {"start": "2026-01-02T10:00:00.000Z", "end": "2026-01-03T10:00:00+01:00"}


def test_element_ids_and_primitive_extensions_are_kept() -> None:
    xml = f"""<Patient {F}>
      <name id="n1"><family value="Ash"/><given value="Ana"/>
        <given id="g2" value="Bo"><extension url="http://example.org/a">
          <valueBoolean value="true"/></extension></given>
        <given id="g3"/>
      </name>
      <birthDate id="b1" value="2014-06-01"/>
    </Patient>"""
    resource = read_fhir_xml(xml.encode())
    extension = {"url": "http://example.org/a", "valueBoolean": True}
    assert resource["name"] == [
        {
            "id": "n1",
            "family": "Ash",
            "given": ["Ana", "Bo", None],
            "_given": [None, {"id": "g2", "extension": [extension]}, {"id": "g3"}],
        }
    ]
    assert resource["birthDate"] == "2014-06-01"
    assert resource["_birthDate"] == {"id": "b1"}
    assert check_structure(resource) == []


def test_element_definition_ids_are_kept() -> None:
    xml = f"""<StructureDefinition {F}>
      <url value="https://example.org/StructureDefinition/p"/><name value="P"/>
      <status value="draft"/><kind value="resource"/><abstract value="false"/>
      <type value="Patient"/>
      <differential>
        <element id="Patient.identifier:nhsNumber"><path value="Patient.identifier"/>
          <sliceName value="nhsNumber"/></element>
        <element id="Patient.identifier:nhsNumber.system"><path value="Patient.identifier.system"/>
        </element>
      </differential>
    </StructureDefinition>"""
    elements = read_fhir_xml(xml.encode())["differential"]["element"]
    assert [e["id"] for e in elements] == [
        "Patient.identifier:nhsNumber",
        "Patient.identifier:nhsNumber.system",
    ]


def test_narrative_is_kept_as_xhtml_text() -> None:
    xml = (
        f'<Patient {F}><text><status value="generated"/>'
        f'<div xmlns="{XHTML}"><p>Child <b>A</b></p></div>\n  </text></Patient>'
    )
    div = read_fhir_xml(xml.encode())["text"]["div"]
    assert div == f'<div xmlns="{XHTML}"><p>Child <b>A</b></p></div>'


def test_contained_and_outcome_resources_are_unwrapped() -> None:
    xml = f"""<Bundle {F}><type value="batch-response"/>
      <entry><resource><Flag><contained><Practitioner><id value="p1"/></Practitioner></contained>
        <status value="active"/><code><text value="x"/></code>
        <subject><reference value="#p1"/></subject></Flag></resource></entry>
      <entry><response><status value="400"/>
        <outcome><OperationOutcome><issue><severity value="error"/><code value="invalid"/>
        </issue></OperationOutcome></outcome></response></entry>
    </Bundle>"""
    bundle = read_fhir_xml(xml.encode())
    flag = bundle["entry"][0]["resource"]
    assert flag["contained"] == [{"resourceType": "Practitioner", "id": "p1"}]
    outcome = bundle["entry"][1]["response"]["outcome"]
    assert outcome == {
        "resourceType": "OperationOutcome",
        "issue": [{"severity": "error", "code": "invalid"}],
    }


def test_unknown_element_is_located_with_its_line() -> None:
    issues = refused(flag_bundle('<status value="active"/>\n<urgency value="high"/>'))
    assert [(i.code, i.location, i.line) for i in issues] == [
        (IssueCode.STRUCTURE, "Bundle.entry[0].resource.ofType(Flag).urgency", 5)
    ]
    assert "unknown element 'urgency'" in issues[0].message


def test_every_problem_is_reported_not_only_the_first() -> None:
    issues = refused(
        f'<Patient {F}>\n<colour value="red"/>\n<name><nick value="Al"/></name>\n</Patient>'
    )
    assert [(i.location, i.line) for i in issues] == [
        ("Patient.colour", 2),
        ("Patient.name[0].nick", 3),
    ]


def test_element_in_a_foreign_namespace_is_located() -> None:
    issues = refused(
        flag_bundle('<status value="active"/>\n<x:urgency xmlns:x="urn:example" value="high"/>')
    )
    assert [(i.location, i.line) for i in issues] == [
        ("Bundle.entry[0].resource.ofType(Flag).urgency", 5)
    ]
    assert "urn:example" in issues[0].message


def test_xml_shape_errors_are_located() -> None:
    cases = {
        "repeated": f'<Patient {F}>\n<gender value="female"/>\n<gender value="male"/></Patient>',
        "text value": f"<Patient {F}>\n<gender>female</gender></Patient>",
        "empty": f"<Patient {F}>\n<gender/></Patient>",
        "boolean": f'<Patient {F}>\n<active value="yes"/></Patient>',
        "attribute": f'<Patient {F}>\n<gender value="female" lang="en"/></Patient>',
        "not a resource": f"<Bundle {F}><entry><resource>\n<Nonsense/></resource></entry></Bundle>",
        "a datatype": f"<Bundle {F}><entry><resource>\n<Period/></resource></entry></Bundle>",
    }
    where = {name: [(i.location, i.line) for i in refused(xml)] for name, xml in cases.items()}
    assert where == {
        "repeated": [("Patient.gender", 3)],
        "text value": [("Patient.gender", 2)],
        "empty": [("Patient.gender", 2)],
        "boolean": [("Patient.active", 2)],
        "attribute": [("Patient.gender", 2)],
        "not a resource": [("Bundle.entry[0].resource", 2)],
        "a datatype": [("Bundle.entry[0].resource", 2)],
    }


def test_missing_required_element_is_located_through_the_resource_chain() -> None:
    flag = '<code><text value="x"/></code>\n<subject><reference value="Patient/1"/></subject>'
    issues = check_structure(read_fhir_xml(flag_bundle(flag).encode()))
    assert [(i.code, i.location) for i in issues] == [
        (IssueCode.REQUIRED, "Bundle.entry[0].resource.ofType(Flag).status")
    ]


def test_structure_locates_inside_contained_resources_as_the_other_stages_do() -> None:
    flag = {
        "resourceType": "Flag",
        "status": "active",
        "code": {"text": "x"},
        "subject": {"reference": "#p"},
        "contained": [{"resourceType": "Patient", "id": "p", "birthDate": "31/06/2012"}],
    }
    issues = check_structure(flag)
    assert [i.location for i in issues] == ["Flag.contained[0].ofType(Patient).birthDate"]


def test_a_datatype_is_not_a_resource() -> None:
    issues = check_structure({"resourceType": "Period", "start": "2026"})
    assert [(i.code, i.location) for i in issues] == [(IssueCode.CODE_INVALID, "resourceType")]


def test_map_checks_xml_structure_before_mapping() -> None:
    fixture = next(f for f in load_manifest() if f.path.endswith("flag-without-status.xml"))
    with pytest.raises(ConversionError) as caught:
        read_artefact(fixture.read_bytes())
    assert [(i.code, i.location) for i in caught.value.issues] == [
        (IssueCode.REQUIRED, "Bundle.entry[0].resource.ofType(Flag).status")
    ]


LAUGHS = (
    '<?xml version="1.0"?><!DOCTYPE l [<!ENTITY a "lol"><!ENTITY b "&a;&a;&a;&a;&a;&a;">]>'
    f'<Patient {F}><id value="&b;"/></Patient>'
)


@pytest.mark.parametrize(
    ("data", "code", "says"),
    [
        (f"<!DOCTYPE Patient><Patient {F}/>", IssueCode.INVALID, "DTD"),
        (LAUGHS, IssueCode.INVALID, "DTD"),
        (
            f'<Patient {F}><name><given value="caf\xe9"/></name></Patient>'.encode("latin-1"),
            IssueCode.INVALID,
            "not well-formed",
        ),
        (f'<Patient {F}><id value="a"/>', IssueCode.INVALID, "not well-formed"),
        ("<x/>", IssueCode.STRUCTURE, "FHIR namespace"),
        (f"<Nonsense {F}/>", IssueCode.CODE_INVALID, "not an R4 resource"),
    ],
)
def test_hostile_or_broken_input_is_refused_as_before(
    data: str | bytes, code: IssueCode, says: str
) -> None:
    issues = refused(data)
    assert issues[0].code is code
    assert says in issues[0].message


def test_size_limit_is_checked_before_parsing() -> None:
    issues = refused(f'<Patient {F}><id value="a"/></Patient>' + " " * 2000, FhirLimits(1000))
    assert issues[0].code is IssueCode.TOO_COSTLY


def nested_items(depth: int) -> bytes:
    items = '<item><linkId value="a"/>' * depth + "</item>" * depth
    body = f'<status value="completed"/>{items}'
    return f"<QuestionnaireResponse {F}>{body}</QuestionnaireResponse>".encode()


def test_xml_meets_the_same_nesting_limit_as_json() -> None:
    # 49 nested items are 99 levels of JSON (the object, then an array and an object a level)
    deepest = read_fhir_xml(nested_items(49))
    assert read_fhir_json(json.dumps(deepest)) == deepest
    issues = refused(nested_items(50))
    assert [(i.code, i.line) for i in issues] == [(IssueCode.TOO_COSTLY, 1)]
    assert "deeper than 100" in issues[0].message


def test_an_r4_only_resource_reads_as_r4() -> None:
    """R4B has no MedicinalProductIngredient: R4 itself says its elements, order and choices."""
    xml = (
        f"<MedicinalProductIngredient {F}>\n"
        '<role><text value="active"/></role>\n'
        "<specifiedSubstance>\n"
        '<code><text value="x"/></code>\n'
        '<group><text value="g"/></group>\n'
        "</specifiedSubstance>\n"
        "</MedicinalProductIngredient>"
    )
    resource = read_fhir_xml(xml.encode())
    assert resource["specifiedSubstance"][0]["group"] == {"text": "g"}
    assert check_structure(resource) == []


def test_r4_order_decides_on_an_r4_only_resource() -> None:
    # RiskEvidenceSynthesis.status comes before .population in R4 (R4B has no such resource)
    issues = refused(
        f"<RiskEvidenceSynthesis {F}>\n"
        '<status value="draft"/>\n'
        '<population><reference value="Group/1"/></population>\n'
        '<url value="http://example.org/r"/>\n'
        "</RiskEvidenceSynthesis>"
    )
    assert [(i.location, i.line) for i in issues] == [("RiskEvidenceSynthesis.url", 4)]
    assert "out of order" in issues[0].message


def test_a_choice_reads_by_r4_types() -> None:
    # value[x] is read under its typed name, with the JSON type its R4 type gives
    xml = (
        f"<Patient {F}>\n"
        '<extension url="http://example.org/e"><valueDecimal value="1.50"/></extension>\n'
        "</Patient>"
    )
    assert read_fhir_xml(xml.encode())["extension"][0] == {
        "url": "http://example.org/e",
        "valueDecimal": 1.5,
    }
