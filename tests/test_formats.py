"""One format sniffer for validate and map: BOM-tolerant, resourceType first, and a plain
"not a format the toolkit reads" for anything else."""

from __future__ import annotations

import codecs
from pathlib import Path

import pytest

from interop.fixtures import fixtures_root, load_manifest
from interop.formats import UnknownFormat, sniff, strip_bom
from interop.mappings.convert import ConversionError, read_artefact
from interop.validators.chain import ValidationContext
from interop.validators.files import validate_bytes

ROOT = Path(str(fixtures_root()))
MANIFEST = load_manifest()
ER7 = sorted((ROOT / "hl7v2").rglob("*.hl7"))
CONTEXT = ValidationContext()


def _outcome(data: bytes, name: str) -> tuple[str, list[tuple[str, str, str, str]]]:
    report = validate_bytes(data, Path(name), CONTEXT)
    return report.kind, [
        (i.severity.value, i.code.value, i.location, i.message) for i in report.issues
    ]


@pytest.mark.parametrize(
    "path", [f.path for f in MANIFEST] + [p.relative_to(ROOT).as_posix() for p in ER7]
)
def test_a_bom_variant_validates_exactly_like_the_original(path: str) -> None:
    data = (ROOT / path).read_bytes()
    original = _outcome(data, path)
    assert _outcome(codecs.BOM_UTF8 + data, path) == original
    assert original[0] != "unknown format"


def test_a_bom_variant_maps_like_the_original() -> None:
    for fixture in MANIFEST:
        if fixture.expect != "valid" or fixture.format == "cpis-xml":
            continue
        data = (ROOT / fixture.path).read_bytes()
        assert read_artefact(codecs.BOM_UTF8 + data) == read_artefact(data), fixture.path


@pytest.mark.parametrize(
    ("data", "expected"),
    [
        (b'\xef\xbb\xbf  {"resourceType": "Bundle"}', "fhir-json"),
        (b'{"resourceType": "StructureDefinition", "kind": "resource"}', "fhir-json"),
        (b'{"kind": "complex-type", "resourceType": "StructureDefinition"}', "fhir-json"),
        (b'{"kind": "child-protection-flag", "local_id": "x"}', "artefact"),
        (b'<?xml version="1.0"?>\n<Patient xmlns="http://hl7.org/fhir"/>', "fhir-xml"),
        (b"\xef\xbb\xbf<?xml version='1.0'?><x xmlns='urn:hl7-org:v3'/>", "cpis"),
        (b"\x0bMSH|^~\\&|A", "er7"),
        (b"\xef\xbb\xbfMSH|^~\\&|A", "er7"),
    ],
)
def test_sniff(data: bytes, expected: str) -> None:
    assert sniff(data) == expected


@pytest.mark.parametrize(
    "data",
    [
        b"nhs_number,given_name\n9434765919,Maisie\n",  # a CSV
        b'[environment]\nname = "test"\n',  # TOML
        b"# README\n\nThis toolkit...\n",
        b"",
        b"[1, 2, 3]",
    ],
)
def test_what_the_toolkit_does_not_read_is_said_so(data: bytes) -> None:
    kind, issues = _outcome(data, "x")
    assert kind == "unknown format"
    [(severity, code, _, message)] = issues
    assert (severity, code) == ("error", "invalid")
    assert "the toolkit reads" in message or "empty" in message
    assert "FHIR R4 JSON" in message
    with pytest.raises(ConversionError) as caught:
        read_artefact(data)
    assert caught.value.detected == "unknown"


@pytest.mark.parametrize(
    ("bom", "name"),
    [
        (codecs.BOM_UTF16_LE, "UTF-16"),
        (codecs.BOM_UTF16_BE, "UTF-16"),
        (codecs.BOM_UTF32_LE, "UTF-32"),
    ],
)
def test_utf16_and_utf32_are_refused_with_the_fix(bom: bytes, name: str) -> None:
    data = bom + '{"resourceType": "Patient"}'.encode("utf-16-le")
    with pytest.raises(UnknownFormat) as caught:
        strip_bom(data)
    [issue] = caught.value.issues
    assert name in issue.message
    assert "save it as UTF-8" in issue.message
    assert _outcome(data, "x")[1][0][3] == issue.message


@pytest.mark.parametrize("character", ["\u000b", "\u0000", "\u001f"])
def test_artefact_text_no_writer_can_carry_is_an_error_not_a_crash(character: str) -> None:
    import json

    path = ROOT / "artefacts" / "valid" / "child-protection-flag" / "cpp-active.json"
    document = json.loads(path.read_bytes())
    document["subject"]["given_name"] = f"Mai{character}sie"
    data = json.dumps(document).encode()
    _, issues = _outcome(data, "x.json")
    assert [(s, c, where) for s, c, where, _ in issues] == [
        ("error", "value", "$.subject.given_name")
    ]
    with pytest.raises(ConversionError) as caught:
        read_artefact(data)
    assert caught.value.issues[0].location == "$.subject.given_name"
