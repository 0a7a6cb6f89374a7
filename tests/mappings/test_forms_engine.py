"""The forms engine on a small form of its own: the Questionnaire it generates, the
QuestionnaireResponse it writes, and what it reads back (values, origins, located problems)."""

from __future__ import annotations

import copy
from datetime import UTC, date, datetime
from typing import Any

import pytest

from interop.codes import AdministrativeGender, CareSetting, MeetingType
from interop.issues import IssueCode
from interop.mappings.fhir_common import JSON, MappingError, Node, Reader, value_set_url
from interop.mappings.forms import all_forms
from interop.mappings.forms.engine import (
    SNOMED_FINDINGS,
    Conventions,
    External,
    Form,
    Item,
    qualified,
)

URL = "https://example.org/Questionnaire/toy"
PLAIN = Conventions()
COUNTRIES = External("https://example.org/ValueSet/countries", "urn:iso:std:iso:3166")

ITEMS = qualified(
    (
        Item(
            "child",
            "Child",
            "group",
            "child",
            required=True,
            items=(
                Item("name", "Name", "string", "name", required=True, max_length=20),
                Item("born", "Born", "date", "born"),
                Item("gender", "Gender", "choice", "gender", codes=AdministrativeGender),
            ),
        ),
        Item("when", "When", "dateTime", "when"),
        Item("meeting", "Meeting", "choice", "meeting", codes=MeetingType, listed=False),
        Item(
            "setting",
            "Setting",
            "choice",
            "setting",
            codes=CareSetting,
            options=(CareSetting.GP, CareSetting.HOSPITAL),
        ),
        Item("country", "Country", "choice", "country", external=COUNTRIES),
        Item("worried", "Worried?", "boolean", "worried", required=True),
        Item("why", "Why", "text", "why", enable_when=("worried", True)),
        Item("notes", "Notes", "string", "notes", repeats=True),
        Item(
            "visit",
            "Visit",
            "group",
            "visits",
            repeats=True,
            items=(Item("on", "On", "date", "on", required=True),),
        ),
        Item(
            "layout",
            "Only lays the form out",
            "group",
            items=(
                Item(
                    "gp",
                    "The GP setting's finding",
                    "group",
                    "findings",
                    match=("setting", CareSetting.GP),
                    items=(Item("seen", "Seen", "boolean", "seen"),),
                ),
            ),
        ),
    )
)


def toy(conventions: Conventions = PLAIN, version: str | None = None) -> Form:
    header = {"resourceType": "Questionnaire", "url": URL, "status": "active"}
    return Form(URL, header, ITEMS, version=version, conventions=conventions)


DATA: dict[str, Any] = {
    "child": {"name": "Ada", "born": date(2016, 2, 29), "gender": AdministrativeGender.FEMALE},
    "when": datetime(2026, 3, 4, 10, 30, tzinfo=UTC),
    "meeting": MeetingType.CORE_GROUP,
    "setting": CareSetting.HOSPITAL,
    "country": "FR",
    "worried": False,
    "why": None,
    "notes": ["one", "two"],
    "visits": [{"on": date(2026, 1, 2)}, {"on": date(2026, 1, 9)}],
    "findings": [
        {"setting": CareSetting.HOSPITAL, "seen": False},
        {"setting": CareSetting.GP, "seen": True},
    ],
}


def response(items: list[JSON] | None = None, **header: Any) -> JSON:
    return {
        "resourceType": "QuestionnaireResponse",
        "questionnaire": URL,
        "status": "completed",
        "item": toy().response_items(DATA) if items is None else items,
        **header,
    }


def read(form: Form, qr: JSON) -> tuple[JSON, dict[str, str], list[tuple[str, str]]]:
    reader, out, origins = Reader(), {}, {}
    root = Node(qr, "QuestionnaireResponse")
    form.check_header(reader, root)
    form.read(reader, root, out, origins)
    return out, origins, [(i.location, i.code.value) for i in reader.issues]


def by_link(items: list[JSON], link_id: str) -> JSON:
    pending = list(items)
    while pending:
        item = pending.pop(0)
        if item["linkId"] == link_id:
            return item
        pending.extend(item.get("item", []))
    raise KeyError(link_id)


# --- the Questionnaire ---------------------------------------------------------------------


def test_qualified_link_ids_nest_under_their_parent() -> None:
    form = toy().questionnaire()
    assert [i["linkId"] for i in by_link(form["item"], "child")["item"]] == [
        "child.name",
        "child.born",
        "child.gender",
    ]
    assert by_link(form["item"], "layout.gp.seen")["type"] == "boolean"


def test_questionnaire_items_say_what_the_table_says() -> None:
    items = toy().questionnaire()["item"]
    name = by_link(items, "child.name")
    assert (name["required"], name["maxLength"], name["type"]) == (True, 20, "string")
    gender = by_link(items, "child.gender")
    assert [o["valueCoding"]["code"] for o in gender["answerOption"]] == [
        g.value for g in AdministrativeGender
    ]
    assert by_link(items, "meeting")["answerValueSet"] == value_set_url(MeetingType)
    assert "answerOption" not in by_link(items, "meeting")
    assert [o["valueCoding"]["code"] for o in by_link(items, "setting")["answerOption"]] == [
        "gp",
        "hospital",
    ]
    assert by_link(items, "country")["answerValueSet"] == COUNTRIES.value_set
    assert by_link(items, "why")["enableWhen"] == [
        {"question": "worried", "operator": "=", "answerBoolean": True}
    ]
    assert by_link(items, "notes")["repeats"] is True
    assert by_link(items, "layout.gp")["code"][0]["code"] == "gp"


def test_every_toolkit_form_generates_its_questionnaire() -> None:
    urls = [form.questionnaire()["url"] for form in all_forms()]
    assert len(urls) == 3
    assert all(url.split("/")[-2] == "Questionnaire" for url in urls)


# --- writing -------------------------------------------------------------------------------


def test_response_items_convert_values_and_leave_out_the_unanswered() -> None:
    items = toy().response_items(DATA)
    assert by_link(items, "child.born")["answer"] == [{"valueDate": "2016-02-29"}]
    assert by_link(items, "when")["answer"] == [{"valueDateTime": "2026-03-04T10:30:00Z"}]
    assert by_link(items, "child.gender")["answer"][0]["valueCoding"]["code"] == "female"
    assert by_link(items, "country")["answer"] == [
        {"valueCoding": {"system": COUNTRIES.system, "code": "FR"}}
    ]
    assert by_link(items, "notes")["answer"] == [{"valueString": "one"}, {"valueString": "two"}]
    assert [i["linkId"] for i in items].count("visit") == 2
    with pytest.raises(KeyError):
        by_link(items, "why")  # None: no item at all
    # the matched group answers for the GP finding only
    assert by_link(items, "layout.gp.seen")["answer"] == [{"valueBoolean": True}]


def test_a_group_with_nothing_answered_is_left_out() -> None:
    items = toy().response_items({**DATA, "findings": [], "visits": []})
    assert "layout" not in [i["linkId"] for i in items]
    assert "visit" not in [i["linkId"] for i in items]


# --- reading -------------------------------------------------------------------------------


def test_reading_gives_back_what_was_written() -> None:
    qr = response()
    before = copy.deepcopy(qr)
    out, origins, problems = read(toy(), qr)
    assert problems == []
    assert qr == before
    assert out["child"] == {"name": "Ada", "born": "2016-02-29", "gender": "female"}
    assert out["meeting"] is MeetingType.CORE_GROUP
    assert out["country"] == "FR"
    assert out["notes"] == ["one", "two"]
    assert out["visits"] == [{"on": "2026-01-02"}, {"on": "2026-01-09"}]
    assert out["findings"] == [{"setting": CareSetting.GP, "seen": True}]
    assert origins["$.child"] == "QuestionnaireResponse.item[0]"
    assert origins["$.notes[1]"] == "QuestionnaireResponse.item[6].answer[1]"
    assert origins["$.visits[1]"] == "QuestionnaireResponse.item[8]"
    assert origins["$.findings[0]"] == "QuestionnaireResponse.item[9].item[0]"


def test_origins_at_the_value_element_when_the_form_says_so() -> None:
    _, origins, _ = read(toy(Conventions(at_value=True)), response())
    assert origins["$.child.name"] == "QuestionnaireResponse.item[0].item[0].answer[0].valueString"


def damaged(change: Any) -> JSON:
    qr = response()
    change(qr["item"])
    return qr


def problems_of(qr: JSON, conventions: Conventions = PLAIN) -> list[tuple[str, str]]:
    return read(toy(conventions), qr)[2]


QR = "QuestionnaireResponse"


def test_missing_required_item_answer_and_repeated_items_are_located() -> None:
    assert problems_of(damaged(lambda i: i.pop(0))) == [(f"{QR}.item", "required")]
    assert problems_of(damaged(lambda i: i[5].pop("answer"))) == [
        (f"{QR}.item[5].answer", "required")
    ]
    assert problems_of(damaged(lambda i: i.insert(2, copy.deepcopy(i[1])))) == [
        (f"{QR}.item[2]", "structure")
    ]
    assert problems_of(damaged(lambda i: i[5]["answer"].append({"valueBoolean": True}))) == [
        (f"{QR}.item[5].answer[1]", "structure")
    ]


def test_a_repeating_group_repeats_its_item_but_not_its_required_answers() -> None:
    out, _, problems = read(toy(), damaged(lambda i: i[8]["item"][0].pop("answer")))
    assert problems == [(f"{QR}.item[8].item[0].answer", "required")]
    assert len(out["visits"]) == 2


@pytest.mark.parametrize(
    ("unknown", "expected"),
    [
        ("ignore", []),
        ("item", [(f"{QR}.item[10]", "structure")]),
        ("linkId", [(f"{QR}.item[10].linkId", "structure")]),
    ],
)
def test_unknown_link_ids_as_the_form_says(unknown: Any, expected: list[tuple[str, str]]) -> None:
    qr = damaged(lambda i: i.append({"linkId": ["not", "a", "string"]}))
    assert problems_of(qr, Conventions(unknown=unknown)) == expected


def test_answers_of_the_wrong_type() -> None:
    wrong_key = damaged(lambda i: i[5].update(answer=[{"valueString": "yes"}]))
    assert problems_of(wrong_key) == [(f"{QR}.item[5].answer[0]", "value")]
    assert problems_of(wrong_key, Conventions(at_value=True, misfit=IssueCode.STRUCTURE)) == [
        (f"{QR}.item[5].answer[0].valueBoolean", "structure")
    ]
    wrong_json = damaged(lambda i: i[5].update(answer=[{"valueBoolean": "true"}]))
    assert problems_of(wrong_json) == [(f"{QR}.item[5].answer[0]", "value")]
    no_value = damaged(lambda i: i[5].update(answer=[{}]))
    assert problems_of(no_value) == [(f"{QR}.item[5].answer[0]", "required")]
    partial_date = damaged(lambda i: i[0]["item"][1].update(answer=[{"valueDate": "2016-02"}]))
    assert problems_of(partial_date) == [(f"{QR}.item[0].item[1].answer[0].valueDate", "value")]


def test_codes_outside_the_options_or_the_system() -> None:
    def offer(code: str) -> Any:
        coding = {"system": CareSetting.system(), "code": code}
        return lambda i: i[3].update(answer=[{"valueCoding": coding}])

    assert problems_of(damaged(offer("community"))) == [
        (f"{QR}.item[3].answer[0].valueCoding.code", "code-invalid")
    ]
    assert problems_of(damaged(offer("nowhere"))) == [
        (f"{QR}.item[3].answer[0].valueCoding.code", "code-invalid")
    ]
    elsewhere = damaged(lambda i: i[4]["answer"][0]["valueCoding"].update(system="x"))
    assert problems_of(elsewhere) == [(f"{QR}.item[4].answer[0].valueCoding.system", "value")]


def test_the_header_names_the_questionnaire_and_a_finished_status() -> None:
    form = toy(version="1.0")
    assert read(form, response(questionnaire=f"{URL}|1.0"))[2] == []
    assert read(form, response(questionnaire=f"{URL}|2.0"))[2] == [(f"{QR}.questionnaire", "value")]
    assert read(form, response(questionnaire="https://example.org/other"))[2] == [
        (f"{QR}.questionnaire", "value")
    ]
    assert read(form, response(status="in-progress"))[2] == [(f"{QR}.status", "value")]
    bare = response()
    del bare["questionnaire"], bare["status"]
    assert read(form, bare)[2] == [
        (f"{QR}.questionnaire", "required"),
        (f"{QR}.status", "required"),
    ]


def test_not_a_questionnaire_response_stops_reading() -> None:
    with pytest.raises(MappingError) as caught:
        toy().check_resource(Reader(), Node({"resourceType": "Patient"}, QR))
    assert [(i.location, i.code.value) for i in caught.value.issues] == [(QR, "structure")]


# --- open-choice: a SNOMED CT code where known, else the name --------------------------------

OPEN = Form(
    URL,
    {"resourceType": "Questionnaire", "url": URL, "status": "active"},
    (
        Item(
            "conditions",
            "Conditions",
            "open-choice",
            "conditions",
            repeats=True,
            max_length=200,
            external=SNOMED_FINDINGS,
        ),
    ),
)
SNOMED = "http://snomed.info/sct"


def test_an_open_choice_answers_a_code_with_its_name_or_the_name_alone() -> None:
    data = {"conditions": ["Eczema", {"name": "Asthma", "snomed_code": "195967001"}]}
    [question] = OPEN.questionnaire()["item"]
    assert (question["type"], question["answerValueSet"]) == (
        "open-choice",
        f"{SNOMED}?fhir_vs=isa/404684003",
    )
    items = OPEN.response_items(data)
    assert items[0]["answer"] == [
        {"valueString": "Eczema"},
        {"valueCoding": {"system": SNOMED, "code": "195967001", "display": "Asthma"}},
    ]
    out, origins, problems = read(OPEN, response(items))
    assert (out, problems) == (data, [])
    at = f"{QR}.item[0].answer[1]"
    assert origins["$.conditions[1]"] == at
    assert origins["$.conditions[1].snomed_code"] == f"{at}.valueCoding.code"


def test_an_open_choice_answer_of_another_type_says_what_it_takes() -> None:
    reader, out, origins = Reader(), {}, {}
    qr = response([{"linkId": "conditions", "answer": [{"valueBoolean": True}]}])
    OPEN.read(reader, Node(qr, QR), out, origins)
    [issue] = reader.issues
    assert issue.location == f"{QR}.item[0].answer[0]"
    assert "expected valueCoding or valueString, found valueBoolean" in issue.message
