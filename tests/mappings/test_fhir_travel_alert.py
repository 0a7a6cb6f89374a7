"""Travel alert ⇄ FHIR message Bundle and ⇄ the travel risk assessment form: lossless both
ways, valid R4B, clear errors located in the FHIR or the QuestionnaireResponse."""

from __future__ import annotations

import copy
import json
import re
from collections.abc import Callable
from datetime import date
from typing import Any

import pycountry
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
    after,
    codes,
    dates,
    optional,
    organisations,
    people,
    practitioners,
    sharing,
    social_workers,
    without_none,
)

from interop.artefact_json import parse_artefact
from interop.codes import (
    DestinationKind,
    FactorAnswer,
    LocateEffort,
    Permanence,
    SafeguardingPathway,
    TravelOutcome,
    TravelRiskFactor,
    TravelScenario,
)
from interop.domain import TravelAlert
from interop.fhir import read_fhir_xml, to_xml
from interop.fixtures import artefact_fixtures
from interop.mappings.fhir_common import COMMON_EXTENSIONS, MappingError, ext_url, profile_url
from interop.mappings.fhir_travel_alert import (
    EXTENSIONS,
    PROFILES,
    QUESTIONNAIRE_URL,
    SOURCE_ENDPOINT,
    MessageEvent,
    TravelCommunication,
    from_fhir,
    from_questionnaire_response,
    questionnaire,
    to_fhir,
    to_questionnaire_response,
)

KIND = "travel-alert"
FIXTURES = artefact_fixtures(KIND, "valid")
COUNTRIES = sorted(c.alpha_2 for c in pycountry.countries)
UKCORE = "https://fhir.hl7.org.uk/StructureDefinition/UKCore-"


def _alert(path_part: str) -> TravelAlert:
    fixture = next(f for f in FIXTURES if path_part in f.path)
    alert = parse_artefact(fixture.read_bytes()).artefact
    assert isinstance(alert, TravelAlert)
    return alert


def through_json(value: Any) -> Any:
    return json.loads(json.dumps(value))


# --- strategies ----------------------------------------------------------------------------


@st.composite
def destinations(draw: st.DrawFn) -> dict[str, Any]:
    kind = draw(st.sampled_from(list(DestinationKind)))
    uk = kind is DestinationKind.UK_LOCAL_AUTHORITY
    return without_none(
        {
            "kind": kind.value,
            "local_authority": draw(organisations() if uk else optional(organisations())),
            "country": draw(optional(st.just("GB")) if uk else st.sampled_from(COUNTRIES)),
            "place": draw(optional(TEXT)),
        }
    )


@st.composite
def assessments(draw: st.DrawFn, scenario: TravelScenario, form: bool) -> dict[str, Any]:
    factors = draw(st.permutations(list(TravelRiskFactor)))[: draw(st.integers(0, 7))]
    if form:  # the form asks the factors in the protocol's order
        factors = [f for f in TravelRiskFactor if f in factors]
    return without_none(
        {
            "assessed_on": draw(dates(date(2024, 1, 1))).isoformat(),
            "assessed_by": draw(practitioners()),
            "retrospective": scenario is TravelScenario.TRAVELLED,
            "expected_time_away": draw(optional(TEXT)),
            "findings": [
                without_none(
                    {
                        "factor": f.value,
                        "answer": draw(codes(FactorAnswer)),
                        "notes": draw(optional(TEXT)),
                    }
                )
                for f in factors
            ],
            "transport_mode": draw(optional(TEXT)),
            "family_views_and_wishes": draw(optional(TEXT)),
            "summary": draw(optional(TEXT)),
        }
    )


@st.composite
def referrals(draw: st.DrawFn) -> dict[str, Any]:
    return without_none(
        {
            "made_on": draw(dates(date(2024, 1, 1))).isoformat(),
            "to": draw(organisations()),
            "risks": draw(TEXT),
            "guidance_referenced": draw(st.booleans()),
            "reference": draw(optional(LOCAL_IDS)),
        }
    )


@st.composite
def actions(draw: st.DrawFn) -> dict[str, Any]:
    return without_none(
        {
            "taken_on": draw(dates(date(2024, 1, 1))).isoformat(),
            "description": draw(TEXT),
            "by": draw(optional(NAMES)),
        }
    )


@st.composite
def locate_attempts(draw: st.DrawFn) -> dict[str, Any]:
    return without_none(
        {
            "effort": draw(codes(LocateEffort)),
            "done_on": draw(dates(date(2024, 1, 1))).isoformat(),
            "outcome": draw(optional(TEXT)),
        }
    )


@st.composite
def alerts(draw: st.DrawFn, form: bool = False) -> TravelAlert:
    """Any valid alert; with ``form``, only what the travel risk assessment form asks."""
    scenarios = [TravelScenario.PLANNED, TravelScenario.TRAVELLED] if form else TravelScenario
    scenario = draw(st.sampled_from(list(scenarios)))
    missing = scenario is TravelScenario.WHEREABOUTS_UNKNOWN
    outcomes = [o for o in TravelOutcome if not form or o is not TravelOutcome.LOCATED]
    outcome = draw(st.sampled_from(outcomes))
    departure = draw(
        dates(date(2024, 1, 1))
        if scenario is TravelScenario.TRAVELLED
        else optional(dates(date(2024, 1, 1)))
    )
    attempts: list[dict[str, Any]] = (
        [] if form or not missing else draw(st.lists(locate_attempts(), max_size=4))
    )
    document = {
        "kind": KIND,
        "local_id": draw(LOCAL_IDS),
        "sharing": draw(sharing()),
        "scenario": scenario.value,
        "child": draw(people()),
        "complex_needs": draw(TEXT),
        "conditions": draw(st.lists(CONDITION_ENTRIES, max_size=3)),
        "raised_on": draw(dates(date(2024, 1, 1))).isoformat(),
        "raised_by": draw(practitioners()),
        "lead_clinician": draw(optional(practitioners())),
        "destination": draw(optional(destinations()) if missing else destinations()),
        "permanence": draw(optional(codes(Permanence))),
        "departure_date": departure.isoformat() if departure else None,
        "return_date": draw(optional(after(departure).map(date.isoformat))) if departure else None,
        "risk_assessment": draw(optional(assessments(scenario, form))),
        "outcome": outcome.value,
        "family_following_health_advice": draw(optional(st.booleans())),
        "actions_taken": draw(st.lists(actions(), max_size=3)),
        "social_care_referral": draw(
            referrals() if outcome is TravelOutcome.SIGNIFICANT_RISK else optional(referrals())
        ),
        "allocated_social_worker": draw(optional(social_workers())),
        "social_worker_contacted_on": draw(optional(dates(date(2024, 1, 1)).map(date.isoformat))),
        "strategy_discussion_requested": draw(optional(st.booleans())),
        "safeguarding_pathways": draw(
            st.lists(codes(SafeguardingPathway), max_size=3, unique=True)
        ),
        "last_known_area": None if form else draw(optional(TEXT)),
        "locate_attempts": attempts,
        "missing_alert_recipients": [] if form else draw(st.lists(organisations(), max_size=3)),
        "closure": {
            "closed_on": draw(dates(date(2024, 1, 1))).isoformat(),
            "head_of_service": draw(NAMES),
            "reason": draw(TEXT),
        }
        if draw(st.booleans()) and attempts
        else None,
    }
    return TravelAlert.model_validate(without_none(document))


# --- to_fhir / from_fhir -------------------------------------------------------------------


def check_bundle(bundle: dict[str, Any]) -> None:
    """Valid R4B, every reference resolves, ids unique, and the message's own rules."""
    Bundle.model_validate(bundle)
    urls = [e["fullUrl"] for e in bundle["entry"]]
    assert len(set(urls)) == len(urls)
    for reference in re.findall(r'"reference": "([^"]+)"', json.dumps(bundle)):
        assert reference in urls
    assert bundle["type"] == "message"
    assert bundle["timestamp"].endswith("T00:00:00Z")
    header = bundle["entry"][0]["resource"]
    assert header["resourceType"] == "MessageHeader"
    assert header["source"]["endpoint"] == SOURCE_ENDPOINT
    assert header["focus"] == [{"reference": bundle["entry"][1]["fullUrl"]}]
    assert bundle["entry"][1]["resource"]["resourceType"] == "Flag"


@pytest.mark.parametrize("fixture", FIXTURES, ids=lambda f: f.path)
def test_fixture_round_trip(fixture: Any) -> None:
    alert = parse_artefact(fixture.read_bytes()).artefact
    assert isinstance(alert, TravelAlert)
    bundle = to_fhir(alert)
    check_bundle(bundle)
    assert from_fhir(through_json(bundle)) == alert


@pytest.mark.parametrize("fixture", FIXTURES, ids=lambda f: f.path)
def test_fixture_xml_twin(fixture: Any) -> None:
    alert = parse_artefact(fixture.read_bytes()).artefact
    assert isinstance(alert, TravelAlert)
    bundle = through_json(to_fhir(alert))
    back = read_fhir_xml(to_xml(bundle))
    assert back == bundle
    assert from_fhir(back) == alert


@pytest.mark.slow
@settings(deadline=None)  # max_examples from the Hypothesis profile (conftest.py)
@given(alerts())
def test_generated_round_trip(alert: TravelAlert) -> None:
    bundle = through_json(to_fhir(alert))
    check_bundle(bundle)
    assert from_fhir(bundle) == alert
    assert to_fhir(alert) == bundle


def _resources(bundle: dict[str, Any], resource_type: str) -> list[dict[str, Any]]:
    return [
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == resource_type
    ]


def _resource(bundle: dict[str, Any], resource_type: str) -> dict[str, Any]:
    return _resources(bundle, resource_type)[0]


def _position(bundle: dict[str, Any], resource_type: str) -> int:
    return next(
        i for i, e in enumerate(bundle["entry"]) if e["resource"]["resourceType"] == resource_type
    )


def test_bundle_shape_of_a_significant_risk_alert() -> None:
    bundle = to_fhir(_alert("planned-abroad-significant-risk"))
    header = _resource(bundle, "MessageHeader")
    assert header["eventCoding"]["code"] == MessageEvent.TRAVEL_ALERT_PLANNED.value
    assert header["sender"] == _resource(bundle, "PractitionerRole")["organization"]
    assessment = _resource(bundle, "RiskAssessment")
    assert assessment["occurrenceDateTime"] == "2026-10-09"
    assert assessment["prediction"][0]["outcome"]["coding"][0]["code"] == "significant-risk"
    assert len(assessment["basis"]) == 7 == len(_resources(bundle, "Observation"))
    categories = [
        c["category"][0]["coding"][0]["code"] for c in _resources(bundle, "Communication")
    ]
    assert categories == [
        TravelCommunication.LEAD_CLINICIAN.value,
        TravelCommunication.SOCIAL_CARE_REFERRAL.value,
    ]
    flag = _resource(bundle, "Flag")
    assert flag["period"] == {"start": "2026-10-05"}
    assert flag["code"]["coding"][0]["code"] == "planned"


def test_missing_child_alert_has_its_event_recipients_and_closure() -> None:
    alert = _alert("whereabouts-unknown-closed")
    bundle = to_fhir(alert)
    assert _resource(bundle, "MessageHeader")["eventCoding"]["code"] == "missing-child-alert"
    flag = _resource(bundle, "Flag")
    assert flag["status"] == "inactive"
    assert flag["period"]["end"] == "2026-08-28"
    communications = _resources(bundle, "Communication")
    assert len(communications) == 3
    assert all(c["category"][0]["coding"][0]["code"] == "missing-alert" for c in communications)
    assert not _resources(bundle, "RiskAssessment")


def test_retrospective_event() -> None:
    bundle = to_fhir(_alert("travelled-retrospective-fgm"))
    header = _resource(bundle, "MessageHeader")
    assert header["eventCoding"]["code"] == "travel-alert-retrospective"
    assert "sender" not in header, "the raising school practitioner names no organisation"


SHARED_TYPES = ("Patient", "Organization", "Practitioner", "PractitionerRole")


@settings(max_examples=60, deadline=None)
@given(alerts())
def test_profiles_and_extensions_are_declared(alert: TravelAlert) -> None:
    bundle = to_fhir(alert)
    declared_profiles = {profile_url(p.name) for p in PROFILES}
    assert profile_url("TravelAlertMessage") in bundle["meta"]["profile"]
    definitions = {ext_url(e.name): e for e in (*EXTENSIONS, *COMMON_EXTENSIONS)}
    for item in bundle["entry"]:
        resource = item["resource"]
        (claimed,) = resource["meta"]["profile"]
        if resource["resourceType"] in (
            "Patient",
            "Organization",
            "Practitioner",
            "PractitionerRole",
        ):
            assert claimed == profile_url(f"Safeguarding{resource['resourceType']}")
        else:
            assert claimed in declared_profiles
        profile = next((p for p in PROFILES if profile_url(p.name) == claimed), None)
        allowed = {ext_url(name) for name, _, _ in profile.extensions} if profile else set()
        for extension in resource.get("extension", []):
            assert extension["url"] in allowed, extension["url"]
            definition = definitions[extension["url"]]
            children = {c.name for c in definition.children}
            for child in extension.get("extension", []):
                assert child["url"] in children


def test_profiles_derive_from_uk_core_where_it_has_the_type() -> None:
    assert {p.resource_type: p.base for p in PROFILES} == {
        "Bundle": UKCORE + "Bundle",  # UKCORE here ends in "UKCore-"
        "MessageHeader": UKCORE + "MessageHeader",
        "Flag": UKCORE + "Flag",
        "RiskAssessment": "http://hl7.org/fhir/StructureDefinition/RiskAssessment",
        "Observation": UKCORE + "Observation",
        "Communication": UKCORE + "Communication",
    }


def test_same_alert_same_bundle_and_ids_hide_the_nhs_number() -> None:
    alert = _alert("planned-abroad-significant-risk")
    assert to_fhir(alert) == to_fhir(alert.model_copy())
    other = alert.model_copy(update={"local_id": "ANOTHER-1"})
    assert to_fhir(other)["id"] != to_fhir(alert)["id"]
    ids = [e["resource"]["id"] for e in to_fhir(alert)["entry"]]
    assert len(set(ids)) == len(ids)
    assert all(alert.child.nhs_number not in i for i in ids)


def _broken(change: Callable[[dict[str, Any]], Any], fixture: str = "significant-risk") -> Any:
    bundle = through_json(to_fhir(_alert(fixture)))
    change(bundle)
    with pytest.raises(MappingError) as caught:
        from_fhir(bundle)
    return [(i.location, i.code.value) for i in caught.value.issues], bundle


FLAG = "Bundle.entry[1].resource.ofType(Flag)"


def test_missing_raised_on_is_located() -> None:
    found, _ = _broken(lambda b: _resource(b, "Flag")["period"].pop("start"))
    assert found == [(f"{FLAG}.period.start", "required")]


def test_missing_flag_author_is_located() -> None:
    found, _ = _broken(lambda b: _resource(b, "Flag").pop("author"))
    assert found == [(f"{FLAG}.author", "required")]


def test_unresolvable_subject_is_located() -> None:
    found, _ = _broken(lambda b: _resource(b, "Flag")["subject"].update(reference="urn:uuid:x"))
    assert found == [(f"{FLAG}.subject.reference", "structure")]


def test_unresolvable_finding_is_located() -> None:
    found, bundle = _broken(
        lambda b: _resource(b, "RiskAssessment")["basis"][2].update(reference="urn:uuid:x")
    )
    at = _position(bundle, "RiskAssessment")
    assert found == [
        (f"Bundle.entry[{at}].resource.ofType(RiskAssessment).basis[2].reference", "structure")
    ]


def test_unknown_scenario_code_is_located() -> None:
    found, _ = _broken(lambda b: _resource(b, "Flag")["code"]["coding"][0].update(code="gone"))
    assert found == [(f"{FLAG}.code.coding[0].code", "code-invalid")]


def test_unknown_factor_answer_is_located() -> None:
    def change(bundle: dict[str, Any]) -> None:
        _resources(bundle, "Observation")[1]["valueCodeableConcept"]["coding"][0]["code"] = "??"

    found, bundle = _broken(change)
    at = _position(bundle, "Observation") + 1
    assert found == [
        (
            f"Bundle.entry[{at}].resource.ofType(Observation).valueCodeableConcept.coding[0].code",
            "code-invalid",
        )
    ]


def test_unknown_pathway_code_is_located() -> None:
    url = ext_url("safeguarding-pathway")

    def change(bundle: dict[str, Any]) -> None:
        pathway = next(e for e in _resource(bundle, "Flag")["extension"] if e["url"] == url)
        pathway["valueCoding"]["code"] = "witchcraft"

    found, _ = _broken(change)
    assert found == [(f"{FLAG}.extension('{url}')[0].valueCoding.code", "code-invalid")]


def test_bad_nhs_number_is_reported_at_the_patient() -> None:
    found, bundle = _broken(
        lambda b: _resource(b, "Patient")["identifier"][0].update(value="9434765918")
    )
    at = _position(bundle, "Patient")
    assert found == [(f"Bundle.entry[{at}].resource.ofType(Patient)", "value")]


def test_domain_rule_is_reported_at_its_element() -> None:
    """Dropping the referral breaks C07 (significant risk needs a referral): at the Flag."""
    found, _ = _broken(
        lambda b: b.update(
            entry=[
                e
                for e in b["entry"]
                if e["resource"].get("category", [{}])[0].get("coding", [{}])[0].get("code")
                != "social-care-referral"
            ]
        )
    )
    assert found == [(FLAG, "invariant")]


def test_return_before_departure_is_reported_at_the_return_date() -> None:
    url = ext_url("return-date")

    def change(bundle: dict[str, Any]) -> None:
        returned = next(e for e in _resource(bundle, "Flag")["extension"] if e["url"] == url)
        returned["valueDate"] = "2026-01-01"

    found, _ = _broken(change)
    assert found == [(f"{FLAG}.extension('{url}')", "invariant")]


def test_event_that_contradicts_the_scenario() -> None:
    found, _ = _broken(
        lambda b: _resource(b, "MessageHeader")["eventCoding"].update(code="missing-child-alert")
    )
    assert found == [
        ("Bundle.entry[0].resource.ofType(MessageHeader).eventCoding.code", "invariant")
    ]


def test_outcomes_that_disagree() -> None:
    def change(bundle: dict[str, Any]) -> None:
        prediction = _resource(bundle, "RiskAssessment")["prediction"][0]
        prediction["outcome"]["coding"][0]["code"] = "no-risk-identified"

    found, bundle = _broken(change)
    at = _position(bundle, "RiskAssessment")
    assert found == [
        (f"Bundle.entry[{at}].resource.ofType(RiskAssessment).prediction[0].outcome", "invariant")
    ]


def test_not_a_bundle_and_no_flag() -> None:
    with pytest.raises(MappingError) as caught:
        from_fhir({"resourceType": "Patient"})
    assert caught.value.issues[0].location == "Bundle"
    found, _ = _broken(
        lambda b: b.update(entry=[e for e in b["entry"] if e["resource"]["resourceType"] != "Flag"])
    )
    assert found == [("Bundle.entry", "required")]


def test_reading_does_not_change_the_bundle() -> None:
    bundle = to_fhir(_alert("whereabouts-unknown-closed"))
    before = copy.deepcopy(bundle)
    from_fhir(bundle)
    assert bundle == before


# --- the form ------------------------------------------------------------------------------


def _questions(items: list[dict[str, Any]]) -> dict[str, dict[str, Any]]:
    found: dict[str, dict[str, Any]] = {}
    for item in items:
        found[item["linkId"]] = item
        found.update(_questions(item.get("item", [])))
    return found


QUESTIONS = _questions(questionnaire()["item"])
ANSWER_TYPES = {
    "string": "valueString",
    "text": "valueString",
    "date": "valueDate",
    "boolean": "valueBoolean",
    "choice": "valueCoding",
}


def _keys(value: Any) -> set[str]:
    if isinstance(value, dict):
        return set(value).union(*(_keys(v) for v in value.values()))
    if isinstance(value, list):
        return set().union(*(_keys(v) for v in value))
    return set()


def check_response(response: dict[str, Any]) -> None:
    """Valid R4B, and every answer is to a question of the form, of its type and options."""
    QuestionnaireResponse.model_validate(response)
    assert response["questionnaire"] == QUESTIONNAIRE_URL
    assert "extension" not in _keys(response), "a forms tool needs no toolkit extensions"

    def walk(items: list[dict[str, Any]]) -> None:
        for item in items:
            question = QUESTIONS[item["linkId"]]
            assert ("item" in item) == (question["type"] == "group")
            for answer in item.get("answer", []):
                (key,) = answer
                if question["type"] == "open-choice":  # a code where known, else the name
                    assert key in ("valueCoding", "valueString")
                    continue
                assert key == ANSWER_TYPES[question["type"]]
                if "answerOption" in question:
                    options = [o["valueCoding"] for o in question["answerOption"]]
                    assert answer[key] in options
            walk(item.get("item", []))

    walk(response["item"])


def test_questionnaire_is_valid_r4b_and_asks_every_factor() -> None:
    form = questionnaire()
    Questionnaire.model_validate(form)
    assert form["url"] == QUESTIONNAIRE_URL
    assert form["status"] == "active"
    links = list(QUESTIONS)
    assert len(links) == len(set(links)), "linkIds are unique"
    factors = [q for q in QUESTIONS.values() if "code" in q]
    assert [f["code"][0]["code"] for f in factors] == [f.value for f in TravelRiskFactor]
    for factor in factors:
        answer = factor["item"][0]
        assert answer["required"] is True
        assert [o["valueCoding"]["code"] for o in answer["answerOption"]] == [
            a.value for a in FactorAnswer
        ]
    scenarios = QUESTIONS["alert.scenario"]["answerOption"]
    assert [o["valueCoding"]["code"] for o in scenarios] == ["planned", "travelled"]


FORM_FIXTURES = [f for f in FIXTURES if "whereabouts" not in f.path]


@pytest.mark.parametrize("fixture", FORM_FIXTURES, ids=lambda f: f.path)
def test_fixture_form_round_trip(fixture: Any) -> None:
    alert = parse_artefact(fixture.read_bytes()).artefact
    assert isinstance(alert, TravelAlert)
    response = through_json(to_questionnaire_response(alert))
    check_response(response)
    assert from_questionnaire_response(response) == alert


@pytest.mark.slow
@settings(max_examples=250, deadline=None)
@given(alerts(form=True))
def test_generated_form_round_trip(alert: TravelAlert) -> None:
    response = through_json(to_questionnaire_response(alert))
    check_response(response)
    assert from_questionnaire_response(response) == alert


def test_whereabouts_unknown_is_not_on_the_form() -> None:
    with pytest.raises(MappingError) as caught:
        to_questionnaire_response(_alert("whereabouts-unknown-closed"))
    assert [(i.location, i.code.value) for i in caught.value.issues] == [
        ("$.scenario", "not-supported"),
        ("$.last_known_area", "not-supported"),
        ("$.locate_attempts", "not-supported"),
        ("$.missing_alert_recipients", "not-supported"),
        ("$.closure", "not-supported"),
    ]


def _form_broken(change: Callable[[dict[str, Any]], Any]) -> list[tuple[str, str]]:
    response = through_json(to_questionnaire_response(_alert("significant-risk")))
    change(response)
    with pytest.raises(MappingError) as caught:
        from_questionnaire_response(response)
    return [(i.location, i.code.value) for i in caught.value.issues]


def _item(response: dict[str, Any], link_id: str) -> dict[str, Any]:
    def find(items: list[dict[str, Any]]) -> dict[str, Any] | None:
        for item in items:
            if item["linkId"] == link_id:
                return item
            inner = find(item.get("item", []))
            if inner is not None:
                return inner
        return None

    found = find(response["item"])
    assert found is not None
    return found


QR = "QuestionnaireResponse"


def test_missing_required_answer_is_located() -> None:
    found = _form_broken(lambda r: _item(r, "child.nhs-number").pop("answer"))
    assert found == [(f"{QR}.item[1].item[0].answer", "required")]


def test_missing_required_item_is_located() -> None:
    found = _form_broken(lambda r: _item(r, "child")["item"].pop(0))
    assert found == [(f"{QR}.item[1].item", "required")]


def test_missing_required_group_is_located() -> None:
    found = _form_broken(lambda r: r["item"].pop(0))
    assert found == [(f"{QR}.item", "required")]


def test_bad_nhs_number_answer_is_located() -> None:
    found = _form_broken(
        lambda r: _item(r, "child.nhs-number")["answer"][0].update(valueString="9434765918")
    )
    assert found == [(f"{QR}.item[1].item[0].answer[0]", "value")]


def test_invalid_date_answer_is_located() -> None:
    found = _form_broken(
        lambda r: _item(r, "alert.raised-on")["answer"][0].update(valueDate="2026-02-30")
    )
    assert found == [(f"{QR}.item[0].item[2].answer[0]", "value")]


def test_answer_of_the_wrong_type_is_located() -> None:
    found = _form_broken(
        lambda r: _item(r, "alert.raised-on").update(answer=[{"valueString": "x"}])
    )
    assert found == [(f"{QR}.item[0].item[2].answer[0]", "structure")]


def test_scenario_the_form_does_not_offer() -> None:
    def change(response: dict[str, Any]) -> None:
        _item(response, "alert.scenario")["answer"][0]["valueCoding"]["code"] = (
            "whereabouts-unknown"
        )

    found = _form_broken(change)
    assert found == [(f"{QR}.item[0].item[1].answer[0].valueCoding.code", "code-invalid")]


def test_unknown_factor_answer_in_the_form() -> None:
    def change(response: dict[str, Any]) -> None:
        answer = _item(response, "risk-assessment.factors.health-insurance.answer")["answer"][0]
        answer["valueCoding"]["code"] = "maybe"

    found = _form_broken(change)
    assert found == [
        (f"{QR}.item[5].item[3].item[2].item[0].answer[0].valueCoding.code", "code-invalid")
    ]


def test_domain_rule_in_the_form_is_located() -> None:
    found = _form_broken(
        lambda r: _item(r, "travel.return-date")["answer"][0].update(valueDate="2026-01-01")
    )
    assert found == [(f"{QR}.item[4].item[3].answer[0]", "invariant")]


def test_unknown_link_id_and_response_header() -> None:
    def change(response: dict[str, Any]) -> None:
        response["status"] = "in-progress"
        response["questionnaire"] = "https://example.org/Questionnaire/other"
        _item(response, "child")["item"].append({"linkId": "child.shoe-size", "answer": []})

    found = _form_broken(change)
    assert sorted(found) == sorted(
        [
            (f"{QR}.questionnaire", "value"),
            (f"{QR}.status", "value"),
            (f"{QR}.item[1].item[7].linkId", "structure"),
        ]
    )


def test_not_a_questionnaire_response() -> None:
    with pytest.raises(MappingError) as caught:
        from_questionnaire_response({"resourceType": "Questionnaire"})
    assert [i.location for i in caught.value.issues] == [QR]


def test_reading_a_response_does_not_change_it() -> None:
    response = to_questionnaire_response(_alert("planned-uk-move"))
    before = copy.deepcopy(response)
    from_questionnaire_response(response)
    assert response == before


# --- the conditions behind the complex needs, coded in SNOMED CT -------------------------------

SNOMED = "http://snomed.info/sct"
CONDITION = ext_url("complex-needs-condition")


def test_conditions_travel_as_codeable_concepts_on_the_flag() -> None:
    alert = _alert("whereabouts-unknown-closed")
    flag = _resource(to_fhir(alert), "Flag")
    assert [e["valueCodeableConcept"] for e in flag["extension"] if e["url"] == CONDITION] == [
        {"text": "Global developmental delay"},
        {"coding": [{"system": SNOMED, "code": "84757009"}], "text": "Epilepsy"},
    ]
    assert from_fhir(through_json(to_fhir(alert))) == alert


def test_an_alert_written_before_coded_conditions_reads_without_them() -> None:
    alert = _alert("whereabouts-unknown-closed")
    bundle = through_json(to_fhir(alert))
    flag = _resource(bundle, "Flag")
    flag["extension"] = [e for e in flag["extension"] if e["url"] != CONDITION]
    assert from_fhir(bundle) == alert.model_copy(update={"conditions": []})


def test_a_bad_snomed_code_on_the_flag_is_located_at_the_coding() -> None:
    def change(bundle: dict[str, Any]) -> None:
        coded = [e for e in _resource(bundle, "Flag")["extension"] if e["url"] == CONDITION]
        coded[0]["valueCodeableConcept"]["coding"][0]["code"] = "86299009"

    found, bundle = _broken(change, "planned-uk-move")
    index = next(
        n for n, e in enumerate(_resource(bundle, "Flag")["extension"]) if e["url"] == CONDITION
    )
    assert index == 6
    assert found == [
        (
            f"{FLAG}.extension('{CONDITION}')[0].valueCodeableConcept.coding[0].code",
            "code-invalid",
        )
    ]


def test_a_condition_extension_without_its_concept_is_located() -> None:
    def change(bundle: dict[str, Any]) -> None:
        coded = [e for e in _resource(bundle, "Flag")["extension"] if e["url"] == CONDITION]
        coded[0].pop("valueCodeableConcept")

    found, _ = _broken(change, "planned-uk-move")
    assert found == [(f"{FLAG}.extension('{CONDITION}')[0].valueCodeableConcept", "required")]


def test_the_form_asks_for_the_conditions_coded_where_known() -> None:
    question = QUESTIONS["alert.conditions"]
    assert (question["type"], question["repeats"]) == ("open-choice", True)
    assert question["answerValueSet"] == f"{SNOMED}?fhir_vs=isa/404684003"
    response = to_questionnaire_response(_alert("significant-risk"))
    assert _item(response, "alert.conditions")["answer"] == [
        {"valueString": "Autism"},
        {"valueString": "Moderate learning disability"},
        {"valueCoding": {"system": SNOMED, "code": "84757009", "display": "Epilepsy"}},
        {"valueString": "Gastrostomy feeding"},
    ]
