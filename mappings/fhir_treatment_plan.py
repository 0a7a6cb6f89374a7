"""Health treatment plan ⇄ FHIR: a UKCore-CarePlan-based CarePlan and the resources it names.

The Bundle (type ``collection``) holds, in this order:
- ``CarePlan`` (profile HealthTreatmentPlan): identifier = local id, status ``active``, intent
  ``plan``, subject = the child, created = plan date, partOf = the child protection plan,
  author = the lead health practitioner, careTeam, addresses = the Conditions,
  note = the key treatment facts, activity = the escalation triggers, appointments, self-care
  elements, agency responsibilities and parent/carer roles (``detail.code`` says which);
  next review date, self-care capacity assessed, child version provided and the
  information-sharing marker are toolkit extensions;
- ``CarePlan`` (profile ChildProtectionPlanLink): the child protection plan this plan is part
  of: identifier = its local id, category = the plan type, period.start, key social worker;
- ``CareTeam``: the lead health practitioner (role ``lead-health-practitioner``) and each care
  team member (role text = their responsibilities), as PractitionerRoles;
- the ``Patient``, a ``Condition`` per condition and a ``MedicationStatement`` per medication
  (basedOn the CarePlan), then the Practitioner, PractitionerRole and Organization of the lead
  and of each care team member. Each slot has its own resources, so a lead who is also a care
  team member reads back as two entries of the artefact, as it was written.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field

from interop.codes import (
    CodedEnum,
    LongTermCondition,
    PartyRole,
    PlanType,
    StandardTrigger,
    TreatmentPlanActivity,
)
from interop.domain import HealthTreatmentPlan
from interop.domain.treatment_plan import (
    Appointment,
    Condition,
    EscalationTrigger,
    Medication,
    ResponsibleParty,
    RoleResponsibility,
    SelfCareElement,
)
from interop.identifiers import SNOMED_SYSTEM
from interop.issues import IssueCode
from interop.mappings.fhir_common import (
    ARTEFACT_ID_SYSTEM,
    JSON,
    UKCORE,
    BundleIndex,
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
    patient,
    practitioner_resources,
    profile_url,
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

KIND = "health-treatment-plan"
PLAN_PROFILE = profile_url("HealthTreatmentPlan")
CP_PLAN_PROFILE = profile_url("ChildProtectionPlanLink")
CARE_TEAM_PROFILE = profile_url("HealthTreatmentPlanCareTeam")
CONDITION_PROFILE = profile_url("HealthTreatmentPlanCondition")
MEDICATION_PROFILE = profile_url("HealthTreatmentPlanMedication")
BUNDLE_PROFILE = profile_url("HealthTreatmentPlanBundle")
SNOMED = SNOMED_SYSTEM
#: dm+d, the NHS Dictionary of Medicines and Devices, as UK Core codes medications
DMD = "https://dmd.nhs.uk"
CONDITION_CLINICAL = "http://terminology.hl7.org/CodeSystem/condition-clinical"


# CarePlan.activity.detail.status is required: a trigger waits for its event, an appointment
# is booked, the standing roles and self-care are under way.
_ACTIVITY_STATUS = {
    TreatmentPlanActivity.ESCALATION_TRIGGER: "not-started",
    TreatmentPlanActivity.APPOINTMENT: "scheduled",
    TreatmentPlanActivity.SELF_CARE: "in-progress",
    TreatmentPlanActivity.AGENCY_RESPONSIBILITY: "in-progress",
    TreatmentPlanActivity.PARENT_CARER_ROLE: "in-progress",
}


# --- building ------------------------------------------------------------------------------


def _id(plan: HealthTreatmentPlan, role: str) -> str:
    return resource_id(plan, plan.child.nhs_number, role)


def _party_extension(party: ResponsibleParty) -> JSON | None:
    return ext("responsible-party", [sub("role", party.role), sub("name", party.name)])


def _activity(kind: TreatmentPlanActivity, detail: JSON, text: str | None = None) -> JSON:
    code = drop_empty({"coding": [coding(kind)], "text": text})
    return {"detail": drop_empty({"code": code, "status": _ACTIVITY_STATUS[kind], **detail})}


def _trigger_activity(trigger: EscalationTrigger) -> JSON:
    return _activity(
        TreatmentPlanActivity.ESCALATION_TRIGGER,
        {
            "extension": extensions(_party_extension(trigger.responsible)),
            # The trigger is why the activity happens; its text is this plan's wording of it.
            "reasonCode": [{"coding": [coding(trigger.trigger)], "text": trigger.description}],
            "scheduledString": trigger.timescale,
            "description": trigger.action,
        },
    )


def _appointment_activity(appointment: Appointment) -> JSON:
    return _activity(
        TreatmentPlanActivity.APPOINTMENT,
        {
            "kind": "Appointment",
            "scheduledPeriod": {"start": appointment.appointment_date.isoformat()},
            "description": appointment.description,
        },
    )


def _self_care_activity(element: SelfCareElement) -> JSON:
    return _activity(
        TreatmentPlanActivity.SELF_CARE,
        {"description": element.how_managed},
        text=element.description,
    )


def _role_activity(kind: TreatmentPlanActivity, role: RoleResponsibility) -> JSON:
    return _activity(
        kind,
        {
            "extension": extensions(_party_extension(role.party)),
            "description": role.responsibilities,
        },
    )


def _activities(plan: HealthTreatmentPlan) -> list[JSON]:
    return [
        *(_trigger_activity(t) for t in plan.escalation_triggers),
        *(_appointment_activity(a) for a in plan.appointments),
        *(_self_care_activity(s) for s in plan.self_care),
        *(
            _role_activity(TreatmentPlanActivity.AGENCY_RESPONSIBILITY, r)
            for r in plan.agency_responsibilities
        ),
        *(
            _role_activity(TreatmentPlanActivity.PARENT_CARER_ROLE, r)
            for r in plan.parent_carer_roles
        ),
    ]


def _condition(condition: Condition, id_: str, subject: JSON) -> JSON:
    codings = [{"system": SNOMED, "code": condition.snomed_code}] if condition.snomed_code else None
    return drop_empty(
        {
            "resourceType": "Condition",
            "id": id_,
            "meta": {"profile": [CONDITION_PROFILE]},
            "clinicalStatus": {
                "coding": [{"system": CONDITION_CLINICAL, "code": "active", "display": "Active"}]
            },
            "category": [concept(condition.category)],
            "code": {"coding": codings, "text": condition.name},
            "subject": ref(subject),
        }
    )


def _medication(medication: Medication, id_: str, subject: JSON, care_plan: JSON) -> JSON:
    return drop_empty(
        {
            "resourceType": "MedicationStatement",
            "id": id_,
            "meta": {"profile": [MEDICATION_PROFILE]},
            "extension": extensions(_party_extension(medication.managed_by)),
            "basedOn": [ref(care_plan)],
            "status": "active",
            "medicationCodeableConcept": {
                "coding": [{"system": DMD, "code": medication.dmd_code}]
                if medication.dmd_code
                else None,
                "text": medication.name,
            },
            "subject": ref(subject),
            "note": [{"text": medication.how_managed}],
            "dosage": [{"text": medication.dose}] if medication.dose else None,
        }
    )


def _cp_plan(plan: HealthTreatmentPlan, subject: JSON) -> JSON:
    link = plan.cp_plan
    return drop_empty(
        {
            "resourceType": "CarePlan",
            "id": _id(plan, "cp-plan"),
            "meta": {"profile": [CP_PLAN_PROFILE]},
            "extension": extensions(
                social_worker_extension("key-social-worker", link.key_social_worker)
            ),
            "identifier": [{"system": ARTEFACT_ID_SYSTEM, "value": link.local_id}],
            "status": "active",
            "intent": "plan",
            "category": [concept(link.plan_type)],
            "title": link.plan_type.display,
            "subject": ref(subject),
            "period": {"start": link.start_date.isoformat()} if link.start_date else None,
        }
    )


def _care_team(
    plan: HealthTreatmentPlan, subject: JSON, lead_role: JSON, member_roles: list[JSON]
) -> JSON:
    lead = {
        "role": [concept(PartyRole.LEAD_HEALTH_PRACTITIONER)],
        "member": ref(lead_role),
    }
    # R4 defines participant.role as the member's "specific responsibility" in the team.
    members = [
        {"role": [{"text": member.responsibilities}], "member": ref(role)}
        for member, role in zip(plan.care_team, member_roles, strict=True)
    ]
    return {
        "resourceType": "CareTeam",
        "id": _id(plan, "care-team"),
        "meta": {"profile": [CARE_TEAM_PROFILE]},
        "status": "active",
        "name": "Health treatment plan care team",
        "subject": ref(subject),
        "participant": [lead, *members],
    }


def _care_plan(
    plan: HealthTreatmentPlan,
    subject: JSON,
    named: dict[str, JSON],
    conditions: list[JSON],
) -> JSON:
    """The HealthTreatmentPlan CarePlan; ``named`` holds its cp-plan, care-team and lead."""
    return drop_empty(
        {
            "resourceType": "CarePlan",
            "id": _id(plan, "care-plan"),
            "meta": {"profile": [PLAN_PROFILE]},
            "extension": extensions(
                ext("next-review-date", plan.next_review_date),
                ext("self-care-capacity-assessed", plan.self_care_capacity_assessed),
                ext("child-version-provided", plan.child_version_provided),
                sharing_extension(plan.sharing),
            ),
            "identifier": [{"system": ARTEFACT_ID_SYSTEM, "value": plan.local_id}],
            "partOf": [ref(named["cp-plan"])],
            "status": "active",
            "intent": "plan",
            "title": "Health treatment plan",
            "subject": ref(subject),
            "created": plan.plan_date.isoformat(),
            # The lead maintains the plan (001 L187); the CareTeam is where it is read from.
            "author": ref(named["lead"]),
            "careTeam": [ref(named["care-team"])],
            "addresses": [ref(c) for c in conditions],
            "activity": _activities(plan),
            "note": [{"text": fact} for fact in plan.key_treatment_facts],
        }
    )


def _practitioners(plan: HealthTreatmentPlan) -> tuple[list[JSON], list[list[JSON]]]:
    """[Practitioner, PractitionerRole, Organization?] for the lead and each member."""
    lead = practitioner_resources(
        plan.lead_health_practitioner,
        _id(plan, "lead-practitioner"),
        _id(plan, "lead-practitioner-role"),
        _id(plan, "lead-organization"),
    )
    members = [
        practitioner_resources(
            member.practitioner,
            _id(plan, f"member-{i}-practitioner"),
            _id(plan, f"member-{i}-practitioner-role"),
            _id(plan, f"member-{i}-organization"),
        )
        for i, member in enumerate(plan.care_team)
    ]
    return lead, members


def to_fhir(plan: HealthTreatmentPlan) -> JSON:
    """The plan as a collection Bundle: CarePlan, CP plan, CareTeam, Patient, the rest."""
    subject = patient(plan.child, _id(plan, "patient"))
    lead, members = _practitioners(plan)
    conditions = [
        _condition(c, _id(plan, f"condition-{i}"), subject) for i, c in enumerate(plan.conditions)
    ]
    cp_plan = _cp_plan(plan, subject)
    care_team = _care_team(plan, subject, lead[1], [m[1] for m in members])
    named = {"cp-plan": cp_plan, "care-team": care_team, "lead": lead[1]}
    care_plan = _care_plan(plan, subject, named, conditions)
    medications = [
        _medication(m, _id(plan, f"medication-{i}"), subject, care_plan)
        for i, m in enumerate(plan.medications)
    ]
    resources = [
        care_plan,
        cp_plan,
        care_team,
        subject,
        *conditions,
        *medications,
        *lead,
        *(r for member in members for r in member),
    ]
    return {
        "resourceType": "Bundle",
        "id": _id(plan, "bundle"),
        "meta": {"profile": [BUNDLE_PROFILE]},
        "type": "collection",
        "entry": [entry(r) for r in resources],
    }


# --- reading -------------------------------------------------------------------------------


@dataclass
class _Context:
    """The reader, the Bundle's index and where each artefact field came from."""

    reader: Reader
    index: BundleIndex
    origins: dict[str, str] = field(default_factory=dict)

    def first(self, parent: Node, name: str) -> Node | None:
        """The first item of a required repeating element (a problem when there is none)."""
        found = parent.items(name)
        return found[0] if found else self.reader.required(None, parent, name)

    def text(self, parent: Node | None, name: str) -> str | None:
        """A required string element of ``parent``."""
        if parent is None:
            return None
        return self.reader.string(self.reader.required(parent.child(name), parent, name))


def _has_coding(node: Node, system: str, code: str | None = None) -> bool:
    codings = node.value.get("coding") if isinstance(node.value, dict) else None
    if not isinstance(codings, list):
        return False
    return any(
        isinstance(c, dict) and c.get("system") == system and code in (None, c.get("code"))
        for c in codings
    )


def _coded(ctx: _Context, parent: Node, name: str, enum: type[CodedEnum]) -> CodedEnum | None:
    """The code of the first CodeableConcept in ``parent.name`` with a coding from ``enum``."""
    for node in parent.items(name):
        if _has_coding(node, enum.system()):
            return ctx.reader.code(node, enum)
    ctx.reader.problem(
        f"{parent.path}.{name}", f"no coding from {enum.system()}", IssueCode.REQUIRED
    )
    return None


def _read_party(ctx: _Context, parent: Node) -> JSON | None:
    node = parent.extension("responsible-party")
    if node is None:
        ctx.reader.required(None, parent, f"extension('{ext_url('responsible-party')}')")
        return None
    role = ctx.reader.required(node.sub_extension("role"), node, "extension('role')")
    return {
        "role": ctx.reader.code(role, PartyRole),
        "name": ctx.reader.ext_value(node, "name", "valueString", sub=True),
    }


def _local_id(ctx: _Context, node: Node) -> str | None:
    for ident in node.items("identifier"):
        if isinstance(ident.value, dict) and ident.value.get("system") == ARTEFACT_ID_SYSTEM:
            return ctx.text(ident, "value")
    ctx.reader.problem(
        f"{node.path}.identifier",
        f"no identifier with system {ARTEFACT_ID_SYSTEM}",
        IssueCode.REQUIRED,
    )
    return None


def _read_cp_plan(ctx: _Context, plan: Node) -> JSON | None:
    node = ctx.index.resolve(ctx.first(plan, "partOf"), "CarePlan")
    if node is None:
        return None
    ctx.origins["$.cp_plan"] = node.path
    period = node.child("period")
    return {
        "local_id": _local_id(ctx, node),
        "plan_type": _coded(ctx, node, "category", PlanType),
        "start_date": ctx.reader.string(period.child("start")) if period else None,
        "key_social_worker": read_social_worker(ctx.reader, node, "key-social-worker"),
    }


def _read_condition(ctx: _Context, node: Node, at: str) -> JSON:
    code = ctx.reader.required(node.child("code"), node, "code")
    snomed = [c for c in code.items("coding") if _is_snomed(c)] if code else []
    if snomed:  # a malformed code is reported at the code, not the whole Condition
        ctx.origins[f"{at}.snomed_code"] = f"{snomed[0].path}.code"
    return {
        "name": ctx.text(code, "text"),
        "category": _coded(ctx, node, "category", LongTermCondition),
        "snomed_code": ctx.text(snomed[0], "code") if snomed else None,
    }


def _is_snomed(node: Node) -> bool:
    return isinstance(node.value, dict) and node.value.get("system") == SNOMED


def _read_conditions(ctx: _Context, plan: Node) -> list[JSON]:
    conditions = []
    for i, reference in enumerate(plan.items("addresses")):
        node = ctx.index.resolve(reference, "Condition")
        if node is not None:
            ctx.origins[f"$.conditions[{i}]"] = node.path
            conditions.append(_read_condition(ctx, node, f"$.conditions[{i}]"))
    ctx.origins["$.conditions"] = f"{plan.path}.addresses"
    return conditions


def _read_care_team(ctx: _Context, plan: Node) -> tuple[JSON | None, list[JSON]]:
    """The lead health practitioner and the care team members."""
    team = ctx.index.resolve(ctx.first(plan, "careTeam"), "CareTeam")
    if team is None:
        return None, []
    leads: list[Node] = []
    members: list[Node] = []
    for participant in team.items("participant"):
        is_lead = any(
            _has_coding(role, PartyRole.system(), PartyRole.LEAD_HEALTH_PRACTITIONER.value)
            for role in participant.items("role")
        )
        (leads if is_lead else members).append(participant)
    if len(leads) != 1:
        ctx.reader.problem(
            f"{team.path}.participant",
            f"expected one participant with the role {PartyRole.LEAD_HEALTH_PRACTITIONER.value}"
            f", found {len(leads)}",
            IssueCode.REQUIRED if not leads else IssueCode.VALUE,
        )
        return None, []
    ctx.origins["$.lead_health_practitioner"] = leads[0].path
    member = ctx.reader.required(leads[0].child("member"), leads[0], "member")
    lead = read_practitioner(ctx.index, member)
    return lead, [_read_member(ctx, m, i) for i, m in enumerate(members)]


def _read_member(ctx: _Context, participant: Node, i: int) -> JSON:
    ctx.origins[f"$.care_team[{i}]"] = participant.path
    member = ctx.reader.required(participant.child("member"), participant, "member")
    return {
        "practitioner": read_practitioner(ctx.index, member),
        "responsibilities": ctx.text(ctx.first(participant, "role"), "text"),
    }


def _read_trigger(ctx: _Context, detail: Node) -> JSON:
    reason = ctx.first(detail, "reasonCode")
    return {
        "trigger": ctx.reader.code(reason, StandardTrigger) if reason else None,
        "description": ctx.text(reason, "text"),
        "action": ctx.text(detail, "description"),
        "responsible": _read_party(ctx, detail),
        "timescale": ctx.reader.string(detail.child("scheduledString")),
    }


def _read_appointment(ctx: _Context, detail: Node) -> JSON:
    period = ctx.reader.required(detail.child("scheduledPeriod"), detail, "scheduledPeriod")
    return {
        "appointment_date": ctx.text(period, "start"),
        "description": ctx.text(detail, "description"),
    }


def _read_self_care(ctx: _Context, detail: Node) -> JSON:
    return {
        "description": ctx.text(detail.child("code"), "text"),
        "how_managed": ctx.text(detail, "description"),
    }


def _read_role(ctx: _Context, detail: Node) -> JSON:
    return {
        "party": _read_party(ctx, detail),
        "responsibilities": ctx.text(detail, "description"),
    }


# Each kind of activity: the artefact field it fills and how its detail is read.
_ACTIVITY_READERS: dict[TreatmentPlanActivity, tuple[str, Callable[[_Context, Node], JSON]]] = {
    TreatmentPlanActivity.ESCALATION_TRIGGER: ("escalation_triggers", _read_trigger),
    TreatmentPlanActivity.APPOINTMENT: ("appointments", _read_appointment),
    TreatmentPlanActivity.SELF_CARE: ("self_care", _read_self_care),
    TreatmentPlanActivity.AGENCY_RESPONSIBILITY: ("agency_responsibilities", _read_role),
    TreatmentPlanActivity.PARENT_CARER_ROLE: ("parent_carer_roles", _read_role),
}


def _read_activities(ctx: _Context, plan: Node) -> dict[str, list[JSON]]:
    found: dict[str, list[JSON]] = {name: [] for name, _ in _ACTIVITY_READERS.values()}
    for activity in plan.items("activity"):
        detail = ctx.reader.required(activity.child("detail"), activity, "detail")
        code = ctx.reader.required(detail.child("code"), detail, "code") if detail else None
        kind = ctx.reader.code(code, TreatmentPlanActivity)
        if detail is None or kind is None:
            continue
        name, read = _ACTIVITY_READERS[kind]
        ctx.origins[f"$.{name}[{len(found[name])}]"] = detail.path
        found[name].append(read(ctx, detail))
    ctx.origins["$.escalation_triggers"] = f"{plan.path}.activity"
    return found


def _read_medication(ctx: _Context, node: Node, i: int) -> JSON:
    ctx.origins[f"$.medications[{i}]"] = node.path
    ctx.index.resolve(ctx.first(node, "basedOn"), "CarePlan")
    medication = ctx.reader.required(
        node.child("medicationCodeableConcept"), node, "medicationCodeableConcept"
    )
    dosages = node.items("dosage")
    dmd = [
        c
        for c in (medication.items("coding") if medication else [])
        if isinstance(c.value, dict) and c.value.get("system") == DMD
    ]
    return {
        "name": ctx.text(medication, "text"),
        "dmd_code": ctx.text(dmd[0], "code") if dmd else None,
        "dose": ctx.reader.string(dosages[0].child("text")) if dosages else None,
        "how_managed": ctx.text(ctx.first(node, "note"), "text"),
        "managed_by": _read_party(ctx, node),
    }


def _read_plan_fields(ctx: _Context, plan: Node) -> JSON:
    """The fields the CarePlan itself carries."""
    reader = ctx.reader
    subject = ctx.index.resolve(reader.required(plan.child("subject"), plan, "subject"), "Patient")
    if subject is not None:
        ctx.origins["$.child"] = subject.path
    ctx.origins.update(
        {
            "$.local_id": f"{plan.path}.identifier",
            "$.plan_date": f"{plan.path}.created",
            "$.next_review_date": f"{plan.path}.extension('{ext_url('next-review-date')}')",
            "$.key_treatment_facts": f"{plan.path}.note",
        }
    )
    return {
        "local_id": _local_id(ctx, plan),
        "child": read_patient(reader, subject) if subject else None,
        "plan_date": ctx.text(plan, "created"),
        "next_review_date": reader.ext_value(plan, "next-review-date", "valueDate"),
        "self_care_capacity_assessed": reader.ext_value(
            plan, "self-care-capacity-assessed", "valueBoolean"
        ),
        "child_version_provided": reader.ext_value(plan, "child-version-provided", "valueBoolean"),
        "key_treatment_facts": [ctx.text(note, "text") for note in plan.items("note")],
        "sharing": read_sharing(reader, plan),
    }


def from_fhir(bundle: JSON) -> HealthTreatmentPlan:
    """The plan from a Bundle holding its HealthTreatmentPlan CarePlan and what that names."""
    reader = Reader()
    index = BundleIndex(reader, bundle)
    plan = index.first("CarePlan", PLAN_PROFILE)
    if plan is None:
        reader.fail()
    ctx = _Context(reader, index)
    lead, members = _read_care_team(ctx, plan)
    data: JSON = {
        "kind": KIND,
        **_read_plan_fields(ctx, plan),
        "cp_plan": _read_cp_plan(ctx, plan),
        "conditions": _read_conditions(ctx, plan),
        "lead_health_practitioner": lead,
        "care_team": members,
        **_read_activities(ctx, plan),
        "medications": [
            _read_medication(ctx, node, i)
            for i, node in enumerate(index.all("MedicationStatement"))
        ],
    }
    return build(reader, HealthTreatmentPlan, data, plan.path, ctx.origins)


# --- declarations --------------------------------------------------------------------------

_PARTY_CHILDREN = (
    ExtensionDef("role", "Role of the responsible party", (), "Coding", PartyRole),
    ExtensionDef("name", "Name of the responsible party, where known", (), "string"),
)

EXTENSIONS: tuple[ExtensionDef, ...] = (
    ExtensionDef(
        "next-review-date",
        "When the health treatment plan is next reviewed",
        ("CarePlan",),
        "date",
        source="001_0e453bf333ba50fc.txt L183-209",
    ),
    ExtensionDef(
        "self-care-capacity-assessed",
        "Capacity (Gillick competence under 16) to self-care has been assessed",
        ("CarePlan",),
        "boolean",
        source="001_0e453bf333ba50fc.txt L60",
    ),
    ExtensionDef(
        "child-version-provided",
        "A simplified age-appropriate version of the plan was given to the child",
        ("CarePlan",),
        "boolean",
        source="001_0e453bf333ba50fc.txt L193",
    ),
    ExtensionDef(
        "responsible-party",
        "Who is responsible: a role, and a name where one is known",
        ("CarePlan.activity.detail", "MedicationStatement"),
        None,
        children=_PARTY_CHILDREN,
        source=PartyRole.source,
    ),
    ExtensionDef(
        "key-social-worker",
        "The key social worker of the child protection plan",
        ("CarePlan",),
        None,
        children=(
            ExtensionDef("name", "Name", (), "string"),
            ExtensionDef("phone", "Phone", (), "string"),
            ExtensionDef("email", "Email", (), "string"),
            ExtensionDef("organisationOds", "ODS code of their organisation", (), "string"),
            ExtensionDef("organisationName", "Name of their organisation", (), "string"),
        ),
        source="001_0e453bf333ba50fc.txt L401-405",
    ),
)

PROFILES: tuple[ProfileDef, ...] = (
    ProfileDef(
        "HealthTreatmentPlanBundle",
        "Bundle",
        UKCORE + "UKCore-Bundle",
        "Health treatment plan Bundle",
        "A collection Bundle holding a health treatment plan and every resource it names.",
        elements=(ElementRule("Bundle.type", pattern={"code": "collection"}),),
    ),
    ProfileDef(
        "HealthTreatmentPlan",
        "CarePlan",
        UKCORE + "UKCore-CarePlan",
        "Health treatment plan",
        "The health treatment plan of a child with a long-term condition under a child "
        "protection plan (001 section 7): conditions, lead health practitioner and care team, "
        "escalation triggers, appointments, medications, roles and self-care.",
        elements=(
            ElementRule("CarePlan.identifier", min=1, short="The sender's id of the plan"),
            ElementRule("CarePlan.intent", pattern={"code": "plan"}),
            ElementRule("CarePlan.subject", min=1, short="The child"),
            ElementRule("CarePlan.created", min=1, short="When this version was agreed"),
            ElementRule("CarePlan.partOf", min=1, max="1", short="The child protection plan"),
            ElementRule("CarePlan.author", min=1, short="The lead health practitioner"),
            ElementRule("CarePlan.careTeam", min=1, max="1"),
            ElementRule("CarePlan.addresses", min=1, short="The long-term conditions"),
            ElementRule("CarePlan.activity", min=1, short="At least one escalation trigger"),
            ElementRule("CarePlan.activity.detail", min=1),
            ElementRule("CarePlan.activity.detail.code", min=1, binding=TreatmentPlanActivity),
            ElementRule(
                "CarePlan.activity.detail.reasonCode",
                binding=StandardTrigger,
                short="The escalation trigger; text = its description in this plan",
            ),
            ElementRule("CarePlan.note", short="Key treatment facts all agencies should know"),
        ),
        extensions=(
            ("next-review-date", 0, "1"),
            ("self-care-capacity-assessed", 0, "1"),
            ("child-version-provided", 0, "1"),
            ("information-sharing", 0, "1"),
        ),
    ),
    ProfileDef(
        "ChildProtectionPlanLink",
        "CarePlan",
        UKCORE + "UKCore-CarePlan",
        "Child protection plan (as a health treatment plan links to it)",
        "The child protection plan a health treatment plan is part of: its id, plan type, "
        "start and key social worker.",
        elements=(
            ElementRule("CarePlan.identifier", min=1, short="The local authority's plan id"),
            ElementRule("CarePlan.intent", pattern={"code": "plan"}),
            ElementRule("CarePlan.category", min=1, binding=PlanType),
            ElementRule("CarePlan.subject", min=1),
        ),
        extensions=(("key-social-worker", 0, "1"),),
    ),
    ProfileDef(
        "HealthTreatmentPlanCareTeam",
        "CareTeam",
        UKCORE + "UKCore-CareTeam",
        "Health treatment plan care team",
        "The lead health practitioner (role lead-health-practitioner) and the health "
        "practitioners and services of the plan (role text = their responsibilities).",
        elements=(
            ElementRule("CareTeam.subject", min=1),
            ElementRule("CareTeam.participant", min=1),
            ElementRule("CareTeam.participant.role", min=1, max="1"),
            ElementRule("CareTeam.participant.member", min=1, short="A PractitionerRole"),
        ),
    ),
    ProfileDef(
        "HealthTreatmentPlanCondition",
        "Condition",
        UKCORE + "UKCore-Condition",
        "Long-term condition of a health treatment plan",
        "A long-term, potentially life-threatening condition: its name, category and, when "
        "coded, its SNOMED CT concept.",
        elements=(
            ElementRule("Condition.category", min=1, max="1", binding=LongTermCondition),
            ElementRule("Condition.code", min=1),
            ElementRule("Condition.code.text", min=1, short="The condition's name"),
            ElementRule("Condition.subject", min=1),
        ),
    ),
    ProfileDef(
        "HealthTreatmentPlanMedication",
        "MedicationStatement",
        UKCORE + "UKCore-MedicationStatement",
        "Key medication of a health treatment plan",
        "A key medication, its dose and how it is managed, and by whom.",
        elements=(
            ElementRule("MedicationStatement.basedOn", min=1, max="1", short="The CarePlan"),
            ElementRule(
                "MedicationStatement.medication[x]",
                short="medicationCodeableConcept; text = the medication's name, coding the "
                "dm+d concept when known",
            ),
            ElementRule("MedicationStatement.note", min=1, max="1", short="How it is managed"),
            ElementRule("MedicationStatement.dosage", max="1", short="text = the dose"),
        ),
        extensions=(("responsible-party", 1, "1"),),
    ),
)
