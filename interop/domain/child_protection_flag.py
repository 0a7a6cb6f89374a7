"""Child protection flag: what CP-IS shows unscheduled care about a child (DOMAIN.md §1)."""

from __future__ import annotations

import calendar
from datetime import date
from typing import Literal

from pydantic import Field, model_validator

from interop.codes import AbuseCategory, LacLegalBasis, PlanEndReason, PlanType
from interop.domain.common import (
    ArtefactBase,
    LongText,
    PersonIdentity,
    ResponsibleLocalAuthority,
)
from interop.domain.rules import Violations

#: CP-IS keeps a plan's history for 12 months after it ends (cpis-and-nhs-api-notes.md A.1).
HISTORY_MONTHS = 12


def add_months(day: date, months: int) -> date:
    """``day`` moved by whole months, clamped to the month's last day (31 Jan + 1 → 28/29 Feb)."""
    month_index = day.month - 1 + months
    year, month = day.year + month_index // 12, month_index % 12 + 1
    return date(year, month, min(day.day, calendar.monthrange(year, month)[1]))


class ChildProtectionFlag(ArtefactBase):
    """A child protection plan, looked after status or unborn child protection plan.

    For an unborn child protection plan (UCPP) the ``subject`` is the expectant mother, and the
    expected delivery date is required (CP-IS: UnbornChildSubject with a Mother role).
    """

    kind: Literal["child-protection-flag"] = "child-protection-flag"
    plan_type: PlanType
    subject: PersonIdentity = Field(
        description="The child; for a UCPP, the expectant mother (the flag is on her record)"
    )
    expected_delivery_date: date | None = Field(
        default=None, description="UCPP only: the unborn child's expected date of delivery"
    )
    plan_start: date
    plan_end: date | None = None
    delete_date: date | None = Field(
        default=None,
        description="When CP-IS removes the record; if absent, 12 months after plan_end",
    )
    end_reason: PlanEndReason | None = Field(
        default=None, description="Why the plan ended (002 L1953-1957)"
    )
    end_reason_text: LongText | None = None
    responsible_la: ResponsibleLocalAuthority
    lac_legal_basis: LacLegalBasis | None = Field(
        default=None, description="LAC only, where known: s20, s31 or s38"
    )
    abuse_category: AbuseCategory | None = Field(
        default=None,
        description="CPP/UCPP only. Local content: CP-IS does not carry it, and it is never "
        "sent in a CP-IS upload",
    )

    @property
    def effective_delete_date(self) -> date | None:
        """The delete date to send: the one given, or 12 months after the plan ended."""
        if self.delete_date is not None:
            return self.delete_date
        if self.plan_end is not None:
            return add_months(self.plan_end, HISTORY_MONTHS)
        return None

    def is_active_on(self, day: date) -> bool:
        """Whether the plan is in force on ``day``."""
        return self.plan_start <= day and (self.plan_end is None or day <= self.plan_end)

    def summary(self) -> str:
        """Plan, period and responsible authority; the subject masked."""
        period = f"from {self.plan_start}" + (f" to {self.plan_end}" if self.plan_end else "")
        return (
            f"{self.plan_type.value} {period}, {self.responsible_la.name} "
            f"({self.responsible_la.ods_code}); subject {self.subject.masked()}"
        )

    @model_validator(mode="after")
    def _consistent(self) -> ChildProtectionFlag:
        v = Violations()
        is_ucpp = self.plan_type is PlanType.UCPP
        v.check(
            not is_ucpp or self.expected_delivery_date is not None,
            "C03",
            "expected_delivery_date",
            "an unborn child protection plan needs the expected delivery date",
        )
        if not is_ucpp and self.expected_delivery_date is not None:
            # the message names the plan type: built only for a row that breaks the rule
            v.add(
                "C03",
                "expected_delivery_date",
                "only an unborn child protection plan has an expected delivery date, "
                f"not {self.plan_type.value}",
            )
        if self.plan_end is not None:
            v.check(
                self.plan_end >= self.plan_start,
                "C02",
                "plan_end",
                "the plan ends before it starts",
            )
        if not is_ucpp:
            dob = self.subject.date_of_birth
            v.check(
                dob <= self.plan_start,
                "C04",
                "plan_start",
                "the plan starts before the child's date of birth "
                "(an unborn child's plan is a UCPP)",
            )
            v.check(
                dob > self.plan_start or self.subject.age_on(self.plan_start) < 18,
                "C04",
                "plan_start",
                "the child is 18 or over on the plan's start date",
            )
        v.check(
            self.lac_legal_basis is None or self.plan_type is PlanType.LAC,
            "C09",
            "lac_legal_basis",
            "a legal basis (s20/s31/s38) belongs to a looked after child's plan",
        )
        v.check(
            self.abuse_category is None or self.plan_type is not PlanType.LAC,
            "C09",
            "abuse_category",
            "a category of abuse belongs to a child protection plan, not to looked after status",
        )
        v.check(
            self.end_reason is None or self.plan_end is not None,
            "C10",
            "end_reason",
            "an end reason is given but the plan has no end date",
        )
        v.check(
            self.end_reason is not PlanEndReason.OTHER or self.end_reason_text is not None,
            "C10",
            "end_reason_text",
            "the end reason 'other' needs end_reason_text",
        )
        if self.delete_date is not None:
            v.check(
                self.plan_end is not None,
                "C11",
                "delete_date",
                "a delete date is given but the plan has no end date",
            )
            if self.plan_end is not None:
                v.check(
                    self.delete_date >= self.plan_end,
                    "C11",
                    "delete_date",
                    "the delete date is before the plan's end date",
                )
        v.raise_if_any()
        return self
