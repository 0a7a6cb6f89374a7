"""Validation results as reports: FHIR OperationOutcome, JUnit XML, and a readable HTML page.

- ``operation_outcome(report)``: one file's issues as an R4 OperationOutcome;
  ``outcomes_bundle(reports)``: several as a ``collection`` Bundle, each naming its file;
- ``case_from_report(report)``: a ``CaseResult``, the one shape the JUnit and HTML writers read
  (the conformance kit builds its own, with what the manifest expected);
- ``junit_xml(suite, cases)``: JUnit XML as Jenkins and GitLab read it, one testcase per file;
- ``html_report(title, cases)``: a self-contained page (inline CSS, no script, no external
  asset) with the summary, a table of issues per file and links to the rules' documentation;
- ``render(reports, format)``: ``json`` or ``junit`` text for ``interop validate --format``.

Everything written is escaped, and ten-digit numbers (NHS numbers) in file names and messages
are masked; no file content is ever copied into a report.
"""

from __future__ import annotations

import html
import re
import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from lxml import etree

from interop import __version__
from interop.codes import CANONICAL_BASE
from interop.issues import Issue
from interop.privacy import mask_nhs_numbers_in
from interop.sources import for_people
from interop.validators.files import FileReport
from interop.validators.rule_codes import RULE_SYSTEM

JSON = dict[str, Any]

#: the code system of the toolkit's rule ids (C01-C17, T01-T11, B01-B09, NHS...)
RULE_SOURCE_EXTENSION = f"{CANONICAL_BASE}/StructureDefinition/ext-rule-source"
SOURCE_FILE_EXTENSION = f"{CANONICAL_BASE}/StructureDefinition/ext-source-file"
READ_AS_EXTENSION = f"{CANONICAL_BASE}/StructureDefinition/ext-read-as"
LINE_EXTENSION = "http://hl7.org/fhir/StructureDefinition/operationoutcome-issue-line"
COLUMN_EXTENSION = "http://hl7.org/fhir/StructureDefinition/operationoutcome-issue-col"
#: where the HTML report links a rule id to (``#<rule id, lower case>`` is appended); empty:
#: to the report's own "Rules cited" section, so that a report read anywhere (sent by email,
#: written by a wheel install with no docs/ beside it) still says what each rule is
DEFAULT_RULES_PAGE = ""

#: the toolkit's own rule ids (C01, T06, B01, NHS, NHS-TEST), documented in the rules page
GUIDANCE_RULE_ID = re.compile(r"[A-Z]{1,4}\d{0,3}(?:-[A-Z]+)?")
#: a ten-digit number, spaced 3-3-4 or not: masked wherever it appears in a report
#: characters XML 1.0 cannot hold (controls, lone surrogates from undecodable file names)
_NOT_XML = re.compile("[^\t\n\r\x20-\ud7ff\ue000-\ufffd\U00010000-\U0010ffff]")


@dataclass(frozen=True)
class CaseResult:
    """One checked file as the JUnit and HTML reports show it.

    ``passed`` is the verdict (for a conformance fixture: it behaved as the manifest says);
    ``summary`` says it in a few words; ``notes`` add lines such as what was expected but not
    found; ``unreadable`` is set when the file could not be read (a JUnit error, not a failure).
    """

    name: str
    kind: str
    passed: bool
    summary: str
    issues: tuple[Issue, ...] = ()
    notes: tuple[str, ...] = ()
    unreadable: str | None = None
    seconds: float = 0.0
    group: str = "files"

    @property
    def errors(self) -> int:
        """How many error issues."""
        return sum(i.is_error for i in self.issues)

    @property
    def warnings(self) -> int:
        """How many issues of a lesser severity."""
        return len(self.issues) - self.errors


def safe_text(value: str) -> str:
    """``value`` fit for a report: NHS-number-like runs masked, characters XML cannot hold
    shown as escapes (a file name may hold control characters or undecodable bytes)."""
    # a report quotes the file's own timestamps (HL7 DTM) and uuids back to its reader: long
    # digit runs stay whole, runs of ten digits are masked
    masked = mask_nhs_numbers_in(value, in_longer_runs=False)
    return _NOT_XML.sub(lambda m: f"\\x{{{ord(m.group()):x}}}", masked)


# --- FHIR OperationOutcome -------------------------------------------------------------------


def _issue_json(issue: Issue) -> JSON:
    item: JSON = {"severity": issue.severity.value, "code": issue.code.value}
    extensions = []
    if issue.line is not None:
        extensions.append({"url": LINE_EXTENSION, "valueInteger": issue.line})
    if issue.column is not None:
        extensions.append({"url": COLUMN_EXTENSION, "valueInteger": issue.column})
    if issue.rule_source:
        extensions.append({"url": RULE_SOURCE_EXTENSION, "valueString": issue.rule_source})
    if extensions:
        item = {"extension": extensions, **item}
    details: JSON = {"text": safe_text(issue.message)}
    if issue.rule_id:
        details = {"coding": [{"system": RULE_SYSTEM, "code": issue.rule_id}], **details}
    item["details"] = details
    item["diagnostics"] = safe_text(issue.describe())
    location = issue.location
    if location and location != "$":
        # CP-IS locations are XPaths (R4's issue.location); the rest are FHIRPath-like paths
        item["location" if location.startswith("/") else "expression"] = [safe_text(location)]
    return item


def operation_outcome(report: FileReport) -> JSON:
    """One file's validation as an R4 OperationOutcome.

    Rule id in ``issue.details.coding`` (system ``RULE_SYSTEM``), its source in an extension;
    line and column as the core ``operationoutcome-issue-line``/``-col`` extensions. A file
    that could not be read is one ``fatal`` ``exception`` issue; a file without issues has one
    ``information`` issue saying so (an OperationOutcome needs at least one).
    """
    issues: list[JSON]
    if report.io_error is not None:
        issues = [
            {
                "severity": "fatal",
                "code": "exception",
                "details": {"text": safe_text(f"cannot read the file: {report.io_error}")},
            }
        ]
    elif report.issues:
        issues = [_issue_json(i) for i in report.issues]
    else:
        issues = [
            {
                "severity": "information",
                "code": "informational",
                "details": {"text": "no issues found"},
            }
        ]
    return {
        "resourceType": "OperationOutcome",
        "extension": [
            {"url": SOURCE_FILE_EXTENSION, "valueString": safe_text(str(report.path))},
            {"url": READ_AS_EXTENSION, "valueString": safe_text(report.kind)},
        ],
        "issue": issues,
    }


def outcomes_bundle(reports: Sequence[FileReport]) -> JSON:
    """A ``collection`` Bundle of one OperationOutcome per file, in the order given."""
    entries = []
    for index, report in enumerate(reports):
        # unique per position, the same on every run: a file given twice gets two entries
        entry_id = uuid.uuid5(uuid.NAMESPACE_URL, f"{CANONICAL_BASE}/{index}/{report.path}")
        outcome = {"resourceType": "OperationOutcome", "id": str(entry_id)}
        outcome.update({k: v for k, v in operation_outcome(report).items() if k != "resourceType"})
        entries.append({"fullUrl": f"urn:uuid:{entry_id}", "resource": outcome})
    bundle: JSON = {
        "resourceType": "Bundle",
        "type": "collection",
        "timestamp": datetime.now(UTC).isoformat(timespec="seconds"),
    }
    if entries:  # FHIR JSON has no empty arrays
        bundle["entry"] = entries
    return bundle


# --- one shape for JUnit and HTML ------------------------------------------------------------


def case_from_report(
    report: FileReport, *, name: str | None = None, seconds: float = 0.0
) -> CaseResult:
    """A validated file as a report case: it passes when it was read and has no error."""
    if report.io_error is not None:
        return CaseResult(
            name or str(report.path),
            "not read",
            False,
            "cannot read",
            unreadable=report.io_error,
            seconds=seconds,
            group=report.kind,
        )
    errors = len(report.errors)
    others = len(report.issues) - errors
    summary = f"{errors} error(s)" if errors else "valid"
    if others:
        summary += f", {others} other issue(s)"
    return CaseResult(
        name or str(report.path),
        report.kind,
        errors == 0,
        summary,
        tuple(report.issues),
        seconds=seconds,
        group=report.kind,
    )


# --- JUnit XML -------------------------------------------------------------------------------


def _classname(suite_name: str, case: CaseResult) -> str:
    slug = re.sub(r"[^A-Za-z0-9_-]+", "-", f"{case.group}").strip("-") or "files"
    suite = re.sub(r"[^A-Za-z0-9_-]+", "-", suite_name).strip("-") or "interop"
    return f"{suite}.{slug}"


def _issue_lines(case: CaseResult) -> str:
    lines = [*case.notes, *(i.describe() for i in case.issues)]
    return "\n".join(safe_text(line) for line in lines)


def junit_xml(suite_name: str, cases: Sequence[CaseResult]) -> bytes:
    """JUnit XML (``testsuites`` > ``testsuite`` > one ``testcase`` per file).

    A case that did not pass has a ``failure`` with every issue and note; an unreadable file
    an ``error``; a passing file's warnings go to ``system-out``.
    """
    failures = sum(not c.passed and c.unreadable is None for c in cases)
    errors = sum(c.unreadable is not None for c in cases)
    seconds = f"{sum(c.seconds for c in cases):.3f}"
    counts = {
        "tests": str(len(cases)),
        "failures": str(failures),
        "errors": str(errors),
        "time": seconds,
    }
    root = etree.Element("testsuites", name=safe_text(suite_name))
    suite = etree.SubElement(root, "testsuite", name=safe_text(suite_name))
    for element in (root, suite):
        for attribute, value in counts.items():
            element.set(attribute, value)
    suite.set("skipped", "0")
    suite.set("timestamp", datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%S"))
    for case in cases:
        element = etree.SubElement(
            suite,
            "testcase",
            classname=_classname(suite_name, case),
            name=safe_text(case.name),
            time=f"{case.seconds:.3f}",
        )
        if case.unreadable is not None:
            problem = etree.SubElement(
                element, "error", message=safe_text(f"cannot read: {case.unreadable}"), type="io"
            )
            problem.text = safe_text(case.unreadable)
        elif not case.passed:
            problem = etree.SubElement(
                element, "failure", message=safe_text(case.summary), type="validation"
            )
            problem.text = _issue_lines(case)
        elif case.issues or case.notes:
            etree.SubElement(element, "system-out").text = _issue_lines(case)
    result: bytes = etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)
    return result


# --- HTML ------------------------------------------------------------------------------------

_CSS = """
body{font-family:system-ui,-apple-system,"Segoe UI",Roboto,Arial,sans-serif;margin:2rem auto;
max-width:72rem;padding:0 1rem;color:#1d2329;line-height:1.45}
h1{font-size:1.6rem;margin-bottom:.2rem}h2{font-size:1.2rem;margin-top:2rem}
h3{font-size:1.05rem;margin:1.6rem 0 .4rem;word-break:break-all}
.meta{color:#5a6570;font-size:.9rem}
.cards{display:flex;gap:.8rem;flex-wrap:wrap;margin:1rem 0}
.card{border:1px solid #d8dde2;border-radius:6px;padding:.6rem 1rem;min-width:7rem}
.card b{display:block;font-size:1.5rem}
table{border-collapse:collapse;width:100%;font-size:.92rem;margin:.4rem 0 1rem}
th,td{border-bottom:1px solid #e3e7eb;padding:.35rem .5rem;text-align:left;vertical-align:top}
th{background:#f3f5f7}td.loc{font-family:ui-monospace,Menlo,Consolas,monospace;
font-size:.85rem;word-break:break-all}
.badge{display:inline-block;border-radius:4px;padding:0 .45rem;font-size:.8rem;font-weight:600}
.pass{background:#dff3e4;color:#17612c}.fail{background:#fbe3e1;color:#8f1d14}
.unreadable{background:#fff1cc;color:#6b4e00}
.sev-error,.sev-fatal{color:#8f1d14;font-weight:600}.sev-warning{color:#7a5300}
.sev-information{color:#3b5f85}.src{color:#5a6570;font-size:.85rem}
ul.notes{margin:.3rem 0 .6rem 1.2rem;padding:0}
a{color:#1d5fa8}
"""


def _e(value: str) -> str:
    return html.escape(safe_text(value), quote=True)


def readable_source(source: str) -> str:
    """A rule source as a reader finds it: a guidance file and line cited by the code
    (``001_0e45….txt L31-44``) becomes the document's title, edition, publisher and section."""
    return for_people(source)


def _rule_cell(issue: Issue, rules_page: str) -> str:
    if not issue.rule_id:
        return "&mdash;"
    if GUIDANCE_RULE_ID.fullmatch(issue.rule_id):
        anchor = issue.rule_id.lower()
        target = f"{rules_page}#{anchor}" if rules_page else f"#rule-{anchor}"
        page = html.escape(target, quote=True)
        cell = f'<a href="{page}">{_e(issue.rule_id)}</a>'
    else:  # a profile element or a FHIRPath invariant: its source is a StructureDefinition
        cell = f"<code>{_e(issue.rule_id)}</code>"
    source = issue.rule_source
    if source and re.fullmatch(r"https?://[^\s\"'<>]+", source):
        cell += f'<br><a class="src" href="{html.escape(source, quote=True)}">{_e(source)}</a>'
    elif source:
        cell += f'<br><span class="src">{_e(readable_source(source))}</span>'
    return cell


def _where(issue: Issue) -> str:
    where = issue.location or "(document)"
    if issue.line is not None:
        where += f" (line {issue.line}" + (f", column {issue.column})" if issue.column else ")")
    return where


def _status(case: CaseResult) -> str:
    if case.unreadable is not None:
        return '<span class="badge unreadable">UNREADABLE</span>'
    if case.passed:
        return '<span class="badge pass">PASS</span>'
    return '<span class="badge fail">FAIL</span>'


def _file_section(index: int, case: CaseResult, rules_page: str) -> list[str]:
    out = [
        f'<section id="file-{index}">',
        f"<h3>{_status(case)} {_e(case.name)}</h3>",
        f'<p class="meta">read as {_e(case.kind)} &middot; {_e(case.summary)}</p>',
    ]
    if case.unreadable is not None:
        out.append(f"<p>Cannot read the file: {_e(case.unreadable)}</p>")
    if case.notes:
        out.append('<ul class="notes">')
        out.extend(f"<li>{_e(note)}</li>" for note in case.notes)
        out.append("</ul>")
    if case.issues:
        out.append(
            "<table><thead><tr><th>Severity</th><th>Code</th><th>Location</th>"
            "<th>Message</th><th>Rule</th></tr></thead><tbody>"
        )
        for issue in case.issues:
            severity = issue.severity.value
            out.append(
                f'<tr><td class="sev-{severity}">{severity}</td><td>{_e(issue.code.value)}</td>'
                f'<td class="loc">{_e(_where(issue))}</td><td>{_e(issue.message)}</td>'
                f"<td>{_rule_cell(issue, rules_page)}</td></tr>"
            )
        out.append("</tbody></table>")
    elif case.unreadable is None:
        out.append("<p>No issues.</p>")
    out.append("</section>")
    return out


def html_report(
    title: str,
    cases: Sequence[CaseResult],
    *,
    rules_page: str = DEFAULT_RULES_PAGE,
    generated: datetime | None = None,
) -> str:
    """A self-contained HTML page: summary counts, one line per file, then each file's issues
    (severity, code, location, message, rule linked to ``rules_page#<rule id>``)."""
    when = (generated or datetime.now(UTC)).strftime("%Y-%m-%d %H:%M UTC")
    passed = sum(c.passed for c in cases)
    unreadable = sum(c.unreadable is not None for c in cases)
    failed = len(cases) - passed - unreadable
    errors = sum(c.errors for c in cases)
    warnings = sum(c.warnings for c in cases)
    out = [
        "<!DOCTYPE html>",
        '<html lang="en"><head><meta charset="utf-8">',
        '<meta name="viewport" content="width=device-width, initial-scale=1">',
        f"<title>{_e(title)}</title><style>{_CSS}</style></head><body>",
        f"<h1>{_e(title)}</h1>",
        f'<p class="meta">safeguarding-interop {_e(__version__)} &middot; {when}</p>',
        '<div class="cards">',
    ]
    for label, count in (
        ("files", len(cases)),
        ("passed", passed),
        ("failed", failed),
        ("unreadable", unreadable),
        ("errors", errors),
        ("warnings", warnings),
    ):
        out.append(f'<div class="card"><b>{count}</b>{label}</div>')
    out.append("</div>")
    out.append(
        "<h2>Files</h2><table><thead><tr><th>Result</th><th>File</th><th>Read as</th>"
        "<th>Errors</th><th>Warnings</th><th>Summary</th></tr></thead><tbody>"
    )
    for index, case in enumerate(cases, 1):
        out.append(
            f'<tr><td>{_status(case)}</td><td><a href="#file-{index}">{_e(case.name)}</a></td>'
            f"<td>{_e(case.kind)}</td><td>{case.errors}</td><td>{case.warnings}</td>"
            f"<td>{_e(case.summary)}</td></tr>"
        )
    out.append("</tbody></table><h2>Issues by file</h2>")
    for index, case in enumerate(cases, 1):
        out.extend(_file_section(index, case, rules_page))
    out.extend(_rules_cited(cases))
    out.append(
        '<p class="meta">Severity, code and location follow FHIR OperationOutcome. Each rule '
        "cited is stated under Rules cited, with its source: the guidance document by title, "
        "edition, publisher and section. NHS numbers are masked; no file content is shown.</p>"
    )
    out.append("</body></html>")
    return "\n".join(out) + "\n"


def _rules_cited(cases: Sequence[CaseResult]) -> list[str]:
    from interop.validators.rule_codes import rule_catalogue

    catalogue = rule_catalogue()
    cited = sorted({i.rule_id for c in cases for i in c.issues if i.rule_id in catalogue})
    if not cited:
        return []
    out = ["<h2>Rules cited</h2><table><thead><tr><th>Rule</th><th>What it says</th>"]
    out.append("<th>Source</th></tr></thead><tbody>")
    for rule_id in cited:
        text, source = catalogue[rule_id]
        out.append(
            f'<tr id="rule-{_e(rule_id.lower())}"><td>{_e(rule_id)}</td><td>{_e(text)}</td>'
            f'<td class="src">{_e(source)}</td></tr>'
        )
    out.append("</tbody></table>")
    return out


# --- interop validate --format ---------------------------------------------------------------


def render(reports: Sequence[FileReport], output_format: str) -> str:
    """``json``: an OperationOutcome (a Bundle of them for several files); ``junit``: JUnit XML."""
    import json

    if output_format == "json":
        value = operation_outcome(reports[0]) if len(reports) == 1 else outcomes_bundle(reports)
        return json.dumps(value, indent=2, ensure_ascii=False) + "\n"
    if output_format == "junit":
        return junit_xml("interop validate", [case_from_report(r) for r in reports]).decode()
    raise ValueError(f"unknown report format {output_format!r}; expected json or junit")


__all__ = [
    "DEFAULT_RULES_PAGE",
    "RULE_SYSTEM",
    "CaseResult",
    "case_from_report",
    "html_report",
    "junit_xml",
    "operation_outcome",
    "outcomes_bundle",
    "readable_source",
    "render",
    "safe_text",
]
