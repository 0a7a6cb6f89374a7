"""Out-of-area travel alert ⇄ FHIR: a message Bundle, and the travel risk assessment form.

``to_fhir`` gives a Bundle of type ``message`` (profile TravelAlertMessage) holding:
- ``MessageHeader`` (TravelAlertMessageHeader), first: eventCoding from ``MessageEvent``
  (derived from the scenario), source = the toolkit's endpoint, author = the raising
  PractitionerRole, sender = its Organization (when it names one), focus = the Flag;
- ``Flag`` (TravelAlertFlag): identifier = local id, code = the ``TravelScenario``, subject = the
  child, period.start = raised on (period.end = closure date), author = the raising
  PractitionerRole; every alert-level field FHIR has no element for is a toolkit extension
  here (complex needs, destination, permanence, dates, outcome, family following advice, actions
  taken, allocated social worker, contact date, strategy discussion, pathways, last known area,
  efforts to locate, closure, information sharing);
- ``RiskAssessment`` (TravelRiskAssessment), when assessed: occurrence = assessed on, performer =
  the assessor's PractitionerRole, basis = one ``Observation`` (TravelRiskFactorFinding) per
  factor finding (code = factor, value = answer, note = notes), prediction.outcome = the outcome,
  prediction.rationale = the summary; retrospective, expected time away, transport and the
  family's views and wishes are extensions;
- ``Communication`` (TravelAlertCommunication), one per recipient, categorised by
  ``TravelCommunication``: the lead clinician (recipient their PractitionerRole), children's
  social care (the referral: recipient the Organization by ODS code, sent = made on, payload =
  the risks, identifier = social care's reference), and each local authority sent a missing
  alert;
- the ``Patient``, the Practitioners, PractitionerRoles and Organizations they reference.

``questionnaire()`` is the toolkit's travel risk assessment form; a forms tool's
QuestionnaireResponse to it becomes an alert with ``from_questionnaire_response``.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Any, NamedTuple

from interop import __version__
from interop.codes import (
    CANONICAL_BASE,
    AdministrativeGender,
    CareSetting,
    CodedEnum,
    DestinationKind,
    FactorAnswer,
    LocateEffort,
    MessageEvent,
    NhsNumberVerificationStatus,
    Permanence,
    SafeguardingPathway,
    TravelCommunication,
    TravelOutcome,
    TravelRiskFactor,
    TravelScenario,
    WithholdingReason,
)
from interop.domain import Organisation, Practitioner, TravelAlert
from interop.domain.travel_alert import (
    ActionTaken,
    CaseClosure,
    Destination,
    FactorFinding,
    LocateAttempt,
    SocialCareReferral,
)
from interop.issues import Issue, IssueCode, error
from interop.mappings.fhir_common import (
    ARTEFACT_ID_SYSTEM,
    JSON,
    UKCORE,
    BundleIndex,
    MappingError,
    Node,
    Reader,
    build,
    coding,
    concept,
    drop_empty,
    entry,
    ext,
    ext_url,
    extensions,
    organization,
    patient,
    practitioner_resources,
    profile_url,
    read_organisation,
    read_patient,
    read_practitioner,
    read_sharing,
    read_social_worker,
    ref,
    resource_id,
    sharing_extension,
    social_worker_extension,
    sub,
)
from interop.mappings.fhir_definitions import ElementRule, ExtensionDef, ProfileDef

KIND = "travel-alert"
CORE = "http://hl7.org/fhir/StructureDefinition/"
BUNDLE_PROFILE = profile_url("TravelAlertMessage")
HEADER_PROFILE = profile_url("TravelAlertMessageHeader")
FLAG_PROFILE = profile_url("TravelAlertFlag")
RISK_PROFILE = profile_url("TravelRiskAssessment")
FINDING_PROFILE = profile_url("TravelRiskFactorFinding")
COMMUNICATION_PROFILE = profile_url("TravelAlertCommunication")
#: The toolkit as a message source (MessageHeader.source.endpoint is required).
SOURCE_ENDPOINT = "urn:safeguarding-interop:toolkit"
ISO_3166 = "urn:iso:std:iso:3166"
COUNTRY_VALUE_SET = "http://hl7.org/fhir/ValueSet/iso3166-1-2"
SOCIAL_CARE_REFERENCE_SYSTEM = f"{CANONICAL_BASE}/Id/social-care-reference"
FLAG_CATEGORY = "http://terminology.hl7.org/CodeSystem/flag-category"
QUESTIONNAIRE_URL = f"{CANONICAL_BASE}/Questionnaire/travel-risk-assessment"
_G000 = "000_f1e2ca509ebfd4fe.txt"
_G003 = "003_a5c554465bdd92c7.txt"


_EVENTS = {
    TravelScenario.PLANNED: MessageEvent.TRAVEL_ALERT_PLANNED,
    TravelScenario.TRAVELLED: MessageEvent.TRAVEL_ALERT_RETROSPECTIVE,
    TravelScenario.WHEREABOUTS_UNKNOWN: MessageEvent.MISSING_CHILD_ALERT,
}


class _Field(NamedTuple):
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


_FLAG_FIELDS = (
    _Field(
        "complex_needs", "complex-medical-needs", "string", "Complex medical needs", f"{_G000} L23"
    ),
    _Field("permanence", "travel-permanence", "Coding", "Temporary or permanent", "", Permanence),
    _Field("departure_date", "departure-date", "date", "Date of departure", f"{_G000} L34"),
    _Field("return_date", "return-date", "date", "Expected or actual return date"),
    _Field("outcome", "travel-outcome", "Coding", "Outcome", TravelOutcome.source, TravelOutcome),
    _Field(
        "family_following_health_advice",
        "family-following-health-advice",
        "boolean",
        "Whether the family follows health advice",
        f"{_G000} L50",
    ),
    _Field(
        "social_worker_contacted_on",
        "social-worker-contacted-on",
        "date",
        "Date the allocated social worker was contacted",
        f"{_G000} L33, L58",
    ),
    _Field(
        "strategy_discussion_requested",
        "strategy-discussion-requested",
        "boolean",
        "Whether a strategy discussion was requested",
        f"{_G000} L33, L58",
    ),
    _Field(
        "last_known_area",
        "last-known-area",
        "string",
        "Whereabouts unknown: last known area (never a full address)",
        f"{_G003} L31-35",
    ),
)

_ASSESSMENT_FIELDS = (
    _Field(
        "retrospective",
        "retrospective-assessment",
        "boolean",
        "Done after the child travelled",
        f"{_G000} L34, L59",
    ),
    _Field(
        "expected_time_away",
        "expected-time-away",
        "string",
        "Expected length of time out of area or abroad",
        f"{_G000} L39",
    ),
    _Field("transport_mode", "transport-mode", "string", "Mode of transport", f"{_G000} L45"),
    _Field(
        "family_views_and_wishes",
        "family-views-and-wishes",
        "string",
        "The family's views and wishes",
        f"{_G000} L47",
    ),
)


def _field_extensions(model: Any, fields: tuple[_Field, ...]) -> list[JSON | None]:
    return [ext(f.name, getattr(model, f.field)) for f in fields]


def _read_fields(reader: Reader, node: Node, fields: tuple[_Field, ...]) -> JSON:
    return {
        f.field: reader.ext_code(node, f.name, f.code_system)
        if f.code_system
        else reader.ext_value(node, f.name, "value" + f.value[:1].upper() + f.value[1:])
        for f in fields
    }


# --- building the Bundle -------------------------------------------------------------------


@dataclass
class _Builder:
    """The alert being mapped, and the people and organisations referenced so far."""

    alert: TravelAlert
    people: list[JSON] = field(default_factory=list)

    def id(self, role: str) -> str:
        return resource_id(self.alert, self.alert.child.nhs_number, role)

    def practitioner(self, person: Practitioner, role: str) -> JSON:
        """Adds a Practitioner, PractitionerRole (and Organization); returns the role."""
        made = practitioner_resources(
            person, self.id(role), self.id(f"{role}-role"), self.id(f"{role}-org")
        )
        self.people.extend(made)
        return made[1]

    def organisation(self, org: Organisation, role: str) -> JSON:
        made = organization(org, self.id(role))
        self.people.append(made)
        return made


def to_fhir(alert: TravelAlert) -> JSON:
    """The alert as a message Bundle: MessageHeader, Flag, RiskAssessment and its findings,
    Communications to the recipients, then the Patient, practitioners and organisations."""
    parts = _Builder(alert)
    child = patient(alert.child, parts.id("patient"))
    raiser = parts.practitioner(alert.raised_by, "raiser")
    destination = alert.destination
    la = (
        parts.organisation(destination.local_authority, "destination-la")
        if destination and destination.local_authority
        else None
    )
    flag = _flag(parts, child, raiser, la)
    assessment = _assessment(parts, child)
    communications = _communications(parts, child, flag, raiser)
    header = _header(parts, flag, raiser)
    resources = [header, flag, *assessment, *communications, child, *parts.people]
    return {
        "resourceType": "Bundle",
        "id": parts.id("bundle"),
        "meta": {"profile": [BUNDLE_PROFILE]},
        "type": "message",
        # a message needs a timestamp; raised_on at midnight UTC keeps the Bundle deterministic
        # ("Z", as the XML serialiser writes instants, so JSON and XML twins are equal)
        "timestamp": f"{alert.raised_on.isoformat()}T00:00:00Z",
        "entry": [entry(r) for r in resources],
    }


def _header(parts: _Builder, flag: JSON, raiser: JSON) -> JSON:
    return drop_empty(
        {
            "resourceType": "MessageHeader",
            "id": parts.id("message-header"),
            "meta": {"profile": [HEADER_PROFILE]},
            "eventCoding": coding(_EVENTS[parts.alert.scenario]),
            "sender": raiser.get("organization"),
            "author": ref(raiser),
            "source": {"name": "safeguarding-interop", "endpoint": SOURCE_ENDPOINT},
            "focus": [ref(flag)],
        }
    )


def _flag(parts: _Builder, child: JSON, raiser: JSON, la: JSON | None) -> JSON:
    alert = parts.alert
    closure = alert.closure
    return drop_empty(
        {
            "resourceType": "Flag",
            "id": parts.id("flag"),
            "meta": {"profile": [FLAG_PROFILE]},
            "extension": _flag_extensions(alert, la),
            "identifier": [{"system": ARTEFACT_ID_SYSTEM, "value": alert.local_id}],
            "status": "inactive" if closure else "active",
            "category": [
                {"coding": [{"system": FLAG_CATEGORY, "code": "safety", "display": "Safety"}]}
            ],
            "code": {"coding": [coding(alert.scenario)], "text": alert.scenario.display},
            "subject": ref(child),
            "period": {
                "start": alert.raised_on.isoformat(),
                "end": closure.closed_on.isoformat() if closure else None,
            },
            "author": ref(raiser),
        }
    )


def _flag_extensions(alert: TravelAlert, la: JSON | None) -> list[JSON]:
    return extensions(
        *_field_extensions(alert, _FLAG_FIELDS),
        _destination_extension(alert.destination, la),
        *(_action_extension(a) for a in alert.actions_taken),
        social_worker_extension("allocated-social-worker", alert.allocated_social_worker),
        *(ext("safeguarding-pathway", p) for p in alert.safeguarding_pathways),
        *(_locate_extension(a) for a in alert.locate_attempts),
        _closure_extension(alert.closure),
        sharing_extension(alert.sharing),
    )


def _destination_extension(destination: Destination | None, la: JSON | None) -> JSON | None:
    if destination is None:
        return None
    country = (
        {"url": "country", "valueCoding": {"system": ISO_3166, "code": destination.country}}
        if destination.country
        else None
    )
    return ext(
        "travel-destination",
        [
            # not "kind": convert.detect_format takes JSON holding "kind" for artefact JSON
            sub("type", destination.kind),
            sub("localAuthority", ref(la) if la else None),
            country,
            sub("place", destination.place),
        ],
    )


def _action_extension(action: ActionTaken) -> JSON | None:
    return ext(
        "action-taken",
        [
            sub("takenOn", action.taken_on),
            sub("description", action.description),
            sub("by", action.by),
        ],
    )


def _locate_extension(attempt: LocateAttempt) -> JSON | None:
    return ext(
        "locate-attempt",
        [
            sub("effort", attempt.effort),
            sub("doneOn", attempt.done_on),
            sub("outcome", attempt.outcome),
        ],
    )


def _closure_extension(closure: CaseClosure | None) -> JSON | None:
    # closed_on is the Flag's period.end; the extension holds what FHIR has no element for
    if closure is None:
        return None
    return ext(
        "case-closure",
        [sub("headOfService", closure.head_of_service), sub("reason", closure.reason)],
    )


def _assessment(parts: _Builder, child: JSON) -> list[JSON]:
    """The RiskAssessment and its finding Observations (empty when not yet assessed)."""
    assessment = parts.alert.risk_assessment
    if assessment is None:
        return []
    assessor = parts.practitioner(assessment.assessed_by, "assessor")
    on = assessment.assessed_on.isoformat()
    findings = [
        _finding(parts, i, finding, child, assessor, on)
        for i, finding in enumerate(assessment.findings)
    ]
    resource = drop_empty(
        {
            "resourceType": "RiskAssessment",
            "id": parts.id("risk-assessment"),
            "meta": {"profile": [RISK_PROFILE]},
            "extension": extensions(*_field_extensions(assessment, _ASSESSMENT_FIELDS)),
            "status": "final",
            "code": {"text": "Out-of-area travel risk assessment"},
            "subject": ref(child),
            "occurrenceDateTime": on,
            "performer": ref(assessor),
            "basis": [ref(f) for f in findings],
            "prediction": [
                {"outcome": concept(parts.alert.outcome), "rationale": assessment.summary}
            ],
        }
    )
    return [resource, *findings]


def _finding(
    parts: _Builder, i: int, finding: FactorFinding, child: JSON, assessor: JSON, on: str
) -> JSON:
    return drop_empty(
        {
            "resourceType": "Observation",
            "id": parts.id(f"finding-{i}"),
            "meta": {"profile": [FINDING_PROFILE]},
            "status": "final",
            "code": concept(finding.factor),
            "subject": ref(child),
            "effectiveDateTime": on,
            "performer": [ref(assessor)],
            "valueCodeableConcept": concept(finding.answer),
            "note": [{"text": finding.notes}] if finding.notes else None,
        }
    )


def _communications(parts: _Builder, child: JSON, flag: JSON, raiser: JSON) -> list[JSON]:
    """One Communication per recipient: lead clinician, social care, missing-alert LAs."""
    alert = parts.alert
    made: list[JSON] = []

    def send(role: str, category: TravelCommunication, recipient: JSON, **more: Any) -> None:
        resource = {
            "resourceType": "Communication",
            "id": parts.id(role),
            "meta": {"profile": [COMMUNICATION_PROFILE]},
            "status": "completed",
            "category": [concept(category)],
            "subject": ref(child),
            "about": [ref(flag)],
            "recipient": [ref(recipient)],
        }
        made.append(drop_empty(resource | more))

    if alert.lead_clinician is not None:
        lead = parts.practitioner(alert.lead_clinician, "lead")
        send("to-lead-clinician", TravelCommunication.LEAD_CLINICIAN, lead, sender=ref(raiser))
    referral = alert.social_care_referral
    if referral is not None:
        social_care = parts.organisation(referral.to, "social-care")
        send(
            "to-social-care",
            TravelCommunication.SOCIAL_CARE_REFERRAL,
            social_care,
            **_referral_elements(referral),
        )
    for i, la in enumerate(alert.missing_alert_recipients):
        recipient = parts.organisation(la, f"missing-alert-la-{i}")
        send(f"missing-alert-{i}", TravelCommunication.MISSING_ALERT, recipient)
    return made


def _referral_elements(referral: SocialCareReferral) -> JSON:
    return {
        "extension": [ext("guidance-referenced", referral.guidance_referenced)],
        "identifier": [{"system": SOCIAL_CARE_REFERENCE_SYSTEM, "value": referral.reference}]
        if referral.reference
        else None,
        "sent": referral.made_on.isoformat(),
        "payload": [{"contentString": referral.risks}],
    }


# --- reading the Bundle --------------------------------------------------------------------


def _ext_path(node: Node, name: str) -> str:
    return f"{node.path}.extension('{ext_url(name)}')"


@dataclass
class _BundleReader:
    """Reads the alert's fields out of a Bundle, noting where each came from (``origins``:
    artefact JSON path → FHIRPath, so domain errors are reported at the FHIR element)."""

    index: BundleIndex
    origins: dict[str, str] = field(default_factory=dict)

    @property
    def reader(self) -> Reader:
        return self.index.reader

    def flag(self, flag: Node) -> JSON:
        """The Flag's own elements: identity, child, scenario, raised on and by."""
        reader = self.reader
        period = reader.required(flag.child("period"), flag, "period")
        code = reader.required(flag.child("code"), flag, "code")
        subject_ref = reader.required(flag.child("subject"), flag, "subject")
        subject = self.index.resolve(subject_ref, "Patient")
        identifiers = [
            i
            for i in flag.items("identifier")
            if isinstance(i.value, dict) and i.value.get("system") == ARTEFACT_ID_SYSTEM
        ]
        if not identifiers:
            reader.problem(
                f"{flag.path}.identifier",
                f"no identifier with system {ARTEFACT_ID_SYSTEM}",
                IssueCode.REQUIRED,
            )
        self.origins |= {
            "$.local_id": f"{flag.path}.identifier",
            "$.scenario": code.path if code else flag.path,
            "$.child": subject.path if subject else f"{flag.path}.subject",
            "$.raised_on": f"{flag.path}.period.start",
            "$.raised_by": f"{flag.path}.author",
        }
        return {
            "kind": KIND,
            "local_id": reader.string(identifiers[0].child("value")) if identifiers else None,
            "scenario": reader.code(code, TravelScenario),
            "child": read_patient(reader, subject) if subject else None,
            "raised_on": reader.string(reader.required(period.child("start"), period, "start"))
            if period
            else None,
            "raised_by": read_practitioner(
                self.index, reader.required(flag.child("author"), flag, "author")
            ),
            **self.flag_extensions(flag, period),
        }

    def flag_extensions(self, flag: Node, period: Node | None) -> JSON:
        """The alert's fields carried by the Flag's extensions."""
        reader = self.reader
        actions = flag.extensions("action-taken")
        attempts = flag.extensions("locate-attempt")
        pathways = flag.extensions("safeguarding-pathway")
        named = {f.field: f.name for f in _FLAG_FIELDS} | {
            "destination": "travel-destination",
            "allocated_social_worker": "allocated-social-worker",
            "closure": "case-closure",
            "sharing": "information-sharing",
        }
        self.origins |= {f"$.{k}": _ext_path(flag, name) for k, name in named.items()}
        self.origins |= {
            "$.closure.closed_on": f"{flag.path}.period.end",
            **{f"$.actions_taken[{i}]": n.path for i, n in enumerate(actions)},
            **{f"$.locate_attempts[{i}]": n.path for i, n in enumerate(attempts)},
            **{f"$.safeguarding_pathways[{i}]": n.path for i, n in enumerate(pathways)},
        }
        return {
            **_read_fields(reader, flag, _FLAG_FIELDS),
            "destination": self.destination(flag),
            "actions_taken": [self.action(n) for n in actions],
            "allocated_social_worker": read_social_worker(reader, flag, "allocated-social-worker"),
            "safeguarding_pathways": [reader.code(n, SafeguardingPathway) for n in pathways],
            "locate_attempts": [self.attempt(n) for n in attempts],
            "closure": self.closure(flag, period),
            "sharing": read_sharing(reader, flag),
        }

    def destination(self, flag: Node) -> JSON | None:
        reader = self.reader
        node = flag.extension("travel-destination")
        if node is None:
            return None
        la_ext = node.sub_extension("localAuthority")
        la = self.index.resolve(
            reader.required(la_ext.child("valueReference"), la_ext, "valueReference")
            if la_ext
            else None,
            "Organization",
        )
        if la is not None:
            self.origins["$.destination.local_authority"] = la.path
        country = node.sub_extension("country")
        return {
            "kind": reader.ext_code(node, "type", DestinationKind, sub=True),
            "local_authority": read_organisation(reader, la) if la else None,
            "country": self.country(country) if country else None,
            "place": reader.ext_value(node, "place", "valueString", sub=True),
        }

    def country(self, node: Node) -> str | None:
        self.origins["$.destination.country"] = f"{node.path}.valueCoding.code"
        value = self.reader.value(node, "valueCoding")
        if not isinstance(value, dict):
            return None
        if value.get("system") != ISO_3166:
            self.reader.problem(
                f"{node.path}.valueCoding.system", f"expected the code system {ISO_3166}"
            )
        coded = Node(value, f"{node.path}.valueCoding")
        return self.reader.string(self.reader.required(coded.child("code"), coded, "code"))

    def action(self, node: Node) -> JSON:
        reader = self.reader
        return {
            "taken_on": reader.ext_value(node, "takenOn", "valueDate", sub=True),
            "description": reader.ext_value(node, "description", "valueString", sub=True),
            "by": reader.ext_value(node, "by", "valueString", sub=True),
        }

    def attempt(self, node: Node) -> JSON:
        reader = self.reader
        return {
            "effort": reader.ext_code(node, "effort", LocateEffort, sub=True),
            "done_on": reader.ext_value(node, "doneOn", "valueDate", sub=True),
            "outcome": reader.ext_value(node, "outcome", "valueString", sub=True),
        }

    def closure(self, flag: Node, period: Node | None) -> JSON | None:
        reader = self.reader
        node = flag.extension("case-closure")
        if node is None or period is None:
            return None
        return {
            "closed_on": reader.string(reader.required(period.child("end"), period, "end")),
            "head_of_service": reader.ext_value(node, "headOfService", "valueString", sub=True),
            "reason": reader.ext_value(node, "reason", "valueString", sub=True),
        }

    def assessment(self) -> tuple[JSON | None, TravelOutcome | None]:
        """The risk assessment, and the outcome its prediction states."""
        nodes = self.index.with_profile("RiskAssessment", RISK_PROFILE)
        if not nodes:
            return None, None
        reader = self.reader
        node = nodes[0]
        occurrence = reader.required(node.child("occurrenceDateTime"), node, "occurrenceDateTime")
        performer = reader.required(node.child("performer"), node, "performer")
        predictions = node.items("prediction")
        prediction = predictions[0] if predictions else None
        self.origins |= {
            "$.risk_assessment": node.path,
            "$.risk_assessment.assessed_on": f"{node.path}.occurrenceDateTime",
            "$.risk_assessment.assessed_by": f"{node.path}.performer",
            **{f"$.risk_assessment.{f.field}": _ext_path(node, f.name) for f in _ASSESSMENT_FIELDS},
        }
        findings = []
        for i, basis in enumerate(node.items("basis")):
            observation = self.index.resolve(basis, "Observation")
            if observation is not None:
                self.origins[f"$.risk_assessment.findings[{i}]"] = observation.path
                findings.append(self.finding(observation))
        data = {
            "assessed_on": reader.string(occurrence),
            "assessed_by": read_practitioner(self.index, performer),
            "findings": findings,
            "summary": reader.string(prediction.child("rationale")) if prediction else None,
            **_read_fields(reader, node, _ASSESSMENT_FIELDS),
        }
        outcome = prediction.child("outcome") if prediction else None
        return data, reader.code(outcome, TravelOutcome)

    def finding(self, node: Node) -> JSON:
        reader = self.reader
        notes = node.items("note")
        code = reader.required(node.child("code"), node, "code")
        value = reader.required(node.child("valueCodeableConcept"), node, "valueCodeableConcept")
        return {
            "factor": reader.code(code, TravelRiskFactor),
            "answer": reader.code(value, FactorAnswer),
            "notes": reader.string(notes[0].child("text")) if notes else None,
        }

    def communications(self) -> JSON:
        """Lead clinician, referral and missing-alert recipients from the Communications."""
        reader = self.reader
        data: JSON = {"missing_alert_recipients": []}
        for node in self.index.with_profile("Communication", COMMUNICATION_PROFILE):
            categories = node.items("category")
            category = reader.code(
                reader.required(categories[0] if categories else None, node, "category"),
                TravelCommunication,
            )
            recipients = node.items("recipient")
            recipient = reader.required(recipients[0] if recipients else None, node, "recipient")
            if category is TravelCommunication.LEAD_CLINICIAN and "lead_clinician" not in data:
                self.origins["$.lead_clinician"] = f"{node.path}.recipient"
                data["lead_clinician"] = read_practitioner(self.index, recipient)
            elif category is TravelCommunication.SOCIAL_CARE_REFERRAL:
                data["social_care_referral"] = self.referral(node, recipient)
            elif category is TravelCommunication.MISSING_ALERT:
                i = len(data["missing_alert_recipients"])
                org = self.index.resolve(recipient, "Organization")
                self.origins[f"$.missing_alert_recipients[{i}]"] = org.path if org else node.path
                data["missing_alert_recipients"].append(
                    read_organisation(reader, org) if org else None
                )
        return data

    def referral(self, node: Node, recipient: Node | None) -> JSON:
        reader = self.reader
        org = self.index.resolve(recipient, "Organization")
        payload = node.items("payload")
        self.origins |= {
            "$.social_care_referral": node.path,
            "$.social_care_referral.made_on": f"{node.path}.sent",
            "$.social_care_referral.to": org.path if org else f"{node.path}.recipient",
            "$.social_care_referral.risks": f"{node.path}.payload",
        }
        return {
            "made_on": reader.string(reader.required(node.child("sent"), node, "sent")),
            "to": read_organisation(reader, org) if org else None,
            "risks": reader.string(payload[0].child("contentString")) if payload else None,
            "guidance_referenced": reader.ext_value(node, "guidance-referenced", "valueBoolean"),
            "reference": reader.identifier(node, SOCIAL_CARE_REFERENCE_SYSTEM),
        }

    def check_header(self, scenario: TravelScenario | None) -> None:
        """The MessageHeader's event, when there is one, must agree with the Flag's scenario."""
        reader = self.reader
        for node in self.index.all("MessageHeader"):
            event = reader.code(
                reader.required(node.child("eventCoding"), node, "eventCoding"), MessageEvent
            )
            if event is not None and scenario is not None and event is not _EVENTS[scenario]:
                reader.problem(
                    f"{node.path}.eventCoding.code",
                    f"the event '{event.value}' does not match the Flag's scenario "
                    f"'{scenario.value}' (expected '{_EVENTS[scenario].value}')",
                    IssueCode.INVARIANT,
                )


def from_fhir(bundle: JSON) -> TravelAlert:
    """The alert from its Bundle (found by the TravelAlertFlag); raises ``MappingError``."""
    reader = Reader()
    index = BundleIndex(reader, bundle)
    flag = index.first("Flag", FLAG_PROFILE)
    if flag is None:
        reader.fail()
    parts = _BundleReader(index)
    data = parts.flag(flag)
    parts.check_header(data["scenario"])
    data["risk_assessment"], predicted = parts.assessment()
    if data["outcome"] is None:
        data["outcome"] = predicted  # the Flag's own outcome extension wins when both are given
    elif predicted is not None and predicted is not data["outcome"]:
        reader.problem(
            parts.origins["$.risk_assessment"] + ".prediction[0].outcome",
            "the risk assessment's outcome differs from the Flag's travel-outcome",
            IssueCode.INVARIANT,
        )
    data.update(parts.communications())
    return build(reader, TravelAlert, data, flag.path, parts.origins)


# --- the travel risk assessment form -------------------------------------------------------

#: What the form offers: whereabouts-unknown alerts follow a different process (003 L31-44).
FORM_SCENARIOS = (TravelScenario.PLANNED, TravelScenario.TRAVELLED)
FORM_OUTCOMES = tuple(o for o in TravelOutcome if o is not TravelOutcome.LOCATED)


@dataclass(frozen=True)
class _Item:
    """A form item and the artefact JSON key it fills.

    ``name`` is relative: an item's linkId is its parent's linkId, '.', its name. A group
    with no ``key`` only lays the form out (its children fill the parent's keys); a group with
    a ``factor`` holds one risk-assessment finding.
    """

    name: str
    text: str
    type: str
    key: str = ""
    required: bool = False
    repeats: bool = False
    options: tuple[CodedEnum, ...] = ()
    value_set: str | None = None
    max_length: int | None = None
    factor: TravelRiskFactor | None = None
    children: tuple[_Item, ...] = ()

    def link_id(self, prefix: str) -> str:
        return f"{prefix}.{self.name}" if prefix else self.name


def _group(name: str, text: str, key: str, *children: _Item, **more: Any) -> _Item:
    return _Item(name, text, "group", key, children=children, **more)


def _choice(name: str, text: str, key: str, options: Any, **more: Any) -> _Item:
    return _Item(name, text, "choice", key, options=tuple(options), **more)


def _organisation(text: str, key: str, *, required: bool = False) -> _Item:
    return _group(
        key.replace("_", "-"),
        text,
        key,
        _Item("ods-code", "ODS code", "string", "ods_code", True, max_length=10),
        _Item("name", "Name", "string", "name", True, max_length=200),
        required=required,
    )


def _practitioner(name: str, text: str, key: str, *, required: bool = False) -> _Item:
    return _group(
        name,
        text,
        key,
        _Item("name", "Name", "string", "name", True, max_length=200),
        _Item("role", "Job role", "string", "role", True, max_length=200),
        _choice("setting", "Work setting", "setting", CareSetting),
        _organisation("Organisation", "organisation"),
        _Item("phone", "Phone", "string", "phone", max_length=30),
        _Item("email", "Email", "string", "email", max_length=254),
        _Item("sds-user-id", "SDS user id (12 digits)", "string", "sds_user_id"),
        required=required,
    )


def _factor(factor: TravelRiskFactor) -> _Item:
    return _group(
        factor.value,
        factor.display,
        "",
        _choice("answer", "Answer", "answer", FactorAnswer, required=True),
        _Item("notes", "Notes", "text", "notes"),
        factor=factor,
    )


_FORM: tuple[_Item, ...] = (
    _group(
        "alert",
        "The alert",
        "",
        _Item("local-id", "Record id in your system", "string", "local_id", True),
        _choice(
            "scenario", "Planned, or already travelled?", "scenario", FORM_SCENARIOS, required=True
        ),
        _Item("raised-on", "Date your agency became aware", "date", "raised_on", True),
        _Item("complex-needs", "The child's complex medical needs", "text", "complex_needs", True),
        required=True,
    ),
    _group(
        "child",
        "The child",
        "child",
        _Item("nhs-number", "NHS number", "string", "nhs_number", True),
        _choice(
            "nhs-number-verification",
            "NHS number verification status",
            "nhs_number_verification",
            NhsNumberVerificationStatus,
        ),
        _Item("given-name", "Given name", "string", "given_name", True, max_length=200),
        _Item("family-name", "Family name", "string", "family_name", True, max_length=200),
        _Item("birth-date", "Date of birth", "date", "date_of_birth", True),
        _choice("gender", "Gender", "gender", AdministrativeGender),
        _Item("local-identifier", "Local identity number", "string", "local_identifier"),
        required=True,
    ),
    _practitioner("raised-by", "Practitioner raising the alert", "raised_by", required=True),
    _practitioner("lead-clinician", "The child's lead clinician", "lead_clinician"),
    _group(
        "travel",
        "The journey",
        "",
        _group(
            "destination",
            "Destination",
            "destination",
            _choice(
                "kind", "UK local authority or abroad?", "kind", DestinationKind, required=True
            ),
            _organisation("Receiving local authority (UK)", "local_authority"),
            _Item("country", "Country", "choice", "country", value_set=COUNTRY_VALUE_SET),
            _Item("place", "Town or region", "string", "place", max_length=200),
        ),
        _choice("permanence", "Temporary or permanent?", "permanence", Permanence),
        _Item("departure-date", "Departure date", "date", "departure_date"),
        _Item("return-date", "Return date", "date", "return_date"),
    ),
    _group(
        "risk-assessment",
        "Risk assessment",
        "risk_assessment",
        _Item("assessed-on", "Date assessed", "date", "assessed_on", True),
        _practitioner("assessed-by", "Assessed by", "assessed_by", required=True),
        _Item("time-away", "Expected time away", "string", "expected_time_away", max_length=200),
        _group("factors", "Risk factors", "", *(_factor(f) for f in TravelRiskFactor)),
        _Item("transport", "Mode of transport", "string", "transport_mode", max_length=200),
        _Item("views", "The family's views and wishes", "text", "family_views_and_wishes"),
        _Item("summary", "Summary of the findings", "text", "summary"),
    ),
    _group(
        "outcome",
        "Outcome",
        "",
        _choice("outcome", "Outcome", "outcome", FORM_OUTCOMES),
        _Item(
            "following-advice",
            "Following health advice?",
            "boolean",
            "family_following_health_advice",
        ),
        _group(
            "action",
            "Action already taken",
            "actions_taken",
            _Item("taken-on", "Date", "date", "taken_on", True),
            _Item("description", "Action", "text", "description", True),
            _Item("by", "By", "string", "by", max_length=200),
            repeats=True,
        ),
        _choice(
            "pathways",
            "Safeguarding pathways",
            "safeguarding_pathways",
            SafeguardingPathway,
            repeats=True,
        ),
    ),
    _group(
        "referral",
        "Referral to children's social care",
        "social_care_referral",
        _Item("made-on", "Date of referral", "date", "made_on", True),
        _organisation("Referred to", "to", required=True),
        _Item("risks", "Nature of the risks", "text", "risks", True),
        _Item(
            "guidance-referenced", "Guidance referenced?", "boolean", "guidance_referenced", True
        ),
        _Item("reference", "Social care's reference", "string", "reference", max_length=200),
    ),
    _group(
        "social-worker",
        "Social worker",
        "",
        _group(
            "allocated",
            "Allocated social worker",
            "allocated_social_worker",
            _Item("name", "Name", "string", "name", True, max_length=200),
            _Item("phone", "Phone", "string", "phone", True, max_length=30),
            _Item("email", "Email", "string", "email", max_length=254),
            _organisation("Organisation", "organisation"),
        ),
        _Item("contacted-on", "Date contacted", "date", "social_worker_contacted_on"),
        _Item(
            "strategy-discussion",
            "Strategy discussion requested?",
            "boolean",
            "strategy_discussion_requested",
        ),
    ),
    _group(
        "sharing",
        "Sharing with the family",
        "sharing",
        _Item("withheld", "Withheld from the family?", "boolean", "withheld_from_family"),
        _choice("reason", "Why", "withheld_reason", WithholdingReason),
        _Item("note", "Note", "text", "note"),
    ),
)


def _questionnaire_item(item: _Item, prefix: str) -> JSON:
    link = item.link_id(prefix)
    built: JSON = {"linkId": link, "text": item.text, "type": item.type}
    if item.factor is not None:
        built["code"] = [coding(item.factor)]
    if item.required:
        built["required"] = True
    if item.repeats:
        built["repeats"] = True
    if item.max_length is not None:
        built["maxLength"] = item.max_length
    if item.options:
        built["answerOption"] = [{"valueCoding": coding(o)} for o in item.options]
    if item.value_set is not None:
        built["answerValueSet"] = item.value_set
    if item.children:
        built["item"] = [_questionnaire_item(c, link) for c in item.children]
    return built


def questionnaire() -> JSON:
    """The toolkit's travel risk assessment Questionnaire (000 L38-59).

    It covers every field of a planned or travelled alert: the child, complex needs, who
    raised it, the lead clinician, destination, permanence, dates, the assessment (assessor,
    time away, the seven factors each with answer and notes, transport, views and wishes,
    summary; retrospective follows from the scenario), outcome, family following advice,
    actions taken, the referral, the allocated social worker and contact, strategy discussion,
    pathways and the information-sharing marker. Findings are asked in the protocol's factor
    order, so they come back in that order. The whereabouts-unknown scenario and its fields
    (last known area, efforts to locate, missing-alert recipients, closure) and the 'located'
    outcome belong to a different process and are not on the form.
    """
    return {
        "resourceType": "Questionnaire",
        "id": "travel-risk-assessment",
        "url": QUESTIONNAIRE_URL,
        "version": __version__,
        "name": "TravelRiskAssessment",
        "title": "Children with complex medical needs who travel out of area or abroad: "
        "risk assessment",
        "status": "active",
        "subjectType": ["Patient"],
        "description": "The lead clinician's risk assessment of a journey out of the local "
        "authority area or abroad, its outcome and any referral to children's social care "
        "(Leeds LSCP travel protocol, 000 L27-59).",
        "item": [_questionnaire_item(i, "") for i in _FORM],
    }


def _not_on_form(alert: TravelAlert) -> list[Issue]:
    uncovered = {
        "$.scenario": alert.scenario not in FORM_SCENARIOS,
        "$.outcome": alert.outcome not in FORM_OUTCOMES,
        "$.last_known_area": alert.last_known_area is not None,
        "$.locate_attempts": bool(alert.locate_attempts),
        "$.missing_alert_recipients": bool(alert.missing_alert_recipients),
        "$.closure": alert.closure is not None,
    }
    return [
        error(IssueCode.NOT_SUPPORTED, path, "the travel risk assessment form does not ask this")
        for path, outside in uncovered.items()
        if outside
    ]


_VALUE_KEYS = {
    "string": "valueString",
    "text": "valueString",
    "date": "valueDate",
    "boolean": "valueBoolean",
    "choice": "valueCoding",
}
_JSON_TYPES: dict[str, type[Any]] = {
    "valueString": str,
    "valueDate": str,
    "valueBoolean": bool,
    "valueCoding": dict,
}


def _answer(item: _Item, value: Any) -> JSON:
    if item.options:
        return {"valueCoding": coding(next(o for o in item.options if o.value == value))}
    if item.value_set is not None:
        return {"valueCoding": {"system": ISO_3166, "code": value}}
    return {_VALUE_KEYS[item.type]: value}


def _group_sources(item: _Item, data: JSON) -> list[JSON]:
    """The artefact JSON objects a group item answers for."""
    if item.factor is not None:
        return [f for f in data.get("findings", []) if f["factor"] == item.factor]
    if not item.key:
        return [data]
    value = data.get(item.key)
    if item.repeats:
        return list(value or [])
    return [value] if value is not None else []


def _answer_items(items: tuple[_Item, ...], data: JSON, prefix: str) -> list[JSON]:
    answered: list[JSON] = []
    for item in items:
        link = item.link_id(prefix)
        if item.type == "group":
            for source in _group_sources(item, data):
                children = _answer_items(item.children, source, link)
                if children:
                    answered.append({"linkId": link, "text": item.text, "item": children})
            continue
        value = data.get(item.key)
        values: list[Any] = (value or []) if item.repeats else [value]
        answers = [_answer(item, v) for v in values if v is not None]
        if answers:
            answered.append({"linkId": link, "text": item.text, "answer": answers})
    return answered


def to_questionnaire_response(alert: TravelAlert) -> JSON:
    """The alert as a completed response to ``questionnaire()``, as a forms tool would give it.

    Raises ``MappingError`` (not-supported) when the alert has fields the form does not ask.
    """
    outside = _not_on_form(alert)
    if outside:
        raise MappingError(outside)
    return {
        "resourceType": "QuestionnaireResponse",
        "id": resource_id(alert, alert.child.nhs_number, "questionnaire-response"),
        "questionnaire": QUESTIONNAIRE_URL,
        "status": "completed",
        "item": _answer_items(_FORM, alert.model_dump(mode="json"), ""),
    }


@dataclass
class _FormReader:
    """Reads answers by linkId into artefact JSON, noting where each field came from."""

    reader: Reader = field(default_factory=Reader)
    origins: dict[str, str] = field(default_factory=dict)

    def read(
        self, items: tuple[_Item, ...], container: Node, data: JSON, path: str, prefix: str
    ) -> None:
        """Fill ``data`` (at artefact JSON ``path``) from the items of ``container``."""
        nodes = container.items("item")
        known = {i.link_id(prefix) for i in items}
        by_link: dict[str, list[Node]] = {}
        for node in nodes:
            link = node.value.get("linkId") if isinstance(node.value, dict) else None
            by_link.setdefault(str(link), []).append(node)
            if link not in known:
                self.reader.problem(
                    f"{node.path}.linkId",
                    "not an item of this part of the travel risk assessment form",
                    IssueCode.STRUCTURE,
                )
        for item in items:
            link = item.link_id(prefix)
            matching = by_link.get(link, [])
            if not matching and item.required:
                self.reader.problem(
                    f"{container.path}.item",
                    f"the required item '{link}' ({item.text}) is missing",
                    IssueCode.REQUIRED,
                )
            elif len(matching) > 1 and not item.repeats:
                self.reader.problem(
                    matching[1].path, f"'{link}' appears more than once", IssueCode.STRUCTURE
                )
            if matching and item.type == "group":
                self.group(item, matching if item.repeats else matching[:1], data, path, link)
            elif matching:
                self.question(item, matching[0], data, path)

    def group(self, item: _Item, nodes: list[Node], data: JSON, path: str, link: str) -> None:
        if item.factor is not None:
            findings = data.setdefault("findings", [])
            where = f"{path}.findings[{len(findings)}]"
            findings.append({"factor": item.factor})
            self.origins[where] = nodes[0].path
            self.read(item.children, nodes[0], findings[-1], where, link)
        elif not item.key:
            self.read(item.children, nodes[0], data, path, link)
        else:
            entries: list[JSON] = []
            for i, node in enumerate(nodes):
                where = f"{path}.{item.key}" + (f"[{i}]" if item.repeats else "")
                self.origins[where] = node.path
                entries.append({})
                self.read(item.children, node, entries[-1], where, link)
            data[item.key] = entries if item.repeats else entries[0]

    def question(self, item: _Item, node: Node, data: JSON, path: str) -> None:
        answers = node.items("answer")
        if not answers:
            if item.required:
                self.reader.problem(
                    f"{node.path}.answer", "an answer is required", IssueCode.REQUIRED
                )
            return
        if len(answers) > 1 and not item.repeats:
            self.reader.problem(
                answers[1].path, "this question takes one answer", IssueCode.STRUCTURE
            )
            answers = answers[:1]
        where = f"{path}.{item.key}"
        values = [self.answer(item, a) for a in answers]
        if item.repeats:
            data[item.key] = values
            self.origins |= {f"{where}[{i}]": a.path for i, a in enumerate(answers)}
        else:
            data[item.key] = values[0]
            self.origins[where] = answers[0].path

    def answer(self, item: _Item, node: Node) -> Any:
        key = _VALUE_KEYS[item.type]
        value = node.value.get(key) if isinstance(node.value, dict) else None
        if not isinstance(value, _JSON_TYPES[key]):
            self.reader.problem(node.path, f"expected an answer with {key}", IssueCode.STRUCTURE)
            return None
        if item.options:
            member = self.reader.code(node, type(item.options[0]))
            if member is not None and member not in item.options:
                self.reader.problem(
                    f"{node.path}.valueCoding.code",
                    "not one of this question's answer options: "
                    + ", ".join(o.value for o in item.options),
                    IssueCode.CODE_INVALID,
                )
                return None
            return member
        if item.value_set is not None:
            if value.get("system") != ISO_3166:
                self.reader.problem(
                    f"{node.path}.valueCoding.system", f"expected the code system {ISO_3166}"
                )
            coded = Node(value, f"{node.path}.valueCoding")
            return self.reader.string(self.reader.required(coded.child("code"), coded, "code"))
        return value


def from_questionnaire_response(response: JSON) -> TravelAlert:
    """The alert a completed travel risk assessment QuestionnaireResponse records.

    Answers are read by linkId (no toolkit extensions needed); every missing or invalid answer
    is reported at its place in the response, e.g. ``QuestionnaireResponse.item[1].item[0]
    .answer[0]``. The assessment is retrospective exactly when the child has already travelled.
    """
    form = _FormReader()
    if not isinstance(response, dict) or response.get("resourceType") != "QuestionnaireResponse":
        form.reader.problem(
            "QuestionnaireResponse", "expected a FHIR QuestionnaireResponse", IssueCode.STRUCTURE
        )
        form.reader.fail()
    if str(response.get("questionnaire") or "").split("|")[0] != QUESTIONNAIRE_URL:
        form.reader.problem(
            "QuestionnaireResponse.questionnaire", f"expected a response to {QUESTIONNAIRE_URL}"
        )
    if response.get("status") not in ("completed", "amended"):
        form.reader.problem(
            "QuestionnaireResponse.status", "only a completed or amended response is imported"
        )
    data: JSON = {"kind": KIND}
    form.read(_FORM, Node(response, "QuestionnaireResponse"), data, "$", "")
    assessment = data.get("risk_assessment")
    if isinstance(assessment, dict):
        assessment["retrospective"] = data.get("scenario") is TravelScenario.TRAVELLED
    return build(form.reader, TravelAlert, data, "QuestionnaireResponse", form.origins)


# --- declarations --------------------------------------------------------------------------


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

_FLAG_EXTENSIONS = (*(f.definition("Flag") for f in _FLAG_FIELDS), *_FLAG_COMPLEX)
_ASSESSMENT_EXTENSIONS = tuple(f.definition("RiskAssessment") for f in _ASSESSMENT_FIELDS)
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
