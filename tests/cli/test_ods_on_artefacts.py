"""``interop push`` and ``interop validate --config`` ask ODS about the organisations an
artefact names when ``[ods]`` is configured: closed or unknown refuses a push (unless
--no-ods-check) and is a warning in validate. Against the ODS stand-in and the FHIR sandbox,
both on 127.0.0.1."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from click.testing import CliRunner
from national_support import National, national

from interop.cli.main import cli
from interop.fixtures import fixtures_root
from interop.sandbox.fhir_server.running import running_server

__all__ = ["national"]

pytestmark = pytest.mark.integration

FLAG = "artefacts/valid/child-protection-flag/cpp-active.json"  # names LA465, open on ODS


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert "Traceback" not in result.output
    return result.exit_code, result.output


@pytest.fixture(scope="module")
def fhir() -> Iterator[str]:
    with running_server() as base:
        yield base


def artefacts(folder: Path) -> dict[str, Path]:
    text = fixtures_root().joinpath(*FLAG.split("/")).read_text(encoding="utf-8")
    assert '"LA465"' in text
    files = {}
    for name, code in (("open", "LA465"), ("closed", "RXX"), ("unknown", "ZZZ99")):
        files[name] = folder / f"{name}.json"
        files[name].write_text(text.replace('"LA465"', f'"{code}"'), encoding="utf-8")
    return files


def config(folder: Path, fhir: str, ods: str, extra: str = "") -> Path:
    path = folder / "interop.toml"
    path.write_text(
        '[environment]\nname = "test"\n\n'
        f'[endpoints.sandbox]\nkind = "fhir"\nurl = "{fhir}"\n\n'
        f'[endpoints.ods]\nkind = "fhir"\nurl = "{ods}"\n\n[ods]\nendpoint = "ods"\n{extra}',
        encoding="utf-8",
    )
    return path


def test_push_refuses_a_closed_or_unknown_organisation(
    national: National, fhir: str, tmp_path: Path
) -> None:
    files = artefacts(tmp_path)
    conf = config(tmp_path, fhir, national.ods)
    push = ("push", "--endpoint", "sandbox", "--config", str(conf))

    code, out = run(*push, str(files["open"]))
    assert code == 0, out
    assert "pushed child-protection-flag" in out

    code, out = run(*push, str(files["closed"]), str(files["unknown"]))
    assert code == 1, out
    assert "closed.json: not pushed, invalid" in out
    assert "ODS code RXX: closed on ODS since 2020-03-31 (rule ODS-1" in out
    assert "ODS code ZZZ99: ODS does not know this code" in out
    assert "pushed" not in out.replace("not pushed", "")

    code, out = run(*push, "--no-ods-check", str(files["closed"]))
    assert code == 0, out
    assert "pushed child-protection-flag" in out


def test_push_without_ods_configured_asks_nobody(
    national: National, fhir: str, tmp_path: Path
) -> None:
    files = artefacts(tmp_path)
    conf = tmp_path / "plain.toml"
    conf.write_text(
        f'[environment]\nname = "test"\n\n[endpoints.sandbox]\nkind = "fhir"\nurl = "{fhir}"\n',
        encoding="utf-8",
    )
    calls = national.services.calls["ods"]
    code, out = run("push", "--endpoint", "sandbox", "--config", str(conf), str(files["closed"]))
    assert code == 0, out
    assert national.services.calls["ods"] == calls


def test_push_goes_ahead_with_a_warning_when_ods_is_down(fhir: str, tmp_path: Path) -> None:
    files = artefacts(tmp_path)
    conf = config(tmp_path, fhir, "http://127.0.0.1:9/ods")
    code, out = run("push", "--endpoint", "sandbox", "--config", str(conf), str(files["open"]))
    assert code == 0, out
    assert "ODS code LA465: not checked: ODS could not be asked" in out
    assert "pushed child-protection-flag" in out


def test_validate_warns_of_a_closed_or_unknown_organisation(
    national: National, fhir: str, tmp_path: Path
) -> None:
    files = artefacts(tmp_path)
    conf = config(tmp_path, fhir, national.ods)
    code, out = run("validate", "--config", str(conf), *map(str, files.values()))
    assert code == 0, out  # warnings: the files are valid
    assert "warning [value] ods_code: ODS code RXX: closed on ODS since 2020-03-31" in out
    assert "warning [value] ods_code: ODS code ZZZ99: ODS does not know this code" in out
    assert "LA465" not in out
    # without --config, nobody is asked
    calls = national.services.calls["ods"]
    code, out = run("validate", str(files["closed"]))
    assert code == 0, out
    assert "ODS" not in out
    assert national.services.calls["ods"] == calls
