"""The structure stage says what is wrong in plain words, not the model library's."""

from __future__ import annotations

from interop.fhir import check_structure


def _messages(resource: dict[str, object]) -> list[str]:
    return [i.message for i in check_structure(resource)]


def test_two_values_in_one_extension() -> None:
    extension = {"url": "https://example.org/x", "valueCode": "a", "valueString": "b"}
    resource = {"resourceType": "Patient", "extension": [extension]}
    assert _messages(resource) == [
        "a choice element (such as value[x]) holds one type only; several are given"
    ]


def test_a_date_time_in_the_wrong_format() -> None:
    resource = {
        "resourceType": "Flag",
        "status": "active",
        "code": {"text": "x"},
        "subject": {"reference": "Patient/1"},
        "period": {"start": "03/02/2026"},
    }
    [message] = _messages(resource)
    assert message.startswith("not a FHIR dateTime (YYYY")


def test_an_element_r4_does_not_have() -> None:
    resource = {"resourceType": "Patient", "nickname": "Pops"}
    assert _messages(resource) == ["an element R4 does not have here"]


def test_a_choice_that_must_be_given() -> None:
    resource = {"resourceType": "MessageHeader", "source": {"endpoint": "urn:x"}}
    [message] = _messages(resource)
    assert message == "one of these is required: 'eventCoding', 'eventUri'"
