"""HL7 v2 acknowledgements (original mode): AA, AE or AR, with ERR segments saying where.

Which code (``acknowledgement_code``):

- **AR** (reject) when the bytes or the envelope are wrong: the message cannot be read
  (character set, encoding characters, size), or an error sits in MSH (unsupported message type,
  event, processing id or version; a missing control id or sending facility). Resending the same
  message will not help; the sender's interface must change.
- **AE** (error) when the envelope is fine but the content is not: a missing PID, EVN or PV1, an
  NHS number whose check digit is wrong, a date that is not a date. Also when the handler that
  records the attendance fails: the sender should resend later.
- **AA** otherwise, warnings included (v2.5 carries them as ERR segments of severity W).

Where: in v2.5 and later ERR-2 is an ERL (``PID^1^3^1^1``: segment, sequence, field,
repetition, component), ERR-3 the HL7 error condition (table 0357), ERR-4 the severity and
ERR-8 the message. In v2.3 and v2.4 an ACK has one ERR whose ERR-1 repeats an ELD per error
(``PID^1^3^102&Data type error&HL70357``: segment, sequence, field, code), and the first
error's message goes in MSA-3.

The acknowledgement answers in the message's own version (2.4 when that is not one of 2.3 to
2.5.1) and character set, always with the standard delimiters ``|^~\\&``; the ACK's MSH swaps
the sender and receiver of the original. ``build_ack`` writes the text directly (about
20 µs); hl7apy is too slow for a hot path (a few hundred ACKs a second), so the tests check
every kind of ACK built here with hl7apy's strict validation instead.
"""

from __future__ import annotations

import itertools
import re
import secrets
from collections.abc import Sequence
from dataclasses import dataclass, field
from datetime import datetime
from typing import Literal

from interop.hl7v2.er7 import (
    CHARSETS,
    HL7_ERROR_TABLE,
    LOCAL_TIME,
    Er7Error,
    Location,
    MessageHeader,
    escape,
    hl7_issue,
    read_er7,
)
from interop.issues import Issue, IssueCode, Severity

__all__ = [
    "ERROR_CONDITIONS",
    "RESPONDER_APPLICATION",
    "Ack",
    "AckCode",
    "AckError",
    "acknowledgement_code",
    "build_ack",
    "encode_ack",
    "hl7_error_code",
    "is_rejection",
    "read_ack",
]

AckCode = Literal["AA", "AE", "AR"]

#: HL7 table 0357, message error condition codes
ERROR_CONDITIONS: dict[str, str] = {
    "0": "Message accepted",
    "100": "Segment sequence error",
    "101": "Required field missing",
    "102": "Data type error",
    "103": "Table value not found",
    "200": "Unsupported message type",
    "201": "Unsupported event code",
    "202": "Unsupported processing id",
    "203": "Unsupported version id",
    "204": "Unknown key identifier",
    "205": "Duplicate key identifier",
    "206": "Application record locked",
    "207": "Application internal error",
}

#: MSH-3 of the acknowledgements this toolkit sends
RESPONDER_APPLICATION = "INTEROP"
#: versions whose acknowledgement is written in that version; others are answered in 2.4
ACK_VERSIONS = ("2.3", "2.3.1", "2.4", "2.5", "2.5.1")
DEFAULT_VERSION = "2.4"
#: an ACK lists this many problems at most (the first ones; a sender fixes them in order)
MAX_ERR_SEGMENTS = 10

_REJECTING_CODES = frozenset({IssueCode.INVALID, IssueCode.NOT_SUPPORTED, IssueCode.TOO_COSTLY})
_BY_ISSUE_CODE = {
    IssueCode.REQUIRED: "101",
    IssueCode.STRUCTURE: "100",
    IssueCode.VALUE: "102",
    IssueCode.INVALID: "102",
    IssueCode.CODE_INVALID: "103",
    IssueCode.NOT_SUPPORTED: "200",
}
_SAFE_CODE = re.compile(r"[^A-Za-z0-9_]")
# a fresh prefix per process keeps ACK control ids unique across restarts: ACK + 6 hex + 11 digits
_ACK_ID_PREFIX = "ACK" + secrets.token_hex(3).upper()
_ack_counter = itertools.count(1)


def is_rejection(issue: Issue) -> bool:
    """Whether an error issue makes the acknowledgement AR (bytes or envelope) rather than AE."""
    return issue.is_error and (issue.code in _REJECTING_CODES or issue.location.startswith("MSH"))


def acknowledgement_code(issues: Sequence[Issue]) -> AckCode:
    """AR, AE or AA for a message with these issues (see the module's docstring)."""
    errors = [i for i in issues if i.is_error]
    if any(is_rejection(i) for i in errors):
        return "AR"
    return "AE" if errors else "AA"


def hl7_error_code(issue: Issue) -> str:
    """The table 0357 code of an issue: its own when it names one, else by its kind."""
    if issue.rule_source == HL7_ERROR_TABLE and issue.rule_id in ERROR_CONDITIONS:
        return issue.rule_id
    return _BY_ISSUE_CODE.get(issue.code, "207")


def next_control_id() -> str:
    """A control id for an acknowledgement: at most 20 characters, unique in practice."""
    return f"{_ACK_ID_PREFIX}{next(_ack_counter) % 10**11:011d}"


def build_ack(
    header: MessageHeader | None,
    code: AckCode,
    issues: Sequence[Issue] = (),
    *,
    text: str = "",
    application: str = RESPONDER_APPLICATION,
    now: datetime | None = None,
    control_id: str | None = None,
) -> str:
    """The acknowledgement of a message with ``header`` (``None`` when even MSH could not be
    read), as ER7 text with CR after each segment.

    ``issues`` become ERR segments (errors only before v2.5; warnings too from v2.5); an AE or
    AR without an error gets one ERR with code 207. ``text`` goes in MSA-3 (by default the
    first error's message).
    """
    header = header or MessageHeader()
    version = header.version if header.version in ACK_VERSIONS else DEFAULT_VERSION
    modern = version >= "2.5"
    moment = (now or datetime.now(LOCAL_TIME)).strftime("%Y%m%d%H%M%S%z")
    trigger = _SAFE_CODE.sub("", header.trigger_event)[:3]
    if version == "2.3":
        message_type = f"ACK^{trigger}" if trigger else "ACK"
    else:  # the structure ACK lets a strict parser know the message without a trigger
        message_type = f"ACK^{trigger}^ACK"
    processing = header.processing_id if header.processing_id in ("P", "T", "D") else "P"
    msh = [
        "MSH",
        "^~\\&",
        escape(application),
        escape(header.receiving_facility),
        escape(header.sending_application),
        escape(header.sending_facility),
        moment,
        "",
        message_type,
        control_id or next_control_id(),
        processing,
        version,
    ]
    charset = header.charset.strip()
    if charset and charset.upper() in CHARSETS:
        msh += [""] * 5 + [escape(charset)]
    reported = [i for i in issues if i.is_error or (modern and i.severity is Severity.WARNING)]
    errors = [i for i in reported if i.is_error]
    if code != "AA" and not errors:
        problem = text or "the message could not be processed"
        reported.insert(0, hl7_issue(IssueCode.NOT_SUPPORTED, "", problem, "207"))
    reported = reported[:MAX_ERR_SEGMENTS]
    if not text and code != "AA":
        text = next(i.message for i in reported if i.is_error)
    msa = ["MSA", code, escape(header.control_id)]
    if text:
        msa.append(escape(text[:80]))
    segments = ["|".join(msh), "|".join(msa)]
    if modern:
        segments += [_err_v25(issue) for issue in reported]
    elif reported:
        # before v2.5 an ACK has at most one ERR: each error is a repetition of ERR-1
        segments.append("ERR|" + "~".join(_eld(issue) for issue in reported))
    return "\r".join(segments) + "\r"


def _err_v25(issue: Issue) -> str:
    code = hl7_error_code(issue)
    location = Location.parse(issue.location)
    erl = "^".join(location.erl()) if location else ""
    severity = {"error": "E", "warning": "W"}.get(issue.severity.value, "I")
    condition = f"{code}^{ERROR_CONDITIONS.get(code, '')}^HL70357"
    return f"ERR||{erl}|{condition}|{severity}||||{escape(issue.message[:250])}"


def _eld(issue: Issue) -> str:
    """An ELD (ERR-1 before v2.5): segment^sequence^field^code&text&HL70357."""
    code = hl7_error_code(issue)
    location = Location.parse(issue.location)
    where = location.erl()[:3] if location else []
    where += [""] * (3 - len(where))
    condition = f"{code}&{ERROR_CONDITIONS.get(code, '')}&HL70357"
    return f"{'^'.join(where)}^{condition}"


def encode_ack(ack: str, header: MessageHeader | None) -> bytes:
    """The acknowledgement's bytes, in the character set the original message declared."""
    charset = header.charset.strip().upper() if header is not None else ""
    return ack.encode(CHARSETS.get(charset, "utf-8"), errors="replace")


# -- reading acknowledgements (clients, tests, benchmarks) -----------------------------------


@dataclass(frozen=True)
class AckError:
    """One ERR segment: where (an ERL or ELD as written: ``PID^1^3^1^1``), the table 0357
    code, the severity (E, W, I) and the message (v2.5 ERR-8)."""

    location: str
    code: str
    severity: str = "E"
    message: str = ""


@dataclass(frozen=True)
class Ack:
    """A received acknowledgement."""

    code: str
    control_id: str
    text: str = ""
    version: str = ""
    errors: tuple[AckError, ...] = field(default=())


def read_ack(data: bytes) -> Ack:
    """Read an acknowledgement; ``Er7Error`` when it is not one."""
    message = read_er7(data)
    msa = message.first("MSA")
    if msa is None:
        raise Er7Error([Issue(Severity.ERROR, IssueCode.REQUIRED, "MSA", "no MSA segment")])
    version = message.msh.component(12)
    errors = []
    for err in message.all("ERR"):
        if err.raw(2) or err.raw(3):  # v2.5: ERL in ERR-2, code in ERR-3
            errors.append(
                AckError(err.raw(2), err.component(3), err.component(4) or "E", err.component(8))
            )
        for eld in err.repetitions(1):  # v2.4: ELD in ERR-1
            parts = eld.split("^")
            code = parts[3].split("&")[0] if len(parts) > 3 else ""
            errors.append(AckError("^".join(p for p in parts[:3] if p), code))
    return Ack(
        code=msa.component(1),
        control_id=msa.component(2),
        text=msa.component(3),
        version=version,
        errors=tuple(errors),
    )
