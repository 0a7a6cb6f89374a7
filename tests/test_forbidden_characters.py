"""Issue 13, deliverable 3: a character XML 1.0 and FHIR strings forbid is refused in every input
format, at its path, by `interop validate` (what is called valid must be writable as XML)."""

from __future__ import annotations

import json
from pathlib import Path

import pytest
from click.testing import CliRunner

from interop.cli.main import cli
from interop.fixtures import fixtures_root

ARTEFACT = Path(str(fixtures_root())) / "artefacts" / "valid" / "child-protection-flag"


def validate(path: Path) -> str:
    result = CliRunner().invoke(cli, ["validate", str(path)])
    assert result.exception is None or isinstance(result.exception, SystemExit)
    return result.output


@pytest.mark.parametrize("character", ["\u000b", "\u001b", "\ufffe", "\uffff"])
def test_fhir_json_refuses_the_character_at_its_path(tmp_path: Path, character: str) -> None:
    patient = {"resourceType": "Patient", "id": "p1", "name": [{"family": f"A{character}B"}]}
    path = tmp_path / "p.json"
    path.write_text(json.dumps(patient), "utf-8")
    output = validate(path)
    assert "valid (Patient" not in output
    assert "name[0].family" in output
    assert f"U+{ord(character):04X}" in output


@pytest.mark.parametrize("character", ["\u0000", "\u000c", "\ufffe", "\uffff"])
def test_artefact_json_refuses_the_character_at_its_path(tmp_path: Path, character: str) -> None:
    document = json.loads(sorted(ARTEFACT.glob("*.json"))[0].read_text("utf-8"))
    document["subject"]["given_name"] = f"A{character}B"
    path = tmp_path / "flag.json"
    path.write_text(json.dumps(document), "utf-8")
    output = validate(path)
    assert "$.subject.given_name" in output
    assert f"U+{ord(character):04X}" in output


@pytest.mark.parametrize("text", ["&#xFFFF;", "\uffff", "&#xFFFE;", "&#x0B;", "\u001b"])
def test_fhir_xml_refuses_the_character_where_it_stands(tmp_path: Path, text: str) -> None:
    # libxml2 refuses what XML 1.0 forbids, raw or as a character reference: line and column
    path = tmp_path / "p.xml"
    path.write_text(
        '<Patient xmlns="http://hl7.org/fhir"><id value="p1"/>'
        f'<name><family value="A{text}B"/></name></Patient>',
        "utf-8",
    )
    output = validate(path)
    assert "1 with errors" in output
    assert "line 1, column" in output
