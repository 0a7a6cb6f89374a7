"""interop validate on HL7 v2 ER7: the shipped ADT fixtures as a user would check them."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from interop.validators.files import validate_file

FIXTURES = Path(__file__).resolve().parents[2] / "fixtures" / "hl7v2"
MANIFEST = json.loads((FIXTURES / "manifest.json").read_text(encoding="utf-8"))["fixtures"]


def _entries(ack: str) -> list[dict[str, object]]:
    return [e for e in MANIFEST if (e["ack_code"] == "AA") == (ack == "AA")]


@pytest.mark.parametrize("entry", _entries("AA"), ids=lambda e: str(e["path"]))
def test_accepted_messages_validate_without_errors(entry: dict[str, object]) -> None:
    report = validate_file(FIXTURES / str(entry["path"]))
    assert report.errors == []
    assert report.kind.startswith("HL7 v2")
    # a warning only where the listener also warns (ERR severity W in its ACK)
    warned = {i.location for i in report.issues}
    assert warned <= {"PID-3"} if entry["err_codes"] else warned == set()


@pytest.mark.parametrize("entry", _entries("AE/AR"), ids=lambda e: str(e["path"]))
def test_refused_messages_give_errors(entry: dict[str, object]) -> None:
    report = validate_file(FIXTURES / str(entry["path"]))
    assert report.errors, "a message the listener refuses must not validate"
