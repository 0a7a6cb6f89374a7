"""``validate_er7``: the full validation ``interop validate`` runs on an ER7 file.

The ADT checks of the listener's fast path (``interop.hl7v2.adt``), then hl7apy's full parse
and structure validation. Apart from ``er7`` because it builds on ``adt``, which builds on
``er7``.
"""

from __future__ import annotations

import contextlib
import re
import tempfile
from pathlib import Path

from interop.hl7v2.adt import read_adt
from interop.hl7v2.er7 import _SEGMENT_NAME, Er7Error, Er7Message, read_er7
from interop.issues import Issue, IssueCode, Severity

__all__ = ["HL7APY_SOURCE", "NHS_NATIONAL_CODE_FIELDS", "hl7apy_issues", "validate_er7"]


# -- validation for `interop validate` --------------------------------------------------------

HL7APY_SOURCE = "hl7apy (HL7 v2 message structure)"
_HL7APY_NAME = re.compile(r"\b([A-Z][A-Z0-9]{2})_(\d+)\b")
_HL7APY_VERSIONS = ("2.3", "2.3.1", "2.4", "2.5", "2.5.1")
# hl7apy raises its own exceptions, and plain ones from its datatype factories on odd input
_HL7APY_FAILURES = (Exception,)


def validate_er7(data: bytes) -> tuple[str, list[Issue]]:
    """Validate one ER7 message for ``interop validate``: what it is (``"HL7 v2.4 ADT^A04"``)
    and every issue found; never raises.

    Two passes: the ADT checks of the listener's fast path (``interop.hl7v2.adt``: MSH, EVN,
    PID with the NHS number's check digit, PV1), then hl7apy's full parse of the whole message
    and its structure validation (required segments and fields, cardinality, data types, table
    values as warnings). An issue both report is given once.
    """
    reading = read_adt(data)
    header = reading.header
    if header is None:
        return "HL7 v2", list(reading.issues)
    kind = f"HL7 v{header.version or '?'} {header.message_type}^{header.trigger_event}"
    issues = list(reading.issues)
    try:
        message = read_er7(data)
    except Er7Error:
        return kind, issues
    if len(message.all("MSH")) > 1:
        return kind, issues  # a batch: read_adt said so, and hl7apy would read one message
    if header.version in _HL7APY_VERSIONS:
        seen = {(i.location, i.severity) for i in issues}
        for issue in hl7apy_issues(message):
            if (issue.location, issue.severity) not in seen:
                seen.add((issue.location, issue.severity))
                issues.append(issue)
    return kind, issues


def hl7apy_issues(message: Er7Message) -> list[Issue]:
    """hl7apy's full parse and validation of a read message, as issues without input values."""
    from hl7apy.consts import VALIDATION_LEVEL  # type: ignore[import-untyped]
    from hl7apy.parser import parse_message  # type: ignore[import-untyped]

    text = "\r".join(
        s.fields[0] + s.delimiters.field + s.delimiters.field.join(s.fields[2:])
        if s.name == "MSH"
        else s.delimiters.field.join(s.fields)
        for s in message.segments
        if _SEGMENT_NAME.match(s.name)
    )
    try:
        parsed = parse_message(text, validation_level=VALIDATION_LEVEL.QUIET, find_groups=True)
    except _HL7APY_FAILURES as exc:
        return [
            Issue(
                Severity.ERROR,
                IssueCode.STRUCTURE,
                "",
                f"hl7apy cannot parse the message: {_without_values(str(exc))}",
                rule_source=HL7APY_SOURCE,
            )
        ]
    with tempfile.TemporaryDirectory() as folder:
        report = Path(folder) / "report.txt"
        # every problem is in the report; the exception raised is only the first of them
        with contextlib.suppress(*_HL7APY_FAILURES):
            parsed.validate(report_file=str(report))
        lines = report.read_text(encoding="utf-8").splitlines() if report.exists() else []
    issues = []
    for line in lines:
        kind, _, text = line.partition(": ")
        issue = _hl7apy_issue(kind == "Error", text)
        if issue.code is IssueCode.CODE_INVALID and issue.location in NHS_NATIONAL_CODE_FIELDS:
            continue
        issues.append(issue)
    return issues


#: fields where English trusts send NHS Data Dictionary codes instead of HL7's own table
#: (admission method 11-13, 21-28... in PV1-4; source of admission in PV1-14): hl7apy's
#: "not in table 0007/0023" would be a warning on every NHS message, so it is not reported
NHS_NATIONAL_CODE_FIELDS = frozenset({"PV1-4", "PV1-14"})


def _hl7apy_issue(is_error: bool, text: str) -> Issue:
    names = _HL7APY_NAME.findall(text)
    location = f"{names[-1][0]}-{int(names[-1][1])}" if names else ""
    code = IssueCode.STRUCTURE
    missing = re.match(r"Missing required child \w+\.(\w+)$", text)
    if missing and not names:
        location = missing.group(1) if _SEGMENT_NAME.match(missing.group(1)) else ""
    if text.startswith("Missing required child"):
        code = IssueCode.REQUIRED
    elif text.startswith("Value "):
        code = IssueCode.CODE_INVALID
    elif text.startswith(("Exceeded max length", "Datatype ")):
        code = IssueCode.VALUE
    return Issue(
        Severity.ERROR if is_error else Severity.WARNING,
        code,
        location,
        _without_values(text),
        rule_source=HL7APY_SOURCE,
    )


def _without_values(text: str) -> str:
    """hl7apy's message without the input value it may quote (it may be personal data)."""
    text = re.sub(r"^Value .* not in table (\w+)", r"value not in table \1", text)
    text = re.sub(r"^.* is not an HL7 valid (\w+) value", r"a value is not a valid HL7 \1", text)
    text = re.sub(r"<(Segment|Field|Component) ([^>]*)>", r"\2", text)
    return re.sub(r"\d{6,}", "<digits>", text)[:300]
