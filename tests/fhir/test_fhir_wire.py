"""FHIR JSON and XML from untrusted bytes: hostile input is refused clearly and quickly."""

from __future__ import annotations

import json

import pytest

from interop.artefact_json import parse_artefact
from interop.fhir import FhirInputError, check_structure, read_fhir_json, read_fhir_xml, to_xml
from interop.fhir.wire import FhirLimits
from interop.fixtures import artefact_fixtures
from interop.issues import IssueCode
from interop.mappings.fhir_child_protection_flag import from_fhir, to_fhir

PATIENT_XML = b'<Patient xmlns="http://hl7.org/fhir"><id value="a"/></Patient>'


def refused(data: bytes, limits: FhirLimits | None = None) -> str:
    with pytest.raises(FhirInputError) as caught:
        read_fhir_xml(data, limits) if limits else read_fhir_xml(data)
    assert len(caught.value.issues) >= 1
    return caught.value.issues[0].describe()


def test_flag_bundle_xml_round_trip() -> None:
    for fixture in artefact_fixtures("child-protection-flag", "valid"):
        flag = parse_artefact(fixture.read_bytes()).artefact
        bundle = to_fhir(flag)  # type: ignore[arg-type]
        xml = to_xml(bundle)
        assert xml.startswith(b"<?xml")
        back = read_fhir_xml(xml)
        assert back == json.loads(json.dumps(bundle))
        assert from_fhir(back) == flag


def test_billion_laughs_is_refused() -> None:
    entities = "".join(f'<!ENTITY l{i} "{f"&l{i - 1};" * 10}">' for i in range(1, 10))
    bomb = (
        f'<?xml version="1.0"?><!DOCTYPE b [<!ENTITY l0 "lol">{entities}]>'
        '<Patient xmlns="http://hl7.org/fhir"><id value="&l9;"/></Patient>'
    ).encode()
    assert "DTD" in refused(bomb)


def test_external_entity_is_refused() -> None:
    xxe = (
        b'<?xml version="1.0"?><!DOCTYPE p [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
        b'<Patient xmlns="http://hl7.org/fhir"><id value="&x;"/></Patient>'
    )
    message = refused(xxe)
    assert "DTD" in message
    assert "root:" not in message


def test_lowercase_doctype_is_refused_too() -> None:
    assert "DTD" in refused(b"<!doctype p>" + PATIENT_XML)


def test_oversized_xml_is_refused_before_parsing() -> None:
    assert "limit" in refused(PATIENT_XML + b" " * 2000, FhirLimits(max_bytes=1000))


def test_deep_xml_is_refused() -> None:
    deep = (
        b'<Patient xmlns="http://hl7.org/fhir">'
        + b"<a>" * 100_000
        + b"</a>" * 100_000
        + b"</Patient>"
    )
    assert "not well-formed" in refused(deep)


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"<Patient", "not well-formed"),
        (b"", "not well-formed"),
        (b"\xff\xfe<\x00P\x00", "not well-formed"),
        (b"<x/>", "FHIR namespace"),
        (b'<Nonsense xmlns="http://hl7.org/fhir"/>', "not an R4 resource"),
        (
            b'<Patient xmlns="http://hl7.org/fhir"><foo value="x"/></Patient>',
            "unknown element 'foo'",
        ),
        (
            b'<Patient xmlns="http://hl7.org/fhir"><name><given value="\xe9"/></name></Patient>',
            "not well-formed",
        ),
    ],
)
def test_bad_xml_says_what_and_where(data: bytes, says: str) -> None:
    assert says in refused(data)


def test_value_formats_are_the_structure_stages_business_for_xml_as_for_json() -> None:
    xml = b'<Patient xmlns="http://hl7.org/fhir"><birthDate value="yesterday"/></Patient>'
    resource = read_fhir_xml(xml)
    assert resource == {"resourceType": "Patient", "birthDate": "yesterday"}
    assert [i.location for i in check_structure(resource)] == ["Patient.birthDate"]


def test_valid_patient_xml_reads() -> None:
    assert read_fhir_xml(PATIENT_XML) == {"resourceType": "Patient", "id": "a"}


@pytest.mark.parametrize(
    ("data", "code"),
    [
        (b"[" * 10_000, IssueCode.TOO_COSTLY),
        (b'{"resourceType": "Patient", "id": "a"', IssueCode.INVALID),
        (b"[]", IssueCode.STRUCTURE),
        (b'{"id": "a"}', IssueCode.STRUCTURE),
    ],
)
def test_bad_json_is_refused(data: bytes, code: IssueCode) -> None:
    with pytest.raises(FhirInputError) as caught:
        read_fhir_json(data)
    assert caught.value.issues[0].code is code


def test_structure_check_locates_problems() -> None:
    issues = check_structure({"resourceType": "Patient", "birthDate": "soon", "colour": "red"})
    locations = {i.location for i in issues}
    assert "Patient.birthDate" in locations
    assert "Patient.colour" in locations
    assert check_structure({"resourceType": "Patient"}) == []
    assert check_structure({"resourceType": "Nonsense"})[0].code is IssueCode.CODE_INVALID
    assert check_structure([])[0].code is IssueCode.STRUCTURE
