"""Referral ⇄ FHIR: a ``ServiceRequest`` for the referral and a ``Task`` for the decision on it.

The Bundle (type ``collection``) holds:
- ``ServiceRequest`` (profile SafeguardingReferral): identifier = local id, subject = the child
  (reference and NHS number), authoredOn = received, requester = the referrer's
  PractitionerRole, performer = the local authority, reasonCode.text = the concerns;
- ``Task`` (profile ReferralDecisionTask): focus = the ServiceRequest, code =
  referral-decision, status ``requested`` until decided and ``completed`` after,
  executionPeriod = received → decided, owner = the deciding manager's PractitionerRole,
  output = the decision (valueCodeableConcept), note = its reasons;
- the ``Patient``, the local authority ``Organization`` and the practitioners.
Working Together 2026 paragraph 167 (002 L1119) asks for the decision within one working day of
receipt: both instants travel with their offsets, so the day in England reads back unchanged.
"""

from __future__ import annotations

from datetime import datetime

from interop.codes import ReferralDecision, SafeguardingTaskType
from interop.domain import Practitioner, Referral
from interop.mappings.fhir_common import (
    ARTEFACT_ID_SYSTEM,
    JSON,
    UKCORE,
    BundleIndex,
    Node,
    Reader,
    build,
    concept,
    drop_empty,
    entry,
    fhir_datetime,
    organization,
    patient,
    practitioner_resources,
    profile_url,
    read_organisation,
    read_patient,
    read_practitioner,
    read_sharing,
    read_subject,
    ref,
    resource_id,
    sharing_extension,
    subject_ref,
)
from interop.mappings.fhir_definitions import ElementRule, ExtensionDef, ProfileDef

KIND = "referral"
BUNDLE_PROFILE = profile_url("ReferralBundle")
REFERRAL_PROFILE = profile_url("SafeguardingReferral")
DECISION_PROFILE = profile_url("ReferralDecisionTask")


def _practitioner(referral: Referral, person: Practitioner, role: str) -> list[JSON]:
    nhs = referral.child.nhs_number
    return practitioner_resources(
        person,
        resource_id(referral, nhs, f"{role}-practitioner"),
        resource_id(referral, nhs, f"{role}-role"),
        resource_id(referral, nhs, f"{role}-organization"),
    )


def to_fhir(referral: Referral) -> JSON:
    """The referral as a collection Bundle: ServiceRequest, Task, Patient, LA, practitioners."""
    nhs = referral.child.nhs_number
    child = patient(referral.child, resource_id(referral, nhs, "patient"))
    la = organization(referral.received_by, resource_id(referral, nhs, "la"))
    referrer = _practitioner(referral, referral.referrer, "referrer") if referral.referrer else []
    manager = _practitioner(referral, referral.decided_by, "decider") if referral.decided_by else []
    identifier = [{"system": ARTEFACT_ID_SYSTEM, "value": referral.local_id}]
    received = fhir_datetime(referral.received_at)
    request = drop_empty(
        {
            "resourceType": "ServiceRequest",
            "id": resource_id(referral, nhs, "service-request"),
            "meta": {"profile": [REFERRAL_PROFILE]},
            "extension": [sharing_extension(referral.sharing)],
            "identifier": identifier,
            "status": "completed" if referral.decision else "active",
            "intent": "order",
            "subject": subject_ref(child, nhs),
            "authoredOn": received,
            "requester": ref(referrer[1]) if referrer else None,
            "performer": [ref(la)],
            "reasonCode": [{"text": referral.reason}],
        }
    )
    decided = referral.decided_at
    task = drop_empty(
        {
            "resourceType": "Task",
            "id": resource_id(referral, nhs, "decision"),
            "meta": {"profile": [DECISION_PROFILE]},
            "identifier": identifier,
            "status": "completed" if referral.decision else "requested",
            "intent": "order",
            "code": concept(SafeguardingTaskType.REFERRAL_DECISION),
            "focus": ref(request),
            "for": subject_ref(child, nhs),
            "authoredOn": received,
            "executionPeriod": {
                "start": received,
                "end": fhir_datetime(decided) if decided else None,
            },
            "requester": ref(la),
            "owner": ref(manager[1]) if manager else None,
            "note": [{"text": referral.decision_reason}] if referral.decision_reason else None,
            "output": [
                {
                    "type": concept(SafeguardingTaskType.REFERRAL_DECISION),
                    "valueCodeableConcept": concept(referral.decision),
                }
            ]
            if referral.decision
            else None,
        }
    )
    resources = [request, task, child, la, *referrer, *manager]
    return {
        "resourceType": "Bundle",
        "id": resource_id(referral, nhs, "bundle"),
        "meta": {"profile": [BUNDLE_PROFILE]},
        "type": "collection",
        "entry": [entry(r) for r in resources],
    }


def _instant(reader: Reader, node: Node | None) -> str | None:
    text = reader.string(node)
    if text is None or node is None:
        return None
    try:
        datetime.fromisoformat(text)
    except ValueError:
        reader.problem(node.path, "expected a dateTime with a UTC offset")
        return None
    return text


def _decision(reader: Reader, task: Node) -> ReferralDecision | None:
    for output in task.items("output"):
        value = output.child("valueCodeableConcept")
        if value is not None:
            return reader.code(value, ReferralDecision)
    return None


def from_fhir(bundle: JSON) -> Referral:
    """The referral from its Bundle (ServiceRequest and decision Task)."""
    reader = Reader()
    index = BundleIndex(reader, bundle)
    request = index.first("ServiceRequest", REFERRAL_PROFILE)
    task = index.first("Task", DECISION_PROFILE)
    if request is None or task is None:
        reader.fail()
    subject = read_subject(index, request, "subject")
    if read_subject(index, task, "for") not in (None, subject):
        reader.problem(f"{task.path}.for", "the decision is about another child than the referral")
    performers = request.items("performer")
    la = index.resolve(
        performers[0] if performers else reader.required(None, request, "performer"),
        "Organization",
    )
    reasons = request.items("reasonCode")
    period = task.child("executionPeriod")
    notes = task.items("note")
    identifiers = [
        i
        for i in request.items("identifier")
        if isinstance(i.value, dict) and i.value.get("system") == ARTEFACT_ID_SYSTEM
    ]
    if not identifiers:
        reader.problem(
            f"{request.path}.identifier", f"no identifier with system {ARTEFACT_ID_SYSTEM}"
        )
    data: JSON = {
        "kind": KIND,
        "local_id": reader.string(identifiers[0].child("value")) if identifiers else None,
        "child": read_patient(reader, subject) if subject else None,
        "received_at": _instant(
            reader, reader.required(request.child("authoredOn"), request, "authoredOn")
        ),
        "received_by": read_organisation(reader, la) if la else None,
        "referrer": read_practitioner(index, request.child("requester")),
        "reason": reader.string(reasons[0].child("text"))
        if reasons
        else reader.string(reader.required(None, request, "reasonCode")),
        "decision": _decision(reader, task),
        "decided_at": _instant(reader, period.child("end")) if period else None,
        "decided_by": read_practitioner(index, task.child("owner")),
        "decision_reason": reader.string(notes[0].child("text")) if notes else None,
        "sharing": read_sharing(reader, request),
    }
    origins = {
        "$.local_id": f"{request.path}.identifier",
        "$.child": subject.path if subject else request.path,
        "$.received_at": f"{request.path}.authoredOn",
        "$.received_by": la.path if la else request.path,
        "$.reason": f"{request.path}.reasonCode",
        "$.decision": f"{task.path}.output",
        "$.decided_at": f"{task.path}.executionPeriod.end",
    }
    return build(reader, Referral, data, request.path, origins)


EXTENSIONS: tuple[ExtensionDef, ...] = ()

PROFILES: tuple[ProfileDef, ...] = (
    ProfileDef(
        "ReferralBundle",
        "Bundle",
        UKCORE + "UKCore-Bundle",
        "Referral Bundle",
        "A collection of the referral, the decision on it, the child, the local authority and "
        "the practitioners.",
        elements=(ElementRule("Bundle.type", pattern={"code": "collection"}),),
    ),
    ProfileDef(
        "SafeguardingReferral",
        "ServiceRequest",
        UKCORE + "UKCore-ServiceRequest",
        "Referral to children's social care",
        "A referral about a child received by a local authority's children's social care: "
        "authoredOn the time it was received, performer the local authority.",
        elements=(
            ElementRule("ServiceRequest.identifier", min=1, short="The sender's record id"),
            ElementRule("ServiceRequest.subject", min=1),
            ElementRule("ServiceRequest.subject.identifier", min=1, short="NHS number"),
            ElementRule("ServiceRequest.authoredOn", min=1, short="Received"),
            ElementRule("ServiceRequest.performer", min=1, max="1"),
            ElementRule("ServiceRequest.reasonCode", min=1, max="1"),
        ),
        extensions=(("information-sharing", 0, "1"),),
    ),
    ProfileDef(
        "ReferralDecisionTask",
        "Task",
        UKCORE + "UKCore-Task",
        "Decision on a referral",
        "The decision on the response to a referral (Working Together 2026 paragraph 167): "
        "focus the referral, executionPeriod from receipt to decision, output the decision.",
        elements=(
            ElementRule("Task.code", min=1, binding=SafeguardingTaskType),
            ElementRule("Task.focus", min=1),
            ElementRule("Task.for", min=1),
            ElementRule("Task.for.identifier", min=1, short="NHS number"),
            ElementRule("Task.executionPeriod", min=1),
            ElementRule("Task.executionPeriod.start", min=1, short="Received"),
            ElementRule("Task.output", max="1"),
        ),
    ),
)
