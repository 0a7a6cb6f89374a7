"""Strategy Discussion Health Report ⇄ FHIR document Bundle and ⇄ Questionnaire(Response):
lossless both ways, valid R4B, readable narratives, clear located errors on bad input."""

from __future__ import annotations

import copy
import json
import re
import xml.etree.ElementTree as ET
from collections.abc import Callable, Iterator
from datetime import date, timedelta
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
    TEXT,
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
    CANONICAL_BASE,
    AdministrativeGender,
    Agency,
    AppointmentAttendance,
    AttendanceSetting,
    CareSetting,
    CodedEnum,
    HealthInformationSource,
    NhsNumberVerificationStatus,
    StrategyOutcome,
    WithholdingReason,
)
from interop.domain import StrategyDiscussionHealthReport
from interop.fixtures import artefact_fixtures
from interop.mappings.fhir_common import (
    COMMON_EXTENSIONS,
    COMMON_PROFILES,
    UKCORE,
    MappingError,
    profile_url,
)
from interop.mappings.fhir_strategy_report import (
    EXTENSIONS,
    KIND,
    PROFILES,
    QUESTIONNAIRE_URL,
    ReportSection,
    from_fhir,
    from_questionnaire_response,
    questionnaire,
    to_fhir,
    to_questionnaire_response,
)

FIXTURES = artefact_fixtures(KIND, "valid")
XHTML_DIV = "{http://www.w3.org/1999/xhtml}div"
EXT_BASE = f"{CANONICAL_BASE}/StructureDefinition/ext-"

# Long text over several lines, as people type it into a proforma.
LONG_TEXT = st.lists(TEXT, min_size=1, max_size=3).map("\n".join)


@st.composite
def missed_appointments(draw: st.DrawFn) -> dict[str, Any]:
    return {
        "appointment_date": draw(dates()).isoformat(),
        "service": draw(TEXT),
        "attendance": draw(codes(AppointmentAttendance)),
    }


@st.composite
def attendances(draw: st.DrawFn) -> dict[str, Any]:
    document: dict[str, Any] = without_none(
        {
            "attended_on": draw(dates()).isoformat(),
            "setting": draw(codes(AttendanceSetting)),
            "organisation": draw(optional(organisations())),
            "reason": draw(optional(LONG_TEXT)),
        }
    )
    return document


@st.composite
def actions(draw: st.DrawFn) -> dict[str, Any]:
    due = draw(optional(dates()))
    document: dict[str, Any] = without_none(
        {
            "action": draw(LONG_TEXT),
            "owner": draw(optional(TEXT)),
            "due": due.isoformat() if due else None,
        }
    )
    return document


def _some(strategy: st.SearchStrategy[Any], most: int = 3) -> st.SearchStrategy[list[Any]]:
    return st.lists(strategy, max_size=most)


@st.composite
def reports(draw: st.DrawFn) -> StrategyDiscussionHealthReport:
    """A report with every optional field drawn in or out and every code reachable."""
    child = draw(people())
    born = date.fromisoformat(child["date_of_birth"])
    when = draw(dates(max(born, date(2024, 1, 1)), date(2027, 12, 31)))
    received = draw(st.booleans())
    outcome = draw(codes(StrategyOutcome))
    document = {
        "kind": KIND,
        "local_id": draw(LOCAL_IDS),
        "sharing": draw(sharing()),
        "child": child,
        "strategy_discussion_date": when.isoformat(),
        "submitted_by": draw(practitioners()),
        "appendix_a_received": received,
        "appendix_a_received_on": draw(dates(when - timedelta(days=30), when)).isoformat()
        if received
        else None,
        "reason": draw(LONG_TEXT),
        "health_concerns": without_none(
            {
                "child_health_needs": draw(optional(LONG_TEXT)),
                "long_term_conditions": draw(_some(CONDITION_ENTRIES)),
                "proportionate_information": draw(optional(LONG_TEXT)),
                "missed_appointments": draw(_some(missed_appointments())),
                "recent_attendances": draw(_some(attendances())),
            }
        ),
        "parents_engaging_with_care_plan": draw(optional(st.booleans())),
        "impact_on_child_health": draw(LONG_TEXT),
        "practitioners_involved": draw(_some(practitioners())),
        "information_sources": draw(_some(codes(HealthInformationSource), 4)),
        "medical_assessment_advice": draw(optional(LONG_TEXT)),
        "participating_agencies": draw(_some(codes(Agency), 4)),
        "outcome": outcome,
        "action_plan": draw(_some(actions())),
        "social_worker": draw(social_workers())
        if outcome == "s47"
        else draw(optional(social_workers())),
        "services_to_task": draw(_some(TEXT)),
    }
    return StrategyDiscussionHealthReport.model_validate(without_none(document))


def through_json(value: Any) -> Any:
    return json.loads(json.dumps(value))


def fixture_report(index: int = 2) -> StrategyDiscussionHealthReport:
    """A fixture report; by default the fullest one (s47-diabetes-neglect)."""
    report = parse_artefact(FIXTURES[index].read_bytes()).artefact
    assert isinstance(report, StrategyDiscussionHealthReport)
    return report


def walk(value: Any) -> Iterator[tuple[str, Any]]:
    """Every (key, value) pair anywhere in a JSON document."""
    if isinstance(value, dict):
        for key, item in value.items():
            yield key, item
            yield from walk(item)
    elif isinstance(value, list):
        for item in value:
            yield from walk(item)


def resources(bundle: dict[str, Any], resource_type: str) -> list[dict[str, Any]]:
    return [
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == resource_type
    ]


def check_bundle(report: StrategyDiscussionHealthReport, bundle: dict[str, Any]) -> None:
    """What every Bundle must be: a valid R4B document whose parts are all declared."""
    Bundle.model_validate(bundle)
    assert bundle["type"] == "document"
    assert bundle["entry"][0]["resource"]["resourceType"] == "Composition"
    assert bundle["timestamp"] == f"{report.strategy_discussion_date.isoformat()}T00:00:00Z"
    assert bundle["identifier"]["value"] == f"urn:uuid:{bundle['id']}"
    urls = [e["fullUrl"] for e in bundle["entry"]]
    assert len(urls) == len(set(urls))
    for key, value in walk(bundle):
        if key == "reference":
            assert value in urls
    declared_profiles = {profile_url(p.name) for p in (*PROFILES, *COMMON_PROFILES)}
    for item in [bundle, *(e["resource"] for e in bundle["entry"])]:
        (profile,) = item["meta"]["profile"]
        assert profile in declared_profiles or profile.startswith(UKCORE + "UKCore-")
        assert report.child.nhs_number not in item["id"]
    declared = {e.name for e in (*EXTENSIONS, *COMMON_EXTENSIONS)}
    for key, value in walk(bundle):
        if key == "url" and isinstance(value, str) and value.startswith(EXT_BASE):
            assert value.removeprefix(EXT_BASE) in declared
    for section in bundle["entry"][0]["resource"]["section"]:
        root = ET.fromstring(section["text"]["div"])
        assert root.tag == XHTML_DIV
        assert "".join(root.itertext()).strip()


# --- FHIR document -------------------------------------------------------------------------


@pytest.mark.parametrize("fixture", FIXTURES, ids=lambda f: f.path)
def test_fixture_round_trip(fixture: Any) -> None:
    report = parse_artefact(fixture.read_bytes()).artefact
    assert isinstance(report, StrategyDiscussionHealthReport)
    bundle = to_fhir(report)
    check_bundle(report, bundle)
    assert from_fhir(through_json(bundle)) == report


@pytest.mark.slow
@settings(deadline=None)  # max_examples from the Hypothesis profile (conftest.py)
@given(reports())
def test_generated_round_trip(report: StrategyDiscussionHealthReport) -> None:
    bundle = to_fhir(report)
    check_bundle(report, bundle)
    assert from_fhir(through_json(bundle)) == report


def _with_code(enum: type[CodedEnum], code: str) -> StrategyDiscussionHealthReport:
    """The fullest fixture with ``code`` put into the field(s) of ``enum``."""
    document = fixture_report().model_dump(mode="json")
    concerns = document["health_concerns"]
    if enum is AttendanceSetting:
        concerns["recent_attendances"][0]["setting"] = code
    elif enum is AppointmentAttendance:
        concerns["missed_appointments"][0]["attendance"] = code
    elif enum is StrategyOutcome:
        document["outcome"] = code
    elif enum is Agency:
        document["participating_agencies"] = [code]
    elif enum is HealthInformationSource:
        document["information_sources"] = [code]
    elif enum is CareSetting:
        document["submitted_by"]["setting"] = code
        document["practitioners_involved"][0]["setting"] = code
    elif enum is NhsNumberVerificationStatus:
        document["child"]["nhs_number_verification"] = code
    elif enum is AdministrativeGender:
        document["child"]["gender"] = code
    elif enum is WithholdingReason:
        document["sharing"] = {"withheld_from_family": True, "withheld_reason": code}
    return StrategyDiscussionHealthReport.model_validate(without_none(document))


EVERY_CODE = [
    (enum, member.value)
    for enum in (
        AttendanceSetting,
        AppointmentAttendance,
        StrategyOutcome,
        Agency,
        HealthInformationSource,
        CareSetting,
        NhsNumberVerificationStatus,
        AdministrativeGender,
        WithholdingReason,
    )
    for member in enum
]


@pytest.mark.parametrize(("enum", "code"), EVERY_CODE, ids=[f"{e.slug}-{c}" for e, c in EVERY_CODE])
def test_every_code_travels(enum: type[CodedEnum], code: str) -> None:
    report = _with_code(enum, code)
    assert from_fhir(through_json(to_fhir(report))) == report
    assert from_questionnaire_response(through_json(to_questionnaire_response(report))) == report


def test_document_shape() -> None:
    report = fixture_report()
    bundle = to_fhir(report)
    types = [e["resource"]["resourceType"] for e in bundle["entry"]]
    assert types[:4] == ["Composition", "Patient", "Practitioner", "PractitionerRole"]
    composition = bundle["entry"][0]["resource"]
    assert composition["status"] == "final"
    assert composition["title"] == "Strategy discussion health report"
    assert composition["date"] == "2026-05-20"
    assert composition["event"][0]["period"]["start"] == "2026-05-20"
    author = composition["author"][0]["reference"]
    assert author == f"urn:uuid:{resources(bundle, 'PractitionerRole')[0]['id']}"
    codes_in_order = [s["code"]["coding"][0]["code"] for s in composition["section"]]
    assert codes_in_order == [m.value for m in ReportSection]
    # One Organization per ODS code and name, however many resources reference it.
    ods = [o["identifier"][0]["value"] for o in resources(bundle, "Organization")]
    assert sorted(ods) == sorted(set(ods))
    assert [c["code"]["text"] for c in resources(bundle, "Condition")] == [
        "Type 1 diabetes mellitus",
        "Coeliac disease",
    ]
    assert len(resources(bundle, "Encounter")) == 3
    assert resources(bundle, "Observation")[0]["valueBoolean"] is False
    assert len(resources(bundle, "CarePlan")[0]["activity"]) == 3
    assert [t["owner"]["display"] for t in resources(bundle, "Task")] == report.services_to_task


def test_minimal_report_has_only_the_required_sections() -> None:
    report = fixture_report(0)
    bundle = to_fhir(report)
    sections = bundle["entry"][0]["resource"]["section"]
    assert [s["code"]["coding"][0]["code"] for s in sections] == [
        "reason",
        "health-concerns",
        "impact",
        "outcome",
    ]
    assert sections[1]["emptyReason"]["coding"][0]["code"] == "nilknown"
    assert [e["resource"]["resourceType"] for e in bundle["entry"]] == [
        "Composition",
        "Patient",
        "Practitioner",
        "PractitionerRole",
    ]


def test_narrative_escapes_markup() -> None:
    report = fixture_report().model_copy(
        update={"reason": 'Mum said <b>"fell"</b> & Dad\'s story differs\nsecond line'}
    )
    bundle = to_fhir(report)
    check_bundle(report, bundle)
    div = bundle["entry"][0]["resource"]["section"][0]["text"]["div"]
    assert "&lt;b&gt;" in div
    assert "<br/>" in div
    text = "".join(ET.fromstring(div).itertext())
    assert 'Mum said <b>"fell"</b> & Dad\'s story differs' in text
    assert from_fhir(through_json(bundle)) == report


def test_same_artefact_same_bundle() -> None:
    report = fixture_report()
    assert to_fhir(report) == to_fhir(report.model_copy())
    other = report.model_copy(update={"local_id": "ANOTHER-1"})
    assert to_fhir(other)["id"] != to_fhir(report)["id"]


def _broken(change: Callable[[dict[str, Any]], Any]) -> list[tuple[str, str]]:
    bundle = through_json(to_fhir(fixture_report()))
    change(bundle)
    with pytest.raises(MappingError) as caught:
        from_fhir(bundle)
    return [(i.location, i.code.value) for i in caught.value.issues]


def _composition(bundle: dict[str, Any]) -> dict[str, Any]:
    composition: dict[str, Any] = bundle["entry"][0]["resource"]
    return composition


def _section(bundle: dict[str, Any], code: str) -> dict[str, Any]:
    sections = bundle["entry"][0]["resource"]["section"]
    section: dict[str, Any] = next(s for s in sections if s["code"]["coding"][0]["code"] == code)
    return section


COMPOSITION = "Bundle.entry[0].resource.ofType(Composition)"


def test_missing_discussion_date_is_located() -> None:
    found = _broken(lambda b: _composition(b)["event"][0]["period"].pop("start"))
    assert found == [(f"{COMPOSITION}.event[0].period.start", "required")]


def test_missing_required_section_is_located() -> None:
    def change(bundle: dict[str, Any]) -> None:
        composition = bundle["entry"][0]["resource"]
        composition["section"] = [
            s for s in composition["section"] if s["code"]["coding"][0]["code"] != "outcome"
        ]

    assert _broken(change) == [(f"{COMPOSITION}.section", "required")]


def test_missing_reason_extension_is_located() -> None:
    def change(bundle: dict[str, Any]) -> None:
        section = _section(bundle, "reason")
        section["extension"] = [
            e for e in section["extension"] if not e["url"].endswith("strategy-reason")
        ]

    url = f"{EXT_BASE}strategy-reason"
    assert _broken(change) == [(f"{COMPOSITION}.section[0].extension('{url}')", "required")]


def test_unresolvable_subject_is_located() -> None:
    found = _broken(lambda b: _composition(b)["subject"].update(reference="urn:uuid:nowhere"))
    assert found == [(f"{COMPOSITION}.subject.reference", "structure")]


def test_unresolvable_section_entry_is_located() -> None:
    found = _broken(
        lambda b: _section(b, "action-plan")["entry"][0].update(reference="urn:uuid:gone")
    )
    assert found[0] == (f"{COMPOSITION}.section[7].entry[0].reference", "structure")


def test_unknown_outcome_code_is_located() -> None:
    def change(bundle: dict[str, Any]) -> None:
        _section(bundle, "outcome")["extension"][0]["valueCoding"]["code"] = "s99"

    url = f"{EXT_BASE}strategy-outcome"
    assert _broken(change) == [
        (f"{COMPOSITION}.section[6].extension('{url}').valueCoding.code", "code-invalid")
    ]


def test_unknown_attendance_setting_is_located() -> None:
    def change(bundle: dict[str, Any]) -> None:
        resources(bundle, "Encounter")[1]["type"][0]["coding"][0]["code"] = "spaceport"

    found = _broken(change)
    assert len(found) == 1
    assert re.fullmatch(
        r"Bundle\.entry\[\d+\]\.resource\.ofType\(Encounter\)\.type\[0\]\.coding\[0\]\.code",
        found[0][0],
    )
    assert found[0][1] == "code-invalid"


def test_bad_nhs_number_in_fhir_is_reported_at_the_patient() -> None:
    def change(bundle: dict[str, Any]) -> None:
        resources(bundle, "Patient")[0]["identifier"][0]["value"] = "9434765918"

    assert _broken(change) == [("Bundle.entry[1].resource.ofType(Patient)", "value")]


def test_wrongly_typed_values_are_located_not_coerced() -> None:
    def change(bundle: dict[str, Any]) -> None:
        _section(bundle, "reason")["extension"][0]["valueBoolean"] = "yes"

    url = f"{EXT_BASE}appendix-a-received"
    assert _broken(change) == [
        (f"{COMPOSITION}.section[0].extension('{url}').valueBoolean", "value")
    ]


def test_domain_rule_is_reported_at_its_origin() -> None:
    def change(bundle: dict[str, Any]) -> None:
        composition = bundle["entry"][0]["resource"]
        composition["section"] = [
            s for s in composition["section"] if s["code"]["coding"][0]["code"] != "social-worker"
        ]

    found = _broken(change)
    assert found == [(COMPOSITION, "invariant")]


def test_not_a_bundle() -> None:
    with pytest.raises(MappingError) as caught:
        from_fhir({"resourceType": "Composition"})
    assert caught.value.issues[0].location == "Bundle"


def test_not_a_document() -> None:
    found = _broken(lambda b: b.update(type="collection"))
    assert found == [("Bundle.type", "value")]


def test_bundle_without_the_composition() -> None:
    found = _broken(lambda b: b.update(entry=b["entry"][1:]))
    assert found == [("Bundle.entry", "required")]


def _locations(document: Any) -> list[tuple[Any, ...]]:
    """The path of every element of a JSON document (keys and list indexes)."""
    found: list[tuple[Any, ...]] = []
    if isinstance(document, dict):
        items: list[tuple[Any, Any]] = list(document.items())
    elif isinstance(document, list):
        items = list(enumerate(document))
    else:
        return found
    for key, value in items:
        found.append((key,))
        found.extend((key, *rest) for rest in _locations(value))
    return found


JUNK = st.sampled_from([None, 0, "x", "2026-02-30", True, [], {}, [1], {"a": "b"}])


@st.composite
def damaged(draw: st.DrawFn, document: dict[str, Any]) -> dict[str, Any]:
    """``document`` with a few elements removed or replaced by values of the wrong shape."""
    document = copy.deepcopy(document)
    for _ in range(draw(st.integers(1, 3))):
        where = draw(st.sampled_from(_locations(document)))
        parent: Any = document
        for key in where[:-1]:
            parent = parent[key]
        if draw(st.booleans()) and isinstance(parent, dict):
            del parent[where[-1]]
        else:
            parent[where[-1]] = draw(JUNK)
    return document


def reads_or_explains(read: Callable[[dict[str, Any]], Any], document: dict[str, Any]) -> None:
    """Reading gives an artefact or a MappingError with issues: never another exception."""
    try:
        read(document)
    except MappingError as caught:
        issues = caught.issues
    else:
        return
    assert issues


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(st.data())
def test_damaged_bundles_give_mapping_errors_only(data: st.DataObject) -> None:
    reads_or_explains(from_fhir, data.draw(damaged(through_json(to_fhir(fixture_report())))))


@pytest.mark.slow
@settings(max_examples=300, deadline=None)
@given(st.data())
def test_damaged_responses_give_mapping_errors_only(data: st.DataObject) -> None:
    response = data.draw(damaged(through_json(to_questionnaire_response(fixture_report()))))
    reads_or_explains(from_questionnaire_response, response)


def test_reading_does_not_change_the_input() -> None:
    bundle = to_fhir(fixture_report())
    before = copy.deepcopy(bundle)
    from_fhir(bundle)
    assert bundle == before


# --- Questionnaire and QuestionnaireResponse -------------------------------------------------


def _items(items: list[dict[str, Any]]) -> Iterator[dict[str, Any]]:
    for item in items:
        yield item
        yield from _items(item.get("item", []))


QUESTIONS = {i["linkId"]: i for i in _items(questionnaire()["item"])}


def test_questionnaire_is_valid_r4b_and_matches_the_proforma() -> None:
    form = questionnaire()
    Questionnaire.model_validate(form)
    assert form["url"] == QUESTIONNAIRE_URL
    assert form["status"] == "active"
    link_ids = [i["linkId"] for i in _items(form["item"])]
    assert len(link_ids) == len(set(link_ids))
    for group in (
        "practitioner",
        "health-concerns.missed-appointment",
        "health-concerns.recent-attendance",
        "action",
    ):
        assert QUESTIONS[group]["type"] == "group"
        assert QUESTIONS[group]["repeats"] is True
    for identity in (
        "child.nhs-number",
        "child.given-name",
        "child.family-name",
        "child.date-of-birth",
    ):
        assert QUESTIONS[identity]["required"] is True
    assert QUESTIONS["discussion.appendix-a-received"]["type"] == "boolean"
    assert QUESTIONS["discussion.appendix-a-received-on"]["enableWhen"][0]["question"] == (
        "discussion.appendix-a-received"
    )
    assert QUESTIONS["reason"]["type"] == "text"
    assert QUESTIONS["parents-engaging"]["type"] == "boolean"
    assert QUESTIONS["social-worker.phone"]["required"] is True
    outcome = QUESTIONS["outcome"]
    assert outcome["type"] == "choice"
    assert [o["valueCoding"]["code"] for o in outcome["answerOption"]] == ["s17", "s47", "neither"]
    assert {o["valueCoding"]["system"] for o in outcome["answerOption"]} == {
        StrategyOutcome.system()
    }


def test_every_choice_offers_its_whole_code_system() -> None:
    for item in QUESTIONS.values():
        if item["type"] == "choice":
            systems = {o["valueCoding"]["system"] for o in item["answerOption"]}
            assert len(systems) == 1, item["linkId"]


def check_response(response: dict[str, Any]) -> None:
    """A QR validates and answers only questions of the Questionnaire, with the right types."""
    QuestionnaireResponse.model_validate(response)
    assert response["questionnaire"] == QUESTIONNAIRE_URL
    expected = {
        "string": "valueString",
        "text": "valueString",
        "date": "valueDate",
        "boolean": "valueBoolean",
        "choice": "valueCoding",
    }
    for item in _items(response["item"]):
        question = QUESTIONS[item["linkId"]]
        assert "extension" not in item
        for answer in item.get("answer", []):
            if question["type"] == "open-choice":  # a code where known, else the name
                assert list(answer) in (["valueCoding"], ["valueString"])
            else:
                assert list(answer) == [expected[question["type"]]]


@pytest.mark.parametrize("fixture", FIXTURES, ids=lambda f: f.path)
def test_fixture_questionnaire_response_round_trip(fixture: Any) -> None:
    report = parse_artefact(fixture.read_bytes()).artefact
    assert isinstance(report, StrategyDiscussionHealthReport)
    response = to_questionnaire_response(report)
    check_response(response)
    assert from_questionnaire_response(through_json(response)) == report


@pytest.mark.slow
@settings(max_examples=250, deadline=None)
@given(reports())
def test_generated_questionnaire_response_round_trip(
    report: StrategyDiscussionHealthReport,
) -> None:
    response = to_questionnaire_response(report)
    check_response(response)
    assert from_questionnaire_response(through_json(response)) == report


def test_a_forms_tool_response_imports() -> None:
    """Only linkIds and answers, no text, no ids: what a forms tool sends."""

    def answer(link_id: str, **value: Any) -> dict[str, Any]:
        return {"linkId": link_id, "answer": [value]}

    response = {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": f"{QUESTIONNAIRE_URL}|0.1.0",
        "status": "completed",
        "item": [
            {
                "linkId": "child",
                "item": [
                    answer("child.nhs-number", valueString="9195947469"),
                    answer("child.given-name", valueString="Zoë"),
                    answer("child.family-name", valueString="Ó Súilleabháin"),
                    answer("child.date-of-birth", valueDate="2016-02-29"),
                ],
            },
            {
                "linkId": "discussion",
                "item": [
                    answer("discussion.local-id", valueString="FORM-1"),
                    answer("discussion.date", valueDate="2024-02-29"),
                    answer("discussion.appendix-a-received", valueBoolean=False),
                ],
            },
            {
                "linkId": "submitted-by",
                "item": [
                    answer("submitted-by.name", valueString="A Nurse"),
                    answer("submitted-by.role", valueString="Named nurse"),
                ],
            },
            answer("reason", valueString="Unexplained bruising."),
            answer("impact", valueString="Not yet known."),
            answer(
                "outcome",
                valueCoding={"system": StrategyOutcome.system(), "code": "neither"},
            ),
        ],
    }
    QuestionnaireResponse.model_validate(response)
    report = from_questionnaire_response(response)
    assert report.child.given_name == "Zoë"
    assert report.strategy_discussion_date == date(2024, 2, 29)
    assert report.outcome is StrategyOutcome.NEITHER
    assert report.health_concerns.long_term_conditions == []


def _qr_broken(change: Callable[[dict[str, Any]], Any]) -> list[tuple[str, str]]:
    response = through_json(to_questionnaire_response(fixture_report()))
    change(response)
    with pytest.raises(MappingError) as caught:
        from_questionnaire_response(response)
    return [(i.location, i.code.value) for i in caught.value.issues]


def _qr_item(items: list[dict[str, Any]], link_id: str) -> dict[str, Any]:
    return next(i for i in _items(items) if i["linkId"] == link_id)


def _index_of(items: list[dict[str, Any]], link_id: str) -> int:
    return next(n for n, i in enumerate(items) if i["linkId"] == link_id)


def test_missing_required_item_is_located() -> None:
    found = _qr_broken(lambda r: r.update(item=[i for i in r["item"] if i["linkId"] != "reason"]))
    assert found == [("QuestionnaireResponse.item", "required")]


def test_required_item_without_answer_is_located() -> None:
    def change(response: dict[str, Any]) -> None:
        _qr_item(response["item"], "reason").pop("answer")

    response = to_questionnaire_response(fixture_report())
    index = _index_of(response["item"], "reason")
    assert _qr_broken(change) == [(f"QuestionnaireResponse.item[{index}].answer", "required")]


def test_wrongly_typed_answer_is_located() -> None:
    def change(response: dict[str, Any]) -> None:
        _qr_item(response["item"], "child.date-of-birth")["answer"] = [{"valueString": "today"}]

    # child is item[0]; after NHS number, its status and the two names comes the date of birth.
    assert _qr_broken(change) == [("QuestionnaireResponse.item[0].item[4].answer[0]", "value")]


def test_partial_date_is_located() -> None:
    def change(response: dict[str, Any]) -> None:
        _qr_item(response["item"], "discussion.date")["answer"] = [{"valueDate": "2026-05"}]

    assert _qr_broken(change) == [
        ("QuestionnaireResponse.item[1].item[1].answer[0].valueDate", "value")
    ]


def test_bad_nhs_number_is_located_at_its_answer() -> None:
    def change(response: dict[str, Any]) -> None:
        _qr_item(response["item"], "child.nhs-number")["answer"][0]["valueString"] = "9434765918"

    assert _qr_broken(change) == [("QuestionnaireResponse.item[0].item[0].answer[0]", "value")]


def test_unknown_code_is_located() -> None:
    def change(response: dict[str, Any]) -> None:
        _qr_item(response["item"], "outcome")["answer"][0]["valueCoding"]["code"] = "s99"

    response = to_questionnaire_response(fixture_report())
    index = _index_of(response["item"], "outcome")
    assert _qr_broken(change) == [
        (f"QuestionnaireResponse.item[{index}].answer[0].valueCoding.code", "code-invalid")
    ]


def test_missing_answer_in_a_repeating_group_is_located() -> None:
    def change(response: dict[str, Any]) -> None:
        second = [i for i in response["item"] if i["linkId"] == "practitioner"][1]
        second["item"] = [i for i in second["item"] if i["linkId"] != "practitioner.role"]

    response = to_questionnaire_response(fixture_report())
    index = _index_of(response["item"], "practitioner") + 1
    assert _qr_broken(change) == [(f"QuestionnaireResponse.item[{index}].item", "required")]


def test_second_answer_to_a_single_question_is_located() -> None:
    def change(response: dict[str, Any]) -> None:
        _qr_item(response["item"], "reason")["answer"].append({"valueString": "again"})

    response = to_questionnaire_response(fixture_report())
    index = _index_of(response["item"], "reason")
    assert _qr_broken(change) == [(f"QuestionnaireResponse.item[{index}].answer[1]", "structure")]


def test_unknown_link_id_is_located() -> None:
    found = _qr_broken(lambda r: r["item"].append({"linkId": "favourite-colour"}))
    response = to_questionnaire_response(fixture_report())
    assert found == [(f"QuestionnaireResponse.item[{len(response['item'])}]", "structure")]


def test_domain_rule_from_a_response_is_located() -> None:
    found = _qr_broken(
        lambda r: r.update(item=[i for i in r["item"] if i["linkId"] != "social-worker"])
    )
    assert found == [("QuestionnaireResponse", "invariant")]


def test_response_to_another_questionnaire() -> None:
    found = _qr_broken(lambda r: r.update(questionnaire="https://example.org/Questionnaire/x"))
    assert found == [("QuestionnaireResponse.questionnaire", "value")]


def test_response_in_progress_is_refused() -> None:
    assert _qr_broken(lambda r: r.update(status="in-progress")) == [
        ("QuestionnaireResponse.status", "value")
    ]


def test_not_a_questionnaire_response() -> None:
    with pytest.raises(MappingError) as caught:
        from_questionnaire_response({"resourceType": "Questionnaire"})
    assert caught.value.issues[0].location == "QuestionnaireResponse"


def test_reading_a_response_does_not_change_it() -> None:
    response = to_questionnaire_response(fixture_report())
    before = copy.deepcopy(response)
    from_questionnaire_response(response)
    assert response == before


# --- long-term conditions coded in SNOMED CT --------------------------------------------------

SNOMED = "http://snomed.info/sct"
CONDITIONS = "health-concerns.long-term-conditions"


def test_a_coded_condition_carries_its_snomed_code_beside_its_name() -> None:
    report = fixture_report()  # type 1 diabetes coded, coeliac disease not
    conditions = resources(to_fhir(report), "Condition")
    assert [c["code"] for c in conditions] == [
        {"coding": [{"system": SNOMED, "code": "46635009"}], "text": "Type 1 diabetes mellitus"},
        {"text": "Coeliac disease"},
    ]
    assert from_fhir(through_json(to_fhir(report))) == report


def test_fhir_written_before_codes_reads_as_names() -> None:
    bundle = through_json(to_fhir(fixture_report()))
    for condition in resources(bundle, "Condition"):
        condition["code"].pop("coding", None)
    read = from_fhir(bundle).health_concerns.long_term_conditions
    assert [c.model_dump() for c in read] == ["Type 1 diabetes mellitus", "Coeliac disease"]


def test_only_the_snomed_coding_gives_the_code() -> None:
    bundle = through_json(to_fhir(fixture_report()))
    code = resources(bundle, "Condition")[0]["code"]
    code["coding"].insert(0, {"system": "https://example.org/local-codes", "code": "DM1"})
    read = from_fhir(bundle).health_concerns.long_term_conditions[0]
    assert (read.name, read.snomed_code) == ("Type 1 diabetes mellitus", "46635009")


def test_a_bad_snomed_code_in_fhir_is_located_at_the_coding() -> None:
    bundle = through_json(to_fhir(fixture_report()))
    index = next(
        n for n, e in enumerate(bundle["entry"]) if e["resource"]["resourceType"] == "Condition"
    )

    def change(bundle: dict[str, Any]) -> None:
        bundle["entry"][index]["resource"]["code"]["coding"][0]["code"] = "46365009"

    where = f"Bundle.entry[{index}].resource.ofType(Condition).code.coding[0].code"
    assert _broken(change) == [(where, "code-invalid")]


def test_the_form_answers_a_code_where_known_and_a_name_where_not() -> None:
    question = next(i for i in _items(questionnaire()["item"]) if i["linkId"] == CONDITIONS)
    assert question["type"] == "open-choice"
    assert question["answerValueSet"] == f"{SNOMED}?fhir_vs=isa/404684003"
    answers = _qr_item(to_questionnaire_response(fixture_report())["item"], CONDITIONS)["answer"]
    assert answers == [
        {
            "valueCoding": {
                "system": SNOMED,
                "code": "46635009",
                "display": "Type 1 diabetes mellitus",
            }
        },
        {"valueString": "Coeliac disease"},
    ]


def test_a_response_written_before_codes_still_imports() -> None:
    response = through_json(to_questionnaire_response(fixture_report()))
    _qr_item(response["item"], CONDITIONS)["answer"] = [
        {"valueString": "Type 1 diabetes mellitus"},
        {"valueString": "Coeliac disease"},
    ]
    read = from_questionnaire_response(response).health_concerns.long_term_conditions
    assert [c.model_dump() for c in read] == ["Type 1 diabetes mellitus", "Coeliac disease"]


def _condition_answer(response: dict[str, Any]) -> dict[str, Any]:
    answer: dict[str, Any] = _qr_item(response["item"], CONDITIONS)["answer"][0]["valueCoding"]
    return answer


def _answer_path() -> str:
    response = to_questionnaire_response(fixture_report())
    concerns = _index_of(response["item"], "health-concerns")
    inner = _index_of(response["item"][concerns]["item"], CONDITIONS)
    return f"QuestionnaireResponse.item[{concerns}].item[{inner}].answer[0]"


def test_a_coded_answer_from_another_system_or_without_its_name_is_located() -> None:
    at = f"{_answer_path()}.valueCoding"
    assert _qr_broken(lambda r: _condition_answer(r).update(system="http://loinc.org")) == [
        (f"{at}.system", "value")
    ]
    assert _qr_broken(lambda r: _condition_answer(r).pop("display")) == [
        (f"{at}.display", "required")
    ]
    assert _qr_broken(lambda r: _condition_answer(r).update(code="46365009")) == [
        (f"{at}.code", "code-invalid")
    ]
