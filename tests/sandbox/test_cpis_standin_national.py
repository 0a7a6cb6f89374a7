"""``interop cpis stand-in --national-port``: one command starts CP-IS on MESH and the PDS FHIR,
ODS and Patient Flags stand-ins, and the MESH side's CPR codes come from the same test-patient
register PDS FHIR reads (real mesh-sandbox, real loopback HTTP)."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from mesh_server import MeshSandbox

from interop.cli.main import cli

pytestmark = pytest.mark.integration

HEADER = (
    "local_id,plan_type,nhs_number,given_name,family_name,date_of_birth,plan_start,plan_end,"
    "expected_delivery_date,lac_legal_basis,la_ods_code"
)
ROWS = [
    "LA-N1,CPP,9000000009,Jayne,Smith,2010-10-22,2026-02-03,,,,",  # current: CPR00
    "LA-N2,CPP,9000000017,Jayne,Smith,2010-10-22,2026-02-03,,,,",  # superseded: CPR05
    "LA-N3,CPP,9000000025,Janet,Smythe,2012-05-01,2026-02-03,,,,",  # restricted: CPR02
    "LA-N4,CPP,9000000033,Leo,Patel,2014-07-01,2026-02-03,,,,",  # unknown to PDS: CPR01
]


def run(*args: str, env: dict[str, str]) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), env=env)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def stand_in_config(
    sandbox: MeshSandbox, directory: Path, extra: str = ""
) -> tuple[Path, dict[str, str]]:
    path, env = sandbox.write_config(directory, party="cpis")
    text = path.read_text(encoding="utf-8")
    text = text[: text.index("[local_authority]")] + text[text.index("[mesh]") :]
    text += f'\n[stand_in]\nregister = "register.sqlite"\n{extra}'
    standin = directory / "stand-in.toml"
    standin.write_text(text, encoding="utf-8")
    return standin, env


def test_one_command_one_register(fresh_mesh_sandbox: MeshSandbox, tmp_path: Path) -> None:
    la_config, la_env = fresh_mesh_sandbox.write_config(tmp_path, party="la")
    cpis_config, cpis_env = stand_in_config(fresh_mesh_sandbox, tmp_path)
    env = {**la_env, **cpis_env}
    export = tmp_path / "export.csv"
    export.write_text("\n".join([HEADER, *ROWS]) + "\n", encoding="utf-8")
    state, out = str(tmp_path / "state.sqlite"), str(tmp_path / "out")
    la = ("--config", str(la_config), "--state", state)

    first_run = ("--out", out, "--new-state")
    code, output = run("sync", "cpis", "--source", str(export), *la, *first_run, env=env)
    assert code == 0, output
    code, output = run(
        "cpis", "stand-in", "--config", str(cpis_config), "--national-port", "0", "--once", env=env
    )
    assert code == 0, output
    assert "PDS: http://127.0.0.1:" in output
    assert "/personal-demographics/FHIR/R4" in output
    assert "CPF03" in output  # partial: three of four refused, as PDS FHIR would answer them

    code, output = run("pull", "cpis", *la, "--out", out, env=env)
    assert code == 0, output
    assert "rejected LA-N2 [X26]: CPR05" in output
    assert "rejected LA-N3 [X26]: CPR02" in output
    assert "rejected LA-N4 [X26]: CPR01" in output
    assert "LA-N1" not in output


def test_what_the_register_cannot_hold_is_refused(
    fresh_mesh_sandbox: MeshSandbox, tmp_path: Path
) -> None:
    config, env = stand_in_config(fresh_mesh_sandbox, tmp_path, "accept_test_block = true\n")
    code, output = run(
        "cpis", "stand-in", "--config", str(config), "--national-port", "0", "--once", env=env
    )
    assert code == 2, output
    assert "--national-port: [stand_in] superseded and accept_test_block" in output
