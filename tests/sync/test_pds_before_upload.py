"""Traced before shared: ``interop sync cpis`` traces each new or changed record on the PDS
stand-in (127.0.0.1) before upload, and holds back what CP-IS would refuse the next day."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path
from typing import Any

import pytest
from click.testing import CliRunner

from interop.cli.main import cli
from interop.config import load_config
from interop.jobs import run_cpis_sync
from interop.jobs.state import StateOptions
from interop.sandbox.national import (
    PDS_PATH,
    NationalServices,
    running_national_services,
    stand_in_patients,
)

pytestmark = pytest.mark.integration

HEADER = (
    "local_id,plan_type,nhs_number,given_name,family_name,date_of_birth,plan_start,plan_end,"
    "expected_delivery_date,lac_legal_basis,la_ods_code"
)
ROWS = [
    "LA-1,CPP,9000000009,Jayne,Smith,2010-10-22,2026-01-05,,,,",  # current: traced
    "LA-2,LAC,9000000017,Jayne,Smith,2010-10-22,2026-01-05,,,s20,",  # superseded: replaced
    "LA-3,CPP,9000000068,Alex,Grene,2016-07-09,2026-01-05,,,,",  # family name differs
    "LA-4,CPP,9000000068,Alex,Green,2016-07-10,2026-01-05,,,,",  # date of birth differs
    "LA-5,CPP,9000000033,Leo,Patel,2014-07-01,2026-01-05,,,,",  # unknown to PDS
    "LA-6,CPP,9000000041,Sam,Brown,2015-03-14,2026-01-05,,,,",  # deceased
    "LA-7,CPP,9000000025,Janet,Smythe,2012-05-01,2026-01-05,,,,",  # sensitive
]
#: what the misbehaving PDS sends for the sensitive record and must never be written
ADDRESS = ("Synthetic Street", "LS1 4AP")


@pytest.fixture(scope="module")
def pds() -> Iterator[tuple[NationalServices, str]]:
    services = NationalServices(stand_in_patients(), leak_restricted=True)
    with running_national_services(services) as host:
        yield services, host + PDS_PATH


def _config(folder: Path, pds_base: str, extra: str = "") -> Path:
    path = folder / "interop.toml"
    path.write_text(
        '[environment]\nname = "test"\n\n'
        '[local_authority]\nods_code = "X26"\nname = "Test Borough Council"\n'
        'emergency_duty_phone = "0113 000 0000"\n\n'
        f'[endpoints.pds]\nkind = "fhir"\nurl = "{pds_base}"\n\n'
        '[cpis]\nmailbox = "X26CPIS01"\nupload_workflow_id = "U"\n'
        'acknowledgement_workflow_id = "A"\naccess_notification_workflow_id = "N"\n'
        'inactive_nhs_number_workflow_id = "I"\n\n'
        f'[pds]\nendpoint = "pds"\n{extra}',
        encoding="utf-8",
    )
    return path


def _export(folder: Path) -> Path:
    path = folder / "export.csv"
    path.write_text("\n".join([HEADER, *ROWS]) + "\n", encoding="utf-8")
    return path


class RecordingSender:
    """MESH as the job sees it: keeps what it is given."""

    def __init__(self) -> None:
        self.sent: dict[str, bytes] = {}

    def send(
        self, recipient: str, workflow_id: str, data: bytes, *, local_id: str, **_: Any
    ) -> str:
        self.sent[local_id] = data
        return f"msg-{local_id}"

    def find_by_local_id(self, local_id: str) -> object | None:
        return None


def _everything_written(folder: Path) -> bytes:
    return b"".join(p.read_bytes() for p in folder.rglob("*") if p.is_file())


def test_held_back_replaced_and_traced_before_upload(
    pds: tuple[NationalServices, str], tmp_path: Path
) -> None:
    _, base = pds
    config = load_config(_config(tmp_path, base), need=("local_authority", "cpis", "pds"))
    sender = RecordingSender()
    result = run_cpis_sync(
        _export(tmp_path),
        state=tmp_path / "state.sqlite",
        config=config,
        out=tmp_path / "sent",
        recipient="X26CPIS01",
        workflow_id="CPIS_UPLOAD",
        transport=sender,
        state_options=StateOptions(new=True),
    )
    held = {p.line: p.message for p in result.problems}
    assert set(held) == {4, 5, 6, 7}
    assert held[4].endswith("the family name differs from PDS")
    assert held[5].endswith("the date of birth differs from PDS")
    assert held[6].endswith("PDS does not know this NHS number")
    assert held[7].endswith("PDS records the person as deceased")
    assert all(p.rule_id == "PDS" for p in result.problems)
    assert result.trace is not None
    assert (result.trace.traced, result.trace.replaced, result.trace.held) == (3, 1, 4)
    (upload,) = sender.sent.values()
    # the superseded number went under its replacement; the held ones did not go at all
    assert b"9000000017" not in upload
    assert upload.count(b"9000000009") == 2
    assert b"9000000068" not in upload
    assert b"9000000033" not in upload
    assert b"9000000041" not in upload
    assert b"9000000025" in upload
    # a sensitive record's address is written nowhere: upload, ledger, copies
    for text in ADDRESS:
        assert text.encode() not in _everything_written(tmp_path)
    assert result.exit_code == 1  # held rows are reported like rejected ones


def test_a_superseded_number_is_refused_when_configured(
    pds: tuple[NationalServices, str], tmp_path: Path
) -> None:
    _, base = pds
    config = load_config(
        _config(tmp_path, base, 'superseded = "hold"\nmismatch = "warn"\n'),
        need=("local_authority", "cpis", "pds"),
    )
    result = run_cpis_sync(
        _export(tmp_path), state=tmp_path / "s.sqlite", config=config, dry_run=True,
        out=tmp_path / "dry",
    )  # fmt: skip
    held = {p.line: p.message for p in result.problems}
    assert set(held) == {3, 6, 7}  # superseded, unknown, deceased; mismatches only warn
    assert "superseded" in held[3]
    written = _everything_written(tmp_path / "dry")
    assert b"9000000017" not in written
    assert b"9000000068" in written


def test_no_trace_without_pds_before_upload(
    pds: tuple[NationalServices, str], tmp_path: Path
) -> None:
    services, base = pds
    before = services.calls["pds"]
    config = load_config(
        _config(tmp_path, base, "before_upload = false\n"), need=("local_authority", "cpis", "pds")
    )
    result = run_cpis_sync(
        _export(tmp_path), state=tmp_path / "s.sqlite", config=config, dry_run=True,
        out=tmp_path / "dry",
    )  # fmt: skip
    assert result.trace is None
    assert result.problems == []
    assert services.calls["pds"] == before


def test_the_sync_command_reports_the_trace(
    pds: tuple[NationalServices, str], tmp_path: Path
) -> None:
    _, base = pds
    config = _config(tmp_path, base)
    text = config.read_text(encoding="utf-8")
    config.write_text(
        text + '\n[mesh]\nendpoint = "http://127.0.0.1:1"\nmailbox = "X26ABC1"\n'
        'password = { env = "PDS_TEST_SECRET" }\nshared_key = { env = "PDS_TEST_SECRET" }\n',
        encoding="utf-8",
    )
    runner = CliRunner(env={"PDS_TEST_SECRET": "x"})
    result = runner.invoke(
        cli,
        ["sync", "cpis", "--source", str(_export(tmp_path)), "--config", str(config),
         "--dry-run", "--out", str(tmp_path / "dry")],
    )  # fmt: skip
    assert "PDS trace: 3 traced (1 under a replacement number), 4 held back" in result.output
    assert "held back by the PDS trace: the family name differs from PDS (rule PDS)" in (
        result.output
    )
