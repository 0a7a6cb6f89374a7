"""Hostile input through interop validate: refused with a clear message, never a traceback.

How fast and in how much memory each is refused is measured in benchmarks/hostile_input.py
(speed is never asserted in a test).
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner

from interop.cli.main import cli
from interop.issues import IssueCode
from interop.validators.files import validate_bytes

XXE = (
    b'<?xml version="1.0"?><!DOCTYPE Patient [<!ENTITY x SYSTEM "file:///etc/passwd">]>'
    b'<Patient xmlns="http://hl7.org/fhir"><id value="&x;"/></Patient>'
)
LAUGHS = (
    b'<?xml version="1.0"?><!DOCTYPE lolz [<!ENTITY lol "lol">'
    b'<!ENTITY lol2 "&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;&lol;">'
    b'<!ENTITY lol3 "&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;&lol2;">]>'
    b'<Patient xmlns="http://hl7.org/fhir"><id value="&lol3;"/></Patient>'
)
CPIS_DTD = (
    b'<?xml version="1.0"?><!DOCTYPE x [<!ENTITY a "b">]>'
    b'<LocalAuthorityUpload xmlns="urn:hl7-org:v3">&a;</LocalAuthorityUpload>'
)


def _deep(prefix: bytes, depth: int = 10_000) -> bytes:
    return prefix + b"[" * depth + b"]" * depth + b"}"


CASES: dict[str, tuple[bytes, IssueCode, str]] = {
    "FHIR XML with an external entity": (XXE, IssueCode.INVALID, "DTD"),
    "FHIR XML billion laughs": (LAUGHS, IssueCode.INVALID, "DTD"),
    "CP-IS XML with a DTD": (CPIS_DTD, IssueCode.INVALID, "DTD"),
    "FHIR JSON 10,000 deep": (
        _deep(b'{"resourceType":"Patient","x":'),
        IssueCode.TOO_COSTLY,
        "nesting is deeper",
    ),
    "artefact JSON 10,000 deep": (
        _deep(b'{"kind":"child-protection-flag","x":'),
        IssueCode.TOO_COSTLY,
        "nesting is deeper",
    ),
    # over the default --max-size of 64 MB
    "FHIR JSON of 70 MB": (
        b'{"resourceType":"Patient","text":"' + b"a" * 70_000_000 + b'"}',
        IssueCode.TOO_COSTLY,
        "the limit is",
    ),
    "FHIR XML of 70 MB": (
        b'<Patient xmlns="http://hl7.org/fhir"><!--' + b"a" * 70_000_000 + b"--></Patient>",
        IssueCode.TOO_COSTLY,
        "the limit is",
    ),
    "JSON that is not UTF-8": (
        b'{"resourceType":"Patient","id":"\xff\xfe"}',
        IssueCode.INVALID,
        "not UTF-8",
    ),
    "XML that is not UTF-8": (
        b'<?xml version="1.0" encoding="UTF-8"?>'
        b'<Patient xmlns="http://hl7.org/fhir"><id value="\xff"/></Patient>',
        IssueCode.INVALID,
        "encoding",
    ),
    "ER7 with bytes that are not UTF-8": (
        b"MSH|^~\\&|PAS|RR801|INTEROP|X26|20260301101500||ADT^A04|1|P|2.4\rPID|1||\xff\xfe\r",
        IssueCode.INVALID,
        "not valid UTF-8",
    ),
}


@pytest.mark.parametrize("name", list(CASES))
def test_hostile_input_is_refused_with_a_clear_issue(name: str) -> None:
    data, code, words = CASES[name]
    report = validate_bytes(data, Path("hostile"))
    assert report.errors, name
    first = report.errors[0]
    assert first.code is code
    assert words in first.message
    assert "passwd" not in first.message


def test_validate_command_refuses_them_all_and_goes_on(tmp_path: Path) -> None:
    names = []
    for index, (data, _, _) in enumerate(CASES.values()):
        suffix = ".hl7" if data.startswith(b"MSH") else ".xml" if b"<" in data[:10] else ".json"
        path = tmp_path / f"case-{index}{suffix}"
        path.write_bytes(data)
        names.append(path.name)
    good = Path(__file__).resolve().parents[2] / "fixtures" / "fhir" / "child-protection-flag"
    result = CliRunner().invoke(cli, ["validate", str(tmp_path), str(good)])
    assert result.exit_code == 1, result.output
    assert "Traceback" not in result.output
    for name in names:
        assert f"{name}: 1 error(s)" in result.output
    assert f"checked {len(names) + len(list(good.iterdir()))} file(s)" in result.output
