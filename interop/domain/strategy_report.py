"""Strategy Discussion Health Report: health's contribution to a strategy discussion.

Every field of the proforma in 001 Appendix 2 (L370-407), plus what Working Together 2026
says health brings to the discussion (002 L1720-1726) and who takes part (002 L1677).
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import Field, model_validator

from interop.codes import (
    Agency,
    AppointmentAttendance,
    AttendanceSetting,
    HealthInformationSource,
    StrategyOutcome,
)
from interop.domain.common import (
    ArtefactBase,
    ConditionEntry,
    DomainModel,
    LongText,
    Organisation,
    PersonIdentity,
    Practitioner,
    ShortText,
    SocialWorkerContact,
)
from interop.domain.rules import Violations


class MissedAppointment(DomainModel):
    """An appointment missed or the child was not brought to (001 L382)."""

    appointment_date: date
    service: ShortText
    attendance: AppointmentAttendance


class UnscheduledAttendance(DomainModel):
    """A recent A&E or out-of-hours attendance (001 L382)."""

    attended_on: date
    setting: AttendanceSetting
    organisation: Organisation | None = None
    reason: LongText | None = None


class HealthConcerns(DomainModel):
    """'What are we worried about' (001 L380-382)."""

    child_health_needs: LongText | None = None
    long_term_conditions: list[ConditionEntry] = Field(
        default_factory=list,
        max_length=50,
        description="Long-term medical conditions (001 L380): each a name, or a name with its "
        "SNOMED CT concept id",
    )
    proportionate_information: LongText | None = Field(
        default=None,
        description="Child and adult information proportionate to the incident",
    )
    missed_appointments: list[MissedAppointment] = Field(default_factory=list, max_length=200)
    recent_attendances: list[UnscheduledAttendance] = Field(default_factory=list, max_length=200)


class ActionItem(DomainModel):
    """One action of the action plan: what, who, by when."""

    action: LongText
    owner: ShortText | None = None
    due: date | None = None


class StrategyDiscussionHealthReport(ArtefactBase):
    """Health information for sharing at a strategy discussion (001 Appendix 2)."""

    kind: Literal["strategy-discussion-health-report"] = "strategy-discussion-health-report"
    child: PersonIdentity
    strategy_discussion_date: date
    submitted_by: Practitioner = Field(
        description="The health safeguarding team member submitting on behalf of health (001 L99)"
    )
    appendix_a_received: bool = Field(description="Appendix A form received (001 L374)")
    appendix_a_received_on: date | None = None
    reason: LongText = Field(description="Reason for strategy discussion (001 L376)")
    health_concerns: HealthConcerns
    parents_engaging_with_care_plan: bool | None = Field(
        default=None,
        description="Do the parents/carers appear to be engaging with the health care plan "
        "(001 L384); null when there is no plan",
    )
    impact_on_child_health: LongText = Field(
        description="Impact or potential impact of the abuse and neglect on the child's "
        "health (001 L387)"
    )
    practitioners_involved: list[Practitioner] = Field(
        default_factory=list,
        max_length=100,
        description="Health practitioners currently involved: GP, community and hospital "
        "staff (001 L389-391)",
    )
    information_sources: list[HealthInformationSource] = Field(
        default_factory=list,
        description="Health services whose information was coordinated (002 L1724)",
    )
    medical_assessment_advice: LongText | None = Field(
        default=None,
        description="Advice on medical assessments, e.g. a child protection medical "
        "(002 L1722; 001 L169)",
    )
    participating_agencies: list[Agency] = Field(
        default_factory=list,
        description="Agencies in the discussion: at least social care, health and police "
        "(002 L1677)",
    )
    outcome: StrategyOutcome = Field(description="Met s17 / s47 threshold (001 L393-397)")
    action_plan: list[ActionItem] = Field(default_factory=list, max_length=200)
    social_worker: SocialWorkerContact | None = Field(
        default=None, description="Social worker details (001 L401-405)"
    )
    services_to_task: list[ShortText] = Field(
        default_factory=list,
        max_length=100,
        description="Services the child is open to that must be told of the discussion (001 L407)",
    )

    def summary(self) -> str:
        """Discussion date and outcome; the child masked."""
        return (
            f"strategy discussion {self.strategy_discussion_date}, outcome "
            f"{self.outcome.value}, {len(self.action_plan)} action(s); "
            f"child {self.child.masked()}"
        )

    @model_validator(mode="after")
    def _consistent(self) -> StrategyDiscussionHealthReport:
        v = Violations()
        v.check(
            self.outcome is not StrategyOutcome.S47 or self.social_worker is not None,
            "C05",
            "social_worker",
            "a section 47 outcome needs the social worker's name and contact number",
        )
        v.check(
            not self.appendix_a_received or self.appendix_a_received_on is not None,
            "C15",
            "appendix_a_received_on",
            "the Appendix A form was received but the date is missing",
        )
        v.check(
            self.appendix_a_received or self.appendix_a_received_on is None,
            "C15",
            "appendix_a_received_on",
            "a received date is given but appendix_a_received is false",
        )
        v.raise_if_any()
        return self
