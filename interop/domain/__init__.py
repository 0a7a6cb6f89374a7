"""The domain model: the artefacts the toolkit moves, the hub every format maps to and from.

``Artefact`` is the union of the eight kinds, discriminated by ``kind``; ``ARTEFACT_MODELS``
maps each kind to its model class.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from interop.domain.assessment import Assessment
from interop.domain.child_protection_flag import ChildProtectionFlag
from interop.domain.common import (
    ArtefactBase,
    ConditionEntry,
    InformationSharing,
    Organisation,
    PersonIdentity,
    Practitioner,
    ResponsibleLocalAuthority,
    SocialWorkerContact,
)
from interop.domain.health_needs_checklist import HealthNeedsChecklist
from interop.domain.referral import Referral
from interop.domain.section47_outcome import Section47EnquiryOutcome
from interop.domain.strategy_report import StrategyDiscussionHealthReport
from interop.domain.travel_alert import TravelAlert
from interop.domain.treatment_plan import HealthTreatmentPlan

Artefact = Annotated[
    ChildProtectionFlag
    | StrategyDiscussionHealthReport
    | HealthTreatmentPlan
    | TravelAlert
    | HealthNeedsChecklist
    | Referral
    | Assessment
    | Section47EnquiryOutcome,
    Field(discriminator="kind"),
]

ARTEFACT_MODELS: dict[str, type[ArtefactBase]] = {
    "child-protection-flag": ChildProtectionFlag,
    "strategy-discussion-health-report": StrategyDiscussionHealthReport,
    "health-treatment-plan": HealthTreatmentPlan,
    "travel-alert": TravelAlert,
    "health-needs-checklist": HealthNeedsChecklist,
    "referral": Referral,
    "assessment": Assessment,
    "section-47-outcome": Section47EnquiryOutcome,
}

#: The artefact kinds, in the order the documentation lists them.
ARTEFACT_KINDS: tuple[str, ...] = tuple(ARTEFACT_MODELS)

__all__ = [
    "ARTEFACT_KINDS",
    "ARTEFACT_MODELS",
    "Artefact",
    "ArtefactBase",
    "Assessment",
    "ChildProtectionFlag",
    "ConditionEntry",
    "HealthNeedsChecklist",
    "HealthTreatmentPlan",
    "InformationSharing",
    "Organisation",
    "PersonIdentity",
    "Practitioner",
    "Referral",
    "ResponsibleLocalAuthority",
    "Section47EnquiryOutcome",
    "SocialWorkerContact",
    "StrategyDiscussionHealthReport",
    "TravelAlert",
    "assessment",
    "child_protection_flag",
    "common",
    "referral",
    "rules",
    "section47_outcome",
    "strategy_report",
    "travel_alert",
    "treatment_plan",
]
