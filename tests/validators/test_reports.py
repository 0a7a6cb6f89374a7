"""Reports: OperationOutcome and its Bundle are valid R4, JUnit XML parses with the right counts,
and the HTML page is self-contained, escapes hostile names and messages, and masks NHS numbers."""

from __future__ import annotations

import json
import re
from pathlib import Path
from typing import Any

import pytest
from lxml import etree

from interop.fhir import check_structure
from interop.fixtures import fixtures_root
from interop.issues import Issue, IssueCode, Severity, error
from interop.validators.files import FileReport, validate_file
from interop.validators.reports import (
    COLUMN_EXTENSION,
    LINE_EXTENSION,
    RULE_SOURCE_EXTENSION,
    RULE_SYSTEM,
    SOURCE_FILE_EXTENSION,
    CaseResult,
    case_from_report,
    html_report,
    junit_xml,
    operation_outcome,
    outcomes_bundle,
    readable_source,
    render,
    safe_text,
)

FIXTURES = Path(str(fixtures_root()))
HOSTILE_NAME = "<script>alert('x')</script>&9434765919.json"
HOSTILE_MESSAGE = '<img src=x onerror="alert(1)"> bad value'
WT_SOURCE = "Working Together 2023 ch.4 para 42 (002_7a8cd4b31029ee68.txt L123)"

C01 = error(
    IssueCode.VALUE,
    "$.subject.nhs_number",
    "invalid NHS number: the check digit is 8",
    rule_id="C01",
    rule_source="001_0e453bf333ba50fc.txt L31-44",
)
CPIS_ISSUE = error(
    IssueCode.VALUE,
    "/LocalAuthorityUpload/component[1]/CPPInformation/code",
    "the value does not match the fixed value",
    line=8,
    column=12,
)
LATE = Issue(
    Severity.WARNING,
    IssueCode.BUSINESS_RULE,
    "$.meeting_at",
    "the review conference is 3 working days late",
    rule_id="T09",
    rule_source=WT_SOURCE,
)


def _extension(node: dict[str, Any], url: str) -> Any:
    values = [e for e in node.get("extension", []) if e["url"] == url]
    assert len(values) == 1, url
    return next(v for k, v in values[0].items() if k.startswith("value"))


# --- OperationOutcome ------------------------------------------------------------------------


def test_operation_outcome_carries_every_part_of_an_issue() -> None:
    outcome = operation_outcome(FileReport(Path("flag.json"), issues=[C01, CPIS_ISSUE, LATE]))
    assert check_structure(outcome) == []
    assert _extension(outcome, SOURCE_FILE_EXTENSION) == "flag.json"
    rule, cpis, late = outcome["issue"]
    assert (rule["severity"], rule["code"]) == ("error", "value")
    assert rule["details"]["coding"] == [{"system": RULE_SYSTEM, "code": "C01"}]
    assert rule["details"]["text"] == C01.message
    assert _extension(rule, RULE_SOURCE_EXTENSION) == C01.rule_source
    assert rule["expression"] == ["$.subject.nhs_number"]
    assert "rule C01" in rule["diagnostics"]
    # an XPath of CP-IS goes to issue.location (R4's XPath element), with its line and column
    assert cpis["location"] == [CPIS_ISSUE.location]
    assert "expression" not in cpis
    assert _extension(cpis, LINE_EXTENSION) == 8
    assert _extension(cpis, COLUMN_EXTENSION) == 12
    assert (late["severity"], late["code"]) == ("warning", "business-rule")


def test_an_unreadable_file_is_a_fatal_exception_and_a_clean_one_informational() -> None:
    unreadable = operation_outcome(FileReport(Path("gone.json"), io_error="No such file"))
    clean = operation_outcome(FileReport(Path("fine.json")))
    for outcome in (unreadable, clean):
        assert check_structure(outcome) == []
    assert [(i["severity"], i["code"]) for i in unreadable["issue"]] == [("fatal", "exception")]
    assert "No such file" in unreadable["issue"][0]["details"]["text"]
    assert [(i["severity"], i["code"]) for i in clean["issue"]] == [
        ("information", "informational")
    ]


def test_operation_outcome_of_a_real_invalid_fixture_is_valid_r4() -> None:
    report = validate_file(FIXTURES / "cpis/invalid/start-date-30-february.xml")
    outcome = operation_outcome(report)
    assert check_structure(outcome) == []
    assert [i["severity"] for i in outcome["issue"]] == ["error"]
    assert outcome["issue"][0]["location"][0].endswith("CPPStartDate/value/@value")


def test_bundle_names_each_file_and_is_valid_r4_even_with_a_file_given_twice() -> None:
    reports = [
        FileReport(Path("a.json"), issues=[C01]),
        FileReport(Path("a.json"), issues=[C01]),
        FileReport(Path("b.xml"), io_error="Permission denied"),
        FileReport(Path("c.json")),
    ]
    bundle = outcomes_bundle(reports)
    assert check_structure(bundle) == []
    assert bundle["type"] == "collection"
    names = [_extension(e["resource"], SOURCE_FILE_EXTENSION) for e in bundle["entry"]]
    assert names == ["a.json", "a.json", "b.xml", "c.json"]
    urls = [e["fullUrl"] for e in bundle["entry"]]
    assert len(set(urls)) == 4
    assert all(e["fullUrl"] == f"urn:uuid:{e['resource']['id']}" for e in bundle["entry"])


def test_render_json_is_one_outcome_for_one_file_and_a_bundle_for_several() -> None:
    one = json.loads(render([FileReport(Path("a.json"), issues=[C01])], "json"))
    several = json.loads(render([FileReport(Path("a.json")), FileReport(Path("b.json"))], "json"))
    assert one["resourceType"] == "OperationOutcome"
    assert several["resourceType"] == "Bundle"
    assert len(several["entry"]) == 2
    junit = etree.fromstring(render([FileReport(Path("a.json"), issues=[C01])], "junit").encode())
    assert (junit.get("tests"), junit.get("failures")) == ("1", "1")
    with pytest.raises(ValueError, match="unknown report format"):
        render([], "yaml")


def test_nhs_numbers_in_file_names_and_messages_are_masked() -> None:
    masked = error(IssueCode.VALUE, "$.x", "9434765919 is not the Patient's 943 476 5870")
    outcome = operation_outcome(FileReport(Path("9434765919.json"), issues=[masked]))
    text = json.dumps(outcome)
    assert "9434765919" not in text
    assert "943 476 5870" not in text
    assert "*** *** 5919" in text
    assert "*** *** 5870" in text


# --- JUnit -----------------------------------------------------------------------------------


def test_junit_counts_and_one_testcase_per_file() -> None:
    reports = [
        FileReport(Path("bad.json"), issues=[C01, LATE], kind="child-protection-flag"),
        FileReport(Path("warned.json"), issues=[LATE], kind="health-needs-checklist"),
        FileReport(Path("fine.json"), kind="travel-alert"),
        FileReport(Path("gone\x01.json"), io_error="No such file"),
    ]
    root = etree.fromstring(junit_xml("interop validate", [case_from_report(r) for r in reports]))
    suite = root.find("testsuite")
    assert suite is not None
    assert (root.get("tests"), root.get("failures"), root.get("errors")) == ("4", "1", "1")
    assert (suite.get("tests"), suite.get("failures"), suite.get("errors")) == ("4", "1", "1")
    cases = suite.findall("testcase")
    assert [c.get("name") for c in cases] == [
        "bad.json",
        "warned.json",
        "fine.json",
        "gone\\x{1}.json",
    ]
    failure = cases[0].find("failure")
    assert failure is not None
    assert failure.get("message") == "1 error(s), 1 other issue(s)"
    assert C01.describe() in (failure.text or "")
    assert LATE.describe() in (failure.text or "")
    assert cases[1].find("failure") is None
    assert LATE.message in (cases[1].findtext("system-out") or "")
    assert len(cases[2]) == 0
    problem = cases[3].find("error")
    assert problem is not None
    assert "No such file" in (problem.get("message") or "")
    assert all(c.get("classname", "").startswith("interop-validate.") for c in cases)


def test_junit_escapes_hostile_names_and_messages() -> None:
    hostile = error(IssueCode.VALUE, "$.x", HOSTILE_MESSAGE + "\x00")
    data = junit_xml(
        "suite <&>", [case_from_report(FileReport(Path(HOSTILE_NAME), issues=[hostile]))]
    )
    root = etree.fromstring(data)  # well-formed despite <, &, quotes and a NUL
    case = root.find("testsuite/testcase")
    assert case is not None
    assert case.get("name") == HOSTILE_NAME.replace("9434765919", "*** *** 5919")
    assert b"<script>" not in data
    assert b"<img" not in data


# --- HTML ------------------------------------------------------------------------------------


def _cases() -> list[CaseResult]:
    hostile = error(IssueCode.VALUE, "$.x", HOSTILE_MESSAGE)
    profile = error(
        IssueCode.VALUE,
        "Bundle.type",
        "must match the pattern collection",
        rule_id="Bundle.type",
        rule_source="https://fhir.safeguarding-interop.org/StructureDefinition/Example",
    )
    return [
        case_from_report(FileReport(Path(HOSTILE_NAME), issues=[hostile, C01], kind="x")),
        case_from_report(FileReport(Path("ok.json"), issues=[LATE], kind="travel-alert")),
        case_from_report(FileReport(Path("profile.json"), issues=[profile], kind="FHIR")),
        case_from_report(FileReport(Path("gone.json"), io_error="No such file")),
    ]


def test_html_escapes_hostile_names_and_messages_and_masks_nhs_numbers() -> None:
    page = html_report("Check <b>me</b>", _cases())
    assert "<script" not in page.lower()
    assert "<img" not in page
    assert "&lt;script&gt;alert(&#x27;x&#x27;)&lt;/script&gt;&amp;*** *** 5919.json" in page
    assert "&lt;img src=x onerror=&quot;alert(1)&quot;&gt; bad value" in page
    assert "9434765919" not in page
    assert "<title>Check &lt;b&gt;me&lt;/b&gt;</title>" in page


def test_html_is_self_contained_with_summary_files_and_rule_links() -> None:
    page = html_report("Conformance check", _cases(), rules_page="../docs/rules.md")
    # no script, stylesheet link, image or font from elsewhere; CSS inline
    assert not re.search(r"<(script|link|img|iframe|object)\b", page, re.IGNORECASE)
    assert not re.search(r"<[^>]*\s(src|href)=[\"']?(https?:)?//(?!fhir\.safeguarding)", page)
    assert "<style>" in page
    for label, count in (("files", 4), ("passed", 1), ("failed", 2), ("unreadable", 1)):
        assert f"<b>{count}</b>{label}" in page
    for name in ("ok.json", "profile.json", "gone.json"):
        assert page.count(name) >= 2, "in the summary table and as its section's heading"
    assert '<a href="../docs/rules.md#c01">C01</a>' in page
    assert '<a href="../docs/rules.md#t09">T09</a>' in page
    assert (
        "Procedure for safeguarding children with long-term chronic health needs who require "
        "&#x27;additional child safeguards&#x27; (multi-agency procedure, Leicester"
    ) in page
    assert "001_0e453bf333ba50fc.txt" not in page
    # a profile rule is no guidance rule: its StructureDefinition is linked instead
    assert "rules.md#bundle" not in page
    assert 'href="https://fhir.safeguarding-interop.org/StructureDefinition/Example"' in page
    assert "Cannot read the file: No such file" in page
    for index in range(1, 5):
        assert f'href="#file-{index}"' in page
        assert f'id="file-{index}"' in page


def test_html_parses_as_html() -> None:
    page = html_report("t", _cases())
    tree = etree.fromstring(page.encode(), etree.HTMLParser(recover=False))
    assert len(tree.findall(".//section")) == 4


def test_readable_source_names_the_guidance_and_keeps_the_rest() -> None:
    assert readable_source(WT_SOURCE) == (
        "Working Together 2023 ch.4 para 42 "
        "(Working Together to Safeguard Children 2026 (March 2026 edition, HM Government), "
        "the opening section)"
    )
    assert readable_source("CPIS.md Identifiers") == "CPIS.md Identifiers"


def test_html_report_stands_alone_with_the_rules_it_cites() -> None:
    # by default rule ids link inside the page, to a section stating each rule and its source:
    # the report is read where no docs/ folder exists (sent on, or from a wheel install)
    page = html_report("Conformance check", _cases())
    assert '<a href="#rule-c01">C01</a>' in page
    assert '<a href="#rule-t09">T09</a>' in page
    assert "rules.md" not in page
    assert '<tr id="rule-t09"><td>T09</td><td>Later review conferences are held' in page
    assert "chapter 3, &#x27;Child protection review conference&#x27;" in page
    assert '<tr id="rule-c01">' in page


def test_safe_text_keeps_ordinary_text_and_dates() -> None:
    text = "2026-06-09 line 8 urn:uuid:00000000-0000-4000-8000-000000000001 20261102093000"
    assert safe_text(text) == text
