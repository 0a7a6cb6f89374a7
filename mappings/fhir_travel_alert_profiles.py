"""The FHIR profiles and extensions of the travel alert's message Bundle, declared as data for
the conformance resources in ``profiles/``, and the alert fields that travel as simple
extensions (one row drives building, reading and the declaration)."""

from __future__ import annotations

from typing import Any, NamedTuple

from interop.codes import (
    CodedEnum,
    DestinationKind,
    FactorAnswer,
    LocateEffort,
    MessageEvent,
    Permanence,
    SafeguardingPathway,
    TravelCommunication,
    TravelOutcome,
    TravelRiskFactor,
    TravelScenario,
)
from interop.mappings.fhir_common import UKCORE
from interop.mappings.fhir_definitions import ElementRule, ExtensionDef, ProfileDef

CORE = "http://hl7.org/fhir/StructureDefinition/"
#: The toolkit as a message source (MessageHeader.source.endpoint is required).
SOURCE_ENDPOINT = "urn:safeguarding-interop:toolkit"
_G000 = "000_f1e2ca509ebfd4fe.txt"
_G003 = "003_a5c554465bdd92c7.txt"


class ExtensionField(NamedTuple):
    """A field carried by a simple toolkit extension: one row drives build, read, declaration."""

    field: str
    name: str
    value: str
    title: str
    source: str = ""
    code_system: type[CodedEnum] | None = None

    def definition(self, context: str) -> ExtensionDef:
        return ExtensionDef(
            self.name, self.title, (context,), self.value, self.code_system, source=self.source
        )


FLAG_FIELDS = (
    ExtensionField(
        "complex_needs", "complex-medical-needs", "string", "Complex medical needs", f"{_G000} L23"
    ),
    ExtensionField(
        "permanence", "travel-permanence", "Coding", "Temporary or permanent", "", Permanence
    ),
    ExtensionField("departure_date", "departure-date", "date", "Date of departure", f"{_G000} L34"),
    ExtensionField("return_date", "return-date", "date", "Expected or actual return date"),
    ExtensionField(
        "outcome", "travel-outcome", "Coding", "Outcome", TravelOutcome.source, TravelOutcome
    ),
    ExtensionField(
        "family_following_health_advice",
        "family-following-health-advice",
        "boolean",
        "Whether the family follows health advice",
        f"{_G000} L50",
    ),
    ExtensionField(
        "social_worker_contacted_on",
        "social-worker-contacted-on",
        "date",
        "Date the allocated social worker was contacted",
        f"{_G000} L33, L58",
    ),
    ExtensionField(
        "strategy_discussion_requested",
        "strategy-discussion-requested",
        "boolean",
        "Whether a strategy discussion was requested",
        f"{_G000} L33, L58",
    ),
    ExtensionField(
        "last_known_area",
        "last-known-area",
        "string",
        "Whereabouts unknown: last known area (never a full address)",
        f"{_G003} L31-35",
    ),
)

ASSESSMENT_FIELDS = (
    ExtensionField(
        "retrospective",
        "retrospective-assessment",
        "boolean",
        "Done after the child travelled",
        f"{_G000} L34, L59",
    ),
    ExtensionField(
        "expected_time_away",
        "expected-time-away",
        "string",
        "Expected length of time out of area or abroad",
        f"{_G000} L39",
    ),
    ExtensionField(
        "transport_mode", "transport-mode", "string", "Mode of transport", f"{_G000} L45"
    ),
    ExtensionField(
        "family_views_and_wishes",
        "family-views-and-wishes",
        "string",
        "The family's views and wishes",
        f"{_G000} L47",
    ),
)


#: A condition or clinical finding behind the complex medical needs, as a CodeableConcept:
#: SNOMED CT coding where coded, the name as text. Not a Condition resource: the raising agency
#: (often children's social care or a school) reports which conditions make the needs complex;
#: it does not own the child's problem list, and a Condition would assert a diagnosis on its
#: behalf. The CodeableConcept is the shape of UK Core's Condition.code, so a receiver can
#: make one.
CONDITION_EXTENSION = "complex-needs-condition"


def _complex(
    name: str, title: str, context: str, *children: tuple[str, str, str], **more: Any
) -> ExtensionDef:
    """A complex extension; each child is (name, title, value type)."""
    return ExtensionDef(
        name,
        title,
        (context,),
        None,
        children=tuple(ExtensionDef(n, t, (), v) for n, t, v in children),
        **more,
    )


def _coded(definition: ExtensionDef, child: str, system: type[CodedEnum]) -> ExtensionDef:
    """The complex extension with one child's Coding bound to a toolkit code system."""
    children = tuple(
        ExtensionDef(c.name, c.title, (), c.value, system) if c.name == child else c
        for c in definition.children
    )
    return ExtensionDef(**{**definition.__dict__, "children": children})


_FLAG_COMPLEX = (
    _coded(
        _complex(
            "travel-destination",
            "Where the child is going: a UK local authority or a country",
            "Flag",
            ("type", "UK local authority area or abroad", "Coding"),
            ("localAuthority", "The receiving local authority", "Reference"),
            ("country", "Country (ISO 3166-1 alpha-2, urn:iso:std:iso:3166)", "Coding"),
            ("place", "Town or region", "string"),
            source=f"{_G000} L40",
        ),
        "type",
        DestinationKind,
    ),
    _complex(
        "action-taken",
        "An action already taken (discussion with the family, liaison, referral)",
        "Flag",
        ("takenOn", "Date", "date"),
        ("description", "Action", "string"),
        ("by", "By whom", "string"),
        repeats=True,
        source=f"{_G000} L54",
    ),
    _complex(
        "allocated-social-worker",
        "The allocated social worker",
        "Flag",
        ("name", "Name", "string"),
        ("phone", "Phone", "string"),
        ("email", "Email", "string"),
        ("organisationOds", "Organisation ODS code", "string"),
        ("organisationName", "Organisation name", "string"),
        source=f"{_G000} L33, L58",
    ),
    ExtensionDef(
        "safeguarding-pathway",
        "A specific safeguarding pathway triggered",
        ("Flag",),
        "Coding",
        SafeguardingPathway,
        repeats=True,
        source=SafeguardingPathway.source,
    ),
    _coded(
        _complex(
            "locate-attempt",
            "A reasonable effort to locate the family",
            "Flag",
            ("effort", "Effort", "Coding"),
            ("doneOn", "Date", "date"),
            ("outcome", "Outcome", "string"),
            repeats=True,
            source=LocateEffort.source,
        ),
        "effort",
        LocateEffort,
    ),
    _complex(
        "case-closure",
        "Closure after efforts to locate failed (closed on = Flag.period.end)",
        "Flag",
        ("headOfService", "Head of Service who signed off", "string"),
        ("reason", "Reason", "string"),
        source=f"{_G003} L44",
    ),
)

_FLAG_CODED = (
    ExtensionDef(
        CONDITION_EXTENSION,
        "A condition or clinical finding behind the complex medical needs: SNOMED CT coding "
        "where coded, the name as text",
        ("Flag",),
        "CodeableConcept",
        repeats=True,
        source=f"{_G000} L23",
    ),
)
_FLAG_EXTENSIONS = (*(f.definition("Flag") for f in FLAG_FIELDS), *_FLAG_CODED, *_FLAG_COMPLEX)
_ASSESSMENT_EXTENSIONS = tuple(f.definition("RiskAssessment") for f in ASSESSMENT_FIELDS)
_COMMUNICATION_EXTENSIONS = (
    ExtensionDef(
        "guidance-referenced",
        "Whether the referral referenced the travel guidance",
        ("Communication",),
        "boolean",
        source=f"{_G000} L56",
    ),
)

EXTENSIONS: tuple[ExtensionDef, ...] = (
    *_FLAG_EXTENSIONS,
    *_ASSESSMENT_EXTENSIONS,
    *_COMMUNICATION_EXTENSIONS,
)


def _allowed(definitions: tuple[ExtensionDef, ...]) -> tuple[tuple[str, int, str], ...]:
    return tuple((d.name, 0, "*" if d.repeats else "1") for d in definitions)


PROFILES: tuple[ProfileDef, ...] = (
    ProfileDef(
        "TravelAlertMessage",
        "Bundle",
        UKCORE + "UKCore-Bundle",
        "Out-of-area travel alert message",
        "A message Bundle: the MessageHeader first, then the Flag, the risk assessment, the "
        "Communications to the recipients and the people and organisations they reference.",
        elements=(
            ElementRule("Bundle.type", pattern={"code": "message"}),
            ElementRule("Bundle.timestamp", min=1),
            ElementRule("Bundle.entry", min=3),
        ),
    ),
    ProfileDef(
        "TravelAlertMessageHeader",
        "MessageHeader",
        UKCORE + "UKCore-MessageHeader",
        "Out-of-area travel alert message header",
        "The event (planned, retrospective or missing-child alert), the toolkit as source, the "
        "raising practitioner as author and their organisation as sender; focus the Flag.",
        elements=(
            ElementRule("MessageHeader.event[x]", binding=MessageEvent, short="MessageEvent"),
            ElementRule("MessageHeader.source.endpoint", pattern={"url": SOURCE_ENDPOINT}),
            ElementRule("MessageHeader.focus", min=1, max="1", short="The TravelAlertFlag"),
        ),
    ),
    ProfileDef(
        "TravelAlertFlag",
        "Flag",
        UKCORE + "UKCore-Flag",
        "Out-of-area travel alert or missing-child alert",
        "A child with complex medical needs travelling out of area or abroad, or whose family's "
        "whereabouts are unknown: code the scenario, period from the day it was raised to the "
        "case's closure, author the raising practitioner.",
        elements=(
            ElementRule("Flag.identifier", min=1, short="The raising agency's record id"),
            ElementRule("Flag.code", binding=TravelScenario, short="The travel scenario"),
            ElementRule("Flag.period", min=1),
            ElementRule("Flag.period.start", min=1, short="Raised on"),
            ElementRule("Flag.author", min=1, short="The raising PractitionerRole"),
        ),
        extensions=(*_allowed(_FLAG_EXTENSIONS), ("information-sharing", 0, "1")),
    ),
    ProfileDef(
        "TravelRiskAssessment",
        "RiskAssessment",
        CORE + "RiskAssessment",
        "Travel risk assessment",
        "The lead clinician's assessment of the journey (UK Core has no RiskAssessment "
        "profile): basis the factor findings, prediction.outcome the outcome, rationale the "
        "summary.",
        elements=(
            ElementRule("RiskAssessment.status", pattern={"code": "final"}),
            ElementRule("RiskAssessment.subject", min=1),
            ElementRule("RiskAssessment.occurrence[x]", min=1, short="Assessed on"),
            ElementRule("RiskAssessment.performer", min=1, short="The assessor"),
            ElementRule("RiskAssessment.basis", short="TravelRiskFactorFinding Observations"),
            ElementRule("RiskAssessment.prediction", min=1, max="1"),
            ElementRule("RiskAssessment.prediction.outcome", min=1, binding=TravelOutcome),
        ),
        extensions=_allowed(_ASSESSMENT_EXTENSIONS),
    ),
    ProfileDef(
        "TravelRiskFactorFinding",
        "Observation",
        UKCORE + "UKCore-Observation",
        "Travel risk assessment factor finding",
        "The answer to one factor of the travel risk assessment, with the assessor's notes.",
        elements=(
            ElementRule("Observation.code", binding=TravelRiskFactor),
            ElementRule("Observation.subject", min=1),
            ElementRule("Observation.value[x]", min=1, binding=FactorAnswer),
        ),
    ),
    ProfileDef(
        "TravelAlertCommunication",
        "Communication",
        UKCORE + "UKCore-Communication",
        "Travel alert sent to a recipient",
        "The alert shared with the lead clinician, the referral to children's social care, or a "
        "missing alert to another local authority; recipients identified by ODS code.",
        elements=(
            ElementRule("Communication.category", min=1, max="1", binding=TravelCommunication),
            ElementRule("Communication.subject", min=1),
            ElementRule("Communication.recipient", min=1, max="1"),
        ),
        extensions=_allowed(_COMMUNICATION_EXTENSIONS),
    ),
)
