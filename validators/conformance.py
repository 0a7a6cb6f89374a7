"""The conformance kit: the shipped fixtures against their manifest, and suppliers' own files.

- ``run_conformance(report_dir)`` validates every fixture of ``interop.fixtures`` with
  ``validate_paths`` (the same chain as ``interop validate``) and compares: a valid fixture
  gives no error; an invalid one gives exactly the errors its manifest entry lists, each as
  (rule id, or issue code when no rule, at a location), no more and no fewer, duplicates
  counted. A FHIR twin must also read back as the artefact it is the twin of.
- ``check_supplier_files(paths, report_dir)`` validates a supplier's files and folders.

Both write ``junit.xml`` and ``report.html`` into ``report_dir`` when one is given.
``check_fixtures()`` is the same comparison without reports (``interop demo`` uses it).
"""

from __future__ import annotations

import time
from collections import Counter
from collections.abc import Iterable, Iterator, Sequence
from contextlib import ExitStack
from dataclasses import dataclass
from importlib.resources import as_file
from pathlib import Path

from interop.artefact_json import parse_artefact
from interop.domain import ArtefactBase
from interop.fixtures import ExpectedIssue, Fixture, load_manifest
from interop.issues import Issue, IssueCode, error
from interop.validators.files import FileReport, validate_paths
from interop.validators.reports import (
    DEFAULT_RULES_PAGE,
    CaseResult,
    case_from_report,
    html_report,
    junit_xml,
)

JUNIT_FILE = "junit.xml"
HTML_FILE = "report.html"


def expected_form(issue: Issue) -> ExpectedIssue:
    """An issue found, in the manifest's terms: its rule id, or its code when it has none."""
    if issue.rule_id:
        return ExpectedIssue(issue.location, rule=issue.rule_id)
    return ExpectedIssue(issue.location, code=issue.code.value)


@dataclass(frozen=True)
class FixtureOutcome:
    """What validating one fixture gave, against what the manifest expects."""

    fixture: Fixture
    artefact: ArtefactBase | None
    issues: tuple[Issue, ...]
    #: why the fixture could not be read (a broken install), else None
    unreadable: str | None = None
    #: what the validator read the file as
    read_as: str = ""
    seconds: float = 0.0

    @property
    def found_errors(self) -> list[ExpectedIssue]:
        """Every error found, in the manifest's terms, duplicates kept."""
        return [expected_form(i) for i in self.issues if i.is_error]

    @property
    def found(self) -> set[ExpectedIssue]:
        """The distinct errors found, in the manifest's terms."""
        return set(self.found_errors)

    @property
    def as_expected(self) -> bool:
        """Valid fixtures give no error; invalid ones exactly the listed issues (as a multiset:
        one problem reported twice is not as expected)."""
        if self.unreadable is not None:
            return False
        if self.fixture.expect == "valid":
            return not self.found_errors
        expected = Counter(self.fixture.issues)
        return bool(expected) and Counter(self.found_errors) == expected

    def missing(self) -> list[ExpectedIssue]:
        """Expected errors not found (as many times as they are missing)."""
        return sorted(
            (Counter(self.fixture.issues) - Counter(self.found_errors)).elements(), key=str
        )

    def unexpected(self) -> list[ExpectedIssue]:
        """Errors found that the manifest does not list (or lists fewer times)."""
        return sorted(
            (Counter(self.found_errors) - Counter(self.fixture.issues)).elements(), key=str
        )

    def difference(self) -> str:
        """What differs from the manifest, for a failure message."""
        if self.unreadable is not None:
            return f"cannot read: {self.unreadable}"
        missing = [str(i) for i in self.missing()]
        unexpected = [str(i) for i in self.unexpected()]
        return f"missing {missing}; unexpected {unexpected}"

    def case(self) -> CaseResult:
        """This outcome as a JUnit/HTML report case, named by the fixture's path."""
        fixture = self.fixture
        notes = [f"expected {fixture.expect}: {fixture.description}"]
        notes += [f"expected error: {i}" for i in fixture.issues]
        if self.unreadable is not None:
            summary = "cannot read"
        elif self.as_expected:
            summary = f"{fixture.expect}, as expected"
        else:
            summary = f"expected {fixture.expect}: not as expected"
            notes += [f"missing: {i}" for i in self.missing()]
            notes += [f"unexpected: {i}" for i in self.unexpected()]
        return CaseResult(
            name=fixture.path,
            kind=f"{fixture.kind} ({fixture.format})",
            passed=self.as_expected,
            summary=summary,
            issues=self.issues,
            notes=tuple(notes),
            unreadable=self.unreadable,
            seconds=self.seconds,
            group=f"{fixture.kind}.{fixture.format}",
        )


def _timed(reports: Iterator[FileReport]) -> Iterator[tuple[FileReport, float]]:
    """Each report with the seconds spent producing it."""
    started = time.perf_counter()
    for report in reports:
        now = time.perf_counter()
        yield report, now - started
        started = time.perf_counter()


def _twin_mismatch(fixture: Fixture, artefact: ArtefactBase | None) -> Issue | None:
    """An issue when a FHIR twin does not read back as the artefact it is the twin of."""
    if fixture.twin_of is None:
        return None
    original = parse_artefact(fixture_by_path(fixture.twin_of).read_bytes()).artefact
    if artefact is not None and artefact == original:
        return None
    return error(IssueCode.VALUE, "", f"does not read back as its twin {fixture.twin_of}")


def _outcome(fixture: Fixture, report: FileReport, seconds: float) -> FixtureOutcome:
    if report.io_error is not None:
        return FixtureOutcome(fixture, None, (), report.io_error, report.kind, seconds)
    issues = tuple(report.issues)
    if not report.errors:
        mismatch = _twin_mismatch(fixture, report.artefact)
        if mismatch is not None:
            issues += (mismatch,)
    return FixtureOutcome(fixture, report.artefact, issues, None, report.kind, seconds)


def check_fixtures(fixtures: Sequence[Fixture] | None = None) -> list[FixtureOutcome]:
    """Validate every fixture (of the manifest, when none are given), in order."""
    chosen = list(load_manifest() if fixtures is None else fixtures)
    with ExitStack() as stack:
        # as_file: the fixtures as real files even from a zipped install
        paths = [stack.enter_context(as_file(f.resource())) for f in chosen]
        timed = list(_timed(validate_paths(paths)))
    return [
        _outcome(fixture, report, seconds)
        for fixture, (report, seconds) in zip(chosen, timed, strict=True)
    ]


def check_fixture(fixture: Fixture) -> FixtureOutcome:
    """Validate one fixture against its manifest entry."""
    return check_fixtures([fixture])[0]


def fixture_by_path(path: str) -> Fixture:
    """The manifest entry of a fixture path."""
    return next(f for f in load_manifest() if f.path == path)


@dataclass(frozen=True)
class ConformanceResult:
    """The cases of a conformance run or check, and the report files written."""

    cases: tuple[CaseResult, ...]
    written: tuple[Path, ...] = ()
    outcomes: tuple[FixtureOutcome, ...] = ()

    @property
    def passed(self) -> int:
        """How many files passed (a fixture: behaved as its manifest entry says)."""
        return sum(c.passed for c in self.cases)

    @property
    def unreadable(self) -> int:
        """How many files could not be read."""
        return sum(c.unreadable is not None for c in self.cases)

    @property
    def failed(self) -> int:
        """How many files were read and did not pass."""
        return len(self.cases) - self.passed - self.unreadable

    @property
    def exit_code(self) -> int:
        """0 all passed, 1 some failed, 2 some could not be read or there was nothing to check."""
        if self.unreadable or not self.cases:
            return 2
        return 1 if self.failed else 0


def write_reports(
    report_dir: Path,
    title: str,
    suite: str,
    cases: Sequence[CaseResult],
    rules_page: str = DEFAULT_RULES_PAGE,
) -> tuple[Path, Path]:
    """Write ``junit.xml`` and ``report.html`` into ``report_dir`` (made when absent).

    ``OSError`` when the folder cannot be made or written.
    """
    report_dir.mkdir(parents=True, exist_ok=True)
    junit = report_dir / JUNIT_FILE
    page = report_dir / HTML_FILE
    junit.write_bytes(junit_xml(suite, cases))
    page.write_text(html_report(title, cases, rules_page=rules_page), encoding="utf-8")
    return junit, page


def run_conformance(
    report_dir: Path | None = None,
    *,
    fixtures: Sequence[Fixture] | None = None,
    rules_page: str = DEFAULT_RULES_PAGE,
) -> ConformanceResult:
    """Every fixture (of the manifest, or those given) against its expected outcome; the
    reports are written into ``report_dir`` when given (``OSError`` when it cannot be)."""
    if report_dir is not None:  # before the work: a folder that cannot be made fails at once
        report_dir.mkdir(parents=True, exist_ok=True)
    outcomes = check_fixtures(fixtures)
    cases = tuple(o.case() for o in outcomes)
    written: tuple[Path, ...] = ()
    if report_dir is not None:
        written = write_reports(
            report_dir,
            "Conformance run: the safeguarding-interop fixtures",
            "interop conformance run",
            cases,
            rules_page,
        )
    return ConformanceResult(cases, written, tuple(outcomes))


def check_supplier_files(
    paths: Iterable[Path],
    report_dir: Path | None = None,
    *,
    rules_page: str = DEFAULT_RULES_PAGE,
) -> ConformanceResult:
    """A supplier's files (and every file validate accepts below the folders given) through
    the validation chain; a file passes when it is read and has no error."""
    if report_dir is not None:
        report_dir.mkdir(parents=True, exist_ok=True)
    cases = tuple(
        case_from_report(report, seconds=seconds)
        for report, seconds in _timed(validate_paths(paths))
    )
    written: tuple[Path, ...] = ()
    if report_dir is not None:
        written = write_reports(
            report_dir,
            "Conformance check: supplier files",
            "interop conformance check",
            cases,
            rules_page,
        )
    return ConformanceResult(cases, written)
