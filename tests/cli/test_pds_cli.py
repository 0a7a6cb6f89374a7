"""``interop pds trace`` and ``interop pds find`` against the PDS stand-in on 127.0.0.1."""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from national_support import National, national

from interop.cli.main import cli

__all__ = ["national"]

pytestmark = pytest.mark.integration


def run(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert "Traceback" not in result.output
    return result.exit_code, result.output


def test_trace_a_current_number(national: National) -> None:
    code, out = run("pds", "trace", "9000000009", "--endpoint", national.pds)
    assert code == 0, out
    assert "*** *** 0009: traced" in out
    assert "GP practice (ODS): Y12345" in out
    assert "9000000009" not in out  # the number asked for stays masked


def test_trace_a_superseded_number_gives_its_replacement(national: National) -> None:
    code, out = run("pds", "trace", "9000000017", "--endpoint", national.pds)
    assert code == 0, out
    assert "replaced: use NHS 9000000009" in out


def test_trace_a_sensitive_record_shows_no_gp(national: National) -> None:
    code, out = run("pds", "trace", "9000000025", "--endpoint", national.pds)
    assert code == 0, out
    assert "restricted" in out
    assert "GP practice" not in out


def test_a_mismatch_holds_back_with_its_reason_or_warns(national: National) -> None:
    args = ["pds", "trace", "9000000009", "--endpoint", national.pds, "--dob", "2011-01-01"]
    code, out = run(*args)
    assert code == 1
    assert "held back" in out
    assert "reason: the date of birth differs from PDS" in out
    code, out = run(*args, "--mismatch", "warn")
    assert code == 0
    assert "warning: the date of birth differs from PDS" in out


def test_an_invalid_number_exits_1(national: National) -> None:
    code, out = run("pds", "trace", "9000000001", "--endpoint", national.pds)
    assert code == 1
    assert "NHS number" in out


def test_the_endpoint_and_policy_come_from_the_configuration(
    national: National, tmp_path: Path
) -> None:
    config = tmp_path / "interop.toml"
    config.write_text(
        '[environment]\nname = "test"\n\n'
        f'[endpoints.pds]\nkind = "fhir"\nurl = "{national.pds}"\n\n'
        '[pds]\nendpoint = "pds"\nmismatch = "warn"\n',
        encoding="utf-8",
    )
    code, out = run("pds", "trace", "9000000009", "--config", str(config), "--family", "Smyth")
    assert code == 0, out
    assert "warning: the family name differs from PDS" in out


def test_the_gp_practice_is_checked_against_ods_when_configured(
    national: National, tmp_path: Path
) -> None:
    from datetime import date

    from interop.sandbox.national import PdsRecord

    closed_gp, unknown_gp = "9000000904", "9000000912"
    national.services.add_patients([
        PdsRecord(closed_gp, "Test", "Child", date(2015, 1, 1), gp="RXX"),
        PdsRecord(unknown_gp, "Test", "Child", date(2015, 1, 1), gp="ZZZ99"),
    ])  # fmt: skip
    config = tmp_path / "interop.toml"
    pds_only = (
        '[environment]\nname = "test"\n\n'
        f'[endpoints.pds]\nkind = "fhir"\nurl = "{national.pds}"\n\n[pds]\nendpoint = "pds"\n'
    )
    config.write_text(pds_only, encoding="utf-8")
    code, out = run("pds", "trace", closed_gp, "--config", str(config))
    assert code == 0, out
    assert "GP practice (ODS): RXX" in out
    assert "closed" not in out  # no [ods]: ODS is not asked

    ods = f'\n[endpoints.ods]\nkind = "fhir"\nurl = "{national.ods}"\n\n[ods]\nendpoint = "ods"\n'
    config.write_text(pds_only + ods, encoding="utf-8")
    code, out = run("pds", "trace", closed_gp, "--config", str(config))
    assert code == 0, out  # a warning: the trace's verdict stands
    assert "warning: GP practice RXX: closed on ODS since 2020-03-31" in out
    code, out = run("pds", "trace", unknown_gp, "--config", str(config))
    assert code == 0, out
    assert "warning: GP practice ZZZ99: ODS does not know this code" in out
    code, out = run("pds", "trace", "9000000009", "--config", str(config))
    assert code == 0, out
    assert "warning" not in out  # Y12345 is an open practice
    calls = national.services.calls["ods"]
    code, out = run("pds", "trace", "9000000025", "--config", str(config))
    assert code == 0, out
    assert national.services.calls["ods"] == calls  # a restricted record's GP is never used

    # ODS down and nothing cached (the cache above would answer): a warning, the trace stands
    down = ods.replace(national.ods, "http://127.0.0.1:9/ods") + 'cache = "empty-cache.json"\n'
    config.write_text(pds_only + down, "utf-8")
    code, out = run("pds", "trace", "9000000068", "--config", str(config))
    assert code == 0, out
    assert "warning: GP practice Y12345: not checked: ODS could not be asked" in out


def test_a_pds_section_naming_no_endpoint_is_a_configuration_error(tmp_path: Path) -> None:
    config = tmp_path / "interop.toml"
    config.write_text('[pds]\nendpoint = "pdss"\nmismatch = "maybe"\n', encoding="utf-8")
    code, out = run("pds", "trace", "9000000009", "--config", str(config))
    assert code == 2
    assert "pds.mismatch" in out
    assert "must be one of hold, warn" in out


def test_find_one_child_by_demographics(national: National) -> None:
    code, out = run(
        "pds", "find", "--family", "Green", "--dob", "2016-07-09", "--endpoint", national.pds
    )
    assert code == 0
    assert "use NHS 9000000068" in out
    code, out = run(
        "pds", "find", "--family", "Smith", "--dob", "2010-10-22", "--endpoint", national.pds
    )
    assert code == 3
    assert "more than one patient" in out
    code, out = run(
        "pds", "find", "--family", "Nobody", "--dob", "2010-10-22", "--endpoint", national.pds
    )
    assert code == 1
    assert "found nobody" in out


def test_the_stand_in_command_serves_pds_until_stopped() -> None:
    import signal
    import subprocess
    import sys
    import uuid

    import httpx

    command = [sys.executable, "-c", "from interop.cli.main import main; main()"]
    process = subprocess.Popen(
        [*command, "pds", "stand-in", "--port", "0"], stdout=subprocess.PIPE, text=True
    )
    try:
        assert process.stdout is not None
        pds = process.stdout.readline().split(": ", 1)[1].strip()
        headers = {"X-Request-ID": str(uuid.uuid4())}
        for _ in range(100):
            try:
                answer = httpx.get(f"{pds}/Patient/9000000009", headers=headers, timeout=2)
                break
            except httpx.TransportError:
                import time

                time.sleep(0.1)
        assert answer.status_code == 200
        assert answer.json()["id"] == "9000000009"
    finally:
        process.send_signal(signal.SIGINT)
        process.wait(timeout=15)
