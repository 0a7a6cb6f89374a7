"""Referral to children's social care, and the decision on the response to it.

Working Together 2026 paragraph 167 (002 L1119-1129): within one working day of receiving a
referral, a practice supervisor or manager decides the next steps and the type of response;
paragraph 165 (002 L1113): feedback to the referrer, with the reasons when a case does not
meet the threshold. Times carry their UTC offset: the working day of a referral is its date in
England (Europe/London), whatever offset it was recorded in.
"""

from __future__ import annotations

from datetime import date
from typing import Literal

from pydantic import AwareDatetime, Field, model_validator

from interop.codes import ReferralDecision
from interop.domain.common import (
    ArtefactBase,
    LongText,
    Organisation,
    PersonIdentity,
    Practitioner,
)
from interop.domain.health_needs_checklist import ENGLAND
from interop.domain.rules import Violations


class Referral(ArtefactBase):
    """A referral about a child received by children's social care, and the decision on it."""

    kind: Literal["referral"] = "referral"
    child: PersonIdentity
    received_at: AwareDatetime = Field(
        description="When children's social care received the referral, with its UTC offset "
        "(002 L1119)"
    )
    received_by: Organisation = Field(description="The local authority receiving it")
    referrer: Practitioner | None = Field(
        default=None, description="Who referred the child (002 L1113)"
    )
    reason: LongText = Field(
        description="The concerns, with what is known of the child's needs (002 L1111)"
    )
    decision: ReferralDecision | None = Field(
        default=None, description="The response decided (002 L1119-1129); null until decided"
    )
    decided_at: AwareDatetime | None = Field(
        default=None, description="When the decision was made, with its UTC offset"
    )
    decided_by: Practitioner | None = Field(
        default=None,
        description="The social work qualified practice supervisor or manager (002 L1119)",
    )
    decision_reason: LongText | None = Field(
        default=None,
        description="Why, e.g. why the case does not meet the threshold (002 L1113)",
    )

    @property
    def received_on(self) -> date:
        """The day the referral was received, in England."""
        return self.received_at.astimezone(ENGLAND).date()

    @property
    def decided_on(self) -> date | None:
        """The day of the decision, in England (None until decided)."""
        return self.decided_at.astimezone(ENGLAND).date() if self.decided_at else None

    def summary(self) -> str:
        """Receipt day and decision; the child masked."""
        decided = f"decided {self.decision.value}" if self.decision else "no decision yet"
        return f"referral received {self.received_on}, {decided}; child {self.child.masked()}"

    @model_validator(mode="after")
    def _consistent(self) -> Referral:
        v = Violations()
        v.check(
            self.decision is None or self.decided_at is not None,
            "C17",
            "decided_at",
            "a decision needs the time it was made",
        )
        v.check(
            self.decided_at is None or self.decision is not None,
            "C17",
            "decision",
            "a time of decision is given but no decision",
        )
        v.check(
            self.decided_at is None or self.decided_at >= self.received_at,
            "C02",
            "decided_at",
            "the decision is before the referral was received",
        )
        v.raise_if_any()
        return self
