"""Health needs checklist for child protection conferences and core groups (001 Appendix 3)."""

from __future__ import annotations

from datetime import date
from typing import Literal
from zoneinfo import ZoneInfo

from pydantic import AwareDatetime, Field, model_validator

from interop.codes import MeetingType
from interop.domain.common import (
    ArtefactBase,
    ConditionEntry,
    DomainModel,
    LongText,
    PersonIdentity,
    Practitioner,
    ShortText,
)
from interop.domain.rules import Violations

#: The guidance's days are England's: a meeting's day is its date in Europe/London, whatever
#: UTC offset the time was recorded with (23:30 UTC in summer is 00:30 the next day).
ENGLAND = ZoneInfo("Europe/London")


class CareNeedsWithoutPlan(DomainModel):
    """What the child needs when no health care plan is available to the meeting (001 L420)."""

    medication: list[ShortText] = Field(default_factory=list, max_length=100)
    therapies: list[ShortText] = Field(default_factory=list, max_length=100)
    equipment: list[ShortText] = Field(default_factory=list, max_length=100)
    appointments: list[ShortText] = Field(default_factory=list, max_length=100)
    risk_of_serious_deterioration: bool = Field(
        description="Without this support the child's health is at risk of serious "
        "deterioration that could lead to death"
    )
    details: LongText | None = None


class MultiAgencyActions(DomainModel):
    """The multi-agency action plan of the checklist (001 L422-427).

    Each row is conditional ("If parents/carers are having difficulty...") and the checklist
    says no "must": an action is recorded when its situation arises, never required.
    """

    parents_having_difficulty: LongText | None = Field(
        default=None,
        description="If parents/carers have difficulty supporting the child to manage their "
        "health needs, including access to medication, therapy and equipment",
    )
    child_refuses_to_engage: LongText | None = Field(
        default=None, description="If the child refuses to engage with their health care plan"
    )
    sudden_deterioration: LongText | None = Field(
        default=None,
        description="Sudden deterioration: access to emergency services and notifying the lead "
        "social worker",
    )


class HealthNeedsChecklist(ArtefactBase):
    """Completed by the chair of a conference or core group (001 L409-427)."""

    kind: Literal["health-needs-checklist"] = "health-needs-checklist"
    child: PersonIdentity = Field(description="Name, identity number and NHS number (001 L413)")
    meeting_type: MeetingType
    meeting_at: AwareDatetime = Field(description="Meeting date and time, with its UTC offset")
    chair: Practitioner = Field(description="Chair or Independent Reviewing Officer")
    diagnosed_needs: bool = Field(description="Diagnosed medical / behavioural needs (001 L417)")
    diagnosed_needs_details: LongText | None = None
    diagnosed_conditions: list[ConditionEntry] = Field(
        default_factory=list,
        max_length=50,
        description="The diagnosed conditions (001 L417): each a name, or a name with its "
        "SNOMED CT concept id",
    )
    health_staff_involved: list[Practitioner] = Field(
        default_factory=list, max_length=100, description="Names of health staff, GP (001 L418)"
    )
    requires_parental_compliance: bool = Field(
        description="The condition requires parents to comply with a health care plan (001 L419)"
    )
    care_plan_available: bool = Field(
        description="A copy of the health care plan is available to the meeting (001 L420)"
    )
    care_needs_without_plan: CareNeedsWithoutPlan | None = None
    cp_medical_required: bool | None = Field(default=None, description="001 L421")
    cp_medical_notes: LongText | None = None
    actions: MultiAgencyActions = Field(default_factory=MultiAgencyActions)
    completed_by: ShortText | None = None

    @property
    def meeting_day(self) -> date:
        """The meeting's calendar day in England (Europe/London)."""
        return self.meeting_at.astimezone(ENGLAND).date()

    def summary(self) -> str:
        """Meeting and the checklist's key answers; the child masked."""
        return (
            f"{self.meeting_type.value} {self.meeting_day}, diagnosed needs "
            f"{'yes' if self.diagnosed_needs else 'no'}, care plan available "
            f"{'yes' if self.care_plan_available else 'no'}; child {self.child.masked()}"
        )

    @model_validator(mode="after")
    def _consistent(self) -> HealthNeedsChecklist:
        v = Violations()
        needs_a_plan = self.diagnosed_needs or self.requires_parental_compliance
        v.check(
            self.care_plan_available
            or not needs_a_plan
            or self.care_needs_without_plan is not None,
            "C14",
            "care_needs_without_plan",
            "without a health care plan, give the medication, therapies, equipment and "
            "appointments, and whether the child is at risk of serious deterioration",
        )
        v.raise_if_any()
        return self
