"""One test-patient register behind both sides of the CP-IS stand-in: the PDS FHIR endpoint
and the MESH side's CPR codes agree on who is unknown, sensitive or superseded."""

from __future__ import annotations

import uuid
from dataclasses import replace
from datetime import date
from pathlib import Path

import httpx
import pytest

from interop.codes import CpisRecordResponse, PlanType
from interop.config import StandInSettings
from interop.cpis.model import CpisRecord, SubjectKind
from interop.errors import ConfigurationError
from interop.sandbox.cpis_spine import check_record
from interop.sandbox.cpis_standin import RegisterPds, national_register
from interop.sandbox.national import PDS_PATH, PdsRecord, running_national_services

CHILD = CpisRecord(
    record_id="LDS-CP-1",
    subject_kind=SubjectKind.CHILD,
    nhs_number="9000000009",
    date_of_birth=date(2010, 10, 22),
    plan_type=PlanType.CPP,
    start_date=date(2026, 9, 29),
)
UNKNOWN = "9404405434"  # valid check digit, in no register


def settings(tmp_path: Path, **extra: object) -> StandInSettings:
    return StandInSettings(register=tmp_path / "register.db", **extra)  # type: ignore[arg-type]


def pds_read(host: str, number: str) -> httpx.Response:
    return httpx.get(
        f"{host}{PDS_PATH}/Patient/{number}",
        headers={"X-Request-ID": str(uuid.uuid4())},
        timeout=10,
    )


def test_pds_fhir_and_cpr_codes_read_one_register(tmp_path: Path) -> None:
    services = national_register(settings(tmp_path, sensitive=frozenset({"9449305552"})))
    mesh_side = RegisterPds(services)
    with running_national_services(services) as host:
        for number, status, cpr in [
            ("9000000009", 200, CpisRecordResponse.SUCCESS),
            ("9000000017", 200, CpisRecordResponse.SUPERSEDED),
            ("9000000025", 200, CpisRecordResponse.SENSITIVE),
            ("9449305552", 200, CpisRecordResponse.SENSITIVE),  # from [stand_in] sensitive
            (UNKNOWN, 404, CpisRecordResponse.NO_PDS_MATCH),
        ]:
            answer = pds_read(host, number)
            assert answer.status_code == status, number
            assert check_record(replace(CHILD, nhs_number=number), mesh_side)[0] is cpr, number
            if number == "9000000017":  # PDS FHIR answers the replacement record
                assert answer.json()["id"] == "9000000009"
            if cpr is CpisRecordResponse.SENSITIVE:
                assert answer.json()["meta"]["security"][0]["code"] == "R"
                assert "address" not in answer.json()
        # the register is read live by both sides
        services.add_patients([PdsRecord(UNKNOWN, "Test", "Child", date(2016, 2, 2))])
        assert pds_read(host, UNKNOWN).status_code == 200
        assert check_record(replace(CHILD, nhs_number=UNKNOWN), mesh_side)[0] is (
            CpisRecordResponse.SUCCESS
        )


def test_unknown_numbers_of_the_configuration_leave_the_register(tmp_path: Path) -> None:
    services = national_register(settings(tmp_path, pds_unknown=frozenset({"9000000068"})))
    assert not RegisterPds(services).has("9000000068")
    assert "9000000068" not in services.patients


@pytest.mark.parametrize(
    "extra", [{"superseded": frozenset({"9127641856"})}, {"accept_test_block": True}]
)
def test_what_one_register_cannot_hold_is_refused(tmp_path: Path, extra: dict[str, object]) -> None:
    with pytest.raises(ConfigurationError, match="national stand-ins"):
        national_register(settings(tmp_path, **extra))
