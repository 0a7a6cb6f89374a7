"""Health needs checklist ⇄ FHIR: the Questionnaire, lossless both ways (Bundle and bare
QuestionnaireResponse), valid R4B, answers that fit the form, clear errors on bad FHIR."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from datetime import UTC, date, datetime, timedelta, timezone
from typing import Any

import pytest
from fhir.resources.R4B.bundle import Bundle
from fhir.resources.R4B.questionnaire import Questionnaire
from fhir.resources.R4B.questionnaireresponse import QuestionnaireResponse
from hypothesis import given, settings
from hypothesis import strategies as st
from strategies import (
    CONDITION_ENTRIES,
    LOCAL_IDS,
    NAMES,
    TEXT,
    codes,
    dates,
    optional,
    people,
    practitioners,
    sharing,
    without_none,
)

from interop.artefact_json import parse_artefact
from interop.codes import ALL_CODE_SYSTEMS, CANONICAL_BASE, CareSetting, MeetingType
from interop.domain import HealthNeedsChecklist
from interop.fixtures import artefact_fixtures
from interop.identifiers import check_snomed_concept_id
from interop.mappings.fhir_common import MappingError, ext_url
from interop.mappings.fhir_health_needs_checklist import (
    EXTENSIONS,
    PROFILES,
    QUESTIONNAIRE_URL,
    from_fhir,
    from_questionnaire_response,
    questionnaire,
    to_fhir,
)

KIND = "health-needs-checklist"
FIXTURES = artefact_fixtures(KIND, "valid")
QR = "Bundle.entry[0].resource.ofType(QuestionnaireResponse)"
PATIENT = "Bundle.entry[1].resource.ofType(Patient)"

# --- strategies ----------------------------------------------------------------------------

OFFSETS = st.sampled_from(
    [UTC, timezone(timedelta(hours=1)), timezone(timedelta(hours=-3, minutes=-30))]
)


@st.composite
def meeting_times(draw: st.DrawFn) -> datetime:
    """Aware date-times, leap days included, with and without fractions of a second."""
    day = draw(dates(date(2024, 1, 1), date(2027, 12, 31)))
    return datetime.combine(day, draw(st.times()), tzinfo=draw(OFFSETS))


@st.composite
def sharings(draw: st.DrawFn) -> dict[str, Any] | None:
    """Nothing withheld, withheld with a reason, or shared with a note."""
    if draw(st.booleans()):
        return {"withheld_from_family": False, "note": draw(TEXT)}
    found: dict[str, Any] | None = draw(sharing())
    return found


@st.composite
def care_needs(draw: st.DrawFn) -> dict[str, Any]:
    entries = st.lists(TEXT, max_size=3)
    return without_none(
        {
            "medication": draw(entries),
            "therapies": draw(entries),
            "equipment": draw(entries),
            "appointments": draw(entries),
            "risk_of_serious_deterioration": draw(st.booleans()),
            "details": draw(optional(TEXT)),
        }
    )


@st.composite
def checklists(draw: st.DrawFn) -> HealthNeedsChecklist:
    diagnosed, compliance, plan = draw(st.booleans()), draw(st.booleans()), draw(st.booleans())
    needs_a_plan = (diagnosed or compliance) and not plan
    # care needs appear with a plan too: then they travel in an extension
    care = draw(care_needs()) if needs_a_plan else draw(optional(care_needs()))
    action = TEXT if diagnosed else optional(TEXT)
    document = {
        "kind": KIND,
        "local_id": draw(LOCAL_IDS),
        "sharing": draw(sharings()),
        "child": draw(people()),
        "meeting_type": draw(codes(MeetingType)),
        "meeting_at": draw(meeting_times()).isoformat(),
        "chair": draw(practitioners()),
        "diagnosed_needs": diagnosed,
        "diagnosed_needs_details": draw(optional(TEXT)),
        "diagnosed_conditions": draw(st.lists(CONDITION_ENTRIES, max_size=3)),
        "health_staff_involved": draw(st.lists(practitioners(), max_size=4)),
        "requires_parental_compliance": compliance,
        "care_plan_available": plan,
        "care_needs_without_plan": care,
        "cp_medical_required": draw(optional(st.booleans())),
        "cp_medical_notes": draw(optional(TEXT)),
        "actions": {
            "parents_having_difficulty": draw(action),
            "child_refuses_to_engage": draw(action),
            "sudden_deterioration": draw(action),
        },
        "completed_by": draw(optional(NAMES)),
    }
    return HealthNeedsChecklist.model_validate(without_none(document))


# --- helpers -------------------------------------------------------------------------------


def through_json(value: Any) -> Any:
    return json.loads(json.dumps(value))


def fixture(index: int = 0) -> HealthNeedsChecklist:
    checklist = parse_artefact(FIXTURES[index].read_bytes()).artefact
    assert isinstance(checklist, HealthNeedsChecklist)
    return checklist


def fixture_named(name: str) -> HealthNeedsChecklist:
    return fixture(next(i for i, f in enumerate(FIXTURES) if f.path.endswith(name)))


def response_of(bundle: dict[str, Any]) -> dict[str, Any]:
    found: dict[str, Any] = bundle["entry"][0]["resource"]
    assert found["resourceType"] == "QuestionnaireResponse"
    return found


ANSWER_KEYS = {
    "boolean": "valueBoolean",
    "string": "valueString",
    "text": "valueString",
    "date": "valueDate",
    "dateTime": "valueDateTime",
    "choice": "valueCoding",
}
VALUE_SETS = {f"{CANONICAL_BASE}/ValueSet/{s.slug}": s for s in ALL_CODE_SYSTEMS}


def _definitions(items: list[dict[str, Any]], parent: str | None = None) -> dict[str, Any]:
    found: dict[str, Any] = {}
    for item in items:
        found[item["linkId"]] = (item, parent)
        found.update(_definitions(item.get("item", []), item["linkId"]))
    return found


def _check_answer(definition: dict[str, Any], answer: dict[str, Any]) -> None:
    values = [k for k in answer if k.startswith("value")]
    if definition["type"] == "open-choice":  # a SNOMED CT code where known, else the name
        [key] = values
        if key == "valueCoding":
            assert answer[key]["system"] == "http://snomed.info/sct"
            assert check_snomed_concept_id(answer[key]["code"])
            assert len(answer[key]["display"]) <= definition["maxLength"]
        else:
            assert (key, len(answer[key]) <= definition["maxLength"]) == ("valueString", True)
        return
    assert values == [ANSWER_KEYS[definition["type"]]], (definition["linkId"], values)
    value = answer[values[0]]
    if definition["type"] == "choice":
        if "answerOption" in definition:
            assert {"valueCoding": value} in definition["answerOption"]
        else:
            system = VALUE_SETS[definition["answerValueSet"]]
            assert value["system"] == system.system()
            assert system.lookup(value["code"]) is not None
    if "maxLength" in definition:
        assert len(value) <= definition["maxLength"]


def assert_answers_the_form(response: dict[str, Any], form: dict[str, Any]) -> None:
    """Every item's linkId is in the Questionnaire, under the right parent, answered with the
    item's type; required and repeating items and enableWhen are respected."""
    definitions = _definitions(form["item"])
    answered: dict[str, Any] = {}

    def walk(items: list[dict[str, Any]], parent: str | None, siblings: list[Any]) -> None:
        link_ids = [item["linkId"] for item in items]
        for item in items:
            definition, expected_parent = definitions[item["linkId"]]
            assert expected_parent == parent, item["linkId"]
            if link_ids.count(item["linkId"]) > 1:
                assert definition["type"] == "group"
                assert definition.get("repeats")
            if definition["type"] == "group":
                assert "answer" not in item
                assert item["item"]
                walk(item["item"], item["linkId"], definition["item"])
                continue
            assert "item" not in item
            assert item["answer"]
            assert len(item["answer"]) == 1 or definition.get("repeats"), item["linkId"]
            for answer in item["answer"]:
                _check_answer(definition, answer)
            answered[item["linkId"]] = item["answer"]
        for sibling in siblings:
            if sibling.get("required") and "enableWhen" not in sibling:
                assert sibling["linkId"] in link_ids, f"required {sibling['linkId']} missing"

    walk(response["item"], None, form["item"])
    for definition, _ in definitions.values():
        for condition in definition.get("enableWhen", []):
            given = answered.get(condition["question"], [{}])[0].get("valueBoolean")
            present = any(i["linkId"] == definition["linkId"] for i in response["item"])
            assert not present or given == condition["answerBoolean"], definition["linkId"]


def assert_references_resolve(bundle: dict[str, Any]) -> None:
    urls = {e["fullUrl"] for e in bundle["entry"]}
    for reference in re.findall(r'"reference": "([^"]+)"', json.dumps(bundle)):
        assert reference in urls


# --- the Questionnaire ---------------------------------------------------------------------


def test_questionnaire_is_valid_r4b_and_mirrors_the_proforma() -> None:
    form = questionnaire()
    Questionnaire.model_validate(form)
    assert form["url"] == f"{CANONICAL_BASE}/Questionnaire/health-needs-checklist"
    assert (form["status"], form["version"]) == ("active", "0.2.0")
    assert [i["linkId"] for i in form["item"]] == [
        "child",
        "nhs-number",
        "meeting",
        "chair",
        "diagnosed-needs",
        "diagnosed-needs-details",
        "diagnosed-conditions",
        "health-staff",
        "requires-parental-compliance",
        "care-plan-available",
        "care-needs-without-plan",
        "cp-medical-required",
        "cp-medical-notes",
        "actions",
        "completed-by",
    ]
    definitions = _definitions(form["item"])
    assert len(definitions) == len(json.dumps(form).split('"linkId"')) - 1, "linkIds unique"
    care, _ = definitions["care-needs-without-plan"]
    assert care["enableWhen"] == [
        {"question": "care-plan-available", "operator": "=", "answerBoolean": False}
    ]
    assert definitions["health-staff"][0]["repeats"] is True
    assert definitions["care-needs-without-plan.medication"][0]["repeats"] is True
    assert definitions["meeting.type"][0]["answerValueSet"] == (
        f"{CANONICAL_BASE}/ValueSet/{MeetingType.slug}"
    )
    assert definitions["chair.setting"][0]["answerValueSet"] == (
        f"{CANONICAL_BASE}/ValueSet/{CareSetting.slug}"
    )
    assert definitions["child.gender"][0]["answerOption"]  # a national code system
    assert [i["linkId"] for i in definitions["actions"][0]["item"]] == [
        "actions.parents-having-difficulty",
        "actions.child-refuses-to-engage",
        "actions.sudden-deterioration",
    ]


def test_profiles_and_extensions_are_declared() -> None:
    names = {p.name: p for p in PROFILES}
    assert names["HealthNeedsChecklistResponse"].base.endswith("UKCore-QuestionnaireResponse")
    assert names["HealthNeedsChecklistBundle"].base.endswith("UKCore-Bundle")
    declared = {e.name for e in EXTENSIONS} | {"information-sharing"}
    bundle = to_fhir(fixture_named("review-conference-no-plan.json"))
    used = set(re.findall(r'"url": "' + re.escape(ext_url("")) + r'([^"]+)"', json.dumps(bundle)))
    assert used <= declared
    for item in bundle["entry"]:
        profiles = item["resource"]["meta"]["profile"]
        assert profiles
        assert all(p.startswith("https://") for p in profiles)


# --- round trips ---------------------------------------------------------------------------


@pytest.mark.parametrize("fixture_file", FIXTURES, ids=lambda f: f.path)
def test_fixture_round_trip(fixture_file: Any) -> None:
    checklist = parse_artefact(fixture_file.read_bytes()).artefact
    assert isinstance(checklist, HealthNeedsChecklist)
    bundle = to_fhir(checklist)
    Bundle.model_validate(bundle)
    response = response_of(bundle)
    QuestionnaireResponse.model_validate(response)
    assert_answers_the_form(response, questionnaire())
    assert_references_resolve(bundle)
    assert from_fhir(through_json(bundle)) == checklist
    assert from_questionnaire_response(through_json(response)) == checklist
    assert from_questionnaire_response(response, bundle["entry"][1]["resource"]) == checklist


@pytest.mark.slow
@settings(deadline=None)  # max_examples from the Hypothesis profile (conftest.py)
@given(checklists())
def test_generated_round_trip(checklist: HealthNeedsChecklist) -> None:
    bundle = through_json(to_fhir(checklist))
    assert from_fhir(bundle) == checklist
    response = response_of(bundle)
    assert response["questionnaire"] == f"{QUESTIONNAIRE_URL}|0.2.0"
    assert datetime.fromisoformat(response["authored"]) == checklist.meeting_at
    assert_answers_the_form(response, questionnaire())
    assert_references_resolve(bundle)
    assert all(checklist.child.nhs_number not in e["resource"]["id"] for e in bundle["entry"])


@pytest.mark.slow
@settings(max_examples=200, deadline=None)
@given(checklists())
def test_generated_bare_response_round_trip(checklist: HealthNeedsChecklist) -> None:
    bundle = through_json(to_fhir(checklist))
    response = response_of(bundle)
    assert from_questionnaire_response(response) == checklist
    assert from_questionnaire_response(response, bundle["entry"][1]["resource"]) == checklist


@settings(max_examples=100, deadline=None)
@given(checklists())
def test_generated_resources_are_valid_r4b(checklist: HealthNeedsChecklist) -> None:
    bundle = to_fhir(checklist)
    Bundle.model_validate(bundle)
    QuestionnaireResponse.model_validate(response_of(bundle))


def test_same_checklist_same_bundle() -> None:
    checklist = fixture()
    assert to_fhir(checklist) == to_fhir(checklist.model_copy())
    other = checklist.model_copy(update={"local_id": "ANOTHER-1"})
    assert to_fhir(other)["id"] != to_fhir(checklist)["id"]
    ids = [e["resource"]["id"] for e in to_fhir(checklist)["entry"]]
    assert len(ids) == len(set(ids))


def test_care_needs_with_a_plan_travel_in_an_extension() -> None:
    checklist = fixture_named("review-conference-no-plan.json").model_copy(
        update={"care_plan_available": True}
    )
    response = response_of(through_json(to_fhir(checklist)))
    assert "care-needs-without-plan" not in [i["linkId"] for i in response["item"]]
    assert ext_url("care-needs-without-plan") in [e["url"] for e in response["extension"]]
    assert from_questionnaire_response(response) == checklist


def test_a_forms_tool_response_with_the_patient_beside_it() -> None:
    """A form that asks only the proforma's identity questions: the Patient gives the rest."""
    checklist = fixture_named("initial-conference.json")
    bundle = through_json(to_fhir(checklist))
    response = response_of(bundle)
    response["item"][0]["item"] = [
        i
        for i in response["item"][0]["item"]
        if i["linkId"] in ("child.given-name", "child.family-name", "child.identity-number")
    ]
    for key in ("id", "meta", "subject", "author"):
        response.pop(key)
    response["identifier"] = {"system": "urn:oid:1.2.3", "value": checklist.local_id}
    assert from_questionnaire_response(response, bundle["entry"][1]["resource"]) == checklist
    with pytest.raises(MappingError) as caught:
        from_questionnaire_response(response)
    assert [(i.location, i.code.value) for i in caught.value.issues] == [
        ("QuestionnaireResponse.item[0]", "required")
    ]


def test_reading_does_not_change_the_input() -> None:
    bundle = to_fhir(fixture())
    before = copy.deepcopy(bundle)
    from_fhir(bundle)
    from_questionnaire_response(response_of(bundle), bundle["entry"][1]["resource"])
    assert bundle == before


# --- errors in a bare QuestionnaireResponse ------------------------------------------------


def _bare_errors(
    change: Callable[[dict[str, Any]], None], name: str = "initial-conference.json"
) -> list[tuple[str, str]]:
    response = response_of(through_json(to_fhir(fixture_named(name))))
    change(response)
    with pytest.raises(MappingError) as caught:
        from_questionnaire_response(response)
    return [(i.location, i.code.value) for i in caught.value.issues]


def _item(response: dict[str, Any], link_id: str) -> dict[str, Any]:
    return next(i for i in response["item"] if i["linkId"] == link_id)


def test_answer_of_the_wrong_type_is_located() -> None:
    found = _bare_errors(lambda r: r["item"][4].update(answer=[{"valueString": "yes"}]))
    assert found == [("QuestionnaireResponse.item[4].answer[0].valueBoolean", "value")]


def test_answer_that_is_not_a_boolean_is_located() -> None:
    found = _bare_errors(lambda r: r["item"][4].update(answer=[{"valueBoolean": "true"}]))
    assert found == [("QuestionnaireResponse.item[4].answer[0].valueBoolean", "value")]


def test_missing_answer_is_located() -> None:
    found = _bare_errors(lambda r: r["item"][4].pop("answer"))
    assert found == [("QuestionnaireResponse.item[4].answer", "required")]


def test_missing_required_item_is_located() -> None:
    found = _bare_errors(lambda r: r["item"].pop(1))  # the NHS number
    assert found == [("QuestionnaireResponse.item", "required")]


def test_missing_item_in_a_group_is_located() -> None:
    found = _bare_errors(lambda r: r["item"][3]["item"].pop(1))  # the chair's role
    assert found == [("QuestionnaireResponse.item[3].item", "required")]


def test_two_answers_to_a_single_question() -> None:
    found = _bare_errors(lambda r: r["item"][4]["answer"].append({"valueBoolean": False}))
    assert found == [("QuestionnaireResponse.item[4].answer[1]", "structure")]


def test_unknown_meeting_type_is_located() -> None:
    def change(response: dict[str, Any]) -> None:
        response["item"][2]["item"][0]["answer"][0]["valueCoding"]["code"] = "strategy-meeting"

    found = _bare_errors(change)
    assert found == [
        ("QuestionnaireResponse.item[2].item[0].answer[0].valueCoding.code", "code-invalid")
    ]


def test_bad_nhs_number_in_an_answer_is_located() -> None:
    found = _bare_errors(lambda r: r["item"][1]["answer"][0].update(valueString="9434765918"))
    assert found == [("QuestionnaireResponse.item[1].answer[0].valueString", "value")]


def test_bad_date_of_birth_is_located() -> None:
    found = _bare_errors(lambda r: r["item"][0]["item"][3]["answer"][0].update(valueDate="2016"))
    assert found == [("QuestionnaireResponse.item[0].item[3].answer[0].valueDate", "value")]


def test_bad_phone_of_a_health_practitioner_is_located() -> None:
    def change(response: dict[str, Any]) -> None:
        staff = [i for i in response["item"] if i["linkId"] == "health-staff"][1]
        phone = next(i for i in staff["item"] if i["linkId"] == "health-staff.phone")
        phone["answer"][0]["valueString"] = "call the ward"

    found = _bare_errors(change)
    assert found == [("QuestionnaireResponse.item[8].item[5].answer[0].valueString", "value")]


def test_missing_care_needs_without_a_plan_is_located_at_the_plan_answer() -> None:
    found = _bare_errors(
        lambda r: r["item"].remove(_item(r, "care-needs-without-plan")),
        "review-conference-no-plan.json",
    )
    assert found == [("QuestionnaireResponse.item[11].answer[0].valueBoolean", "invariant")]


def test_missing_agreed_action_is_no_error() -> None:
    # the checklist's action rows are conditional ("If parents/carers are having
    # difficulty...", 001 L423-427): leaving one out is no longer a C14 error (issue #16)
    response = response_of(through_json(to_fhir(fixture_named("initial-conference.json"))))
    before = from_questionnaire_response(response)
    _item(response, "actions")["item"].pop(2)
    after = from_questionnaire_response(response)
    assert after.actions != before.actions  # type: ignore[attr-defined]


def test_missing_identifier() -> None:
    found = _bare_errors(lambda r: r.pop("identifier"))
    assert found == [("QuestionnaireResponse.identifier", "required")]


def test_response_to_another_questionnaire() -> None:
    found = _bare_errors(lambda r: r.update(questionnaire=f"{CANONICAL_BASE}/Questionnaire/x"))
    assert found == [("QuestionnaireResponse.questionnaire", "value")]


def test_a_response_to_the_earlier_version_is_still_read() -> None:
    """0.2.0 added the diagnosed conditions; a 0.1.0 response (without them) reads the same."""
    coded = next(c for c in map(fixture, range(len(FIXTURES))) if c.diagnosed_conditions)
    response = response_of(through_json(to_fhir(coded)))
    response["questionnaire"] = f"{QUESTIONNAIRE_URL}|0.1.0"
    response["item"] = [i for i in response["item"] if i["linkId"] != "diagnosed-conditions"]
    read = from_questionnaire_response(response)
    assert read == coded.model_copy(update={"diagnosed_conditions": []})


def test_a_response_to_an_unknown_version_is_refused() -> None:
    found = _bare_errors(lambda r: r.update(questionnaire=f"{QUESTIONNAIRE_URL}|9.0.0"))
    assert found == [("QuestionnaireResponse.questionnaire", "value")]


def test_unfinished_response() -> None:
    found = _bare_errors(lambda r: r.update(status="in-progress"))
    assert found == [("QuestionnaireResponse.status", "value")]


def test_patient_that_is_not_this_child() -> None:
    bundle = through_json(to_fhir(fixture()))
    other = copy.deepcopy(bundle["entry"][1]["resource"])
    other["identifier"][0]["value"] = "9434765919"
    with pytest.raises(MappingError) as caught:
        from_questionnaire_response(response_of(bundle), other)
    assert [(i.location, i.code.value) for i in caught.value.issues] == [
        ("QuestionnaireResponse.item[1].answer[0].valueString", "invariant")
    ]


def test_not_a_questionnaire_response() -> None:
    with pytest.raises(MappingError) as caught:
        from_questionnaire_response({"resourceType": "Patient"})
    assert caught.value.issues[0].location == "QuestionnaireResponse"


# --- errors in a Bundle --------------------------------------------------------------------


def _broken(
    change: Callable[[dict[str, Any]], None], name: str = "initial-conference.json"
) -> list[tuple[str, str]]:
    bundle = through_json(to_fhir(fixture_named(name)))
    change(bundle)
    with pytest.raises(MappingError) as caught:
        from_fhir(bundle)
    return [(i.location, i.code.value) for i in caught.value.issues]


def test_missing_subject_is_located() -> None:
    found = _broken(lambda b: response_of(b).pop("subject"))
    assert found == [(f"{QR}.subject", "required")]


def test_unresolvable_author_is_located() -> None:
    found = _broken(lambda b: response_of(b)["author"].update(reference="urn:uuid:nowhere"))
    assert found == [(f"{QR}.author.reference", "structure")]


def test_unresolvable_health_practitioner_is_located() -> None:
    def change(bundle: dict[str, Any]) -> None:
        _item(response_of(bundle), "health-staff")["extension"][0]["valueReference"] = {
            "reference": "urn:uuid:nowhere"
        }

    link = ext_url("practitioner-role")
    found = _broken(change)
    assert found == [(f"{QR}.item[7].extension('{link}').valueReference.reference", "structure")]


def test_patient_without_nhs_number_is_located() -> None:
    found = _broken(lambda b: b["entry"][1]["resource"].pop("identifier"))
    assert found == [(f"{PATIENT}.identifier", "required")]


def test_bad_nhs_number_is_reported_at_the_patient() -> None:
    def change(bundle: dict[str, Any]) -> None:
        bundle["entry"][1]["resource"]["identifier"][0]["value"] = "9434765918"
        response_of(bundle)["item"][1]["answer"][0]["valueString"] = "9434765918"

    assert _broken(change) == [(PATIENT, "value")]


def test_answers_that_disagree_with_the_patient() -> None:
    found = _broken(lambda b: b["entry"][1]["resource"]["name"][0].update(family="Other"))
    assert found == [(f"{QR}.item[0].item[1].answer[0].valueString", "invariant")]


def test_answers_that_disagree_with_the_chair() -> None:
    def change(bundle: dict[str, Any]) -> None:
        practitioner = bundle["entry"][2]["resource"]
        assert practitioner["resourceType"] == "Practitioner"
        practitioner["name"][0]["text"] = "Somebody Else"

    assert _broken(change) == [(f"{QR}.item[3].item[0].answer[0].valueString", "invariant")]


def test_unknown_setting_on_a_practitioner_role_is_located() -> None:
    def change(bundle: dict[str, Any]) -> None:
        role = bundle["entry"][6]["resource"]
        assert role["resourceType"] == "PractitionerRole"
        role["specialty"][0]["coding"][0]["code"] = "ward"

    role = "Bundle.entry[6].resource.ofType(PractitionerRole)"
    assert _broken(change) == [(f"{role}.specialty[0].coding[0].code", "code-invalid")]


def test_care_needs_both_answered_and_in_the_extension() -> None:
    def change(bundle: dict[str, Any]) -> None:
        with_plan = fixture_named("review-conference-no-plan.json").model_copy(
            update={"care_plan_available": True}
        )
        response_of(bundle)["extension"] = response_of(through_json(to_fhir(with_plan)))[
            "extension"
        ]

    found = _broken(change, "review-conference-no-plan.json")
    assert found == [(f"{QR}.extension('{ext_url('care-needs-without-plan')}')", "structure")]


def test_not_a_bundle() -> None:
    with pytest.raises(MappingError) as caught:
        from_fhir({"resourceType": "Patient"})
    assert caught.value.issues[0].location == "Bundle"


def test_bundle_without_the_response() -> None:
    found = _broken(lambda b: b.update(entry=b["entry"][1:]))
    assert found == [("Bundle.entry", "required")]


def _paths(value: Any, path: tuple[Any, ...] = ()) -> list[tuple[Any, ...]]:
    """The path of every element of a JSON document, the root first."""
    children: list[tuple[Any, Any]] = []
    if isinstance(value, dict):
        children = list(value.items())
    elif isinstance(value, list):
        children = list(enumerate(value))
    found = [path]
    for key, child in children:
        found += _paths(child, (*path, key))
    return found


def _replaced(document: Any, path: tuple[Any, ...], junk: Any) -> Any:
    changed = copy.deepcopy(document)
    parent = changed
    for key in path[:-1]:
        parent = parent[key]
    parent[path[-1]] = junk
    return changed


@pytest.mark.slow
@pytest.mark.parametrize("reader", ["bundle", "response"])
def test_junk_anywhere_gives_mapping_errors_only(reader: str) -> None:
    """Every element replaced by junk in turn: the result is a checklist or a MappingError."""
    bundle = through_json(to_fhir(fixture_named("review-conference-no-plan.json")))
    document = bundle if reader == "bundle" else response_of(bundle)
    read: Callable[[Any], Any] = from_fhir if reader == "bundle" else from_questionnaire_response
    unexplained = []
    for path in _paths(document)[1:]:
        for junk in (None, "x", 7, [], [{}]):
            try:
                read(_replaced(document, path, junk))
            except MappingError as caught:
                if not caught.issues:
                    unexplained.append(path)
    assert not unexplained


# --- diagnosed conditions, coded in SNOMED CT where known -----------------------------------


def test_diagnosed_conditions_are_answered_coded_where_known() -> None:
    checklist = fixture_named("review-conference-no-plan.json")
    response = response_of(to_fhir(checklist))
    assert _item(response, "diagnosed-conditions")["answer"] == [
        {"valueString": "Bilateral spastic cerebral palsy"},
        {
            "valueCoding": {
                "system": "http://snomed.info/sct",
                "code": "84757009",
                "display": "Epilepsy",
            }
        },
    ]
    assert from_questionnaire_response(through_json(response)) == checklist


def test_a_checklist_answered_before_the_conditions_item_still_reads() -> None:
    checklist = fixture_named("initial-conference.json")
    response = through_json(response_of(to_fhir(checklist)))
    response["item"].remove(_item(response, "diagnosed-conditions"))
    read = from_questionnaire_response(response)
    assert read == checklist.model_copy(update={"diagnosed_conditions": []})


def test_a_bad_snomed_code_is_located_at_its_answer() -> None:
    def change(response: dict[str, Any]) -> None:
        _item(response, "diagnosed-conditions")["answer"][1]["valueCoding"]["code"] = "396331050"

    index = [
        i["linkId"] for i in response_of(to_fhir(fixture_named("initial-conference.json")))["item"]
    ].index("diagnosed-conditions")
    assert _bare_errors(change) == [
        (f"QuestionnaireResponse.item[{index}].answer[1].valueCoding.code", "code-invalid")
    ]
