"""Outcome of section 47 enquiries, and the initial child protection conference it may call.

Working Together 2026 chapter 3, 'Outcome of section 47 enquiries' (002 L1781-1816): when
concerns of significant harm are substantiated and the child is judged to be suffering or
likely to suffer significant harm, an initial child protection conference takes place within
15 working days of the strategy discussion at which the enquiries were initiated (002 L1816).
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import Field, model_validator

from interop.codes import Section47Outcome
from interop.domain.common import (
    ArtefactBase,
    LocalId,
    LongText,
    Organisation,
    PersonIdentity,
    Practitioner,
)
from interop.domain.rules import Violations


class Section47EnquiryOutcome(ArtefactBase):
    """The outcome of a child's section 47 enquiries."""

    kind: Literal["section-47-outcome"] = "section-47-outcome"
    child: PersonIdentity
    strategy_discussion_date: date = Field(
        description="The strategy discussion at which the section 47 enquiries were "
        "initiated: the 15 working days to the initial conference run from it (002 L1816)"
    )
    strategy_report_id: LocalId | None = Field(
        default=None, description="Local id of that discussion's strategy report, if any"
    )
    outcome: Section47Outcome = Field(description="002 L1781-1816")
    decided_on: date = Field(description="The day the outcome was decided")
    conference_date: date | None = Field(
        default=None,
        description="The day the initial child protection conference is convened for (002 L1816)",
    )
    local_authority: Organisation
    lead_practitioner: Practitioner | None = Field(
        default=None, description="The lead practitioner (social worker) deciding (002 L1783)"
    )
    reasons: LongText | None = Field(
        default=None,
        description="Why, e.g. why concerns are not substantiated (002 L1789-1797)",
    )

    def summary(self) -> str:
        """Outcome and dates; the child masked."""
        return (
            f"section 47 outcome {self.outcome.value} on {self.decided_on} (strategy "
            f"discussion {self.strategy_discussion_date}); child {self.child.masked()}"
        )

    @model_validator(mode="after")
    def _consistent(self) -> Section47EnquiryOutcome:
        v = Violations()
        v.check(
            self.decided_on >= self.strategy_discussion_date,
            "C02",
            "decided_on",
            "the outcome is decided before the strategy discussion that started the enquiries",
        )
        v.check(
            self.conference_date is None or self.outcome is Section47Outcome.CONFERENCE,
            "C17",
            "conference_date",
            "a conference date is given but the outcome is not to convene a conference",
        )
        v.check(
            self.conference_date is None or self.conference_date >= self.strategy_discussion_date,
            "C02",
            "conference_date",
            "the conference is before the strategy discussion that started the enquiries",
        )
        v.raise_if_any()
        return self
