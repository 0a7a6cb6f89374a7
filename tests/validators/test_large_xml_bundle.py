"""Large FHIR XML Bundles, entry by entry (``iterparse``): the same issues as a whole read, and
every protection of the hardened parser kept."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from r4_package import r4_package

from interop.fhir import to_xml
from interop.fhir.xml_writer import json_to_xml
from interop.fixtures import fixtures_root, load_manifest
from interop.validators.chain import ValidationContext
from interop.validators.files import validate_bytes

WHOLE = ValidationContext(stream_above=10**12)
STREAMED = ValidationContext(stream_above=0)
ROOT = Path(str(fixtures_root()))
BUNDLES = [
    f.path
    for f in load_manifest()
    if f.format == "fhir-xml" and f.expect == "valid" and b"<Bundle" in (ROOT / f.path).read_bytes()
]
F = 'xmlns="http://hl7.org/fhir"'


def _keys(data: bytes, context: ValidationContext) -> set[tuple[str, str, str]]:
    report = validate_bytes(data, Path("x.xml"), context)
    return {(i.severity.value, i.code.value, i.location) for i in report.issues}


def test_there_are_xml_bundles_to_stream() -> None:
    assert len(BUNDLES) >= 3


@pytest.mark.parametrize("path", BUNDLES)
def test_a_valid_fixture_bundle_streams_as_it_reads(path: str) -> None:
    data = (ROOT / path).read_bytes()
    report = validate_bytes(data, Path(path), STREAMED)
    assert report.kind == "Bundle as FHIR XML, entry by entry"
    assert not report.errors, [i.describe() for i in report.errors]
    # artefact mapping's business-rule notes are the whole read's only (artefacts are small,
    # never streamed); every other issue is the same
    whole = {k for k in _keys(data, WHOLE) if k[1] != "business-rule"}
    assert _keys(data, STREAMED) == whole


def _fixture_bundle() -> dict[str, object]:
    json_twin = ROOT / (BUNDLES[0][: -len(".xml")] + ".json")
    bundle: dict[str, object] = json.loads(json_twin.read_bytes())
    return bundle


def test_entry_issues_are_located_in_the_whole_bundle() -> None:
    bundle = _fixture_bundle()
    entries = bundle["entry"]
    assert isinstance(entries, list)
    entries[-1]["resource"]["id"] = "not an id!"
    entries[0]["resource"]["meta"] = {"lastUpdated": "yesterday"}
    data = json_to_xml(bundle)
    streamed, whole = _keys(data, STREAMED), _keys(data, WHOLE)
    errors = {k for k in streamed if k[0] == "error"}
    assert {k for k in whole if k[0] == "error"} == errors
    last = len(entries) - 1
    assert any(k[2].startswith(f"Bundle.entry[{last}].resource") for k in errors)
    assert any(k[2].startswith("Bundle.entry[0].resource") for k in errors)


def test_an_unreadable_entry_is_reported_and_the_others_validated() -> None:
    bundle = _fixture_bundle()
    data = json_to_xml(bundle).replace(b"<fullUrl ", b"<colour/><fullUrl ", 1)
    report = validate_bytes(data, Path("x.xml"), STREAMED)
    assert [(i.code.value, i.location) for i in report.errors] == [
        ("structure", "Bundle.entry[0].colour")
    ]
    assert report.errors[0].line is not None


def test_type_after_entry_is_out_of_order_and_entries_still_see_it() -> None:
    bundle = _fixture_bundle()
    data = json_to_xml(bundle)
    start = data.index(b"<type ")
    end = data.index(b"/>", start) + 2
    moved = data[:start] + data[end:]
    moved = moved.replace(b"</Bundle>", data[start:end] + b"</Bundle>")
    report = validate_bytes(moved, Path("x.xml"), STREAMED)
    assert [(i.code.value, i.location) for i in report.errors] == [("structure", "Bundle.type")]
    assert "out of order" in report.errors[0].message


@pytest.mark.parametrize(
    ("data", "code", "text"),
    [
        (
            b'<?xml version="1.0"?><!DOCTYPE Bundle [<!ENTITY a "aaaa">]>'
            b'<Bundle xmlns="http://hl7.org/fhir"><type value="&a;"/></Bundle>',
            "invalid",
            "DTD",
        ),
        (f'<Bundle {F}><type value="collection"/><entry>'.encode(), "invalid", "well-formed"),
        (f'<Patient {F}><id value="x"/></Patient>'.encode(), "structure", "is a Bundle"),
        (b'<Bundle xmlns="urn:other"/>', "structure", "is a Bundle"),
        (
            f'<Bundle {F}><type value="collection"/><entry><resource><Patient>'.encode()
            + b'<extension url="http://e">' * 120
            + b"</extension>" * 120
            + b"</Patient></resource></entry></Bundle>",
            "too-costly",
            "deeper",
        ),
    ],
)
def test_hostile_input_is_refused_entry_by_entry_too(data: bytes, code: str, text: str) -> None:
    report = validate_bytes(data, Path("x.xml"), STREAMED)
    assert report.errors, report
    last = report.errors[-1]
    assert last.code.value == code, last.describe()
    assert text in last.message


def test_the_size_limit_holds() -> None:
    data = to_xml({"resourceType": "Bundle", "type": "collection"})
    report = validate_bytes(data, Path("x.xml"), ValidationContext(stream_above=0, max_bytes=10))
    assert [i.code.value for i in report.errors] == ["too-costly"]


@pytest.mark.slow
def test_an_r4_definition_bundle_streams_as_it_reads() -> None:
    """HL7's v2-valuesets Bundle as XML: the same four genuine errors whole and streamed."""
    bundle = json.loads((r4_package() / "Bundle-v2-valuesets.json").read_bytes())
    data = json_to_xml(bundle)
    whole = {(i.code.value, i.location) for i in validate_bytes(data, Path("b.xml"), WHOLE).errors}
    streamed = validate_bytes(data, Path("b.xml"), STREAMED)
    assert streamed.kind == "Bundle as FHIR XML, entry by entry"
    assert {(i.code.value, i.location) for i in streamed.errors} == whole
    assert len(whole) == 4
