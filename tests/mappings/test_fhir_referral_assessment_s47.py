"""Referral, assessment and section 47 outcome ⇄ FHIR: lossless both ways (JSON and XML), valid
R4B, the child referenced by NHS number beside the reference, and located errors."""

from __future__ import annotations

import json
from types import ModuleType
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from hypothesis import given, settings
from strategies import assessments, referrals, section_47_outcomes

from interop.artefact_json import parse_artefact
from interop.domain import ARTEFACT_MODELS, ArtefactBase
from interop.fhir import read_fhir_xml, to_xml
from interop.fixtures import artefact_fixtures
from interop.mappings import fhir_assessment, fhir_referral, fhir_section47_outcome
from interop.mappings.fhir import artefact_to_fhir, fhir_to_artefact
from interop.mappings.fhir_common import MappingError

MAPPINGS: dict[str, ModuleType] = {
    "referral": fhir_referral,
    "assessment": fhir_assessment,
    "section-47-outcome": fhir_section47_outcome,
}
FIXTURES = [f for kind in MAPPINGS for f in artefact_fixtures(kind, "valid")]


def through_json(value: Any) -> Any:
    return json.loads(json.dumps(value))


def _round_trip(artefact: ArtefactBase) -> None:
    bundle = through_json(artefact_to_fhir(artefact))
    assert fhir_to_artefact(bundle) == artefact
    back = read_fhir_xml(to_xml(bundle))
    assert back == bundle
    assert fhir_to_artefact(back) == artefact


def test_every_kind_has_fixtures_valid_and_invalid() -> None:
    for kind in MAPPINGS:
        assert len(artefact_fixtures(kind, "valid")) >= 2, kind
        assert artefact_fixtures(kind, "invalid"), kind


@pytest.mark.parametrize("fixture", FIXTURES, ids=lambda f: f.path)
def test_fixture_round_trip_json_and_xml(fixture: Any) -> None:
    artefact = parse_artefact(fixture.read_bytes()).artefact
    assert artefact is not None
    Bundle.model_validate(artefact_to_fhir(artefact))
    _round_trip(artefact)


@pytest.mark.slow
@settings(deadline=None)  # max_examples from the Hypothesis profile (conftest.py)
@given(referrals())
def test_generated_referrals_round_trip(document: dict[str, Any]) -> None:
    _round_trip(ARTEFACT_MODELS["referral"].model_validate(document))


@pytest.mark.slow
@settings(deadline=None)
@given(assessments())
def test_generated_assessments_round_trip(document: dict[str, Any]) -> None:
    _round_trip(ARTEFACT_MODELS["assessment"].model_validate(document))


@pytest.mark.slow
@settings(deadline=None)
@given(section_47_outcomes())
def test_generated_section_47_outcomes_round_trip(document: dict[str, Any]) -> None:
    _round_trip(ARTEFACT_MODELS["section-47-outcome"].model_validate(document))


def _first(kind: str) -> tuple[ArtefactBase, dict[str, Any]]:
    """The kind's fullest valid fixture (the diabetes-neglect case) and its Bundle."""
    fixture = next(f for f in artefact_fixtures(kind, "valid") if "diabetes" in f.path)
    artefact = parse_artefact(fixture.read_bytes()).artefact
    assert artefact is not None
    return artefact, through_json(artefact_to_fhir(artefact))


def _resource(bundle: dict[str, Any], resource_type: str) -> dict[str, Any]:
    return next(
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == resource_type
    )


@pytest.mark.parametrize(
    ("kind", "resource_type", "element"),
    [
        ("referral", "ServiceRequest", "subject"),
        ("referral", "Task", "for"),
        ("assessment", "Task", "for"),
        ("section-47-outcome", "Task", "for"),
    ],
)
def test_the_child_is_referenced_with_the_nhs_number(
    kind: str, resource_type: str, element: str
) -> None:
    artefact, bundle = _first(kind)
    reference = _resource(bundle, resource_type)[element]
    assert reference["reference"].startswith("urn:uuid:")
    assert reference["identifier"] == {
        "system": "https://fhir.nhs.uk/Id/nhs-number",
        "value": artefact.child.nhs_number,  # type: ignore[attr-defined]
    }


@pytest.mark.parametrize("kind", list(MAPPINGS))
def test_a_reference_naming_another_child_is_refused(kind: str) -> None:
    _, bundle = _first(kind)
    task = _resource(bundle, "Task")
    task["for"]["identifier"]["value"] = "9434765919"
    with pytest.raises(MappingError) as caught:
        fhir_to_artefact(bundle)
    assert [i.location for i in caught.value.issues] == [
        "Bundle.entry[1].resource.ofType(Task).for.identifier.value"
        if kind == "referral"
        else "Bundle.entry[0].resource.ofType(Task).for.identifier.value"
    ]


def test_every_safeguarding_resource_is_labelled_restricted() -> None:
    for kind in MAPPINGS:
        _, bundle = _first(kind)
        for item in bundle["entry"]:
            resource = item["resource"]
            if resource["resourceType"] in ("Task", "ServiceRequest"):
                assert resource["meta"]["security"][0]["code"] == "R", kind


def test_a_referral_decision_time_keeps_its_offset() -> None:
    _, bundle = _first("referral")
    task = _resource(bundle, "Task")
    assert task["executionPeriod"]["end"] == "2026-05-19T10:15:00+01:00"
    assert task["output"][0]["valueCodeableConcept"]["coding"][0]["code"] == "s47-enquiries"


def test_a_referral_without_its_decision_task_is_refused() -> None:
    _, bundle = _first("referral")
    bundle["entry"] = [e for e in bundle["entry"] if e["resource"]["resourceType"] != "Task"]
    with pytest.raises(MappingError) as caught:
        fhir_to_artefact(bundle)
    assert [(i.location, i.code.value) for i in caught.value.issues] == [
        ("Bundle.entry", "required")
    ]


def test_an_unknown_outcome_code_is_located() -> None:
    _, bundle = _first("section-47-outcome")
    task = _resource(bundle, "Task")
    task["output"][0]["valueCodeableConcept"]["coding"][0]["code"] = "perhaps"
    with pytest.raises(MappingError) as caught:
        fhir_to_artefact(bundle)
    assert [(i.location, i.code.value) for i in caught.value.issues] == [
        (
            "Bundle.entry[0].resource.ofType(Task).output[0].valueCodeableConcept.coding[0].code",
            "code-invalid",
        )
    ]


def test_an_assessment_without_a_start_is_located() -> None:
    _, bundle = _first("assessment")
    _resource(bundle, "Task")["executionPeriod"].pop("start")
    with pytest.raises(MappingError) as caught:
        fhir_to_artefact(bundle)
    assert [(i.location, i.code.value) for i in caught.value.issues] == [
        ("Bundle.entry[0].resource.ofType(Task).executionPeriod.start", "required")
    ]


def test_a_referral_time_without_offset_is_refused() -> None:
    _, bundle = _first("referral")
    _resource(bundle, "ServiceRequest")["authoredOn"] = "2026-05-18T16:40:00"
    with pytest.raises(MappingError) as caught:
        fhir_to_artefact(bundle)
    assert [i.location for i in caught.value.issues] == [
        "Bundle.entry[0].resource.ofType(ServiceRequest).authoredOn"
    ]
