"""Child protection flag ⇄ FHIR: lossless both ways, valid R4B, clear errors on bad FHIR."""

from __future__ import annotations

import copy
import json
from datetime import date
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import (
    EMAILS,
    LOCAL_IDS,
    PHONES,
    TEXT,
    after,
    codes,
    dates,
    optional,
    people,
    sharing,
    without_none,
)

from interop.artefact_json import parse_artefact
from interop.codes import AbuseCategory, LacLegalBasis, PlanEndReason, PlanType
from interop.domain import ChildProtectionFlag
from interop.fixtures import artefact_fixtures
from interop.mappings.fhir_child_protection_flag import from_fhir, to_fhir
from interop.mappings.fhir_common import MappingError

KIND = "child-protection-flag"
FIXTURES = artefact_fixtures(KIND, "valid")


@st.composite
def flags(draw: st.DrawFn) -> ChildProtectionFlag:
    plan = draw(st.sampled_from(list(PlanType)))
    if plan is PlanType.UCPP:
        subject = draw(people(born=dates(date(1985, 1, 1), date(2008, 12, 31))))
        start = draw(dates(date(2024, 1, 1), date(2026, 12, 31)))
    else:
        subject = draw(people(born=dates(date(2009, 1, 1), date(2024, 12, 31))))
        born = date.fromisoformat(subject["date_of_birth"])
        start = draw(dates(max(born, date(2024, 1, 1)), date(2026, 12, 31)))
    end = draw(optional(after(start)))
    reason = draw(optional(codes(PlanEndReason))) if end else None
    document = {
        "kind": KIND,
        "local_id": draw(LOCAL_IDS),
        "plan_type": plan.value,
        "subject": subject,
        "expected_delivery_date": draw(after(start, 280)).isoformat()
        if plan is PlanType.UCPP
        else None,
        "plan_start": start.isoformat(),
        "plan_end": end.isoformat() if end else None,
        "delete_date": draw(after(end)).isoformat() if end and draw(st.booleans()) else None,
        "end_reason": reason,
        "end_reason_text": draw(TEXT) if reason == "other" else draw(optional(TEXT)),
        "responsible_la": {
            "ods_code": "LA380",
            "name": draw(TEXT),
            "emergency_duty_phone": draw(optional(PHONES)),
            "office_hours_phone": draw(optional(PHONES)),
            "secure_email": draw(optional(EMAILS)),
        },
        "lac_legal_basis": draw(optional(codes(LacLegalBasis))) if plan is PlanType.LAC else None,
        "abuse_category": draw(optional(codes(AbuseCategory)))
        if plan is not PlanType.LAC
        else None,
        "sharing": draw(sharing()),
    }
    return ChildProtectionFlag.model_validate(without_none(document))


def through_json(value: Any) -> Any:
    return json.loads(json.dumps(value))


@pytest.mark.parametrize("fixture", FIXTURES, ids=lambda f: f.path)
def test_fixture_round_trip(fixture: Any) -> None:
    flag = parse_artefact(fixture.read_bytes()).artefact
    assert isinstance(flag, ChildProtectionFlag)
    bundle = to_fhir(flag)
    Bundle.model_validate(bundle)
    assert from_fhir(through_json(bundle)) == flag


@pytest.mark.slow
@settings(deadline=None)  # max_examples from the Hypothesis profile (conftest.py)
@given(flags())
def test_generated_round_trip(flag: ChildProtectionFlag) -> None:
    bundle = through_json(to_fhir(flag))
    assert from_fhir(bundle) == flag
    care_team_only = {
        **bundle,
        "entry": [e for e in bundle["entry"] if e["resource"]["resourceType"] != "Flag"],
    }
    assert from_fhir(care_team_only) == flag


def test_bundle_is_valid_r4b_and_references_resolve() -> None:
    flag = parse_artefact(FIXTURES[0].read_bytes()).artefact
    assert isinstance(flag, ChildProtectionFlag)
    bundle = to_fhir(flag)
    Bundle.model_validate(bundle)
    urls = {e["fullUrl"] for e in bundle["entry"]}
    text = json.dumps(bundle)
    for reference in __import__("re").findall(r'"reference": "([^"]+)"', text):
        assert reference in urls


def test_same_artefact_same_bundle() -> None:
    flag = parse_artefact(FIXTURES[0].read_bytes()).artefact
    assert isinstance(flag, ChildProtectionFlag)
    assert to_fhir(flag) == to_fhir(flag.model_copy())
    other = flag.model_copy(update={"local_id": "ANOTHER-1"})
    assert to_fhir(other)["id"] != to_fhir(flag)["id"]


def test_ids_do_not_reveal_the_nhs_number() -> None:
    flag = parse_artefact(FIXTURES[0].read_bytes()).artefact
    assert isinstance(flag, ChildProtectionFlag)
    ids = [e["resource"]["id"] for e in to_fhir(flag)["entry"]]
    assert all(flag.subject.nhs_number not in i for i in ids)


def _broken(change: Any) -> list[tuple[str, str]]:
    flag = parse_artefact(FIXTURES[0].read_bytes()).artefact
    assert isinstance(flag, ChildProtectionFlag)
    bundle = through_json(to_fhir(flag))
    change(bundle)
    with pytest.raises(MappingError) as caught:
        from_fhir(bundle)
    return [(i.location, i.code.value) for i in caught.value.issues]


def _resource(bundle: dict[str, Any], resource_type: str) -> dict[str, Any]:
    return next(
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == resource_type
    )


def test_missing_period_start_is_located() -> None:
    found = _broken(lambda b: _resource(b, "Flag")["period"].pop("start"))
    assert found == [("Bundle.entry[0].resource.ofType(Flag).period.start", "required")]


def test_unresolvable_subject_is_located() -> None:
    found = _broken(lambda b: _resource(b, "Flag")["subject"].update(reference="urn:uuid:nowhere"))
    assert ("Bundle.entry[0].resource.ofType(Flag).subject.reference", "structure") in found


def test_patient_without_nhs_number_is_located() -> None:
    found = _broken(lambda b: _resource(b, "Patient").pop("identifier"))
    assert found == [("Bundle.entry[2].resource.ofType(Patient).identifier", "required")]


def test_unknown_plan_code_is_located() -> None:
    def change(bundle: dict[str, Any]) -> None:
        _resource(bundle, "Flag")["code"]["coding"][1]["code"] = "XYZ"

    found = _broken(change)
    assert found == [("Bundle.entry[0].resource.ofType(Flag).code.coding[1].code", "code-invalid")]


def test_bad_nhs_number_in_fhir_is_reported_at_the_patient() -> None:
    def change(bundle: dict[str, Any]) -> None:
        _resource(bundle, "Patient")["identifier"][0]["value"] = "9434765918"

    found = _broken(change)
    assert found == [("Bundle.entry[2].resource.ofType(Patient)", "value")]


def test_not_a_bundle() -> None:
    with pytest.raises(MappingError) as caught:
        from_fhir({"resourceType": "Patient"})
    assert caught.value.issues[0].location == "Bundle"


def test_bundle_without_a_flag_or_care_team() -> None:
    found = _broken(
        lambda b: b.update(
            entry=[
                e for e in b["entry"] if e["resource"]["resourceType"] not in ("Flag", "CareTeam")
            ]
        )
    )
    assert found == [("Bundle.entry", "required")]


def test_deep_copy_of_bundle_is_not_needed_for_reading() -> None:
    flag = parse_artefact(FIXTURES[0].read_bytes()).artefact
    assert isinstance(flag, ChildProtectionFlag)
    bundle = to_fhir(flag)
    before = copy.deepcopy(bundle)
    from_fhir(bundle)
    assert bundle == before, "reading must not change its input"
