"""Regenerate the data the code declares: profiles/ and the generated conformance fixtures.

    .venv/bin/python scripts/generate_data.py          # write
    .venv/bin/python scripts/generate_data.py --check  # exit 1 and list what drifted

profiles/*.json come from ``interop.mappings.fhir_conformance.render_all()``. From the valid
artefact fixtures (hand-written, under fixtures/artefacts/) come:

- a FHIR JSON and a FHIR XML twin of each, under fixtures/fhir/<kind>/, listed in
  fixtures/manifest.json with ``twin_of`` naming the artefact it must read back as;
- a CP-IS upload of each valid child protection flag, under fixtures/cpis/valid/;
- the invalid FHIR and CP-IS fixtures of ``BROKEN``: each is a valid twin or upload broken one
  way, under fixtures/fhir/invalid/<kind>/ and fixtures/cpis/invalid/, listed with the errors
  it must give (checked by ``interop conformance run``) and ``derived_from`` naming its source.

Manifest entries outside fixtures/fhir/ and fixtures/cpis/ (the artefact JSON fixtures and any
other hand-written fixture) are kept as they are; files in those two folders that are no longer
generated are removed.
"""

from __future__ import annotations

import argparse
import io
import json
import re
import sys
import uuid
from collections.abc import Callable
from copy import deepcopy
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, NamedTuple

from lxml import etree

from interop.artefact_json import parse_artefact
from interop.codes import CANONICAL_BASE
from interop.cpis.codec import write_upload
from interop.cpis.model import UploadHeader
from interop.domain import ArtefactBase, ChildProtectionFlag
from interop.fhir import to_xml
from interop.mappings.cpis import flag_to_record
from interop.mappings.fhir import artefact_to_fhir
from interop.mappings.fhir_conformance import render_all
from interop.validators.rule_codes import rule_code_system

ROOT = Path(__file__).resolve().parent.parent
PROFILES = ROOT / "profiles"
FIXTURES = ROOT / "fixtures"
TWIN_FORMATS = {"fhir-json": ".json", "fhir-xml": ".xml"}
#: fixture folders whose every file is generated here
GENERATED_FOLDERS = ("fhir", "cpis")
#: the upload time written into the CP-IS fixtures (a fixed one: the files must not drift)
CPIS_CREATED = datetime(2026, 11, 2, 9, 30, tzinfo=UTC)
NAMESPACES = {"f": "http://hl7.org/fhir", "v3": "urn:hl7-org:v3"}

JSON = dict[str, Any]


def dumps(value: object) -> bytes:
    """The project's JSON file style: 2-space indent, UTF-8, final newline."""
    return (json.dumps(value, indent=2, ensure_ascii=False) + "\n").encode("utf-8")


# --- the valid sources ---------------------------------------------------------------------


def valid_artefact(path: str) -> ArtefactBase:
    """A valid artefact fixture (``artefacts/valid/<kind>/<stem>.json``), read."""
    artefact = parse_artefact((FIXTURES / path).read_bytes()).artefact
    assert artefact is not None, path
    return artefact


def cpis_upload(flag: ChildProtectionFlag, relative: str) -> bytes:
    """What ``interop map FLAG --to cpis`` writes, with a fixed file id and time."""
    la = flag.responsible_la
    file_id = uuid.uuid5(uuid.NAMESPACE_URL, f"{CANONICAL_BASE}/fixtures/{relative}")
    header = UploadHeader(str(file_id), CPIS_CREATED, la.ods_code, la.name)
    buffer = io.BytesIO()
    write_upload(header, [flag_to_record(flag)], buffer)
    return buffer.getvalue()


# --- one change each: the ways the invalid fixtures are broken ------------------------------

#: a change to the FHIR Bundle, made before it is written as JSON or XML
JsonEdit = Callable[[JSON], None]


class XmlEdit:
    """A change to the written XML (FHIR XML or a CP-IS upload), for what R4 JSON cannot
    hold: an unknown element, a required element missing."""

    def __init__(self, apply: Callable[[etree._Element], None]) -> None:
        self.apply = apply


_STEP = re.compile(r"([^.\[\]]+)|\[(\d+)\]")


def _resource(bundle: JSON, resource_type: str) -> JSON:
    """The first entry's resource of a type."""
    found: JSON = next(
        e["resource"] for e in bundle["entry"] if e["resource"]["resourceType"] == resource_type
    )
    return found


def _parent(node: Any, path: str) -> tuple[Any, str | int]:
    """The container holding the last step of a dotted path (``identifier[0].value``)."""
    steps: list[str | int] = [int(index) if index else name for name, index in _STEP.findall(path)]
    for step in steps[:-1]:
        node = node[step]
    return node, steps[-1]


def set_value(resource_type: str, path: str, value: Any) -> JsonEdit:
    """Set an element of the first resource of a type (``Bundle`` for the Bundle itself)."""

    def edit(bundle: JSON) -> None:
        target = bundle if resource_type == "Bundle" else _resource(bundle, resource_type)
        parent, key = _parent(target, path)
        parent[key] = value

    return edit


def remove(resource_type: str, path: str) -> JsonEdit:
    """Remove an element of the first resource of a type."""

    def edit(bundle: JSON) -> None:
        parent, key = _parent(_resource(bundle, resource_type), path)
        del parent[key]

    return edit


def _item(bundle: JSON, link_id: str) -> JSON:
    """A QuestionnaireResponse item by its linkId, at any depth."""
    pending = list(_resource(bundle, "QuestionnaireResponse")["item"])
    while pending:
        item: JSON = pending.pop(0)
        if item["linkId"] == link_id:
            return item
        pending.extend(item.get("item", []))
    raise KeyError(link_id)


def answer(link_id: str, value: JSON | None) -> JsonEdit:
    """Replace the answer of a QuestionnaireResponse item (``None``: remove it)."""

    def edit(bundle: JSON) -> None:
        item = _item(bundle, link_id)
        if value is None:
            del item["answer"]
        else:
            item["answer"] = [value]

    return edit


def _section(bundle: JSON, code: str) -> JSON:
    sections = _resource(bundle, "Composition")["section"]
    found: JSON = next(s for s in sections if s["code"]["coding"][0]["code"] == code)
    return found


def outcome_code(code: str) -> JsonEdit:
    """Set the strategy discussion's outcome code (its Composition section's extension)."""

    def edit(bundle: JSON) -> None:
        _section(bundle, "outcome")["extension"][0]["valueCoding"]["code"] = code

    return edit


def remove_activities(code: str) -> JsonEdit:
    """Remove every CarePlan activity of a kind (``escalation-trigger``)."""

    def edit(bundle: JSON) -> None:
        plan = _resource(bundle, "CarePlan")
        plan["activity"] = [
            a for a in plan["activity"] if a["detail"]["code"]["coding"][0]["code"] != code
        ]
        if not plan["activity"]:
            del plan["activity"]  # R4 JSON has no empty arrays: the element is absent

    return edit


def _find(root: etree._Element, xpath: str) -> etree._Element:
    found = root.xpath(xpath, namespaces=NAMESPACES)
    assert isinstance(found, list), xpath
    assert found, xpath
    element = found[0]
    assert isinstance(element, etree._Element), xpath
    return element


def xml_set(xpath: str, attribute: str, value: str) -> XmlEdit:
    """Set an attribute of the first element an XPath finds (prefixes ``f``: FHIR, ``v3``)."""

    def edit(root: etree._Element) -> None:
        _find(root, xpath).set(attribute, value)

    return XmlEdit(edit)


def xml_remove(xpath: str) -> XmlEdit:
    """Remove the first element an XPath finds (its tail text stays)."""

    def edit(root: etree._Element) -> None:
        element = _find(root, xpath)
        parent = element.getparent()
        assert parent is not None
        tail = element.tail
        previous = element.getprevious()
        parent.remove(element)
        if tail:
            if previous is not None:
                previous.tail = (previous.tail or "") + tail
            else:
                parent.text = (parent.text or "") + tail

    return XmlEdit(edit)


def xml_insert_after(
    xpath: str, name: str, attributes: dict[str, str] | None = None, text: str | None = None
) -> XmlEdit:
    """Insert an element (in its sibling's namespace) after the first element found."""

    def edit(root: etree._Element) -> None:
        element = _find(root, xpath)
        namespace = etree.QName(element).namespace
        new = etree.Element(f"{{{namespace}}}{name}", attrib=attributes or {})
        new.text = text
        element.addnext(new)

    return XmlEdit(edit)


def xml_repeat(xpath: str) -> XmlEdit:
    """Repeat the first element found right after itself (a record sent twice)."""

    def edit(root: etree._Element) -> None:
        element = _find(root, xpath)
        twin = deepcopy(element)
        element.addnext(twin)

    return XmlEdit(edit)


class Broken(NamedTuple):
    """An invalid fixture: a valid fixture's FHIR or CP-IS form broken one way.

    ``path`` says where it goes and so its format (``fhir/invalid/<kind>/<name>.json`` is FHIR
    JSON, ``.xml`` there FHIR XML, ``cpis/invalid/<name>.xml`` a CP-IS upload). ``source`` is the
    valid artefact fixture it is made from. A ``JsonEdit`` changes the FHIR Bundle (for FHIR XML,
    before it is written as XML, so the change must still be valid R4 structure); an ``XmlEdit``
    changes the written XML. ``issues`` are the errors the validator must give, no more.
    """

    path: str
    source: str
    description: str
    change: JsonEdit | XmlEdit
    issues: tuple[dict[str, str], ...]

    @property
    def format(self) -> str:
        """The fixture's format, from its folder and suffix."""
        if self.path.startswith("cpis/"):
            return "cpis-xml"
        return "fhir-xml" if self.path.endswith(".xml") else "fhir-json"

    def build(self, artefact: ArtefactBase) -> bytes:
        """The broken file's content."""
        if self.format == "cpis-xml":
            assert isinstance(artefact, ChildProtectionFlag), self.source
            assert isinstance(self.change, XmlEdit), self.path
            return _edit_xml(cpis_upload(artefact, self.path), self.change)
        bundle = artefact_to_fhir(artefact)
        if isinstance(self.change, XmlEdit):
            assert self.format == "fhir-xml", self.path
            return _edit_xml(to_xml(bundle), self.change)
        self.change(bundle)
        return dumps(bundle) if self.format == "fhir-json" else to_xml(bundle)


def _edit_xml(document: bytes, change: XmlEdit) -> bytes:
    root = etree.fromstring(document)
    change.apply(root)
    written: bytes = etree.tostring(root, xml_declaration=True, encoding="UTF-8")
    return written


def rule(rule_id: str, location: str) -> dict[str, str]:
    """An expected error of a rule, at a location."""
    return {"location": location, "rule": rule_id}


def code(issue_code: str, location: str) -> dict[str, str]:
    """An expected error of an issue code (no rule), at a location."""
    return {"location": location, "code": issue_code}


def entry(index: int, resource_type: str, path: str = "") -> str:
    """``Bundle.entry[i].resource.ofType(T).path``, as every stage and the mappings locate
    problems."""
    where = f"Bundle.entry[{index}].resource.ofType({resource_type})"
    return f"{where}.{path}" if path else where


FLAG = "artefacts/valid/child-protection-flag/cpp-minimal.json"
FLAG_CPIS = "artefacts/valid/child-protection-flag/cpp-active.json"
PLAN = "artefacts/valid/health-treatment-plan/anorexia-minimal.json"
REPORT = "artefacts/valid/strategy-discussion-health-report/neither-minimal.json"
ALERT = "artefacts/valid/travel-alert/whereabouts-unknown-minimal.json"
CHECKLIST = "artefacts/valid/health-needs-checklist/no-diagnosed-needs-minimal.json"
CP = "fhir/invalid/child-protection-flag"
TP = "fhir/invalid/health-treatment-plan"
SD = "fhir/invalid/strategy-discussion-health-report"
TA = "fhir/invalid/travel-alert"
HN = "fhir/invalid/health-needs-checklist"
REFERRAL = "artefacts/valid/referral/s47-diabetes-neglect.json"
ASSESSMENT = "artefacts/valid/assessment/s47-diabetes-neglect.json"
OUTCOME = "artefacts/valid/section-47-outcome/conference-diabetes-neglect.json"
RF = "fhir/invalid/referral"
AS = "fhir/invalid/assessment"
SO = "fhir/invalid/section-47-outcome"
_CPP = "/LocalAuthorityUpload/component[1]/CPPInformation"

#: Every generated invalid fixture. Expected issues were read off the validator's output and
#: checked by eye to be the one problem each fixture shows.
BROKEN: tuple[Broken, ...] = (
    # --- child protection flag: FHIR -------------------------------------------------------
    Broken(
        f"{CP}/nhs-number-check-digit.json",
        FLAG,
        "Patient NHS number whose last digit does not match its modulus 11 check digit.",
        set_value("Patient", "identifier[0].value", "9203269168"),
        (rule("NHS", entry(2, "Patient", "identifier[0].value")),),
    ),
    Broken(
        f"{CP}/unknown-plan-type.xml",
        FLAG,
        "Flag.code's plan-type coding has the code XYZ, which is not a CP-IS plan type.",
        set_value("Flag", "code.coding[1].code", "XYZ"),
        (code("code-invalid", entry(0, "Flag", "code.coding[1]")),),
    ),
    Broken(
        f"{CP}/subject-not-in-bundle.json",
        FLAG,
        "Flag.subject refers to a Patient that is not in the Bundle.",
        set_value("Flag", "subject.reference", "urn:uuid:00000000-0000-4000-8000-000000000001"),
        (code("structure", entry(0, "Flag", "subject.reference")),),
    ),
    Broken(
        f"{CP}/flag-without-status.xml",
        FLAG,
        "Flag without its required status element (removed from the XML).",
        xml_remove("//f:Flag/f:status"),
        (code("required", entry(0, "Flag", "status")),),
    ),
    Broken(
        f"{CP}/plan-start-not-a-date.json",
        FLAG,
        "Flag.period.start written 27/10/2026 instead of 2026-10-27.",
        set_value("Flag", "period.start", "27/10/2026"),
        (code("structure", entry(0, "Flag", "period.start")),),
    ),
    Broken(
        f"{CP}/flag-code-not-cp-is.json",
        FLAG,
        "Flag.code's PatientFlagCategory coding is XX instead of the fixed CP-IS.",
        set_value("Flag", "code.coding[0].code", "XX"),
        (rule("Flag.code", entry(0, "Flag", "code")),),
    ),
    Broken(
        f"{CP}/document-bundle.xml",
        FLAG,
        "The flag sent as a document Bundle: its profile fixes the type to collection, and a "
        "document Bundle needs an identifier, a timestamp and a Composition first (R4 bdl-9, "
        "bdl-10, bdl-11).",
        set_value("Bundle", "type", "document"),
        (
            rule("Bundle.type", "Bundle.type"),
            rule("bdl-9", "Bundle"),
            rule("bdl-10", "Bundle"),
            rule("bdl-11", "Bundle"),
        ),
    ),
    Broken(
        f"{CP}/patient-without-nhs-number.json",
        FLAG,
        "Patient without any identifier: the NHS number slice is required.",
        remove("Patient", "identifier"),
        (rule("Patient.identifier:nhsNumber", entry(2, "Patient", "identifier")),),
    ),
    # --- child protection flag: CP-IS upload (what interop map --to cpis writes) -------------
    Broken(
        "cpis/invalid/start-date-30-february.xml",
        FLAG_CPIS,
        "Plan start date 20260230: the right shape, but the day does not exist.",
        xml_set("//v3:CPPStartDate/v3:value", "value", "20260230"),
        (code("value", f"{_CPP}/pertinentInformation1/CPPStartDate/value/@value"),),
    ),
    Broken(
        "cpis/invalid/start-date-with-dashes.xml",
        FLAG_CPIS,
        "Plan start date written 2026-06-09; HL7 v3 dates are YYYYMMDD.",
        xml_set("//v3:CPPStartDate/v3:value", "value", "2026-06-09"),
        (code("value", f"{_CPP}/pertinentInformation1/CPPStartDate/value"),),
    ),
    Broken(
        "cpis/invalid/birth-month-13.xml",
        FLAG_CPIS,
        "Child's birth time with month 13.",
        xml_set("//v3:patientPerson/v3:birthTime", "value", "20141317"),
        (code("value", f"{_CPP}/subject/ChildSubject/patientPerson/birthTime"),),
    ),
    Broken(
        "cpis/invalid/without-start-date.xml",
        FLAG_CPIS,
        "Record without its plan start date (pertinentInformation1 removed).",
        xml_remove("//v3:CPPInformation/v3:pertinentInformation1"),
        (code("required", _CPP),),
    ),
    Broken(
        "cpis/invalid/unknown-element.xml",
        FLAG_CPIS,
        "A nickname element the CP-IS message does not have, before the child's name.",
        xml_insert_after("//v3:ChildSubject/v3:id", "nickname", text="Mais"),
        (code("structure", f"{_CPP}/subject/ChildSubject/nickname"),),
    ),
    Broken(
        "cpis/invalid/wrong-information-code.xml",
        FLAG_CPIS,
        "CPPInformation coded CPPIX instead of its fixed code CPPIU.",
        xml_set("//v3:CPPInformation/v3:code", "code", "CPPIX"),
        (code("value", f"{_CPP}/code"),),
    ),
    Broken(
        "cpis/invalid/duplicate-record-id.xml",
        FLAG_CPIS,
        "The same record twice in one upload: record ids must be unique in a file.",
        xml_repeat("//v3:component"),
        (code("invariant", "/LocalAuthorityUpload/component[2]/*/id/@extension"),),
    ),
    Broken(
        "cpis/invalid/la-ods-code-lower-case.xml",
        FLAG_CPIS,
        "The local authority's ODS code written in lower case (la465).",
        xml_set("//v3:LocalAuthority/v3:id", "extension", "la465"),
        (code("value", "/LocalAuthorityUpload/author/LocalAuthority/id"),),
    ),
    Broken(
        "cpis/invalid/wrong-message-type.xml",
        FLAG_CPIS,
        "An upload whose messageType names the acknowledgement's type REPC_MT000003GB01.",
        xml_set("//v3:messageType", "extension", "REPC_MT000003GB01"),
        (code("value", "/LocalAuthorityUpload/messageType"),),
    ),
    Broken(
        "cpis/invalid/ucpp-delivery-date-31-april.xml",
        "artefacts/valid/child-protection-flag/ucpp-expectant-mother.json",
        "Unborn child plan whose expected delivery date is 31 April.",
        xml_set("//v3:UnbornChildSubject/v3:patientPerson/v3:birthTime", "value", "20270431"),
        (
            code(
                "value",
                "/LocalAuthorityUpload/component[1]/UCPInformation/subject/UnbornChildSubject"
                "/patientPerson/birthTime/@value",
            ),
        ),
    ),
    # --- health treatment plan -------------------------------------------------------------
    Broken(
        f"{TP}/trigger-without-action.json",
        PLAN,
        "Escalation trigger activity without its description (the action to take).",
        remove("CarePlan", "activity[0].detail.description"),
        (code("required", entry(0, "CarePlan", "activity[0].detail.description")),),
    ),
    Broken(
        f"{TP}/unknown-trigger-code.xml",
        PLAN,
        "Escalation trigger coded missed-medication, which is not a standard trigger.",
        set_value(
            "CarePlan", "activity[0].detail.reasonCode[0].coding[0].code", "missed-medication"
        ),
        (
            rule(
                "CarePlan.activity.detail.reasonCode",
                entry(0, "CarePlan", "activity[0].detail.reasonCode[0].coding[0]"),
            ),
        ),
    ),
    Broken(
        f"{TP}/care-team-not-in-bundle.xml",
        PLAN,
        "CarePlan.careTeam refers to a CareTeam that is not in the Bundle.",
        set_value(
            "CarePlan", "careTeam[0].reference", "urn:uuid:00000000-0000-4000-8000-000000000002"
        ),
        (code("structure", entry(0, "CarePlan", "careTeam[0].reference")),),
    ),
    Broken(
        f"{TP}/care-plan-without-intent.xml",
        PLAN,
        "CarePlan without its required intent element (removed from the XML).",
        xml_remove("//f:CarePlan/f:intent"),
        (code("required", entry(0, "CarePlan", "intent")),),
    ),
    Broken(
        f"{TP}/created-hour-25.json",
        PLAN,
        "CarePlan.created at hour 25.",
        set_value("CarePlan", "created", "2026-11-10T25:00:00Z"),
        (code("structure", entry(0, "CarePlan", "created")),),
    ),
    Broken(
        f"{TP}/no-escalation-triggers.json",
        PLAN,
        "Treatment plan with no escalation trigger activity at all.",
        remove_activities("escalation-trigger"),
        (rule("CarePlan.activity", entry(0, "CarePlan", "activity")),),
    ),
    # --- strategy discussion health report -------------------------------------------------
    Broken(
        f"{SD}/unknown-outcome-code.xml",
        REPORT,
        "Strategy discussion outcome coded s48, which is not an outcome.",
        outcome_code("s48"),
        (code("code-invalid", entry(0, "Composition", "section[3].extension[0].valueCoding")),),
    ),
    Broken(
        f"{SD}/s47-without-social-worker.xml",
        REPORT,
        "Section 47 outcome, but the report names no social worker.",
        outcome_code("s47"),
        (rule("C05", entry(0, "Composition")),),
    ),
    Broken(
        f"{SD}/draft-composition.xml",
        REPORT,
        "Composition with status draft; the report's profile fixes it to final.",
        set_value("Composition", "status", "draft"),
        (
            rule("Composition.status", entry(0, "Composition", "status")),
            code("code-invalid", entry(0, "Composition", "status")),  # not an R4 status either
        ),
    ),
    Broken(
        f"{SD}/snomed-check-digit.json",
        "artefacts/valid/strategy-discussion-health-report/s17-asthma-housing.json",
        "Asthma's SNOMED CT code with two digits swapped (159967001 for 195967001): the "
        "Verhoeff check digit does not match.",
        set_value("Condition", "code.coding[0].code", "159967001"),
        (code("code-invalid", entry(12, "Condition", "code.coding[0].code")),),
    ),
    Broken(
        f"{SD}/collection-bundle.json",
        REPORT,
        "The report sent as a collection Bundle instead of a document.",
        set_value("Bundle", "type", "collection"),
        (rule("Bundle.type", "Bundle.type"),),
    ),
    Broken(
        f"{SD}/composition-without-date.json",
        REPORT,
        "Composition without its required date.",
        remove("Composition", "date"),
        (code("required", entry(0, "Composition", "date")),),
    ),
    Broken(
        f"{SD}/unknown-element.json",
        REPORT,
        "Composition with an element R4 does not have (dateWritten).",
        set_value("Composition", "dateWritten", "2026-10-15"),
        (code("structure", entry(0, "Composition", "dateWritten")),),
    ),
    Broken(
        f"{SD}/nhs-number-check-digit.xml",
        REPORT,
        "Patient NHS number whose last digit does not match its modulus 11 check digit.",
        set_value("Patient", "identifier[0].value", "9434765918"),
        (rule("NHS", entry(1, "Patient", "identifier[0].value")),),
    ),
    # --- travel alert ----------------------------------------------------------------------
    Broken(
        f"{TA}/snomed-check-digit.xml",
        "artefacts/valid/travel-alert/planned-uk-move-no-risk.json",
        "Tetralogy of Fallot coded 86299009 on the Flag: a mistyped last digit, so the Verhoeff "
        "check digit does not match.",
        set_value("Flag", "extension[6].valueCodeableConcept.coding[0].code", "86299009"),
        (
            code(
                "code-invalid", entry(1, "Flag", "extension[6].valueCodeableConcept.coding[0].code")
            ),
        ),
    ),
    Broken(
        f"{TA}/unknown-scenario-code.xml",
        ALERT,
        "Flag.code coded kidnapped, which is not a travel scenario.",
        set_value("Flag", "code.coding[0].code", "kidnapped"),
        (rule("Flag.code", entry(1, "Flag", "code.coding[0]")),),
    ),
    Broken(
        f"{TA}/unknown-outcome-code.xml",
        ALERT,
        "Travel outcome extension coded great, which is not an outcome.",
        set_value("Flag", "extension[2].valueCoding.code", "great"),
        (rule("Extension.value[x]", entry(1, "Flag", "extension[2].valueCoding")),),
    ),
    Broken(
        f"{TA}/nhs-number-nine-digits.xml",
        ALERT,
        "Patient NHS number with its last digit dropped (nine digits).",
        set_value("Patient", "identifier[0].value", "918772594"),
        (rule("NHS", entry(2, "Patient", "identifier[0].value")),),
    ),
    Broken(
        f"{TA}/flag-without-subject.json",
        ALERT,
        "Flag without its required subject.",
        remove("Flag", "subject"),
        (code("required", entry(1, "Flag", "subject")),),
    ),
    Broken(
        f"{TA}/unknown-element.xml",
        ALERT,
        "Flag with an element R4 does not have (urgency), added to the XML.",
        xml_insert_after("//f:Flag/f:status", "urgency", {"value": "high"}),
        (code("structure", entry(1, "Flag", "urgency")),),
    ),
    Broken(
        f"{TA}/message-header-without-event.json",
        ALERT,
        "MessageHeader without its event (eventCoding or eventUri is required).",
        remove("MessageHeader", "eventCoding"),
        (code("required", entry(0, "MessageHeader", "event")),),
    ),
    # --- health needs checklist ------------------------------------------------------------
    Broken(
        f"{HN}/nhs-answer-disagrees.json",
        CHECKLIST,
        "The NHS number answered in the checklist differs from the Patient's.",
        answer("nhs-number", {"valueString": "9434765919"}),
        (code("invariant", entry(0, "QuestionnaireResponse", "item[1].answer[0].valueString")),),
    ),
    Broken(
        f"{HN}/unknown-meeting-type.xml",
        CHECKLIST,
        "Meeting type answered strategy-discussion, which is not a conference or core group.",
        answer(
            "meeting.type",
            {
                "valueCoding": {
                    "system": "https://fhir.safeguarding-interop.org/CodeSystem/meeting-type",
                    "code": "strategy-discussion",
                }
            },
        ),
        (
            code(
                "code-invalid",
                entry(0, "QuestionnaireResponse", "item[2].item[0].answer[0].valueCoding"),
            ),
        ),
    ),
    Broken(
        f"{HN}/meeting-time-as-text.json",
        CHECKLIST,
        "The meeting's date and time answered as free text instead of a dateTime.",
        answer("meeting.date-time", {"valueString": "Tuesday afternoon"}),
        (
            code(
                "value",
                entry(0, "QuestionnaireResponse", "item[2].item[1].answer[0].valueDateTime"),
            ),
        ),
    ),
    Broken(
        f"{HN}/in-progress-response.xml",
        CHECKLIST,
        "A QuestionnaireResponse still in progress: only a finished response is a checklist.",
        set_value("QuestionnaireResponse", "status", "in-progress"),
        (code("value", entry(0, "QuestionnaireResponse", "status")),),
    ),
    Broken(
        f"{HN}/birth-date-31-june.json",
        CHECKLIST,
        "Child's date of birth answered as 31 June.",
        answer("child.date-of-birth", {"valueDate": "2012-06-31"}),
        (
            code(
                "structure",
                entry(0, "QuestionnaireResponse", "item[0].item[2].answer[0].valueDate"),
            ),
        ),
    ),
    Broken(
        f"{HN}/care-needs-unanswered.json",
        CHECKLIST,
        "No care plan available, and the care-needs question is left unanswered.",
        answer("care-needs-without-plan.risk-of-serious-deterioration", None),
        (code("required", entry(0, "QuestionnaireResponse", "item[7].item[0].answer")),),
    ),
    # --- referral, assessment, section 47 outcome: FHIR ------------------------------------
    Broken(
        f"{RF}/decided-before-received.json",
        REFERRAL,
        "The decision Task's executionPeriod ends (the decision) before it starts (receipt): "
        "FHIR's own Period invariant refuses it before the mapping's C02 is reached.",
        set_value("Task", "executionPeriod.end", "2026-05-18T09:00:00+01:00"),
        (rule("per-1", entry(1, "Task", "executionPeriod")),),
    ),
    Broken(
        f"{RF}/unknown-decision.xml",
        REFERRAL,
        "The decision coded 'maybe', which is not a referral decision.",
        set_value("Task", "output[0].valueCodeableConcept.coding[0].code", "maybe"),
        (code("code-invalid", entry(1, "Task", "output[0].valueCodeableConcept.coding[0]")),),
    ),
    Broken(
        f"{AS}/reference-names-another-child.json",
        ASSESSMENT,
        "Task.for resolves to the child's Patient but its identifier names another NHS number.",
        set_value("Task", "for.identifier.value", "9434765919"),
        (code("value", entry(0, "Task", "for.identifier.value")),),
    ),
    Broken(
        f"{AS}/no-start.xml",
        ASSESSMENT,
        "An assessment Task without the start of its executionPeriod.",
        remove("Task", "executionPeriod.start"),
        (rule("Task.executionPeriod.start", entry(0, "Task", "executionPeriod.start")),),
    ),
    Broken(
        f"{SO}/conference-before-discussion.json",
        OUTCOME,
        "A conference convened for the day before the strategy discussion that started the "
        "enquiries.",
        set_value("Task", "output[1].valueDate", "2026-05-19"),
        (rule("C02", entry(0, "Task", "output")),),
    ),
    Broken(
        f"{SO}/unknown-outcome.xml",
        OUTCOME,
        "The outcome coded 'perhaps', which is not a section 47 outcome.",
        set_value("Task", "output[0].valueCodeableConcept.coding[0].code", "perhaps"),
        (code("code-invalid", entry(0, "Task", "output[0].valueCodeableConcept.coding[0]")),),
    ),
)


def broken_fixtures() -> tuple[dict[Path, bytes], list[JSON]]:
    """The invalid FHIR and CP-IS fixtures of ``BROKEN``, and their manifest entries."""
    files: dict[Path, bytes] = {}
    entries: list[JSON] = []
    for broken in BROKEN:
        artefact = valid_artefact(broken.source)
        files[FIXTURES / broken.path] = broken.build(artefact)
        entries.append(
            {
                "path": broken.path,
                "kind": artefact.kind,
                "format": broken.format,
                "expect": "invalid",
                "description": broken.description,
                "issues": list(broken.issues),
                "derived_from": broken.source,
            }
        )
    return files, entries


def expected_files() -> dict[Path, bytes]:
    """Every generated file and its content."""
    files = {PROFILES / name: dumps(resource) for name, resource in render_all().items()}
    # rule ids come from the validators' rule tables, which mappings may not import
    files[PROFILES / "CodeSystem-validation-rule.json"] = dumps(rule_code_system())
    manifest = json.loads((FIXTURES / "manifest.json").read_text(encoding="utf-8"))
    kept = [e for e in manifest["fixtures"] if e["path"].split("/", 1)[0] not in GENERATED_FOLDERS]
    generated = []
    for item in kept:
        if item["format"] != "artefact-json" or item["expect"] != "valid":
            continue
        artefact = valid_artefact(item["path"])
        bundle = artefact_to_fhir(artefact)
        stem = Path(item["path"]).stem
        for fmt, suffix in TWIN_FORMATS.items():
            relative = f"fhir/{item['kind']}/{stem}{suffix}"
            files[FIXTURES / relative] = dumps(bundle) if fmt == "fhir-json" else to_xml(bundle)
            generated.append(
                {
                    "path": relative,
                    "kind": item["kind"],
                    "format": fmt,
                    "expect": "valid",
                    "description": f"FHIR twin of {item['path']}",
                    "twin_of": item["path"],
                }
            )
        if isinstance(artefact, ChildProtectionFlag):
            relative = f"cpis/valid/{stem}.xml"
            files[FIXTURES / relative] = cpis_upload(artefact, relative)
            generated.append(
                {
                    "path": relative,
                    "kind": item["kind"],
                    "format": "cpis-xml",
                    "expect": "valid",
                    "description": f"CP-IS upload of {item['path']} (interop map --to cpis)",
                    "derived_from": item["path"],
                }
            )
    broken_files, broken_entries = broken_fixtures()
    files.update(broken_files)
    manifest["fixtures"] = sorted(kept + generated + broken_entries, key=lambda e: e["path"])
    files[FIXTURES / "manifest.json"] = dumps(manifest)
    return files


def stale_files(expected: dict[Path, bytes]) -> list[Path]:
    """Generated-looking files no longer produced."""
    # the R4 core invariants are data of the invariants stage, not a generated resource
    candidates = [p for p in PROFILES.glob("*.json") if p.name != "r4-core-invariants.json"]
    for folder in GENERATED_FOLDERS:
        candidates += [p for p in (FIXTURES / folder).rglob("*") if p.is_file()]
    return sorted(p for p in candidates if p not in expected)


def main() -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--check", action="store_true", help="report drift, write nothing")
    args = parser.parse_args()
    expected = expected_files()
    drifted = [p for p, data in expected.items() if not p.exists() or p.read_bytes() != data]
    stale = stale_files(expected)
    if args.check:
        for path in drifted:
            print(f"out of date: {path.relative_to(ROOT)}")
        for path in stale:
            print(f"no longer generated: {path.relative_to(ROOT)}")
        if drifted or stale:
            print("run: .venv/bin/python scripts/generate_data.py")
        return 1 if drifted or stale else 0
    for path in drifted:
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(expected[path])
    for path in stale:
        path.unlink()
    print(f"{len(drifted)} file(s) written, {len(stale)} removed, {len(expected)} generated in all")
    return 0


if __name__ == "__main__":
    sys.exit(main())
