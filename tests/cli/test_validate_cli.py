"""interop validate's options, as a user types them: --format, --profile, --ig, --as-of,
--edition, --config and standard input."""

from __future__ import annotations

import json
from pathlib import Path

from click.testing import CliRunner
from lxml import etree
from r4_package import NEEDS_UKCORE

from interop.cli.main import cli

ROOT = Path(__file__).resolve().parents[2]
FIXTURES = ROOT / "fixtures"
UKCORE = ROOT.parent / "shared" / "ukcore"
FLAG = FIXTURES / "artefacts" / "valid" / "child-protection-flag" / "cpp-active.json"
FLAG_FHIR = FIXTURES / "fhir" / "child-protection-flag" / "cpp-active.json"
BAD = FIXTURES / "artefacts" / "invalid" / "child-protection-flag" / "nhs-wrong-check-digit.json"
TRAVELLED = FIXTURES / "artefacts" / "valid" / "travel-alert" / "travelled-retrospective-fgm.json"
NOT_TEST_BLOCK = "4010232137"  # a valid check digit, outside the test block


def run(*args: str, stdin: bytes | None = None) -> tuple[int, str]:
    result = CliRunner().invoke(cli, ["validate", *args], input=stdin)
    return result.exit_code, result.output


def test_json_format_prints_one_operation_outcome_for_one_file() -> None:
    code, out = run(str(BAD), "--format", "json")
    assert code == 1
    outcome = json.loads(out)
    assert outcome["resourceType"] == "OperationOutcome"
    [issue] = outcome["issue"]
    assert (issue["severity"], issue["code"]) == ("error", "value")
    assert issue["expression"] == ["$.subject.nhs_number"]
    assert issue["details"]["coding"][0]["code"] == "C01"


def test_json_format_prints_a_bundle_of_outcomes_for_several_files() -> None:
    code, out = run(str(BAD), str(FLAG), str(FLAG_FHIR), "--format", "json")
    assert code == 1
    bundle = json.loads(out)
    assert bundle["resourceType"] == "Bundle"
    assert len(bundle["entry"]) == 3
    severities = [{i["severity"] for i in e["resource"]["issue"]} for e in bundle["entry"]]
    assert severities[0] == {"error"}
    assert severities[1] == severities[2] == {"information"}


def test_junit_format_has_a_test_case_per_file_and_a_failure_per_invalid_one() -> None:
    code, out = run(str(BAD), str(FLAG), "--format", "junit")
    assert code == 1
    suite = etree.fromstring(out.encode())
    cases = suite.findall(".//testcase")
    assert len(cases) == 2
    assert [c.find("failure") is not None for c in cases] == [True, False]


def test_standard_input_is_validated_as_dash() -> None:
    code, out = run("-", stdin=BAD.read_bytes())
    assert code == 1
    assert "-: 1 error(s)" in out
    code, out = run("-", stdin=FLAG_FHIR.read_bytes())
    assert code == 0, out


def test_as_of_decides_whether_a_retrospective_journey_has_begun() -> None:
    departure = json.loads(TRAVELLED.read_text(encoding="utf-8"))["departure_date"]
    code, out = run(str(TRAVELLED), "--as-of", "2026-07-10")
    assert code == 1
    assert "rule B03" in out
    code, out = run(str(TRAVELLED), "--as-of", departure)
    assert code == 0, out


def test_edition_chooses_the_text_a_timescale_is_quoted_from() -> None:
    # the child turns 18 in February 2032 with the plan still open: T11, a "should"
    code, out = run(str(FLAG), "--as-of", "2032-03-01", "--edition", "2026")
    assert code == 0
    assert "rule T11; Working Together to Safeguard Children 2026 (" in out
    code, out = run(str(FLAG), "--as-of", "2032-03-01", "--edition", "2013")
    assert code == 0
    assert "rule T11; Working Together to Safeguard Children 2013 (" in out
    assert ".txt" not in out
    code, _ = run(str(FLAG), "--edition", "2023")  # no 2023 text among the sources
    assert code == 2


def test_an_unknown_edition_is_a_usage_error() -> None:
    code, _ = run(str(FLAG), "--edition", "2019")
    assert code == 2


def test_outside_production_a_number_outside_the_test_block_is_warned_of(tmp_path: Path) -> None:
    document = json.loads(FLAG.read_text(encoding="utf-8"))
    document["subject"]["nhs_number"] = NOT_TEST_BLOCK
    path = tmp_path / "flag.json"
    path.write_text(json.dumps(document), encoding="utf-8")
    config = tmp_path / "interop.toml"
    config.write_text('[environment]\nname = "test"\n', encoding="utf-8")
    code, out = run(str(path), "--config", str(config))
    assert code == 0  # a warning, not an error
    assert "warning [value] $.subject.nhs_number" in out
    assert "rule NHS-TEST" in out
    assert NOT_TEST_BLOCK not in out
    code, out = run(str(path))  # no configuration: production assumed, nothing to say
    assert "NHS-TEST" not in out


def test_a_profile_named_on_the_command_line_is_applied(tmp_path: Path) -> None:
    bundle = json.loads(FLAG_FHIR.read_text(encoding="utf-8"))
    del bundle["meta"]  # no longer claims the toolkit's Bundle profile
    bundle["type"] = "batch"
    path = tmp_path / "bundle.json"
    path.write_text(json.dumps(bundle), encoding="utf-8")
    profile = "https://fhir.safeguarding-interop.org/StructureDefinition/ChildProtectionFlagBundle"
    code, out = run(str(path))
    assert "Bundle.type" not in out
    code, out = run(str(path), "--profile", profile)
    assert code == 1
    assert "error [value] Bundle.type" in out


@NEEDS_UKCORE
def test_ukcore_examples_validate_with_ig_and_a_mutation_is_caught(tmp_path: Path) -> None:
    example = UKCORE / "examples" / "UKCore-Observation-PatientConsciousness-Example.xml"
    profile = "https://fhir.hl7.org.uk/StructureDefinition/UKCore-Observation-ACVPU"
    code, out = run("--ig", str(UKCORE), "--profile", profile, str(example))
    assert code == 0, out
    # the ACVPU profile fixes the status to final
    final, amended = b'<status value="final" />', b'<status value="amended" />'
    broken = example.read_bytes().replace(final, amended)
    assert broken != example.read_bytes()
    path = tmp_path / "observation.xml"
    path.write_bytes(broken)
    code, out = run("--ig", str(UKCORE), "--profile", profile, str(path))
    assert code == 1
    assert "error [value] Observation.status" in out
    assert "UKCore-Observation-ACVPU" in out


def test_the_command_offers_exactly_the_editions_the_rules_know() -> None:
    # the command keeps its own tuple so that --help imports no rules; it must not drift
    from interop.cli.validate_cmd import EDITIONS as OFFERED
    from interop.validators.business_rules import EDITIONS

    assert OFFERED == EDITIONS


def test_case_folder_reports_a_missing_conference_a_lone_file_only_informs(
    tmp_path: Path,
) -> None:
    s47 = FIXTURES / "artefacts" / "valid" / "strategy-discussion-health-report"
    report = json.loads((s47 / "s47-diabetes-neglect.json").read_text())
    report.update(strategy_discussion_date="2026-03-20")
    case = tmp_path / "case"
    case.mkdir()
    (case / "report.json").write_text(json.dumps(report))
    code, lone = run(str(case / "report.json"), "--as-of", "2026-12-01")
    assert code == 0
    assert "information [business-rule]" in lone
    assert "not checked: no initial conference" in lone
    code, whole = run("--case", str(case), "--as-of", "2026-12-01")
    assert code == 0  # a "should": a warning
    assert "warning [business-rule]" in whole
    assert "no initial conference is recorded by 2026-12-01" in whole
