"""Large FHIR JSON Bundles, entry by entry: the same issues as a whole parse, bounded memory,
and every protection of the whole parse kept."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from r4_package import r4_package

from interop.fixtures import fixtures_root, load_manifest
from interop.validators.chain import ValidationContext
from interop.validators.files import validate_bytes, validate_file

WHOLE = ValidationContext(stream_above=10**12)
STREAMED = ValidationContext(stream_above=0)
ROOT = Path(str(fixtures_root()))
BUNDLES = [
    f.path
    for f in load_manifest()
    if f.format == "fhir-json"
    and f.expect == "valid"
    and b'"Bundle"' in (ROOT / f.path).read_bytes()
]


def _keys(data: bytes, context: ValidationContext) -> set[tuple[str, str, str]]:
    report = validate_bytes(data, Path("x.json"), context)
    return {(i.severity.value, i.code.value, i.location) for i in report.issues}


@pytest.mark.parametrize("path", BUNDLES)
def test_a_valid_fixture_bundle_streams_as_it_parses(path: str) -> None:
    data = (ROOT / path).read_bytes()
    report = validate_bytes(data, Path(path), STREAMED)
    assert report.kind == "Bundle as FHIR JSON, entry by entry"
    assert not report.errors, [i.describe() for i in report.errors]


def test_entry_issues_are_located_in_the_whole_bundle() -> None:
    bundle = json.loads((ROOT / BUNDLES[0]).read_bytes())
    bundle["entry"][1]["resource"]["colour"] = "red"
    bundle["entry"][-1]["resource"]["id"] = "not an id!"
    data = json.dumps(bundle).encode()
    streamed, whole = _keys(data, STREAMED), _keys(data, WHOLE)
    last = len(bundle["entry"]) - 1
    errors = {k for k in streamed if k[0] == "error"}
    assert {k for k in whole if k[0] == "error"} == errors
    assert any(
        k[2].startswith("Bundle.entry[1].resource") and k[2].endswith(".colour") for k in errors
    )
    assert any(
        k[2].startswith(f"Bundle.entry[{last}].resource") and k[2].endswith(".id") for k in errors
    )


def test_duplicate_full_urls_are_bdl_7() -> None:
    bundle = json.loads((ROOT / BUNDLES[0]).read_bytes())
    bundle["entry"][1]["fullUrl"] = bundle["entry"][0]["fullUrl"]
    data = json.dumps(bundle).encode()
    assert ("error", "invariant", "Bundle") in _keys(data, STREAMED)
    assert ("error", "invariant", "Bundle") in _keys(data, WHOLE)


@pytest.mark.parametrize(
    ("data", "code", "text"),
    [
        (
            b'{"resourceType": "Bundle", "type": "collection", "entry": [{"fullUrl": "a"',
            "invalid",
            "",
        ),
        (
            b'{"resourceType": "Bundle", "type": "collection", "type": "batch"}',
            "structure",
            "twice",
        ),
        (
            b'{"resourceType": "Bundle", "entry": [{"resource": {"a": {"a": NaN}}}]}',
            "structure",
            "NaN",
        ),
        (
            b'{"resourceType": "Bundle", "entry": [' + b'{"a":' * 200 + b"1" + b"}" * 200 + b"]}",
            "too-costly",
            "deeper",
        ),
        (b'{"resourceType": "Patient", "id": "x"}', "structure", "is a Bundle"),
        (b'{"resourceType": "Bundle", "type": "collection"} {}', "invalid", "Extra data"),
        (
            b'\xef\xbb\xbf{"resourceType": "Bundle", "type": "collection", "id": "\xff"}',
            "invalid",
            "not UTF-8",
        ),
    ],
)
def test_hostile_input_is_refused_entry_by_entry_too(data: bytes, code: str, text: str) -> None:
    report = validate_bytes(data, Path("x.json"), STREAMED)
    assert report.errors, report
    last = report.errors[-1]
    assert last.code.value == code, last.describe()
    assert text in last.message


@pytest.mark.slow
@pytest.mark.parametrize("name", ["Bundle-v2-valuesets.json", "Bundle-types.json"])
def test_r4_definition_bundles_stream_as_they_parse(name: str) -> None:
    """HL7's own Bundles give the same errors whole and entry by entry (v2-valuesets has four
    genuine ones; the two largest, over 16 MB, stream in test_r4_package)."""
    path = r4_package() / name
    whole = {(i.code.value, i.location) for i in validate_file(path, WHOLE).errors}
    streamed = {(i.code.value, i.location) for i in validate_file(path, STREAMED).errors}
    assert streamed == whole
    assert len(whole) == (4 if "v2" in name else 0)


def test_a_type_after_the_entries_still_decides_their_rules() -> None:
    """JSON members have no order: a transaction's entries without ``request`` are errors
    whether ``type`` comes before or after them (the entries are validated again)."""
    bundle = json.loads((ROOT / BUNDLES[0]).read_bytes())
    bundle["type"] = "transaction"
    before = json.dumps(bundle).encode()
    after_bundle = {k: v for k, v in bundle.items() if k != "type"}
    after_bundle["type"] = "transaction"
    after = json.dumps(after_bundle).encode()
    assert after.index(b'"type"') > after.index(b'"entry"')

    def errors(data: bytes, context: ValidationContext) -> set[tuple[str, str]]:
        return {
            (i.code.value, i.location) for i in validate_bytes(data, Path("x.json"), context).errors
        }

    streamed = errors(after, STREAMED)
    assert streamed
    assert streamed == errors(before, STREAMED) == errors(before, WHOLE)


def test_references_between_entries_are_resolved_entry_by_entry(tmp_path: Path) -> None:
    """A profile's target types are checked against the other entries' types by fullUrl, as
    in a whole parse (a first pass collects them), JSON and XML alike."""
    from interop.fhir import to_xml

    url = "http://example.org/StructureDefinition/FlagOnPatient"
    profile = {
        "resourceType": "StructureDefinition",
        "url": url,
        "name": "FlagOnPatient",
        "status": "draft",
        "kind": "resource",
        "abstract": False,
        "type": "Flag",
        "baseDefinition": "http://hl7.org/fhir/StructureDefinition/Flag",
        "derivation": "constraint",
        "differential": {
            "element": [
                {
                    "id": "Flag.subject",
                    "path": "Flag.subject",
                    "type": [
                        {
                            "code": "Reference",
                            "targetProfile": ["http://hl7.org/fhir/StructureDefinition/Patient"],
                        }
                    ],
                }
            ]
        },
    }
    (tmp_path / "StructureDefinition-FlagOnPatient.json").write_text(json.dumps(profile))
    flag = {
        "resourceType": "Flag",
        "status": "active",
        "code": {"text": "x"},
        "subject": {"reference": "urn:uuid:00000000-0000-4000-8000-000000000002"},
    }
    group = {"resourceType": "Group", "type": "person", "actual": True}
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [
            {"fullUrl": "urn:uuid:00000000-0000-4000-8000-000000000001", "resource": flag},
            {"fullUrl": "urn:uuid:00000000-0000-4000-8000-000000000002", "resource": group},
        ],
    }
    options = {"igs": (tmp_path,), "profiles": (url,)}
    for data, name in ((json.dumps(bundle).encode(), "x.json"), (to_xml(bundle), "x.xml")):
        found = {}
        for above in (0, 10**12):
            report = validate_bytes(
                data, Path(name), ValidationContext(stream_above=above, **options)
            )
            found[above] = {(i.location, i.message) for i in report.errors}
        assert found[0] == found[10**12], name
        assert any("refers to a Group" in message for _, message in found[0]), found[0]
