"""The PDS FHIR client and the trace job against the PDS stand-in on 127.0.0.1."""

from __future__ import annotations

from datetime import date

import httpx
import pytest
from national_support import National, national

from interop.errors import RemoteError
from interop.identifiers import InvalidNhsNumber
from interop.jobs.pds_trace import Expected, TracePolicy, judge, trace_with
from interop.transport.fhir_client import FhirClient
from interop.transport.pds import Pds, TooManyMatches, patient_from_pds

__all__ = ["national"]

pytestmark = pytest.mark.integration

JAYNE = Expected("Jayne", "Smith", date(2010, 10, 22))


def _client(national: National) -> FhirClient:
    return FhirClient(national.pds)


def test_read_a_current_record(national: National) -> None:
    with _client(national) as client:
        patient = Pds(client).read("900 000 0009")
    assert patient is not None
    assert patient.nhs_number == "9000000009"
    assert not patient.superseded
    assert patient.family_name == "Smith"
    assert patient.given_names == ("Jayne",)
    assert patient.address
    assert patient.general_practitioners == ("Y12345",)


def test_a_superseded_number_gives_its_replacement(national: National) -> None:
    with _client(national) as client:
        result = trace_with(client, "9000000017", JAYNE)
    assert result.status == "replaced"
    assert result.nhs_number == "9000000009"
    assert any("superseded" in w for w in result.warnings)


def test_a_superseded_number_is_refused_when_the_policy_says_so(national: National) -> None:
    with _client(national) as client:
        result = trace_with(client, "9000000017", JAYNE, TracePolicy(superseded="hold"))
    assert result.status == "held"
    assert result.nhs_number is None
    assert "superseded" in result.reasons[0]


def test_a_sensitive_record_keeps_no_address_or_gp(national: National) -> None:
    with _client(national) as client:
        result = trace_with(client, "9000000025")
    assert result.ok
    assert result.restricted
    assert result.patient is not None
    assert result.patient.address == ()
    assert result.patient.general_practitioners == ()


def test_restricted_details_are_dropped_even_when_a_server_sends_them() -> None:
    patient = {
        "resourceType": "Patient",
        "id": "9000000025",
        "meta": {
            "security": [
                {"system": "http://terminology.hl7.org/CodeSystem/v3-Confidentiality", "code": "R"}
            ]
        },
        "address": [{"postalCode": "LS1 1AA"}],
        "generalPractitioner": [{"identifier": {"value": "Y12345"}}],
    }
    found = patient_from_pds(patient, "9000000025")
    assert found.restricted
    assert found.address == ()
    assert found.general_practitioners == ()


def test_a_deceased_child_is_held(national: National) -> None:
    with _client(national) as client:
        result = trace_with(client, "9000000041")
    assert result.status == "held"
    assert "deceased" in result.reasons[0]


def test_a_number_pds_does_not_know_is_held(national: National) -> None:
    with _client(national) as client:
        result = trace_with(client, "9000000033")
    assert result.status == "held"
    assert "does not know" in result.reasons[0]


def test_name_and_birth_date_mismatch_holds_or_warns(national: National) -> None:
    wrong = Expected("Jane", "Smith", date(2010, 10, 23))
    with _client(national) as client:
        held = trace_with(client, "9000000009", wrong)
        warned = trace_with(client, "9000000009", wrong, TracePolicy(mismatch="warn"))
    assert held.status == "held"
    assert held.reasons == (
        "the given name differs from PDS",
        "the date of birth differs from PDS",
    )
    assert warned.status == "traced"
    assert len(warned.warnings) == 2
    # the reasons never carry the names or dates compared
    assert not any("Jane" in r or "2010" in r for r in held.reasons + warned.warnings)


def test_names_match_whatever_the_case_accents_and_hyphens(national: National) -> None:
    with _client(national) as client:
        result = trace_with(client, "9000000009", Expected("JAYNE", "smith", None))
    assert result.status == "traced"


def test_an_invalid_number_is_refused_before_sending(national: National) -> None:
    with _client(national) as client, pytest.raises(InvalidNhsNumber):
        trace_with(client, "9000000000")


def test_pds_needs_a_request_id_and_the_client_always_sends_one(national: National) -> None:
    answer = httpx.get(f"{national.pds}/Patient/9000000009")
    assert answer.status_code == 400
    assert "MISSING_VALUE" in answer.text
    with _client(national) as client:
        assert Pds(client).read("9000000009") is not None


def test_search_finds_one_child_by_demographics(national: National) -> None:
    with _client(national) as client:
        found = Pds(client).search(family="Green", birthdate=date(2016, 7, 9))
        none = Pds(client).search(family="Green", birthdate=date(2016, 7, 10))
        with pytest.raises(TooManyMatches):
            Pds(client).search(family="Smith", birthdate=date(2010, 10, 22))
    assert found is not None
    assert found.nhs_number == "9000000068"
    assert not found.superseded
    assert none is None


def test_a_pds_refusal_is_a_remote_error_explained() -> None:
    def refuse(request: httpx.Request) -> httpx.Response:
        body = {
            "resourceType": "OperationOutcome",
            "issue": [
                {
                    "severity": "error",
                    "code": "forbidden",
                    "details": {"coding": [{"code": "ACCESS_DENIED", "display": "Access denied"}]},
                }
            ],
        }
        return httpx.Response(403, json=body)

    client = FhirClient("https://pds.invalid/FHIR/R4", transport=httpx.MockTransport(refuse))
    with client, pytest.raises(RemoteError, match="refused access") as caught:
        trace_with(client, "9000000009")
    assert "9000000009" not in str(caught.value)  # the path's NHS number is masked


def test_judge_without_a_record_holds() -> None:
    assert judge("9000000009", None).reasons == ("PDS does not know this NHS number",)
