"""Assessment ⇄ FHIR: a ``Task`` whose executionPeriod is the assessment's start and conclusion.

Why a Task: a children's social care assessment is a piece of work a local authority carries
out, started and concluded on given days, and tied to the referral it answers; Task has all
three (executionPeriod, owner, basedOn). ClinicalImpression records a clinician's judgement of
a patient's clinical state and Procedure an action performed on a patient: neither is what an
assessment under section 17 or 47 of the Children Act 1989 is.

The Bundle (type ``collection``) holds:
- ``Task`` (profile SafeguardingAssessment): identifier = local id, code = the assessment type
  (s17 / s47), status ``in-progress`` or ``completed``, executionPeriod = started → concluded,
  for = the child (reference and NHS number), basedOn = the referral by its artefact identifier
  (the referral is another artefact), owner = the local authority, output = the outcome, and
  extensions for the lead practitioner and the reasons for exceeding 45 working days;
- the ``Patient``, the local authority ``Organization`` and the lead practitioner.
"""

from __future__ import annotations

from interop.codes import AssessmentType, SafeguardingTaskType
from interop.domain import Assessment
from interop.mappings.fhir_common import (
    ARTEFACT_ID_SYSTEM,
    JSON,
    UKCORE,
    BundleIndex,
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

KIND = "assessment"
BUNDLE_PROFILE = profile_url("AssessmentBundle")
TASK_PROFILE = profile_url("SafeguardingAssessment")


def to_fhir(assessment: Assessment) -> JSON:
    """The assessment as a collection Bundle: Task, Patient, LA, lead practitioner."""
    nhs = assessment.child.nhs_number
    child, la, lead = task_parties(assessment)
    done = assessment.completed_on
    task = drop_empty(
        {
            "resourceType": "Task",
            "id": resource_id(assessment, nhs, "assessment"),
            "meta": {"profile": [TASK_PROFILE]},
            "extension": extensions(
                ext("lead-practitioner", ref(lead[1]) if lead else None),
                ext("reasons-exceeding-timescale", assessment.reasons_exceeding),
                sharing_extension(assessment.sharing),
            ),
            "identifier": [{"system": ARTEFACT_ID_SYSTEM, "value": assessment.local_id}],
            "basedOn": based_on(assessment.referral_id, "ServiceRequest"),
            "status": "completed" if done else "in-progress",
            "intent": "order",
            "code": concept(assessment.assessment_type),
            "for": subject_ref(child, nhs),
            "executionPeriod": {
                "start": assessment.started_on.isoformat(),
                "end": done.isoformat() if done else None,
            },
            "owner": ref(la),
            "output": [
                {
                    "type": concept(SafeguardingTaskType.ASSESSMENT),
                    "valueString": assessment.outcome,
                }
            ]
            if assessment.outcome
            else None,
        }
    )
    return collection_bundle(assessment, BUNDLE_PROFILE, (task, child, la, *lead))


def from_fhir(bundle: JSON) -> Assessment:
    """The assessment from its Bundle."""
    reader = Reader()
    index = BundleIndex(reader, bundle)
    task = index.first("Task", TASK_PROFILE)
    if task is None:
        reader.fail()
    subject = read_subject(index, task, "for")
    la = index.resolve(reader.required(task.child("owner"), task, "owner"), "Organization")
    period = reader.required(task.child("executionPeriod"), task, "executionPeriod")
    lead = task.extension("lead-practitioner")
    outputs = task.items("output")
    local_id = read_local_id(reader, task)
    data: JSON = {
        "kind": KIND,
        "local_id": local_id,
        "child": read_patient(reader, subject) if subject else None,
        "assessment_type": reader.code(
            reader.required(task.child("code"), task, "code"), AssessmentType
        ),
        "referral_id": read_based_on(reader, task),
        "started_on": reader.string(reader.required(period.child("start"), period, "start"))
        if period
        else None,
        "completed_on": reader.string(period.child("end")) if period else None,
        "local_authority": read_organisation(reader, la) if la else None,
        "lead_practitioner": read_practitioner(index, lead.child("valueReference"))
        if lead
        else None,
        "outcome": reader.string(outputs[0].child("valueString")) if outputs else None,
        "reasons_exceeding": reader.ext_value(task, "reasons-exceeding-timescale", "valueString"),
        "sharing": read_sharing(reader, task),
    }
    origins = {
        "$.local_id": f"{task.path}.identifier",
        "$.child": subject.path if subject else task.path,
        "$.assessment_type": f"{task.path}.code",
        "$.started_on": f"{task.path}.executionPeriod.start",
        "$.completed_on": f"{task.path}.executionPeriod.end",
        "$.local_authority": la.path if la else task.path,
        "$.outcome": f"{task.path}.output",
    }
    return build(reader, Assessment, data, task.path, origins)


#: The extensions the assessment and the section 47 outcome Tasks share.
TASK_EXTENSIONS: tuple[ExtensionDef, ...] = (
    ExtensionDef(
        "lead-practitioner",
        "The lead practitioner (social worker)",
        ("Task",),
        "Reference",
        source="002_7a8cd4b31029ee68.txt L1134, L1783",
    ),
)

EXTENSIONS: tuple[ExtensionDef, ...] = (
    *TASK_EXTENSIONS,
    ExtensionDef(
        "reasons-exceeding-timescale",
        "Why the assessment took longer than 45 working days",
        ("Task",),
        "string",
        source="002_7a8cd4b31029ee68.txt L1134",
    ),
)

PROFILES: tuple[ProfileDef, ...] = (
    ProfileDef(
        "AssessmentBundle",
        "Bundle",
        UKCORE + "UKCore-Bundle",
        "Assessment Bundle",
        "A collection of the assessment Task, the child, the local authority and the lead "
        "practitioner.",
        elements=(ElementRule("Bundle.type", pattern={"code": "collection"}),),
    ),
    ProfileDef(
        "SafeguardingAssessment",
        "Task",
        UKCORE + "UKCore-Task",
        "Children's social care assessment",
        "An assessment under section 17 or 47 of the Children Act 1989: code the type, "
        "executionPeriod from its start to its conclusion, basedOn the referral, owner the "
        "local authority.",
        elements=(
            ElementRule("Task.identifier", min=1, short="The sender's record id"),
            ElementRule("Task.code", min=1, binding=AssessmentType),
            ElementRule("Task.for", min=1),
            ElementRule("Task.for.identifier", min=1, short="NHS number"),
            ElementRule("Task.executionPeriod", min=1),
            ElementRule("Task.executionPeriod.start", min=1, short="Started"),
            ElementRule("Task.owner", min=1, short="The local authority"),
            ElementRule("Task.output", max="1"),
        ),
        extensions=(
            ("lead-practitioner", 0, "1"),
            ("reasons-exceeding-timescale", 0, "1"),
            ("information-sharing", 0, "1"),
        ),
    ),
)
