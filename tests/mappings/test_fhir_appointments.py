"""Missed and was-not-brought appointments as Appointment resources (status noshow), and the
section extensions that carried them before, still read."""

from __future__ import annotations

import json
from typing import Any

import pytest

from interop.artefact_json import parse_artefact
from interop.domain import StrategyDiscussionHealthReport
from interop.fixtures import artefact_fixtures
from interop.mappings.fhir_common import MappingError, ext_url
from interop.mappings.fhir_strategy_report import from_fhir, to_fhir

FIXTURE = next(
    f
    for f in artefact_fixtures("strategy-discussion-health-report", "valid")
    if "diabetes" in f.path
)


def _report() -> StrategyDiscussionHealthReport:
    report = parse_artefact(FIXTURE.read_bytes()).artefact
    assert isinstance(report, StrategyDiscussionHealthReport)
    return report


def _bundle() -> dict[str, Any]:
    return json.loads(json.dumps(to_fhir(_report())))


def _appointments(bundle: dict[str, Any]) -> list[dict[str, Any]]:
    return [
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == "Appointment"
    ]


def test_each_missed_appointment_is_an_appointment() -> None:
    appointments = _appointments(_bundle())
    assert [(a["status"], a["serviceType"][0]["text"]) for a in appointments] == [
        ("noshow", "Paediatric diabetes clinic"),
        ("noshow", "Paediatric diabetes clinic"),
        ("noshow", "Paediatric dietetics"),
        ("cancelled", "Diabetic eye screening"),
    ]
    assert appointments[3]["cancelationReason"]["coding"][0]["code"] == "pat"
    codes = [a["extension"][0]["valueCoding"]["code"] for a in appointments]
    assert codes == ["was-not-brought", "was-not-brought", "missed", "cancelled-by-family"]


def test_the_day_is_bounded_in_england() -> None:
    first, *_, last = _appointments(_bundle())
    # 11 February is GMT, 29 April BST
    assert (first["start"], first["end"]) == ("2026-02-11T00:00:00Z", "2026-02-12T00:00:00Z")
    assert (last["start"], last["end"]) == (
        "2026-04-29T00:00:00+01:00",
        "2026-04-30T00:00:00+01:00",
    )


def test_the_section_lists_them_and_the_child_is_the_participant() -> None:
    bundle = _bundle()
    urls = {e["resource"]["id"]: e["fullUrl"] for e in bundle["entry"]}
    patient = next(e for e in bundle["entry"] if e["resource"]["resourceType"] == "Patient")
    composition = bundle["entry"][0]["resource"]
    entries = {r["reference"] for s in composition["section"] for r in s.get("entry", [])}
    for appointment in _appointments(bundle):
        assert urls[appointment["id"]] in entries
        assert appointment["participant"][0]["actor"]["reference"] == patient["fullUrl"]
        assert appointment["meta"]["security"][0]["code"] == "R"


def test_old_input_with_section_extensions_is_still_read() -> None:
    bundle = _bundle()
    report = _report()
    ids = {a["id"] for a in _appointments(bundle)}
    composition = bundle["entry"][0]["resource"]
    for section in composition["section"]:
        section["entry"] = [
            r
            for r in section.get("entry", [])
            if r["reference"].removeprefix("urn:uuid:") not in ids
        ]
        if not section["entry"]:
            section.pop("entry")
    concerns = next(
        s for s in composition["section"] if s["code"]["coding"][0]["code"] == "health-concerns"
    )
    concerns.setdefault("extension", []).extend(
        {
            "url": ext_url("missed-appointment"),
            "extension": [
                {"url": "appointmentDate", "valueDate": m.appointment_date.isoformat()},
                {"url": "service", "valueString": m.service},
                {
                    "url": "attendance",
                    "valueCoding": {
                        "system": type(m.attendance).system(),
                        "code": m.attendance.value,
                    },
                },
            ],
        }
        for m in report.health_concerns.missed_appointments
    )
    bundle["entry"] = [e for e in bundle["entry"] if e["resource"]["id"] not in ids]
    assert from_fhir(bundle) == report


def test_an_appointment_without_its_attendance_code_is_located() -> None:
    bundle = _bundle()
    _appointments(bundle)[0].pop("extension")
    with pytest.raises(MappingError) as caught:
        from_fhir(bundle)
    [issue] = caught.value.issues
    assert issue.location.endswith("ofType(Appointment).extension('appointment-attendance')")
