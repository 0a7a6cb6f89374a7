"""Health treatment plan for a child with a long-term condition under a CP plan (001 §7)."""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import Field, model_validator

from interop.codes import LongTermCondition, PartyRole, PlanType, StandardTrigger
from interop.domain.common import (
    ArtefactBase,
    DomainModel,
    LocalId,
    LongText,
    PersonIdentity,
    Practitioner,
    ShortText,
    SocialWorkerContact,
)
from interop.domain.rules import Violations
from interop.identifiers import SnomedConceptId


class Condition(DomainModel):
    """A long-term, potentially life-threatening condition (001 L27-38)."""

    name: ShortText
    category: LongTermCondition
    snomed_code: SnomedConceptId | None = None


class ResponsibleParty(DomainModel):
    """Who does something: a role, and a name where one is known."""

    role: PartyRole
    name: ShortText | None = None


class CareTeamMember(DomainModel):
    """A health practitioner or service and what they are responsible for (001 L199)."""

    practitioner: Practitioner
    responsibilities: LongText


class EscalationTrigger(DomainModel):
    """A trigger for escalation, and who does what and when if it happens (001 L195, L201)."""

    trigger: StandardTrigger
    description: LongText
    action: LongText = Field(description="What is done, e.g. how the child reaches urgent care")
    responsible: ResponsibleParty
    timescale: ShortText | None = Field(
        default=None, description="When, e.g. 'immediately', 'within 24 hours'"
    )


class Medication(DomainModel):
    """A key medication and how it is managed (001 L203)."""

    name: ShortText
    dmd_code: str | None = Field(
        default=None,
        pattern=r"^\d{6,18}$",
        description="dm+d (Dictionary of Medicines and Devices) concept id (a VTM, VMP or AMP), "
        "if coded",
    )
    dose: ShortText | None = None
    how_managed: LongText
    managed_by: ResponsibleParty


class RoleResponsibility(DomainModel):
    """The part an agency, parent or carer plays in managing the child's health (001 L204)."""

    party: ResponsibleParty
    responsibilities: LongText


class SelfCareElement(DomainModel):
    """An element of the child's self-care and how it is managed (001 L205)."""

    description: LongText
    how_managed: LongText


class Appointment(DomainModel):
    """A key review date or appointment all agencies should know (001 L202)."""

    appointment_date: date
    description: ShortText


class ChildProtectionPlanLink(DomainModel):
    """The child protection plan this treatment plan is part of (001 L197)."""

    local_id: LocalId
    plan_type: PlanType = PlanType.CPP
    start_date: date | None = Field(
        default=None,
        description="Start of the CP plan; absent while the plan is requested at strategy "
        "discussion stage (001 L339)",
    )
    key_social_worker: SocialWorkerContact | None = None


class HealthTreatmentPlan(ArtefactBase):
    """The health treatment plan, part of the child protection plan (001 L183-209)."""

    kind: Literal["health-treatment-plan"] = "health-treatment-plan"
    child: PersonIdentity
    cp_plan: ChildProtectionPlanLink
    conditions: list[Condition] = Field(min_length=1, max_length=50)
    lead_health_practitioner: Practitioner = Field(
        description="Nominated lead health practitioner: main point of contact (001 L187, L200)"
    )
    care_team: list[CareTeamMember] = Field(
        default_factory=list,
        max_length=100,
        description="Health practitioners and services, their roles and responsibilities",
    )
    escalation_triggers: list[EscalationTrigger] = Field(min_length=1, max_length=100)
    key_treatment_facts: list[LongText] = Field(
        default_factory=list,
        max_length=100,
        description="Key parts of treatment all agencies should know, e.g. impact on the "
        "child's presentation (001 L202)",
    )
    appointments: list[Appointment] = Field(default_factory=list, max_length=200)
    medications: list[Medication] = Field(default_factory=list, max_length=100)
    agency_responsibilities: list[RoleResponsibility] = Field(default_factory=list)
    parent_carer_roles: list[RoleResponsibility] = Field(
        default_factory=list,
        description="Roles of parents, carers and family network members (001 L189, L204)",
    )
    self_care: list[SelfCareElement] = Field(default_factory=list)
    self_care_capacity_assessed: bool | None = Field(
        default=None,
        description="Capacity (Gillick competence under 16) to self-care assessed (001 L60)",
    )
    child_version_provided: bool = Field(
        default=False, description="A simplified age-appropriate version given (001 L193)"
    )
    plan_date: date = Field(description="When this version of the plan was agreed")
    next_review_date: date | None = None

    def summary(self) -> str:
        """Conditions, lead practitioner's role, triggers; the child masked."""
        conditions = ", ".join(c.category.value for c in self.conditions)
        return (
            f"{conditions}; lead {self.lead_health_practitioner.role}; "
            f"{len(self.escalation_triggers)} escalation trigger(s); child {self.child.masked()}"
        )

    @model_validator(mode="after")
    def _consistent(self) -> HealthTreatmentPlan:
        v = Violations()
        v.check(
            self.cp_plan.plan_type is not PlanType.UCPP,
            "C09",
            "cp_plan.plan_type",
            "a health treatment plan is for a born child: it links to a CPP or LAC plan",
        )
        if self.next_review_date is not None:
            v.check(
                self.next_review_date >= self.plan_date,
                "C02",
                "next_review_date",
                "the next review is before the plan was agreed",
            )
        v.raise_if_any()
        return self
