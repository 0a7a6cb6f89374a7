"""The identifiers stage checks every SNOMED CT concept id in a resource, wherever it is."""

from __future__ import annotations

from typing import Any

from interop.validators import ValidationContext
from interop.validators.chain import FHIR_STAGES, identifiers_stage, snomed_code_stage

SNOMED = "http://snomed.info/sct"


def condition(code: str) -> dict[str, Any]:
    return {
        "resourceType": "Condition",
        "code": {"coding": [{"system": SNOMED, "code": code}], "text": "Asthma"},
        "subject": {"reference": "Patient/1"},
    }


def found(resource: dict[str, Any]) -> list[tuple[str, str, str]]:
    issues = snomed_code_stage(resource, ValidationContext())
    return [(i.location, i.code.value, i.message) for i in issues]


def test_concept_ids_with_valid_check_digits_pass() -> None:
    assert found(condition("195967001")) == []
    assert found(condition("1064311000000109")) == []  # UK extension, partition 10


def test_a_swapped_pair_of_digits_is_located_at_the_code() -> None:
    bundle = {
        "resourceType": "Bundle",
        "type": "collection",
        "entry": [{"resource": condition("195967001")}, {"resource": condition("159967001")}],
    }
    assert found(bundle) == [
        (
            "Bundle.entry[1].resource.ofType(Condition).code.coding[0].code",
            "code-invalid",
            "SNOMED CT: the check digit is 1 but the Verhoeff check of the other digits gives 2 "
            "(a digit is mistyped or two are swapped)",
        )
    ]


def test_a_description_id_is_not_a_code() -> None:
    [(_, code, message)] = found(condition("2148514019"))
    assert code == "code-invalid"
    assert "not a concept id" in message


def test_expressions_and_other_systems_are_left_alone() -> None:
    assert found(condition("195967001 |Asthma|")) == []
    other = condition("159967001")
    other["code"]["coding"][0]["system"] = "http://loinc.org"
    assert found(other) == []


def test_the_chain_runs_it_with_the_nhs_number_check() -> None:
    assert ("identifiers", identifiers_stage) in FHIR_STAGES
    assert [i.location for i in identifiers_stage(condition("159967001"), ValidationContext())] == [
        "Condition.code.coding[0].code"
    ]
