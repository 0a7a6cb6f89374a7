"""Section 47 outcome ⇄ FHIR: a ``Task`` for the enquiries, its ``output`` the outcome.

Why Task.output rather than an Observation: the outcome is the result of a piece of work (the
enquiries, started at a strategy discussion and concluded on the day the outcome is decided),
not a measurement of the child; Task keeps the two days (executionPeriod), the local authority
(owner), the strategy discussion's report (basedOn) and the result (output) together.

The Bundle (type ``collection``) holds:
- ``Task`` (profile Section47Enquiries): identifier = local id, code = section-47-enquiries,
  status ``completed``, executionPeriod = strategy discussion → outcome decided, for = the child
  (reference and NHS number), basedOn = the strategy report by its artefact identifier, owner =
  the local authority, output = the outcome (valueCodeableConcept) and, when a conference is
  convened, its day (valueDate); note = the reasons; extension = the lead practitioner;
- the ``Patient``, the local authority ``Organization`` and the lead practitioner.
"""

from __future__ import annotations

from interop.codes import SafeguardingTaskType, Section47Outcome
from interop.domain import Section47EnquiryOutcome
from interop.issues import IssueCode
from interop.mappings.fhir_common import (
    ARTEFACT_ID_SYSTEM,
    JSON,
    UKCORE,
    BundleIndex,
    Node,
    Reader,
    based_on,
    build,
    collection_bundle,
    concept,
    drop_empty,
    ext,
    extensions,
    profile_url,
    read_based_on,
    read_local_id,
    read_organisation,
    read_patient,
    read_practitioner,
    read_sharing,
    read_subject,
    ref,
    resource_id,
    sharing_extension,
    subject_ref,
    task_parties,
)
from interop.mappings.fhir_definitions import ElementRule, ExtensionDef, ProfileDef

KIND = "section-47-outcome"
BUNDLE_PROFILE = profile_url("Section47OutcomeBundle")
TASK_PROFILE = profile_url("Section47Enquiries")
ENQUIRIES = SafeguardingTaskType.SECTION_47_ENQUIRIES


def to_fhir(outcome: Section47EnquiryOutcome) -> JSON:
    """The outcome as a collection Bundle: Task, Patient, LA, lead practitioner."""
    nhs = outcome.child.nhs_number
    child, la, lead = task_parties(outcome)
    outputs: list[JSON] = [
        {"type": concept(ENQUIRIES), "valueCodeableConcept": concept(outcome.outcome)}
    ]
    if outcome.conference_date is not None:
        outputs.append(
            {
                "type": concept(Section47Outcome.CONFERENCE),
                "valueDate": outcome.conference_date.isoformat(),
            }
        )
    task = drop_empty(
        {
            "resourceType": "Task",
            "id": resource_id(outcome, nhs, "enquiries"),
            "meta": {"profile": [TASK_PROFILE]},
            "extension": extensions(
                ext("lead-practitioner", ref(lead[1]) if lead else None),
                sharing_extension(outcome.sharing),
            ),
            "identifier": [{"system": ARTEFACT_ID_SYSTEM, "value": outcome.local_id}],
            "basedOn": based_on(outcome.strategy_report_id, "Composition"),
            "status": "completed",
            "intent": "order",
            "code": concept(ENQUIRIES),
            "for": subject_ref(child, nhs),
            "executionPeriod": {
                "start": outcome.strategy_discussion_date.isoformat(),
                "end": outcome.decided_on.isoformat(),
            },
            "owner": ref(la),
            "note": [{"text": outcome.reasons}] if outcome.reasons else None,
            "output": outputs,
        }
    )
    return collection_bundle(outcome, BUNDLE_PROFILE, (task, child, la, *lead))


def _outputs(reader: Reader, task: Node) -> tuple[Node | None, Section47Outcome | None, str | None]:
    found, conference = None, None
    for output in task.items("output"):
        if output.child("valueCodeableConcept") is not None and found is None:
            found = output
        elif output.child("valueDate") is not None:
            conference = reader.string(output.child("valueDate"))
    if found is None:
        reader.problem(f"{task.path}.output", "the outcome is required", IssueCode.REQUIRED)
        return None, None, conference
    return found, reader.code(found.child("valueCodeableConcept"), Section47Outcome), conference


def from_fhir(bundle: JSON) -> Section47EnquiryOutcome:
    """The section 47 outcome from its Bundle."""
    reader = Reader()
    index = BundleIndex(reader, bundle)
    task = index.first("Task", TASK_PROFILE)
    if task is None:
        reader.fail()
    subject = read_subject(index, task, "for")
    la = index.resolve(reader.required(task.child("owner"), task, "owner"), "Organization")
    period = reader.required(task.child("executionPeriod"), task, "executionPeriod")
    lead = task.extension("lead-practitioner")
    notes = task.items("note")
    output, result, conference = _outputs(reader, task)
    local_id = read_local_id(reader, task)
    data: JSON = {
        "kind": KIND,
        "local_id": local_id,
        "child": read_patient(reader, subject) if subject else None,
        "strategy_discussion_date": reader.string(
            reader.required(period.child("start"), period, "start")
        )
        if period
        else None,
        "strategy_report_id": read_based_on(reader, task),
        "outcome": result,
        "decided_on": reader.string(reader.required(period.child("end"), period, "end"))
        if period
        else None,
        "conference_date": conference,
        "local_authority": read_organisation(reader, la) if la else None,
        "lead_practitioner": read_practitioner(index, lead.child("valueReference"))
        if lead
        else None,
        "reasons": reader.string(notes[0].child("text")) if notes else None,
        "sharing": read_sharing(reader, task),
    }
    origins = {
        "$.local_id": f"{task.path}.identifier",
        "$.child": subject.path if subject else task.path,
        "$.strategy_discussion_date": f"{task.path}.executionPeriod.start",
        "$.decided_on": f"{task.path}.executionPeriod.end",
        "$.outcome": output.path if output else f"{task.path}.output",
        "$.conference_date": f"{task.path}.output",
        "$.local_authority": la.path if la else task.path,
    }
    return build(reader, Section47EnquiryOutcome, data, task.path, origins)


EXTENSIONS: tuple[ExtensionDef, ...] = ()  # the lead practitioner's is the assessment's

PROFILES: tuple[ProfileDef, ...] = (
    ProfileDef(
        "Section47OutcomeBundle",
        "Bundle",
        UKCORE + "UKCore-Bundle",
        "Section 47 outcome Bundle",
        "A collection of the section 47 enquiries Task, the child, the local authority and the "
        "lead practitioner.",
        elements=(ElementRule("Bundle.type", pattern={"code": "collection"}),),
    ),
    ProfileDef(
        "Section47Enquiries",
        "Task",
        UKCORE + "UKCore-Task",
        "Section 47 enquiries and their outcome",
        "Enquiries under section 47 of the Children Act 1989: executionPeriod from the strategy "
        "discussion that initiated them to the day the outcome was decided; output the outcome "
        "and, when an initial child protection conference is convened, its day.",
        elements=(
            ElementRule("Task.identifier", min=1, short="The sender's record id"),
            ElementRule("Task.code", min=1, binding=SafeguardingTaskType),
            ElementRule("Task.for", min=1),
            ElementRule("Task.for.identifier", min=1, short="NHS number"),
            ElementRule("Task.executionPeriod", min=1),
            ElementRule("Task.executionPeriod.start", min=1, short="Strategy discussion"),
            ElementRule("Task.executionPeriod.end", min=1, short="Outcome decided"),
            ElementRule("Task.owner", min=1, short="The local authority"),
            ElementRule("Task.output", min=1, max="2"),
        ),
        extensions=(("lead-practitioner", 0, "1"), ("information-sharing", 0, "1")),
    ),
)
