"""OperationOutcome bodies for the sandbox's answers, and the error that carries one.

Every refusal the sandbox makes (400, 404, 405, 409, 410, 412, 413, 415, 422 ...) is a
``OutcomeError``: an HTTP status and an OperationOutcome saying what is wrong and where.
"""

from __future__ import annotations

from collections.abc import Iterable
from typing import Any

from interop.issues import Issue

JSON = dict[str, Any]


def outcome_issue(
    code: str,
    diagnostics: str,
    *,
    expression: str | None = None,
    severity: str = "error",
) -> JSON:
    """One OperationOutcome.issue (``code`` from FHIR's IssueType)."""
    item: JSON = {"severity": severity, "code": code, "diagnostics": diagnostics}
    if expression:
        item["expression"] = [expression]
    return item


def issue_entry(issue: Issue, *, prefix: str | None = None) -> JSON:
    """An ``Issue`` as an OperationOutcome.issue; ``prefix`` re-roots its location.

    With ``prefix='Bundle.entry[3].resource'`` a location ``Flag.period.start`` becomes
    ``Bundle.entry[3].resource.ofType(Flag).period.start`` (the path inside a Bundle).
    """
    diagnostics = issue.message
    if issue.line is not None:
        where = f"line {issue.line}" + (f", column {issue.column}" if issue.column else "")
        diagnostics = f"{diagnostics} ({where})"
    if issue.rule_id:
        source = f"; {issue.rule_source}" if issue.rule_source else ""
        diagnostics = f"{diagnostics} (rule {issue.rule_id}{source})"
    location = issue.location if issue.location not in ("", "$") else ""
    if prefix is not None:
        head, _, rest = location.partition(".")
        if not head:
            location = prefix
        elif head[0].isupper():  # a FHIRPath from the resource type down
            location = f"{prefix}.ofType({head})" + (f".{rest}" if rest else "")
        else:
            location = f"{prefix}.{location}"
    return outcome_issue(
        issue.code.value,
        diagnostics,
        expression=location or None,
        severity=issue.severity.value,
    )


def operation_outcome(issues: Iterable[JSON]) -> JSON:
    """An OperationOutcome resource holding ``issues`` (OperationOutcome.issue entries)."""
    return {"resourceType": "OperationOutcome", "issue": list(issues)}


def information(message: str) -> JSON:
    """An OperationOutcome with one informational issue (a successful answer's note)."""
    return operation_outcome([outcome_issue("informational", message, severity="information")])


class OutcomeError(Exception):
    """A request the sandbox refuses: the HTTP ``status`` and the OperationOutcome to send."""

    def __init__(
        self,
        status: int,
        issues: list[JSON],
        *,
        headers: dict[str, str] | None = None,
    ) -> None:
        super().__init__("; ".join(str(i.get("diagnostics", "")) for i in issues[:3]))
        self.status = status
        self.issues = issues
        self.headers = headers or {}

    @classmethod
    def simple(
        cls, status: int, code: str, diagnostics: str, *, expression: str | None = None
    ) -> OutcomeError:
        """A refusal with one issue."""
        return cls(status, [outcome_issue(code, diagnostics, expression=expression)])

    def outcome(self) -> JSON:
        """The OperationOutcome body."""
        return operation_outcome(self.issues)
