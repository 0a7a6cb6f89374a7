"""Assessment by children's social care: its start, its conclusion, and the 45 working days.

Working Together 2026 paragraph 169 (002 L1134): an assessment concludes no later than 45
working days from the point of referral; if it takes longer, the lead practitioner records why.
The referral is a separate artefact; ``referral_id`` names it (its local id) so the
business rules can count from the day it was received.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import Field, model_validator

from interop.codes import AssessmentType
from interop.domain.common import (
    ArtefactBase,
    LocalId,
    LongText,
    Organisation,
    PersonIdentity,
    Practitioner,
)
from interop.domain.rules import Violations


class Assessment(ArtefactBase):
    """A child in need (section 17) or section 47 assessment of a child."""

    kind: Literal["assessment"] = "assessment"
    child: PersonIdentity
    assessment_type: AssessmentType
    referral_id: LocalId | None = Field(
        default=None,
        description="Local id of the referral the assessment follows; the 45 working days "
        "run from its receipt (002 L1134)",
    )
    started_on: date
    completed_on: date | None = Field(
        default=None, description="The day the assessment concluded; null while it is open"
    )
    local_authority: Organisation
    lead_practitioner: Practitioner | None = None
    outcome: LongText | None = Field(default=None, description="The decision on next steps")
    reasons_exceeding: LongText | None = Field(
        default=None,
        description="Why the assessment took longer than 45 working days (002 L1134)",
    )

    def summary(self) -> str:
        """Type, start and conclusion; the child masked."""
        end = f"completed {self.completed_on}" if self.completed_on else "open"
        return (
            f"{self.assessment_type.value} assessment from {self.started_on}, {end}; "
            f"child {self.child.masked()}"
        )

    @model_validator(mode="after")
    def _consistent(self) -> Assessment:
        v = Violations()
        v.check(
            self.completed_on is None or self.completed_on >= self.started_on,
            "C02",
            "completed_on",
            "the assessment is completed before it started",
        )
        v.check(
            self.outcome is None or self.completed_on is not None,
            "C17",
            "completed_on",
            "an outcome is given but no completion date",
        )
        v.raise_if_any()
        return self
