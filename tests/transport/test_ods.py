"""ODS codes looked up on the ODS Terminology stand-in (127.0.0.1), with the offline cache,
and the directory and artefact checks built on it."""

from __future__ import annotations

from datetime import timedelta
from pathlib import Path

import pytest
from national_support import National, national

from interop.jobs.ods_check import artefact_ods_codes, check_directory, check_organisations
from interop.transport.fhir_client import FhirClient
from interop.transport.fhir_errors import FhirTransportError
from interop.transport.ods import OdsLookup
from interop.transport.retry import RetryPolicy

__all__ = ["national"]

pytestmark = pytest.mark.integration


def test_an_organisation_its_role_and_whether_it_is_open(national: National) -> None:
    with FhirClient(national.ods) as client:
        lookup = OdsLookup(client)
        trust = lookup.organisation("rr8")
        closed = lookup.organisation("RXX")
        council = lookup.organisation("X26")
        gp = lookup.organisation("Y12345")
        assert lookup.organisation("ZZZ99") is None
    assert trust is not None
    assert trust.active
    assert trust.role == "trust"
    assert trust.name == "LEEDS TEACHING HOSPITALS NHS TRUST"
    assert closed is not None
    assert not closed.active
    assert closed.closed == "2020-03-31"
    assert council is not None
    assert council.role == "local-authority"
    assert gp is not None
    assert gp.role == "gp-practice"


def test_the_cache_answers_offline(national: National, tmp_path: Path) -> None:
    cache = tmp_path / "ods-cache.json"
    with FhirClient(national.ods) as client:
        assert OdsLookup(client, cache=cache).organisation("RR8") is not None
    calls = national.services.calls["ods"]
    # fresh: not asked again
    with FhirClient(national.ods) as client:
        again = OdsLookup(client, cache=cache).organisation("RR8")
    assert again is not None
    assert not again.stale
    assert national.services.calls["ods"] == calls
    # old and the API unreachable: the cached answer, marked stale
    no_retry = RetryPolicy(max_retries=0)
    with FhirClient("http://127.0.0.1:9/fhir", retry=no_retry, timeout=2) as down:
        stale = OdsLookup(down, cache=cache, max_age=timedelta(0)).organisation("RR8")
        assert stale is not None
        assert stale.stale
        with pytest.raises(FhirTransportError):
            OdsLookup(down, cache=cache, max_age=timedelta(0)).organisation("X26")
    # no client at all: the cache only
    assert OdsLookup(None, cache=cache).organisation("RR8") is not None


def test_a_damaged_cache_is_rebuilt(national: National, tmp_path: Path) -> None:
    cache = tmp_path / "ods-cache.json"
    cache.write_text("{not json", encoding="utf-8")
    with FhirClient(national.ods) as client:
        assert OdsLookup(client, cache=cache).organisation("RR8") is not None
    assert "RR8" in cache.read_text(encoding="utf-8")


def test_the_directory_check(national: National, tmp_path: Path) -> None:
    from interop.config import load_config

    config_path = tmp_path / "interop.toml"
    config_path.write_text(
        '[environment]\nname = "test"\n\n'
        '[local_authority]\nods_code = "X26"\nname = "Test Borough Council"\n'
        'emergency_duty_phone = "0113 000 0000"\n\n'
        f'[endpoints.ods]\nkind = "fhir"\nurl = "{national.ods}"\n\n'
        '[ods]\nendpoint = "ods"\n\n'
        '[directory.RR8]\nname = "Leeds Teaching Hospitals"\nrole = "health"\n\n'
        '[directory.RXX]\nname = "A closed trust"\nrole = "health"\n\n'
        '[directory.LA465]\nname = "Leicester"\nrole = "health"\n\n'
        '[directory.QQQ99]\nname = "Nobody"\nrole = "police"\n',
        encoding="utf-8",
    )
    config = load_config(config_path, need=("local_authority", "directory", "ods"))
    findings = [f.describe() for f in check_directory(config)]
    assert findings == [
        "error RXX: closed on ODS since 2020-03-31",
        "warning LA465: configured as health, but ODS gives the role local-authority",
        "error QQQ99: ODS does not know this code",
    ]
    assert (tmp_path / "ods-cache.json").exists()


def test_the_organisations_an_artefact_names(national: National) -> None:
    from interop.domain import ResponsibleLocalAuthority

    la = ResponsibleLocalAuthority(ods_code="RXX", name="n", emergency_duty_phone="0113 000 0000")
    codes = artefact_ods_codes([la])
    assert codes == ["RXX"]
    with FhirClient(national.ods) as client:
        findings = check_organisations(codes, OdsLookup(client))
    assert [f.severity for f in findings] == ["error"]


def test_the_ods_commands(national: National, tmp_path: Path) -> None:
    from click.testing import CliRunner

    from interop.cli.main import cli

    config = tmp_path / "interop.toml"
    config.write_text(
        '[environment]\nname = "test"\n\n'
        f'[endpoints.ods]\nkind = "fhir"\nurl = "{national.ods}"\n\n[ods]\nendpoint = "ods"\n\n'
        '[directory.RR8]\nname = "Leeds"\nrole = "health"\n',
        encoding="utf-8",
    )
    runner = CliRunner()
    found = runner.invoke(cli, ["ods", "lookup", "RR8", "--config", str(config)])
    assert found.exit_code == 0, found.output
    assert "RR8: LEEDS TEACHING HOSPITALS NHS TRUST; trust; open" in found.output
    closed = runner.invoke(cli, ["ods", "lookup", "RXX", "ZZZ99", "--config", str(config)])
    assert closed.exit_code == 1
    assert "RXX: A CLOSED TRUST; trust; closed since 2020-03-31" in closed.output
    assert "ZZZ99: unknown to ODS" in closed.output
    from interop.fixtures import __file__ as fixtures_init

    valid = Path(fixtures_init).parent / "artefacts" / "valid"
    artefact = valid / "travel-alert" / "planned-abroad-significant-risk.json"
    checked = runner.invoke(
        cli, ["ods", "check", "--config", str(config), "--artefact", str(artefact)]
    )
    assert checked.exit_code == 1, checked.output
    # the fixture's organisations are made up: the stand-in's ODS knows neither
    assert "error RY6: ODS does not know this code" in checked.output
    assert "error LA380: ODS does not know this code" in checked.output
    assert "ODS check: 2 error(s), 0 warning(s)" in checked.output


def test_config_check_asks_ods_about_the_directory(national: National, tmp_path: Path) -> None:
    """``interop config check`` with ``[ods]``: a closed or unknown organisation of the
    directory fails the check (exit 1) with its reason; a directory ODS knows passes."""
    from click.testing import CliRunner

    from interop.cli.main import cli

    def config_with(directory: str) -> Path:
        path = tmp_path / "interop.toml"
        path.write_text(
            '[environment]\nname = "test"\n\n'
            '[local_authority]\nods_code = "X26"\nname = "Test Borough Council"\n'
            'emergency_duty_phone = "0113 000 0000"\n\n'
            f'[endpoints.ods]\nkind = "fhir"\nurl = "{national.ods}"\n\n'
            '[ods]\nendpoint = "ods"\n\n' + directory,
            encoding="utf-8",
        )
        return path

    runner = CliRunner()
    good = config_with('[directory.RR8]\nname = "Leeds Teaching Hospitals"\nrole = "health"\n')
    passed = runner.invoke(cli, ["config", "check", "--config", str(good)])
    assert passed.exit_code == 0, passed.output
    assert "ODS: error" not in passed.output
    bad = config_with(
        '[directory.RR8]\nname = "Leeds Teaching Hospitals"\nrole = "health"\n\n'
        '[directory.RXX]\nname = "A closed trust"\nrole = "health"\n'
    )
    failed = runner.invoke(cli, ["config", "check", "--config", str(bad)])
    assert failed.exit_code == 1, failed.output
    assert "ODS: error RXX: closed on ODS since 2020-03-31" in failed.output
