"""The command line: exit codes, messages, the JSON Schemas, and a fast --help."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import jsonschema
import pytest
from builders import CHILD, KINDS, doc
from click.testing import CliRunner

from interop.cli.main import cli


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def write(path: Path, document: object) -> Path:
    path.write_text(json.dumps(document), encoding="utf-8")
    return path


@pytest.mark.integration
def test_help_lists_the_commands_without_importing_heavy_modules() -> None:
    code = (
        "import sys\n"
        "from interop.cli.main import main\n"
        "try:\n    main(['--help'])\nexcept SystemExit:\n    pass\n"
        "heavy = [m for m in ('pydantic', 'fhir', 'fhir.resources', 'hl7apy', 'lxml', 'httpx')"
        " if m in sys.modules]\n"
        "print('HEAVY', heavy)\n"
    )
    out = subprocess.run(
        [sys.executable, "-c", code], capture_output=True, text=True, check=True
    ).stdout
    assert "HEAVY []" in out
    for command in ("demo", "schema", "validate"):
        assert command in out


def test_validate_valid_file(tmp_path: Path) -> None:
    path = write(tmp_path / "flag.json", doc("child-protection-flag"))
    code, out = run("validate", str(path))
    assert code == 0
    assert "valid (child-protection-flag)" in out


def test_validate_reports_every_problem_with_its_path(tmp_path: Path) -> None:
    bad = doc("child-protection-flag", plan_type="UCPP", plan_end="2025-01-01")
    code, out = run("validate", str(write(tmp_path / "bad.json", bad)))
    assert code == 1
    assert "$.expected_delivery_date" in out
    assert "$.plan_end" in out
    assert "rule C03" in out
    assert "2 error(s)" in out


def test_validate_folder_and_mixed_results(tmp_path: Path) -> None:
    for kind in KINDS:
        write(tmp_path / f"{kind}.json", doc(kind))
    (tmp_path / "notes.txt").write_text("not validated")
    code, out = run("validate", str(tmp_path))
    assert code == 0
    assert f"checked {len(KINDS)} file(s): {len(KINDS)} valid" in out
    (tmp_path / "sub").mkdir()
    write(tmp_path / "sub" / "x.json", {})
    code, out = run("validate", "--quiet", str(tmp_path))
    assert code == 1
    assert "x.json: 1 error(s)" in out
    assert "travel-alert.json" not in out  # --quiet prints only files with problems


def test_missing_file_is_an_io_error(tmp_path: Path) -> None:
    good = write(tmp_path / "good.json", doc("travel-alert"))
    code, out = run("validate", str(good), str(tmp_path / "absent.json"))
    assert code == 2
    assert "absent.json: cannot read" in out
    assert "1 valid" in out


def test_empty_folder_is_a_usage_error(tmp_path: Path) -> None:
    code, _ = run("validate", str(tmp_path))
    assert code == 2


def test_no_arguments_is_a_usage_error() -> None:
    code, out = run("validate")
    assert code == 2
    assert "Missing argument" in out


@pytest.mark.parametrize(
    "content",
    [
        b"\xff\xfe{\x00}\x00",  # UTF-16
        b"[" * 50_000,  # deep and truncated
        b'{"kind": "child-protection-flag", "local_id": "A", "local_id": "B"}',
        b"\x00\x01\x02garbage",
        b"<?xml version='1.0'?><!DOCTYPE x [<!ENTITY a 'aaaa'>]><x>&a;</x>",
    ],
)
def test_hostile_files_give_a_clear_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "hostile.json"
    path.write_bytes(content)
    code, out = run("validate", str(path))
    assert code == 1
    assert "hostile.json: 1 error(s)" in out


@pytest.mark.parametrize("kind", KINDS)
def test_schema_accepts_valid_and_rejects_invalid_documents(kind: str) -> None:
    code, out = run("schema", kind)
    assert code == 0
    schema = json.loads(out)
    jsonschema.Draft202012Validator.check_schema(schema)
    validator = jsonschema.Draft202012Validator(schema)
    assert list(validator.iter_errors(doc(kind))) == []
    assert list(validator.iter_errors(doc(kind, local_id=None)))
    assert list(validator.iter_errors(doc(kind, unknown_field=1)))


def test_schema_of_unknown_kind_is_a_usage_error() -> None:
    code, out = run("schema", "case-note")
    assert code == 2
    assert "child-protection-flag" in out


def test_schema_documents_codes_and_sources() -> None:
    _, out = run("schema", "child-protection-flag")
    schema = json.loads(out)
    plan_type = schema["$defs"]["PlanType"]
    assert plan_type["enum"] == ["CPP", "LAC", "UCPP"]
    assert "CPP = Child protection plan" in plan_type["description"]
    # the source as a reader knows it: the document, edition, publisher and section
    description = schema["$defs"]["PlanEndReason"]["description"]
    assert (
        "Working Together to Safeguard Children 2026 (March 2026 edition, HM Government), "
        "chapter 3, 'Discontinuing the child protection plan'"
    ) in description
    assert ".txt" not in description


@pytest.mark.integration
def test_console_script_runs(tmp_path: Path) -> None:
    path = write(tmp_path / "flag.json", doc("child-protection-flag", plan_type="XYZ"))
    script = Path(sys.executable).with_name("interop")
    done = subprocess.run([str(script), "validate", str(path)], capture_output=True, text=True)
    assert done.returncode == 1
    assert "$.plan_type" in done.stdout
    assert done.stderr == ""


def test_version() -> None:
    code, out = run("--version")
    assert code == 0
    assert "interop, version" in out


def test_validate_reads_fhir_and_cpis_files(tmp_path: Path) -> None:
    from interop.mappings.convert import convert

    flag = json.dumps(doc("child-protection-flag")).encode()
    (tmp_path / "bundle.json").write_bytes(convert(flag, "fhir"))
    (tmp_path / "bundle.xml").write_bytes(convert(flag, "fhir-xml"))
    (tmp_path / "upload.xml").write_bytes(convert(flag, "cpis"))
    code, out = run("validate", str(tmp_path))
    assert code == 0, out
    assert "child-protection-flag as FHIR JSON" in out
    assert "child-protection-flag as FHIR XML" in out
    assert "valid (CP-IS upload)" in out
    broken = convert(flag, "cpis").replace(b"CPPIU", b"XXXIU")
    (tmp_path / "upload.xml").write_bytes(broken)
    code, out = run("validate", str(tmp_path / "upload.xml"))
    assert code == 1
    assert "line" in out


@pytest.mark.integration
def test_without_a_configuration_file_loopback_http_works(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """With no interop.toml the environment is production, but map and validate need none,
    and plain http to a base URL on loopback (the sandbox on 127.0.0.1) never leaves the
    machine: push and pull to it work."""
    from interop.sandbox.fhir_server.running import running_server

    monkeypatch.chdir(tmp_path)
    assert not (tmp_path / "interop.toml").exists()
    flag = write(tmp_path / "flag.json", doc("child-protection-flag"))
    code, out = run("map", str(flag), "--to", "fhir", "-o", str(tmp_path / "flag.fhir.json"))
    assert code == 0, out
    code, out = run("validate", str(flag), str(tmp_path / "flag.fhir.json"))
    assert code == 0, out
    with running_server() as base:
        assert base.startswith("http://127.0.0.1:")
        code, out = run("push", str(flag), "--endpoint", base)
        assert code == 0, out
        code, out = run("pull", "--endpoint", base, "--patient", CHILD["nhs_number"])
        assert code == 0, out
        assert "child-protection-flag" in out


OFF_MACHINE = "http://example.org/fhir"


@pytest.fixture
def nothing_sent(monkeypatch: pytest.MonkeyPatch) -> None:
    """Fail the test if any HTTP request leaves the toolkit."""
    import httpx

    def refuse(*_: object) -> httpx.Response:
        raise AssertionError("a request was sent")

    monkeypatch.setattr(httpx.HTTPTransport, "handle_request", refuse)


def _push_and_pull(flag: Path, endpoint: str, *config: str) -> list[tuple[int, str]]:
    return [
        run("push", str(flag), "--endpoint", endpoint, *config),
        run("pull", "--endpoint", endpoint, "--patient", CHILD["nhs_number"], *config),
    ]


@pytest.mark.usefixtures("nothing_sent")
def test_a_plain_http_base_url_off_the_machine_is_refused_without_a_configuration(
    tmp_path: Path,
) -> None:
    flag = write(tmp_path / "flag.json", doc("child-protection-flag"))
    for code, out in _push_and_pull(flag, OFF_MACHINE):
        assert code == 2, out
        assert f"--endpoint {OFF_MACHINE}: production traffic off this machine" in out
        assert "use an https:// URL" in out
        assert '[environment] name = "test"' in out
        assert "--config FILE" in out


@pytest.mark.usefixtures("nothing_sent")
@pytest.mark.parametrize(
    ("environment", "hint"),
    [("", '[environment] name = "test"'), ('[environment]\nname = "production"\n', None)],
)
def test_a_base_url_is_guarded_by_the_configurations_environment(
    tmp_path: Path, environment: str, hint: str | None
) -> None:
    """--config with no [environment] is production by default (and says how to declare a
    test one); production said out loud refuses without that hint."""
    config = tmp_path / "interop.toml"
    config.write_text(environment, encoding="utf-8")
    flag = write(tmp_path / "flag.json", doc("child-protection-flag"))
    for url in (OFF_MACHINE, "ftp://example.org/fhir", "http://alice:pw@127.0.0.1/fhir"):
        code, out = run("push", str(flag), "--endpoint", url, "--config", str(config))
        assert code == 2, out
        assert "alice" not in out
        assert "pw" not in out
    for code, out in _push_and_pull(flag, OFF_MACHINE, "--config", str(config)):
        assert code == 2, out
        assert "production traffic off this machine needs an https:// endpoint" in out
        assert (hint in out) if hint else ('name = "test"' not in out)


@pytest.mark.integration
@pytest.mark.parametrize("how", ["--config", "./interop.toml"])
def test_a_test_environment_lets_a_plain_http_base_url_through(tmp_path: Path, how: str) -> None:
    """The guard passes and the request is made: .invalid never resolves (RFC 6761), so the
    transport fails (exit 3) instead of the guard (exit 2)."""
    config = tmp_path / "interop.toml"  # the folder the test runs in is not tmp_path
    config.write_text('[environment]\nname = "test"\n', encoding="utf-8")
    options = ["--config", str(config)] if how == "--config" else []
    if how == "./interop.toml":
        (Path.cwd() / "interop.toml").write_text(config.read_text("utf-8"), encoding="utf-8")
    flag = write(tmp_path / "flag.json", doc("child-protection-flag"))
    for code, out in _push_and_pull(flag, "http://fhir.example.invalid/fhir", *options):
        assert code == 3, out
        assert "remote failure: http://fhir.example.invalid/fhir" in out


@pytest.mark.integration
def test_a_configured_loopback_endpoint_works_in_production(tmp_path: Path) -> None:
    from interop.sandbox.fhir_server.running import running_server

    flag = write(tmp_path / "flag.json", doc("child-protection-flag"))
    config = tmp_path / "interop.toml"
    with running_server() as base:
        for url in (base, base.replace("127.0.0.1", "localhost")):
            config.write_text(f'[endpoints.local]\nkind = "fhir"\nurl = "{url}"\n', "utf-8")
            for code, out in _push_and_pull(flag, "local", "--config", str(config)):
                assert code == 0, out
        config.write_text('[endpoints.off]\nkind = "fhir"\nurl = "http://fhir.example.org"\n')
        code, out = run("push", str(flag), "--endpoint", "off", "--config", str(config))
        assert code == 2, out
        assert "endpoints.off.url: production traffic off this machine" in out


@pytest.mark.usefixtures("nothing_sent")
@pytest.mark.parametrize(
    "args",
    [
        ["cpis", "lookup", "9000000009", "--endpoint", OFF_MACHINE, "--already-traced"],
        [
            "cpis",
            "lookup",
            "9000000009",
            "--endpoint",
            "http://127.0.0.1:9/fhir",
            "--pds",
            OFF_MACHINE,
        ],
        ["pds", "trace", "9000000009", "--endpoint", OFF_MACHINE],
        ["pds", "find", "--family", "Smith", "--dob", "2015-01-01", "--endpoint", OFF_MACHINE],
    ],
    ids=["cpis-lookup", "cpis-lookup-pds", "pds-trace", "pds-find"],
)
def test_every_command_taking_a_base_url_guards_it(args: list[str]) -> None:
    code, out = run(*args)
    assert code == 2, out
    option = "--pds" if "--pds" in args else "--endpoint"
    assert f"{option} {OFF_MACHINE}: production traffic off this machine" in out
