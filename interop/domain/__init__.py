"""The domain model: the artefacts the toolkit moves, the hub every format maps to and from.

``Artefact`` is the union of the five kinds, discriminated by ``kind``; ``ARTEFACT_MODELS``
maps each kind to its model class.
"""

from __future__ import annotations

from typing import Annotated

from pydantic import Field

from interop.domain.child_protection_flag import ChildProtectionFlag
from interop.domain.common import (
    ArtefactBase,
    InformationSharing,
    Organisation,
    PersonIdentity,
    Practitioner,
    ResponsibleLocalAuthority,
    SocialWorkerContact,
)
from interop.domain.health_needs_checklist import HealthNeedsChecklist
from interop.domain.strategy_report import StrategyDiscussionHealthReport
from interop.domain.travel_alert import TravelAlert
from interop.domain.treatment_plan import HealthTreatmentPlan

Artefact = Annotated[
    ChildProtectionFlag
    | StrategyDiscussionHealthReport
    | HealthTreatmentPlan
    | TravelAlert
    | HealthNeedsChecklist,
    Field(discriminator="kind"),
]

ARTEFACT_MODELS: dict[str, type[ArtefactBase]] = {
    "child-protection-flag": ChildProtectionFlag,
    "strategy-discussion-health-report": StrategyDiscussionHealthReport,
    "health-treatment-plan": HealthTreatmentPlan,
    "travel-alert": TravelAlert,
    "health-needs-checklist": HealthNeedsChecklist,
}

#: The artefact kinds, in the order the documentation lists them.
ARTEFACT_KINDS: tuple[str, ...] = tuple(ARTEFACT_MODELS)

__all__ = [
    "ARTEFACT_KINDS",
    "ARTEFACT_MODELS",
    "Artefact",
    "ArtefactBase",
    "ChildProtectionFlag",
    "HealthNeedsChecklist",
    "HealthTreatmentPlan",
    "InformationSharing",
    "Organisation",
    "PersonIdentity",
    "Practitioner",
    "ResponsibleLocalAuthority",
    "SocialWorkerContact",
    "StrategyDiscussionHealthReport",
    "TravelAlert",
    "child_protection_flag",
    "common",
    "rules",
    "strategy_report",
    "travel_alert",
    "treatment_plan",
]
