"""A broken business rule before it becomes an Issue (the edition checked decides its source)."""

from __future__ import annotations

from dataclasses import dataclass

from interop.issues import Severity


@dataclass(frozen=True)
class Finding:
    """What a rule found, where, in words a user reads.

    ``unseen`` describes, for a finding that rests on something *not* being recorded (a
    meeting that never took place), what could not be seen: such a finding is a breach only
    when the child's whole case was checked, otherwise it is reported as information.
    ``severity`` overrides the rule's own, for a finding that only says what could not be
    checked.
    """

    rule_id: str
    location: str
    message: str
    unseen: str | None = None
    severity: Severity | None = None
