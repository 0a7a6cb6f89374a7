"""Health treatment plan ⇄ FHIR: lossless both ways, valid R4B, clear errors on bad FHIR."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable, Iterator
from datetime import date
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import (
    LOCAL_IDS,
    NAMES,
    SNOMED_CONCEPT_IDS,
    TEXT,
    after,
    codes,
    dates,
    optional,
    people,
    practitioners,
    sharing,
    social_workers,
    without_none,
)

from interop.artefact_json import parse_artefact
from interop.codes import CANONICAL_BASE, LongTermCondition, PartyRole, PlanType, StandardTrigger
from interop.domain import HealthTreatmentPlan
from interop.fixtures import artefact_fixtures
from interop.mappings.fhir_common import (
    COMMON_EXTENSIONS,
    COMMON_PROFILES,
    MappingError,
    ext_url,
    profile_url,
)
from interop.mappings.fhir_treatment_plan import EXTENSIONS, PROFILES, from_fhir, to_fhir

KIND = "health-treatment-plan"
FIXTURES = artefact_fixtures(KIND, "valid")
# --- strategies ----------------------------------------------------------------------------


@st.composite
def parties(draw: st.DrawFn) -> dict[str, Any]:
    return without_none({"role": draw(codes(PartyRole)), "name": draw(optional(NAMES))})


@st.composite
def conditions(draw: st.DrawFn) -> dict[str, Any]:
    return without_none(
        {
            "name": draw(TEXT),
            "category": draw(codes(LongTermCondition)),
            "snomed_code": draw(optional(SNOMED_CONCEPT_IDS)),
        }
    )


@st.composite
def triggers(draw: st.DrawFn) -> dict[str, Any]:
    return without_none(
        {
            "trigger": draw(codes(StandardTrigger)),
            "description": draw(TEXT),
            "action": draw(TEXT),
            "responsible": draw(parties()),
            "timescale": draw(optional(TEXT)),
        }
    )


@st.composite
def medications(draw: st.DrawFn) -> dict[str, Any]:
    return without_none(
        {
            "name": draw(TEXT),
            "dmd_code": draw(optional(st.from_regex(r"[1-9]\d{5,17}", fullmatch=True))),
            "dose": draw(optional(TEXT)),
            "how_managed": draw(TEXT),
            "managed_by": draw(parties()),
        }
    )


@st.composite
def roles(draw: st.DrawFn) -> dict[str, Any]:
    return {"party": draw(parties()), "responsibilities": draw(TEXT)}


def some(strategy: st.SearchStrategy[Any], min_size: int = 0) -> st.SearchStrategy[Any]:
    return st.lists(strategy, min_size=min_size, max_size=3)


@st.composite
def plans(draw: st.DrawFn) -> HealthTreatmentPlan:
    lead = draw(practitioners())
    # A care team member is sometimes the lead themself: still two entries of the artefact.
    members = st.fixed_dictionaries(
        {"practitioner": st.one_of(practitioners(), st.just(lead)), "responsibilities": TEXT}
    )
    plan_date = draw(dates(date(2024, 1, 1), date(2027, 12, 31)))
    document = {
        "kind": KIND,
        "local_id": draw(LOCAL_IDS),
        "sharing": draw(sharing()),
        "child": draw(people()),
        "cp_plan": without_none(
            {
                "local_id": draw(LOCAL_IDS),
                "plan_type": draw(optional(st.sampled_from(["CPP", "LAC"]))),
                "start_date": draw(optional(dates())),
                "key_social_worker": draw(optional(social_workers())),
            }
        ),
        "conditions": draw(some(conditions(), 1)),
        "lead_health_practitioner": lead,
        "care_team": draw(some(members)),
        "escalation_triggers": draw(some(triggers(), 1)),
        "key_treatment_facts": draw(some(TEXT)),
        "appointments": draw(
            some(st.fixed_dictionaries({"appointment_date": dates().map(str), "description": TEXT}))
        ),
        "medications": draw(some(medications())),
        "agency_responsibilities": draw(some(roles())),
        "parent_carer_roles": draw(some(roles())),
        "self_care": draw(some(st.fixed_dictionaries({"description": TEXT, "how_managed": TEXT}))),
        "self_care_capacity_assessed": draw(optional(st.booleans())),
        "child_version_provided": draw(optional(st.booleans())),
        "plan_date": plan_date.isoformat(),
        "next_review_date": draw(optional(after(plan_date).map(str))),
    }
    return HealthTreatmentPlan.model_validate(without_none(document))


# --- helpers -------------------------------------------------------------------------------


def through_json(value: Any) -> Any:
    return json.loads(json.dumps(value))


def fixture(name: str = "cystic-fibrosis") -> HealthTreatmentPlan:
    found = next(f for f in FIXTURES if f.path.endswith(f"/{name}.json"))
    plan = parse_artefact(found.read_bytes()).artefact
    assert isinstance(plan, HealthTreatmentPlan)
    return plan


def walk(value: Any) -> Iterator[Any]:
    yield value
    if isinstance(value, dict):
        for item in value.values():
            yield from walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from walk(item)


def check_bundle(plan: HealthTreatmentPlan, bundle: dict[str, Any]) -> None:
    """Valid R4B, references resolve, profiles everywhere, ids hide the NHS number."""
    Bundle.model_validate(bundle)
    urls = {e["fullUrl"] for e in bundle["entry"]}
    references = [n["reference"] for n in walk(bundle) if isinstance(n, dict) and "reference" in n]
    assert references
    assert set(references) <= urls
    for item in [bundle, *(e["resource"] for e in bundle["entry"])]:
        assert item["meta"]["profile"], item["resourceType"]
        assert plan.child.nhs_number not in item["id"]
    assert len({e["resource"]["id"] for e in bundle["entry"]}) == len(bundle["entry"])


# --- round trips ---------------------------------------------------------------------------


@pytest.mark.parametrize("item", FIXTURES, ids=lambda f: f.path)
def test_fixture_round_trip(item: Any) -> None:
    plan = parse_artefact(item.read_bytes()).artefact
    assert isinstance(plan, HealthTreatmentPlan)
    bundle = to_fhir(plan)
    check_bundle(plan, bundle)
    assert from_fhir(through_json(bundle)) == plan


@pytest.mark.slow
@settings(deadline=None)  # max_examples from the Hypothesis profile (conftest.py)
@given(plans())
def test_generated_round_trip(plan: HealthTreatmentPlan) -> None:
    bundle = through_json(to_fhir(plan))
    check_bundle(plan, bundle)
    before = copy.deepcopy(bundle)
    assert from_fhir(bundle) == plan
    assert bundle == before, "reading must not change its input"


def test_every_code_round_trips() -> None:
    """One plan using every code of every code system the mapping carries."""
    base = fixture().model_dump(mode="json", exclude_none=True)
    parties = [{"role": role.value} for role in PartyRole]
    document = {
        **base,
        "conditions": [{"name": c.display, "category": c.value} for c in LongTermCondition],
        "escalation_triggers": [
            {"trigger": t.value, "description": "d", "action": "a", "responsible": p}
            for t, p in zip(StandardTrigger, parties, strict=False)
        ],
        "agency_responsibilities": [{"party": p, "responsibilities": "r"} for p in parties],
        "medications": [{"name": "m", "how_managed": "h", "managed_by": p} for p in parties],
    }
    for plan_type in (PlanType.CPP, PlanType.LAC):
        document["cp_plan"] = {**base["cp_plan"], "plan_type": plan_type.value}
        plan = HealthTreatmentPlan.model_validate(document)
        assert from_fhir(through_json(to_fhir(plan))) == plan


def test_lead_who_is_also_a_care_team_member_stays_two_entries() -> None:
    plan = fixture()
    lead = plan.lead_health_practitioner
    same = plan.model_copy(
        update={
            "care_team": [
                *plan.care_team,
                type(plan.care_team[0])(practitioner=lead, responsibilities="Also runs clinic."),
            ]
        }
    )
    back = from_fhir(through_json(to_fhir(same)))
    assert back == same
    assert back.care_team[-1].practitioner == back.lead_health_practitioner


def test_a_dmd_coded_medication_carries_its_code_beside_its_name() -> None:
    fixture = next(f for f in FIXTURES if "epilepsy" in f.path)
    plan = parse_artefact(fixture.read_bytes()).artefact
    assert isinstance(plan, HealthTreatmentPlan)
    # the code is UK Core's own example of a dm+d VMP (UKCore-Medication-Sn-Amoxicillin)
    coded = plan.medications[0].model_copy(
        update={"name": "Amoxicillin 250mg capsules", "dmd_code": "323509004"}
    )
    plan = plan.model_copy(update={"medications": [coded]})
    bundle = json.loads(json.dumps(to_fhir(plan)))
    statement = next(
        e["resource"]
        for e in bundle["entry"]
        if e["resource"]["resourceType"] == "MedicationStatement"
    )
    assert statement["medicationCodeableConcept"] == {
        "coding": [{"system": "https://dmd.nhs.uk", "code": "323509004"}],
        "text": "Amoxicillin 250mg capsules",
    }
    assert from_fhir(bundle) == plan


def test_same_artefact_same_bundle() -> None:
    plan = fixture()
    assert to_fhir(plan) == to_fhir(plan.model_copy())
    other = plan.model_copy(update={"local_id": "ANOTHER-1"})
    assert to_fhir(other)["id"] != to_fhir(plan)["id"]


def test_resources_sit_where_the_docs_say() -> None:
    bundle = to_fhir(fixture())
    care_plan = bundle["entry"][0]["resource"]
    assert care_plan["intent"] == "plan"
    assert care_plan["created"] == "2026-09-01"
    types = [e["resource"]["resourceType"] for e in bundle["entry"]]
    assert types[:4] == ["CarePlan", "CarePlan", "CareTeam", "Patient"]
    assert types.count("Condition") == 1
    assert types.count("MedicationStatement") == 3  # the third is the dm+d-coded one
    lead = bundle["entry"][2]["resource"]["participant"][0]
    assert lead["role"][0]["coding"][0]["code"] == "lead-health-practitioner"
    assert lead["member"] == care_plan["author"]


def test_profiles_and_extensions_are_declared() -> None:
    declared_profiles = {profile_url(p.name) for p in (*PROFILES, *COMMON_PROFILES)}
    declared_extensions = {ext_url(e.name) for e in (*EXTENSIONS, *COMMON_EXTENSIONS)}
    bundle = to_fhir(fixture())
    used = [
        url
        for node in walk(bundle)
        if isinstance(node, dict)
        for url in [*node.get("meta", {}).get("profile", []), node.get("url")]
        if isinstance(url, str) and url.startswith(CANONICAL_BASE)
    ]
    for url in used:
        assert url in declared_profiles | declared_extensions, url
    for profile in PROFILES:
        assert profile.base.startswith("https://fhir.hl7.org.uk/StructureDefinition/UKCore-")


# --- reading bad FHIR ----------------------------------------------------------------------

PLAN = "Bundle.entry[0].resource.ofType(CarePlan)"
CARE_TEAM = "Bundle.entry[2].resource.ofType(CareTeam)"
PATIENT = "Bundle.entry[3].resource.ofType(Patient)"
PARTY_EXT = f"extension('{ext_url('responsible-party')}')"


def _broken(change: Callable[[dict[str, Any]], Any]) -> list[tuple[str, str]]:
    bundle = through_json(to_fhir(fixture()))
    change(bundle)
    with pytest.raises(MappingError) as caught:
        from_fhir(bundle)
    return [(i.location, i.code.value) for i in caught.value.issues]


def _resource(bundle: dict[str, Any], index: int) -> dict[str, Any]:
    resource: dict[str, Any] = bundle["entry"][index]["resource"]
    return resource


def test_missing_created_is_located() -> None:
    found = _broken(lambda b: _resource(b, 0).pop("created"))
    assert found == [(f"{PLAN}.created", "required")]


def test_unresolvable_care_team_is_located() -> None:
    found = _broken(lambda b: _resource(b, 0)["careTeam"][0].update(reference="urn:uuid:x"))
    assert found == [(f"{PLAN}.careTeam[0].reference", "structure")]


def test_unresolvable_condition_is_located() -> None:
    found = _broken(lambda b: _resource(b, 0)["addresses"][0].update(reference="urn:uuid:x"))
    assert (f"{PLAN}.addresses[0].reference", "structure") in found


def test_unknown_trigger_code_is_located() -> None:
    def change(bundle: dict[str, Any]) -> None:
        _resource(bundle, 0)["activity"][1]["detail"]["reasonCode"][0]["coding"][0]["code"] = "x"

    found = _broken(change)
    location = f"{PLAN}.activity[1].detail.reasonCode[0].coding[0].code"
    assert found == [(location, "code-invalid")]


def test_unknown_activity_code_is_located() -> None:
    def change(bundle: dict[str, Any]) -> None:
        _resource(bundle, 0)["activity"][0]["detail"]["code"]["coding"][0]["code"] = "x"

    found = _broken(change)
    assert found == [(f"{PLAN}.activity[0].detail.code.coding[0].code", "code-invalid")]


def test_missing_responsible_party_is_located() -> None:
    found = _broken(lambda b: _resource(b, 0)["activity"][0]["detail"].pop("extension"))
    assert found == [(f"{PLAN}.activity[0].detail.{PARTY_EXT}", "required")]


def test_missing_lead_is_located() -> None:
    found = _broken(lambda b: _resource(b, 2)["participant"].pop(0))
    assert found == [(f"{CARE_TEAM}.participant", "required")]


def test_two_leads_are_reported() -> None:
    def change(bundle: dict[str, Any]) -> None:
        team = _resource(bundle, 2)
        team["participant"][1]["role"] = copy.deepcopy(team["participant"][0]["role"])

    assert _broken(change) == [(f"{CARE_TEAM}.participant", "value")]


def test_missing_condition_name_is_located() -> None:
    found = _broken(lambda b: _resource(b, 4)["code"].pop("text"))
    assert found == [("Bundle.entry[4].resource.ofType(Condition).code.text", "required")]


def test_missing_medication_note_is_located() -> None:
    found = _broken(lambda b: _resource(b, 5).pop("note"))
    assert found == [("Bundle.entry[5].resource.ofType(MedicationStatement).note", "required")]


def test_patient_without_nhs_number_is_located() -> None:
    found = _broken(lambda b: _resource(b, 3).pop("identifier"))
    assert found == [(f"{PATIENT}.identifier", "required")]


def test_bad_nhs_number_in_fhir_is_reported_at_the_patient() -> None:
    found = _broken(lambda b: _resource(b, 3)["identifier"][0].update(value="9434765918"))
    assert found == [(PATIENT, "value")]


def test_domain_rule_is_reported_at_its_element() -> None:
    def change(bundle: dict[str, Any]) -> None:
        _resource(bundle, 0)["extension"][0]["valueDate"] = "2020-01-01"

    found = _broken(change)
    assert found == [(f"{PLAN}.extension('{ext_url('next-review-date')}')", "invariant")]


def test_not_a_bundle() -> None:
    with pytest.raises(MappingError) as caught:
        from_fhir({"resourceType": "Patient"})
    assert caught.value.issues[0].location == "Bundle"


def test_bundle_without_the_plan() -> None:
    found = _broken(lambda b: b["entry"].pop(0))
    assert found == [("Bundle.entry", "required")]


def _paths(value: Any, path: tuple[Any, ...] = ()) -> Iterator[tuple[Any, ...]]:
    if isinstance(value, dict):
        for key, item in value.items():
            yield (*path, key)
            yield from _paths(item, (*path, key))
    elif isinstance(value, list):
        for index, item in enumerate(value):
            yield (*path, index)
            yield from _paths(item, (*path, index))


@pytest.mark.parametrize("name", ["cystic-fibrosis", "asthma-serious-allergy"])
def test_any_element_removed_reads_or_raises_mapping_error(name: str) -> None:
    """Dropping any one element never gives anything but the plan or a MappingError."""
    original = through_json(to_fhir(fixture(name)))
    for path in _paths(original["entry"]):
        bundle = copy.deepcopy(original)
        parent = bundle["entry"]
        for step in path[:-1]:
            parent = parent[step]
        del parent[path[-1]]
        issues = _issues_of(bundle)
        assert issues is None or issues, path
        assert all(re.match(r"^Bundle\b", i) for i in issues or []), path


def _issues_of(bundle: dict[str, Any]) -> list[str] | None:
    """The locations of the problems reading ``bundle`` (None when it reads)."""
    try:
        from_fhir(bundle)
    except MappingError as exc:
        return [i.location for i in exc.issues]
    return None


def test_a_malformed_snomed_code_is_reported_at_the_coding() -> None:
    bundle = through_json(to_fhir(fixture("epilepsy")))
    index = next(
        n for n, e in enumerate(bundle["entry"]) if e["resource"]["resourceType"] == "Condition"
    )
    bundle["entry"][index]["resource"]["code"]["coding"][0]["code"] = "84757008"
    with pytest.raises(MappingError) as caught:
        from_fhir(bundle)
    [issue] = caught.value.issues
    assert issue.location == f"Bundle.entry[{index}].resource.ofType(Condition).code.coding[0].code"
    assert (issue.code.value, "Verhoeff" in issue.message) == ("code-invalid", True)
