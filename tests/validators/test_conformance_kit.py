"""The conformance kit: every shipped fixture behaves as its manifest entry says (what CI runs),
a tampered manifest is caught, and suppliers' files are checked with both reports written."""

from __future__ import annotations

import dataclasses
import shutil
from collections import Counter
from pathlib import Path

import pytest
from click.testing import CliRunner
from lxml import etree

from interop.cli.conformance_cmd import conformance
from interop.domain import ARTEFACT_KINDS
from interop.fixtures import ExpectedIssue, Fixture, fixtures_root, load_manifest
from interop.validators.conformance import (
    ConformanceResult,
    check_supplier_files,
    fixture_by_path,
    run_conformance,
)

MANIFEST = load_manifest()
ROOT = Path(str(fixtures_root()))
INVALID = [f for f in MANIFEST if f.expect == "invalid"]
GENERATED_INVALID = [f for f in INVALID if f.format != "artefact-json"]
#: fixtures each showing one problem, used to tamper with
CPIS_BAD = fixture_by_path("cpis/invalid/start-date-30-february.xml")
FHIR_BAD = fixture_by_path("fhir/invalid/travel-alert/nhs-number-nine-digits.xml")
VALID_TWIN = fixture_by_path("fhir/child-protection-flag/cpp-minimal.json")


@pytest.fixture(scope="module")
def full_run(tmp_path_factory: pytest.TempPathFactory) -> tuple[ConformanceResult, Path]:
    report_dir = tmp_path_factory.mktemp("conformance")
    return run_conformance(report_dir), report_dir


def _junit_counts(path: Path) -> tuple[int, int, int]:
    root = etree.parse(str(path)).getroot()
    return int(root.get("tests", -1)), int(root.get("failures", -1)), int(root.get("errors", -1))


# --- the shipped fixtures --------------------------------------------------------------------


def test_every_fixture_behaves_as_the_manifest_says(
    full_run: tuple[ConformanceResult, Path],
) -> None:
    result, report_dir = full_run
    wrong = [f"{o.fixture.path}: {o.difference()}" for o in result.outcomes if not o.as_expected]
    assert not wrong, "\n".join(wrong)
    assert result.exit_code == 0
    assert len(result.cases) == len(MANIFEST)
    assert result.written == (report_dir / "junit.xml", report_dir / "report.html")
    assert _junit_counts(report_dir / "junit.xml") == (len(MANIFEST), 0, 0)
    page = (report_dir / "report.html").read_text(encoding="utf-8")
    for fixture in MANIFEST:
        assert fixture.path in page


def test_the_kit_covers_every_kind_and_format() -> None:
    assert len(INVALID) >= 45
    assert len(GENERATED_INVALID) >= 25
    kinds_by_format = {
        fmt: {f.kind for f in GENERATED_INVALID if f.format == fmt}
        for fmt in ("fhir-json", "fhir-xml")
    }
    assert kinds_by_format == {fmt: set(ARTEFACT_KINDS) for fmt in kinds_by_format}
    assert Counter(f.format for f in GENERATED_INVALID)["cpis-xml"] >= 5
    assert any(f.format == "cpis-xml" and f.expect == "valid" for f in MANIFEST)


def test_every_invalid_fixture_lists_its_errors_and_where_it_comes_from() -> None:
    for fixture in INVALID:
        assert fixture.issues, fixture.path
        assert fixture.description, fixture.path
    for fixture in GENERATED_INVALID:
        assert fixture.derived_from is not None, fixture.path
        source = fixture_by_path(fixture.derived_from)
        assert (source.expect, source.kind) == ("valid", fixture.kind), fixture.path


def test_every_generated_fixture_file_is_in_the_manifest_and_exists() -> None:
    listed = {f.path for f in MANIFEST}
    on_disk = {
        p.relative_to(ROOT).as_posix()
        for folder in ("artefacts", "fhir", "cpis")
        for p in ROOT.joinpath(folder).rglob("*")
        if p.is_file()
    }
    assert on_disk == listed


# --- a tampered manifest is caught -----------------------------------------------------------


def _tampered(fixture: Fixture, issues: tuple[ExpectedIssue, ...]) -> Fixture:
    return dataclasses.replace(fixture, issues=issues)


def test_an_expected_issue_removed_from_the_manifest_fails_the_fixture() -> None:
    emptied = _tampered(CPIS_BAD, ())
    result = run_conformance(fixtures=[emptied])
    assert result.exit_code == 1
    (outcome,) = result.outcomes
    assert outcome.unexpected() == list(CPIS_BAD.issues)
    assert "unexpected" in outcome.difference()


def test_an_expected_issue_added_to_the_manifest_fails_the_fixture() -> None:
    extra = ExpectedIssue("Bundle.entry[2].resource.ofType(Patient).birthDate", code="value")
    result = run_conformance(fixtures=[_tampered(FHIR_BAD, (*FHIR_BAD.issues, extra))])
    assert result.exit_code == 1
    assert result.outcomes[0].missing() == [extra]
    assert result.outcomes[0].unexpected() == []


def test_an_issue_expected_twice_but_found_once_fails_the_fixture() -> None:
    doubled = _tampered(FHIR_BAD, FHIR_BAD.issues * 2)
    (outcome,) = run_conformance(fixtures=[doubled]).outcomes
    assert not outcome.as_expected
    assert outcome.missing() == list(FHIR_BAD.issues)


def test_a_moved_location_fails_the_fixture() -> None:
    (expected,) = FHIR_BAD.issues
    moved = dataclasses.replace(expected, location=expected.location + ".extension")
    (outcome,) = run_conformance(fixtures=[_tampered(FHIR_BAD, (moved,))]).outcomes
    assert not outcome.as_expected
    assert (outcome.missing(), outcome.unexpected()) == ([moved], [expected])


def test_an_invalid_fixture_marked_valid_fails_and_the_reports_say_why(tmp_path: Path) -> None:
    lying = dataclasses.replace(CPIS_BAD, expect="valid", issues=())
    result = run_conformance(tmp_path, fixtures=[lying, VALID_TWIN])
    assert result.exit_code == 1
    assert [c.passed for c in result.cases] == [False, True]
    assert _junit_counts(tmp_path / "junit.xml") == (2, 1, 0)
    page = (tmp_path / "report.html").read_text(encoding="utf-8")
    assert "unexpected: [value] at /LocalAuthorityUpload/component[1]" in page


# --- suppliers' own files --------------------------------------------------------------------


@pytest.fixture
def supplier_folder(tmp_path: Path) -> Path:
    folder = tmp_path / "supplier"
    folder.mkdir()
    for fixture in (VALID_TWIN, CPIS_BAD, FHIR_BAD, fixture_by_path("cpis/valid/cpp-active.xml")):
        shutil.copyfile(ROOT / fixture.path, folder / fixture.path.replace("/", "_"))
    (folder / "notes.txt").write_text("not validated: neither .json nor .xml")
    return folder


def test_check_reports_each_supplier_file(supplier_folder: Path, tmp_path: Path) -> None:
    result = check_supplier_files([supplier_folder], tmp_path / "out")
    verdicts = {Path(c.name).name: c.passed for c in result.cases}
    assert verdicts == {
        "cpis_invalid_start-date-30-february.xml": False,
        "cpis_valid_cpp-active.xml": True,
        "fhir_child-protection-flag_cpp-minimal.json": True,
        "fhir_invalid_travel-alert_nhs-number-nine-digits.xml": False,
    }
    assert result.exit_code == 1
    assert _junit_counts(tmp_path / "out" / "junit.xml") == (4, 2, 0)


def test_cli_check_exit_codes_and_reports(supplier_folder: Path, tmp_path: Path) -> None:
    runner = CliRunner()
    out = tmp_path / "reports"
    mixed = runner.invoke(conformance, ["check", str(supplier_folder), "--report", str(out)])
    assert mixed.exit_code == 1, mixed.output
    lines = mixed.output.splitlines()
    assert sum(line.startswith(("PASS ", "FAIL ")) for line in lines) == 4
    assert "checked 4 file(s): 2 passed, 2 not, 0 unreadable" in mixed.output
    assert (out / "junit.xml").is_file()
    assert (out / "report.html").is_file()

    good = supplier_folder / "fhir_child-protection-flag_cpp-minimal.json"
    passed = runner.invoke(conformance, ["check", str(good), "-v"])
    assert passed.exit_code == 0, passed.output

    missing = runner.invoke(conformance, ["check", str(tmp_path / "absent.json")])
    assert missing.exit_code == 2
    assert "ERROR" in missing.output


def test_cli_check_verbose_prints_the_issues_masked(supplier_folder: Path) -> None:
    bad = supplier_folder / "fhir_invalid_travel-alert_nhs-number-nine-digits.xml"
    result = CliRunner().invoke(conformance, ["check", str(bad), "--verbose"])
    assert result.exit_code == 1
    assert "rule NHS" in result.output
    assert "identifier[0].value" in result.output


def test_cli_report_folder_that_cannot_be_written_exits_2(tmp_path: Path) -> None:
    blocker = tmp_path / "a-file"
    blocker.write_text("")
    result = CliRunner().invoke(conformance, ["run", "--report", str(blocker / "sub")])
    assert result.exit_code == 2
    assert "cannot write the reports" in result.output


def test_cli_run_prints_one_line_per_fixture_and_a_total(tmp_path: Path) -> None:
    result = CliRunner().invoke(conformance, ["run", "--report", str(tmp_path)])
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert sum(line.startswith("PASS ") for line in lines) == len(MANIFEST)
    total = len(MANIFEST)
    assert f"checked {total} file(s): {total} as expected, 0 not, 0 unreadable" in result.output
