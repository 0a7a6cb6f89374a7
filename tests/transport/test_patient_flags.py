"""The Patient Flags API client and the FGM pathway of a travel alert, against the Patient
Flags stand-in on 127.0.0.1."""

from __future__ import annotations

from datetime import date
from pathlib import Path

import pytest
from national_support import National, national

from interop.artefact_json import read_artefact_file
from interop.config import load_config
from interop.domain import TravelAlert
from interop.fixtures import __file__ as fixtures_init
from interop.jobs.fgm_flag import raise_fgm_flag
from interop.transport.fhir_client import FhirClient
from interop.transport.patient_flags import PATIENT_FLAG_CATEGORY, PatientFlagsApi

__all__ = ["national"]

pytestmark = pytest.mark.integration

FGM_ALERT = (
    Path(fixtures_init).parent
    / "artefacts"
    / "valid"
    / "travel-alert"
    / "travelled-retrospective-fgm.json"
)


def _flags(national: National) -> str:
    return national.host + "/patient-flags/FHIR/R4"


def test_raise_read_and_remove_a_reasonable_adjustment_flag(national: National) -> None:
    with FhirClient(_flags(national)) as client:
        api = PatientFlagsApi(client)
        raised = api.raise_flag(
            "9000000068", "reasonable-adjustment", author_ods="RR8", start=date(2026, 1, 5)
        )
        again = api.raise_flag(
            "9000000068", "reasonable-adjustment", author_ods="RR8", start=date(2026, 1, 6)
        )
        assert again["id"] == raised["id"]  # raised once
        (found,) = api.flags("9000000068", "reasonable-adjustment")
        assert found["code"]["coding"][0] == {"system": PATIENT_FLAG_CATEGORY, "code": "NRAF"}
        api.remove("9000000068", "reasonable-adjustment", reason="no longer needed")
        assert api.flags("9000000068", "reasonable-adjustment") == []
    assert ("9000000068", "NRAF", "no longer needed") in national.services.removals


def test_the_cpis_flag_is_read_only(national: National) -> None:
    national.services.flags[("9000000009", "CP-IS")] = {
        "resourceType": "Flag",
        "id": "cpis-1",
        "status": "active",
        "code": {"coding": [{"system": PATIENT_FLAG_CATEGORY, "code": "CP-IS"}]},
    }
    with FhirClient(_flags(national)) as client:
        api = PatientFlagsApi(client)
        (flag,) = api.flags("9000000009", "cpis")
        assert flag["id"] == "cpis-1"
        with pytest.raises(ValueError, match="read-only"):
            api.raise_flag("9000000009", "cpis", author_ods="RR8", start=date(2026, 1, 1))
        with pytest.raises(ValueError, match="read-only"):
            api.remove("9000000009", "cpis", reason="x")


def _config(folder: Path, national: National, allow: bool) -> Path:
    path = folder / "interop.toml"
    path.write_text(
        '[environment]\nname = "test"\n\n'
        f'[endpoints.flags]\nkind = "fhir"\nurl = "{_flags(national)}"\n\n'
        f'[patient_flags]\nendpoint = "flags"\nraise_fgm = {"true" if allow else "false"}\n',
        encoding="utf-8",
    )
    return path


def test_the_fgm_pathway_raises_the_fgm_flag_only_where_allowed(
    national: National, tmp_path: Path
) -> None:
    alert = read_artefact_file(FGM_ALERT).artefact
    assert isinstance(alert, TravelAlert)
    number = alert.child.nhs_number
    calls = national.services.calls["flags"]
    refused = load_config(_config(tmp_path, national, False), need=("patient_flags",))
    assert raise_fgm_flag(alert, refused, author_ods="RR8").outcome == "not-allowed"
    assert national.services.calls["flags"] == calls  # nothing asked of the API
    allowed = load_config(_config(tmp_path, national, True), need=("patient_flags",))
    first = raise_fgm_flag(alert, allowed, author_ods="RR8")
    second = raise_fgm_flag(alert, allowed, author_ods="RR8")
    assert (first.outcome, second.outcome) == ("raised", "already-raised")
    assert (number, "FGM") in national.services.flags
    without = alert.model_copy(update={"safeguarding_pathways": []})
    assert raise_fgm_flag(without, allowed, author_ods="RR8").outcome == "no-fgm-pathway"
