"""The one ``Issue`` type every parser and validation stage reports with.

It lives in the core so that parsers can report where input is wrong; the validation chain
(``interop.validators``) produces the same type and turns lists of them into reports.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from enum import StrEnum

from interop.errors import InputError


class Severity(StrEnum):
    """How bad an issue is (FHIR OperationOutcome.issue.severity, less 'fatal')."""

    ERROR = "error"
    WARNING = "warning"
    INFORMATION = "information"


class IssueCode(StrEnum):
    """What kind of problem (a subset of FHIR's IssueType, so it maps to OperationOutcome)."""

    INVALID = "invalid"  # the input cannot be read at all (encoding, syntax)
    STRUCTURE = "structure"  # shape is wrong: unknown field, wrong type, nesting
    REQUIRED = "required"  # a required element is missing
    VALUE = "value"  # an element's value is wrong (format, check digit, range)
    INVARIANT = "invariant"  # elements disagree with each other (a consistency rule)
    CODE_INVALID = "code-invalid"  # a code is not in its code system
    BUSINESS_RULE = "business-rule"  # the guidance's rules (timescales and the like)
    TOO_COSTLY = "too-costly"  # over a size or depth limit
    NOT_SUPPORTED = "not-supported"  # well-formed, but not something the toolkit handles


@dataclass(frozen=True)
class Issue:
    """One problem: how bad, what kind, where (a JSON path or FHIRPath), and why.

    ``rule_id`` and ``rule_source`` say which rule of the guidance an issue enforces, and where
    that rule is written. ``line``/``column`` are given when the problem has a text position.
    The message never quotes personal data from the input.
    """

    severity: Severity
    code: IssueCode
    location: str
    message: str
    rule_id: str | None = None
    rule_source: str | None = None
    line: int | None = None
    column: int | None = None

    @property
    def is_error(self) -> bool:
        """Whether this issue makes the input invalid."""
        return self.severity is Severity.ERROR

    def describe(self) -> str:
        """One line: ``error [value] $.subject.nhs_number: ... (rule C01: source)``."""
        where = self.location
        if self.line is not None:
            where = f"line {self.line}" + (f", column {self.column}" if self.column else "")
            if self.location not in ("", "$"):
                where += f" ({self.location})"
        text = f"{self.severity.value} [{self.code.value}] "
        text += f"{where}: {self.message}" if where else self.message
        if self.rule_id:
            text += f" (rule {self.rule_id}"
            text += f"; {self.rule_source})" if self.rule_source else ")"
        return text


class IssuesError(InputError, ValueError):
    """Input that cannot be read or mapped; ``issues`` say what and where (never a traceback)."""

    def __init__(self, issues: list[Issue]) -> None:
        super().__init__("; ".join(i.describe() for i in issues[:5]))
        self.issues = issues


#: a document type or entity declaration: refused in any untrusted XML before parsing, which
#: closes entity expansion ("billion laughs") and external entities whatever the parser does
DTD_DECLARATION = re.compile(rb"<!DOCTYPE|<!ENTITY", re.IGNORECASE)


def error(
    code: IssueCode,
    location: str,
    message: str,
    *,
    rule_id: str | None = None,
    rule_source: str | None = None,
    line: int | None = None,
    column: int | None = None,
) -> Issue:
    """Shorthand for an error-severity issue."""
    return Issue(Severity.ERROR, code, location, message, rule_id, rule_source, line, column)
