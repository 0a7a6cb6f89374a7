"""Hostile and broken input to the artefact reader: a clear issue with a place, never a crash."""

from __future__ import annotations

import codecs
import json

import pytest
from builders import CHILD, KINDS, doc

from interop.artefact_json import dump_artefact, json_path, parse_artefact
from interop.issues import IssueCode
from interop.safe_json import JsonLimits

VALID = json.dumps(doc("child-protection-flag"), indent=2)


def only_issue(data: bytes | str, limits: JsonLimits | None = None):  # type: ignore[no-untyped-def]
    result = parse_artefact(data, limits=limits) if limits else parse_artefact(data)
    assert result.artefact is None
    assert len(result.issues) == 1, [i.describe() for i in result.issues]
    return result.issues[0]


def test_malformed_json_gives_line_and_column() -> None:
    broken = VALID.replace('"plan_type": "CPP",', '"plan_type": "CPP"')
    issue = only_issue(broken)
    assert issue.code is IssueCode.INVALID
    assert issue.line == VALID.splitlines().index('  "plan_type": "CPP",') + 2
    assert issue.column is not None
    assert "line" in issue.describe()


@pytest.mark.parametrize("cut", [1, 10, len(VALID) // 2, len(VALID) - 2])
def test_truncated_input_says_so(cut: int) -> None:
    issue = only_issue(VALID[:cut])
    assert issue.code is IssueCode.INVALID
    assert "truncated" in issue.message


def test_oversized_input_is_refused_before_parsing() -> None:
    issue = only_issue(b" " * 2000 + VALID.encode(), JsonLimits(max_bytes=1000))
    assert issue.code is IssueCode.TOO_COSTLY
    assert "limit is 1,000" in issue.message


@pytest.mark.parametrize("depth", [100, 100_000])
def test_deep_nesting_is_refused(depth: int) -> None:
    issue = only_issue("[" * depth + "]" * depth)
    assert issue.code is IssueCode.TOO_COSTLY
    assert "deeper than 64" in issue.message


def test_deep_nesting_inside_a_valid_field_is_refused() -> None:
    nested: object = "x"
    for _ in range(70):
        nested = {"a": nested}
    issue = only_issue(json.dumps(doc("child-protection-flag", extra=nested)))
    assert issue.code is IssueCode.TOO_COSTLY


@pytest.mark.parametrize(
    ("encoded", "says"),
    [
        (codecs.BOM_UTF16_LE + VALID.encode("utf-16-le"), "UTF-16"),
        (VALID.encode("utf-16-be"), "UTF-16 without a byte order mark"),
        (codecs.BOM_UTF32_LE + VALID.encode("utf-32-le"), "UTF-32"),
    ],
)
def test_wrong_encodings_are_named(encoded: bytes, says: str) -> None:
    issue = only_issue(encoded)
    assert says in issue.message


def test_latin1_bytes_are_located() -> None:
    text = VALID.replace("Ashworth", "Ashwörth")
    issue = only_issue(text.encode("latin-1"))
    assert issue.code is IssueCode.INVALID
    assert "not UTF-8" in issue.message
    assert issue.line == next(i for i, ln in enumerate(text.splitlines(), 1) if "Ashw" in ln)


def test_utf8_byte_order_mark_is_tolerated() -> None:
    assert parse_artefact(codecs.BOM_UTF8 + VALID.encode()).ok


def test_duplicate_keys_are_refused() -> None:
    twice = VALID.replace('"plan_type": "CPP",', '"plan_type": "CPP", "plan_type": "LAC",')
    issue = only_issue(twice)
    assert issue.code is IssueCode.STRUCTURE
    assert "'plan_type' appears twice" in issue.message


@pytest.mark.parametrize("constant", ["NaN", "Infinity", "-Infinity"])
def test_non_json_numbers_are_refused(constant: str) -> None:
    issue = only_issue(VALID.replace('"CP-0001"', constant))
    assert issue.code is IssueCode.INVALID


@pytest.mark.parametrize("text", ["", "   ", "\n"])
def test_empty_input(text: str) -> None:
    assert "empty" in only_issue(text).message


@pytest.mark.parametrize("text", ["[]", '"flag"', "42", "null"])
def test_top_level_must_be_an_object(text: str) -> None:
    assert only_issue(text).code is IssueCode.STRUCTURE


def test_missing_and_unknown_kind_list_the_kinds() -> None:
    missing = only_issue(json.dumps(doc("child-protection-flag", kind=None)))
    unknown = only_issue(json.dumps(doc("child-protection-flag", kind="case-note")))
    for issue in (missing, unknown):
        assert issue.location == "$.kind"
        assert all(kind in issue.message for kind in KINDS)


@pytest.mark.parametrize(
    ("field", "value"),
    [
        ("plan_start", 20260203),  # a number is not a date
        ("plan_start", "03/02/2026"),  # nor is a UK-formatted string
        ("plan_start", "2026-02-30"),  # nor a day that does not exist
        ("local_id", 17),  # a number is not a string
    ],
)
def test_types_are_strict(field: str, value: object) -> None:
    result = parse_artefact(json.dumps(doc("child-protection-flag", **{field: value})))
    assert [(i.location, i.code) for i in result.issues] == [(f"$.{field}", IssueCode.VALUE)]


def test_yes_is_not_true() -> None:
    report = doc("strategy-discussion-health-report", appendix_a_received="yes")
    result = parse_artefact(json.dumps(report))
    assert [i.location for i in result.issues] == ["$.appendix_a_received"]


def test_oversized_field_is_refused() -> None:
    result = parse_artefact(json.dumps(doc("child-protection-flag", end_reason_text="x" * 30_000)))
    assert [i.location for i in result.issues] == ["$.end_reason_text"]


def test_messages_never_quote_personal_data() -> None:
    person = {**CHILD, "nhs_number": "9434765918", "date_of_birth": "not a date"}
    person["given_name"] = ""
    result = parse_artefact(json.dumps(doc("child-protection-flag", subject=person)))
    assert len(result.issues) == 3
    text = " ".join(i.describe() for i in result.issues)
    for secret in ("9434765918", "not a date", CHILD["family_name"]):
        assert secret not in text


@pytest.mark.parametrize("kind", KINDS)
def test_dump_then_read_gives_the_same_artefact(kind: str) -> None:
    first = parse_artefact(json.dumps(doc(kind))).artefact
    assert first is not None
    again = parse_artefact(dump_artefact(first)).artefact
    assert again == first


def test_json_path_formatting() -> None:
    assert json_path(("a", 0, "b")) == "$.a[0].b"
    assert json_path(()) == "$"
