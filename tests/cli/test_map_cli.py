"""``interop map``: every route through the hub gives back the same artefact."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from interop.artefact_json import parse_artefact
from interop.cli.main import cli
from interop.domain import ARTEFACT_KINDS
from interop.fixtures import Fixture, artefact_fixtures
from interop.mappings.convert import detect_format

VALID = artefact_fixtures(expect="valid")
ONE_PER_KIND = [next(f for f in VALID if f.kind == kind) for kind in ARTEFACT_KINDS]


def run(*args: str, stdin: bytes | None = None) -> tuple[int, bytes, str]:
    result = CliRunner().invoke(cli, list(args), input=stdin)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    return result.exit_code, result.stdout_bytes, result.stderr


@pytest.mark.parametrize("fixture", ONE_PER_KIND, ids=lambda f: f.kind)
def test_artefact_to_fhir_json_and_xml_and_back(fixture: Fixture, tmp_path: Path) -> None:
    source = tmp_path / "artefact.json"
    source.write_bytes(fixture.read_bytes())
    original = parse_artefact(fixture.read_bytes()).artefact
    for target, name in (("fhir", "bundle.json"), ("fhir-xml", "bundle.xml")):
        out = tmp_path / name
        code, _, err = run("map", str(source), "--to", target, "-o", str(out))
        assert code == 0, err
        code, back, err = run("map", str(out), "--to", "artefact")
        assert code == 0, err
        assert parse_artefact(back).artefact == original
    assert sorted(p.name for p in tmp_path.iterdir()) == [
        "artefact.json",
        "bundle.json",
        "bundle.xml",
    ]


def test_json_and_xml_outputs_parse_to_the_same_resources(tmp_path: Path) -> None:
    from interop.fhir import read_fhir_json, read_fhir_xml

    for fixture in ONE_PER_KIND:
        source = tmp_path / "a.json"
        source.write_bytes(fixture.read_bytes())
        _, as_json, _ = run("map", str(source), "--to", "fhir")
        _, as_xml, _ = run("map", str(source), "--to", "fhir-xml")
        assert read_fhir_json(as_json) == read_fhir_xml(as_xml)


def test_standard_input(tmp_path: Path) -> None:
    code, out, _ = run("map", "-", "--to", "fhir", stdin=VALID[0].read_bytes())
    assert code == 0
    assert json.loads(out)["resourceType"] == "Bundle"


@pytest.mark.parametrize(
    ("content", "says"),
    [
        (b'{"resourceType": "Patient", "id": "x"}', "cannot tell which artefact"),
        (
            b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]><Bundle xmlns="http://hl7.org/fhir"/>',
            "DTD",
        ),
        (b'{"kind": "child-protection-flag"}', "$.local_id"),
        (b"\xff\xfe{\x00", "UTF-16"),
    ],
)
def test_bad_input_is_exit_1_with_the_reason(content: bytes, says: str, tmp_path: Path) -> None:
    path = tmp_path / "in"
    path.write_bytes(content)
    code, out, err = run("map", str(path), "--to", "artefact")
    assert code == 1
    assert out == b""
    assert says in err
    assert "Traceback" not in err


def test_missing_input_and_unwritable_output_are_exit_2(tmp_path: Path) -> None:
    code, _, err = run("map", str(tmp_path / "absent.json"), "--to", "fhir")
    assert code == 2
    assert "cannot read" in err
    source = tmp_path / "a.json"
    source.write_bytes(VALID[0].read_bytes())
    code, _, err = run("map", str(source), "--to", "fhir", "-o", str(tmp_path / "no" / "x.json"))
    assert code == 2
    assert "cannot write" in err


@pytest.mark.parametrize(
    ("head", "expected"),
    [
        (b'  <?xml version="1.0"?><Bundle', "fhir-xml"),
        (b'\xef\xbb\xbf{"resourceType": "Bundle"}', "fhir"),
        # resourceType first: R4 resources may have a kind element (StructureDefinition...)
        (b'{"kind": "travel-alert", "resourceType": "x"}', "fhir"),
        (b'{"resourceType": "StructureDefinition", "kind": "resource"}', "fhir"),
        (b'{"kind": "travel-alert"}', "artefact"),
        (b"\xef\xbb\xbf\x0bMSH|^~\\&|", "er7"),
        (b"\xef\xbb\xbf<levelOne xmlns='urn:hl7-org:v3'/>", "cpis"),
        (b"garbage", "unknown"),
        (b"name,nhs_number\n", "unknown"),
    ],
)
def test_format_detection(head: bytes, expected: str) -> None:
    assert detect_format(head) == expected


FORMS = {
    "strategy-discussion-health-report": "fhir_strategy_report",
    "health-needs-checklist": "fhir_health_needs_checklist",
    "travel-alert": "fhir_travel_alert",
}


@pytest.mark.parametrize("kind", sorted(FORMS))
def test_forms_tool_response_imports_through_map(kind: str, tmp_path: Path) -> None:
    """A QuestionnaireResponse to a toolkit Questionnaire, as a forms tool sends it, alone."""
    import importlib

    module = importlib.import_module(f"interop.mappings.{FORMS[kind]}")
    fixture = next(
        f
        for f in artefact_fixtures(kind, "valid")
        if kind != "travel-alert" or b"whereabouts-unknown" not in f.read_bytes()
    )
    original = parse_artefact(fixture.read_bytes()).artefact
    if hasattr(module, "to_questionnaire_response"):
        response = module.to_questionnaire_response(original)
    else:  # the checklist's Bundle leads with the response itself
        response = module.to_fhir(original)["entry"][0]["resource"]
        response.pop("extension", None)  # a forms tool sends no toolkit extensions
        for item in response["item"]:
            item.pop("extension", None)
    path = tmp_path / "response.json"
    path.write_text(json.dumps(response), encoding="utf-8")
    code, out, err = run("map", str(path), "--to", "artefact")
    assert code == 0, err
    assert parse_artefact(out).artefact == original


def test_flag_to_cpis_upload_and_back(tmp_path: Path) -> None:
    from interop.cpis.codec import validate_cpis_xml

    fixture = next(f for f in VALID if f.kind == "child-protection-flag")
    source = tmp_path / "flag.json"
    source.write_bytes(fixture.read_bytes())
    code, upload, err = run("map", str(source), "--to", "cpis")
    assert code == 0, err
    assert validate_cpis_xml(upload) == []
    (tmp_path / "upload.xml").write_bytes(upload)
    code, back, _ = run("map", str(tmp_path / "upload.xml"), "--to", "artefact")
    assert code == 0
    original = parse_artefact(fixture.read_bytes()).artefact
    returned = parse_artefact(back).artefact
    assert returned is not None and original is not None  # noqa: PT018
    # CP-IS carries the plan and the person, not the local extras (mappings/cpis.py says which)
    assert returned.subject.nhs_number == original.subject.nhs_number  # type: ignore[attr-defined]
    assert returned.plan_start == original.plan_start  # type: ignore[attr-defined]


def test_only_a_flag_maps_to_cpis(tmp_path: Path) -> None:
    fixture = next(f for f in VALID if f.kind == "travel-alert")
    source = tmp_path / "alert.json"
    source.write_bytes(fixture.read_bytes())
    code, _, err = run("map", str(source), "--to", "cpis")
    assert code == 1
    assert "only a child protection flag maps to CP-IS" in err
