"""Out-of-area travel alert ⇄ FHIR: a message Bundle, and the travel risk assessment form.

``to_fhir`` gives a Bundle of type ``message`` (profile TravelAlertMessage) holding:
- ``MessageHeader`` (TravelAlertMessageHeader), first: eventCoding from ``MessageEvent``
  (derived from the scenario), source = the toolkit's endpoint, author = the raising
  PractitionerRole, sender = its Organization (when it names one), focus = the Flag;
- ``Flag`` (TravelAlertFlag): identifier = local id, code = the ``TravelScenario``, subject = the
  child, period.start = raised on (period.end = closure date), author = the raising
  PractitionerRole; every alert-level field FHIR has no element for is a toolkit extension
  here (complex needs and the conditions behind them, each a ``CodeableConcept``: the
  SNOMED CT coding where coded, the name as text; not Condition resources, as the raising
  agency says which conditions make the needs complex but does not own the child's problem
  list; destination, permanence, dates, outcome, family following advice, actions
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
from typing import Any

from interop.codes import (
    CANONICAL_BASE,
    DestinationKind,
    FactorAnswer,
    LocateEffort,
    MessageEvent,
    SafeguardingPathway,
    TravelCommunication,
    TravelOutcome,
    TravelRiskFactor,
    TravelScenario,
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
    BundleIndex,
    MappingError,
    Node,
    Reader,
    build,
    coding,
    concept,
    condition_concept,
    drop_empty,
    entry,
    ext,
    ext_url,
    extensions,
    organization,
    patient,
    practitioner_resources,
    profile_url,
    read_condition_concept,
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
from interop.mappings.fhir_travel_alert_profiles import (
    ASSESSMENT_FIELDS,
    CONDITION_EXTENSION,
    EXTENSIONS,
    FLAG_FIELDS,
    PROFILES,
    SOURCE_ENDPOINT,
    ExtensionField,
)
from interop.mappings.forms.travel_alert import (
    FORM,
    FORM_OUTCOMES,
    FORM_SCENARIOS,
    ISO_3166,
    QUESTIONNAIRE_URL,
)

__all__ = [
    "BUNDLE_PROFILE",
    "EXTENSIONS",
    "FORM_OUTCOMES",
    "FORM_SCENARIOS",
    "KIND",
    "PROFILES",
    "QUESTIONNAIRE_URL",
    "SOURCE_ENDPOINT",
    "MessageEvent",
    "TravelCommunication",
    "from_fhir",
    "from_questionnaire_response",
    "questionnaire",
    "to_fhir",
    "to_questionnaire_response",
]

KIND = "travel-alert"
BUNDLE_PROFILE = profile_url("TravelAlertMessage")
HEADER_PROFILE = profile_url("TravelAlertMessageHeader")
FLAG_PROFILE = profile_url("TravelAlertFlag")
RISK_PROFILE = profile_url("TravelRiskAssessment")
FINDING_PROFILE = profile_url("TravelRiskFactorFinding")
COMMUNICATION_PROFILE = profile_url("TravelAlertCommunication")
SOCIAL_CARE_REFERENCE_SYSTEM = f"{CANONICAL_BASE}/Id/social-care-reference"
FLAG_CATEGORY = "http://terminology.hl7.org/CodeSystem/flag-category"


_EVENTS = {
    TravelScenario.PLANNED: MessageEvent.TRAVEL_ALERT_PLANNED,
    TravelScenario.TRAVELLED: MessageEvent.TRAVEL_ALERT_RETROSPECTIVE,
    TravelScenario.WHEREABOUTS_UNKNOWN: MessageEvent.MISSING_CHILD_ALERT,
}


def _field_extensions(model: Any, fields: tuple[ExtensionField, ...]) -> list[JSON | None]:
    return [ext(f.name, getattr(model, f.field)) for f in fields]


def _read_fields(reader: Reader, node: Node, fields: tuple[ExtensionField, ...]) -> JSON:
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
        *_field_extensions(alert, FLAG_FIELDS),
        *(
            {"url": ext_url(CONDITION_EXTENSION), "valueCodeableConcept": condition_concept(c)}
            for c in alert.conditions
        ),
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
            "extension": extensions(*_field_extensions(assessment, ASSESSMENT_FIELDS)),
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
        conditions = flag.extensions(CONDITION_EXTENSION)
        actions = flag.extensions("action-taken")
        attempts = flag.extensions("locate-attempt")
        pathways = flag.extensions("safeguarding-pathway")
        named = {f.field: f.name for f in FLAG_FIELDS} | {
            "destination": "travel-destination",
            "allocated_social_worker": "allocated-social-worker",
            "closure": "case-closure",
            "sharing": "information-sharing",
        }
        self.origins |= {f"$.{k}": _ext_path(flag, name) for k, name in named.items()}
        self.origins |= {
            "$.closure.closed_on": f"{flag.path}.period.end",
            **{f"$.conditions[{i}]": n.path for i, n in enumerate(conditions)},
            **{f"$.actions_taken[{i}]": n.path for i, n in enumerate(actions)},
            **{f"$.locate_attempts[{i}]": n.path for i, n in enumerate(attempts)},
            **{f"$.safeguarding_pathways[{i}]": n.path for i, n in enumerate(pathways)},
        }
        return {
            **_read_fields(reader, flag, FLAG_FIELDS),
            "conditions": [self.condition(n, i) for i, n in enumerate(conditions)],
            "destination": self.destination(flag),
            "actions_taken": [self.action(n) for n in actions],
            "allocated_social_worker": read_social_worker(reader, flag, "allocated-social-worker"),
            "safeguarding_pathways": [reader.code(n, SafeguardingPathway) for n in pathways],
            "locate_attempts": [self.attempt(n) for n in attempts],
            "closure": self.closure(flag, period),
            "sharing": read_sharing(reader, flag),
        }

    def condition(self, node: Node, index: int) -> JSON | str | None:
        """One condition behind the complex needs, from its CodeableConcept extension."""
        value = self.reader.required(
            node.child("valueCodeableConcept"), node, "valueCodeableConcept"
        )
        if value is None:
            return None
        return read_condition_concept(self.reader, value, self.origins, f"$.conditions[{index}]")

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
            **{f"$.risk_assessment.{f.field}": _ext_path(node, f.name) for f in ASSESSMENT_FIELDS},
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
            **_read_fields(reader, node, ASSESSMENT_FIELDS),
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
    return FORM.questionnaire()


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
        "item": FORM.response_items(alert.model_dump()),
    }


def from_questionnaire_response(response: JSON) -> TravelAlert:
    """The alert a completed travel risk assessment QuestionnaireResponse records.

    Answers are read by linkId (no toolkit extensions needed); every missing or invalid answer
    is reported at its place in the response, e.g. ``QuestionnaireResponse.item[1].item[0]
    .answer[0]``. The assessment is retrospective exactly when the child has already travelled.
    """
    reader = Reader()
    root = Node(response, "QuestionnaireResponse")
    FORM.check_resource(reader, root)
    FORM.check_header(reader, root)
    data: JSON = {"kind": KIND}
    origins: dict[str, str] = {}
    FORM.read(reader, root, data, origins)
    assessment = data.get("risk_assessment")
    if isinstance(assessment, dict):
        assessment["retrospective"] = data.get("scenario") is TravelScenario.TRAVELLED
    return build(reader, TravelAlert, data, root.path, origins)
