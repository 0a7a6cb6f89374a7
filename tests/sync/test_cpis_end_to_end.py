"""The LA's CP-IS journey against a real mesh-sandbox and the CP-IS stand-in.

export → ``interop sync cpis`` → MESH → stand-in → acknowledgement → ``interop pull cpis``.
"""

from __future__ import annotations

import json
from datetime import date
from pathlib import Path

import pytest
from click.testing import CliRunner
from mesh_server import MeshSandbox

from interop.cli.main import cli
from interop.la_export import ExportReader, ExportRow
from interop.sandbox.cpis_spine import Register
from interop.sync.ledger import Ledger
from interop.synthetic import export_csv

pytestmark = pytest.mark.integration

# rows a real export has been seen to hold, added to the synthetic ones
HANDMADE_ROWS = [
    # a name with a comma inside quotes, and one with accents
    'LA-H001,CPP,9434765919,"Mary-Jane, Jr",O\'Brien,2016-04-12,2026-02-03,,,,',
    "LA-H002,LAC,9000000009,Zoë,Ní Dhomhnaill,2012-02-29,2025-06-01,,,s31,",
    # an unborn child protection plan on the expectant mother
    "LA-H003,UCPP,9000000025,Kerry,Ashworth,1998-09-30,2026-09-01,,2027-01-15,,",
    # an ended plan
    "LA-H004,CPP,9000000033,Leo,Patel,2014-07-01,2025-01-10,2026-03-31,,,",
    # malformed: an unknown plan type, a date in UK format, a repeated local id
    "LA-H005,CIN,9449306753,Ava,Hall,2015-01-01,2026-01-01,,,,",
    "LA-H006,CPP,9912003888,Noah,King,2015-01-01,01/02/2026,,,,",
    "LA-H001,CPP,9876543210,Ivy,Wood,2015-01-01,2026-01-01,,,,",
]
UNKNOWN_TO_PDS = "9000000033"  # CP-IS answers CPR01 for this one


def write_export(path: Path) -> list[ExportRow]:
    synthetic = export_csv(60, seed=11, bad_rows=7, crlf=True).decode("utf-8-sig")
    text = synthetic + "\r\n".join(HANDMADE_ROWS) + "\r\n"
    path.write_bytes(b"\xef\xbb\xbf" + text.encode("utf-8"))
    from interop.domain import ResponsibleLocalAuthority

    la = ResponsibleLocalAuthority(ods_code="X26", name="Test Borough Council")
    return [r for r in ExportReader(la).read_bytes(path.read_bytes()) if isinstance(r, ExportRow)]


def stand_in_config(sandbox: MeshSandbox, directory: Path) -> tuple[Path, dict[str, str]]:
    path, env = sandbox.write_config(directory, party="cpis")
    text = path.read_text(encoding="utf-8")
    start = text.index("[local_authority]")
    end = text.index("[mesh]")
    text = text[:start] + text[end:]
    text += (
        '\n[stand_in]\nregister = "register.sqlite"\naccept_test_block = true\n'
        f'pds_unknown = ["{UNKNOWN_TO_PDS}"]\n'
    )
    standin = directory / "stand-in.toml"
    standin.write_text(text, encoding="utf-8")
    return standin, env


def run(*args: str, env: dict[str, str]) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args), env=env)
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert "Traceback" not in result.output
    return result.exit_code, result.output


@pytest.fixture
def journey(fresh_mesh_sandbox: MeshSandbox, tmp_path: Path) -> dict[str, object]:
    la_config, la_env = fresh_mesh_sandbox.write_config(tmp_path, party="la")
    cpis_config, cpis_env = stand_in_config(fresh_mesh_sandbox, tmp_path)
    export = tmp_path / "export.csv"
    valid = write_export(export)
    return {
        "sandbox": fresh_mesh_sandbox,
        "la": ("--config", str(la_config)),
        "cpis": ("--config", str(cpis_config)),
        "env": {**la_env, **cpis_env},
        "export": str(export),
        "state": str(tmp_path / "state.sqlite"),
        "out": tmp_path / "out",
        "valid": valid,
        "register": tmp_path / "register.sqlite",
    }


def test_export_to_acknowledgement_and_back(journey: dict[str, object]) -> None:
    env, state, out = journey["env"], journey["state"], journey["out"]
    valid = journey["valid"]
    assert isinstance(env, dict) and isinstance(valid, list) and isinstance(out, Path)  # noqa: PT018
    sync = (
        "sync",
        "cpis",
        "--source",
        str(journey["export"]),
        *journey["la"],
        "--state",
        str(state),
    )

    code, output = run(*sync, "--out", str(out), env=env)
    assert code == 2, output  # no state yet: a first run says so
    assert "no state at" in output
    code, output = run(*sync, "--new-state", "--out", str(out), env=env)
    assert code == 1, output  # some rows rejected; the rest sent
    assert f"{len(valid)} valid, 10 rejected" in output
    assert "line 70" in output or "rejected line" in output
    assert f"sent 1 upload(s), {len(valid)} record(s)" in output
    assert "9434765919" not in output, "NHS numbers never printed in full"

    code, output = run("cpis", "stand-in", *journey["cpis"], "--once", env=env)
    assert code == 0, output
    assert "CPF03" in output  # partial: the number PDS does not know is refused

    code, output = run(
        "pull", "cpis", *journey["la"], "--state", str(state), "--out", str(out), env=env
    )
    assert code == 0, output
    assert "received 1 acknowledgement(s)" in output
    assert (
        f"records: {len(valid) - 1} held by CP-IS, 0 awaiting acknowledgement, 1 rejected" in output
    )
    assert "rejected LA-H004 [X26]: CPR01" in output
    acks = (out / "acknowledgements.jsonl").read_text(encoding="utf-8").splitlines()
    assert len(acks) == 1
    assert json.loads(acks[0])["file_code"] == "CPF03"
    assert "1 rejected" in (out / "summary.txt").read_text(encoding="utf-8")

    register = Register(journey["register"])  # type: ignore[arg-type]
    numbers = {r.flag.subject.nhs_number for r in valid}
    held = {n for n in numbers if register.plans_for(n)}
    # CP-IS keeps an ended plan until its delete date: those already past are gone
    expected = {
        r.flag.subject.nhs_number
        for r in valid
        if r.flag.subject.nhs_number != UNKNOWN_TO_PDS
        and (r.flag.effective_delete_date is None or r.flag.effective_delete_date > date.today())
    }
    assert held == expected
    register.close()

    # the same export again: nothing new to send, the rejection still visible
    code, output = run(*sync, env=env)
    assert "nothing to send" in output
    assert "1 record(s) CP-IS rejected and the export has not changed" in output

    with Ledger(str(state)) as ledger:
        assert len(ledger.uploads()) == 1, "no upload was made twice"


def test_notifications_reach_the_la(journey: dict[str, object]) -> None:
    env, state, out = journey["env"], journey["state"], journey["out"]
    assert isinstance(env, dict) and isinstance(out, Path)  # noqa: PT018
    sandbox = journey["sandbox"]
    assert isinstance(sandbox, MeshSandbox)
    run(
        "sync",
        "cpis",
        "--source",
        str(journey["export"]),
        *journey["la"],
        "--state",
        str(state),
        "--new-state",
        env=env,
    )
    run("cpis", "stand-in", *journey["cpis"], "--once", env=env)
    to = ("--to", sandbox.la_mailbox)
    code, output = run(
        "cpis", "stand-in", *journey["cpis"], "--notify-access", "9000000025", *to, env=env
    )
    assert code == 0, output
    code, output = run(
        "cpis", "stand-in", *journey["cpis"], "--notify-inactive", "9000000009", *to, env=env
    )
    assert code == 0, output
    code, output = run(
        "cpis", "stand-in", *journey["cpis"], "--notify-access", "9999999999", *to, env=env
    )
    assert code == 1  # no plan held for that number: nothing to notify

    code, output = run(
        "pull", "cpis", *journey["la"], "--state", str(state), "--out", str(out), env=env
    )
    assert code == 0, output
    assert "1 access notification(s), 1 inactive-NHS-number notification(s)" in output
    access = json.loads((out / "access-notifications.jsonl").read_text(encoding="utf-8"))
    assert access["nhs_number"] == "9000000025"
    assert access["plan_type"] == "UCPP"
    inactive = json.loads((out / "inactive-nhs-numbers.jsonl").read_text(encoding="utf-8"))
    assert inactive["nhs_numbers"] == ["9000000009"]

    # pulling again receives nothing new and writes the same files
    code, output = run(
        "pull", "cpis", *journey["la"], "--state", str(state), "--out", str(out), env=env
    )
    assert "received 0 acknowledgement(s), 0 access notification(s)" in output
    assert len((out / "access-notifications.jsonl").read_text(encoding="utf-8").splitlines()) == 1


def test_dry_run_needs_no_configuration_and_sends_nothing(tmp_path: Path) -> None:
    export = tmp_path / "export.csv"
    rows = export_csv(12, seed=5).decode("utf-8-sig").replace(",\n", ",X26\n")
    export.write_text(rows, encoding="utf-8")
    out = tmp_path / "dry"
    code, output = run(
        "sync", "cpis", "--source", str(export), "--dry-run", "--out", str(out), env={}
    )
    assert code == 0, output
    (written,) = list(out.glob("cpis-upload-X26-*.xml"))
    from interop.cpis.codec import validate_cpis_xml

    assert validate_cpis_xml(written.read_bytes()) == []
    assert not (tmp_path / "interop-state.sqlite").exists()


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (("--source", "absent.csv", "--dry-run", "--out", "o"), "cannot read"),
        (("--source", "x.csv"), "--config is needed"),
        (("--source", "x.csv", "--dry-run"), "--out"),
    ],
)
def test_sync_usage_errors_exit_2(args: tuple[str, ...], says: str, tmp_path: Path) -> None:
    (tmp_path / "x.csv").write_text("local_id\n", encoding="utf-8")
    result = CliRunner().invoke(cli, ["sync", "cpis", *args], catch_exceptions=False)
    assert result.exit_code == 2
    assert says in result.output
    assert not Path("o").exists()  # a refused run creates nothing
