"""ER7, HL7 v2's pipe-and-hat text: bytes to segments, locations, timestamps, validation.

Framing-independent: everything here takes the bytes of one message (an MLLP frame's payload,
or a file's content) and never touches a socket.

- ``read_er7`` decodes the bytes in the character set MSH-18 declares (ASCII or UTF-8 when it
  declares none), checks the encoding characters and splits the text into ``Segment``s; a
  message it cannot read raises ``Er7Error`` with located issues.
- ``Location`` names a place in a message: ``PID-3[2].1`` in issues, ``PID^1^3^2^1`` (an ERL)
  in an acknowledgement's ERR segment.
- ``parse_ts`` reads an HL7 TS/DTM value (``20260301101500+0000``) into an aware datetime.
- ``validate_er7``, what ``interop validate`` runs on an ER7 file, is in
  ``interop.hl7v2.full_validation`` (it builds on ``adt``, which builds on this module).

Issues raised here carry the HL7 error condition code (table 0357) as ``rule_id`` so that an
acknowledgement can report it (``interop.hl7v2.ack``).
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from zoneinfo import ZoneInfo

from interop.issues import Issue, IssueCode, IssuesError, Severity

__all__ = [
    "HL7_ERROR_TABLE",
    "MAX_MESSAGE_BYTES",
    "Delimiters",
    "Er7Error",
    "Er7Message",
    "Location",
    "MessageHeader",
    "Segment",
    "escape",
    "hl7_issue",
    "looks_like_er7",
    "parse_ts",
    "read_er7",
    "salvage_header",
    "unescape",
]

#: where the error condition codes put in ``Issue.rule_id`` come from
HL7_ERROR_TABLE = "HL7 v2 table 0357 (message error condition)"
#: an ADT message is a few kilobytes; a megabyte is far beyond any real one
MAX_MESSAGE_BYTES = 1024 * 1024

#: MSH-18 values understood, upper-cased, to Python codecs. No MSH-18 means ASCII in HL7; UTF-8
#: is read instead because it is a superset and NHS senders often omit MSH-18 while sending it.
CHARSETS: dict[str, str] = {
    "": "utf-8",
    "ASCII": "ascii",
    "UNICODE UTF-8": "utf-8",
    "UTF-8": "utf-8",  # not an HL7 table 0211 value, but seen in the wild
    "8859/1": "latin-1",
    "8859/15": "iso8859-15",
}

#: local time for timestamps that carry no offset: the senders are English trusts
LOCAL_TIME = ZoneInfo("Europe/London")

_SEGMENT_NAME = re.compile(r"[A-Z][A-Z0-9]{2}\Z")
#: what XML 1.0 and FHIR strings cannot hold (the C0 controls but tab, CR and LF; U+FFFE and
#: U+FFFF), and DEL: an attendance's fields end up in FHIR and XML notifications
_CONTROL_CHARS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\x7f\ufffe\uffff]")
_TS = re.compile(
    r"(\d{4})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:(\d{2})(?:\.(\d{1,4}))?)?)?)?)?)?"
    r"([+-]\d{4})?\Z"
)
_LOCATION = re.compile(
    r"([A-Z][A-Z0-9]{2})(?:\[(\d+)\])?(?:-(\d+)(?:\[(\d+)\])?(?:\.(\d+)(?:\.(\d+))?)?)?\Z"
)
_ESCAPE_SEQUENCE = re.compile(r"\\([^\\]*)\\")
_BOM = b"\xef\xbb\xbf"
_MLLP_BYTES = b"\x0b\x1c"


class Er7Error(IssuesError):
    """A message that cannot be read at all (bytes, character set, MSH, encoding characters)."""


def hl7_issue(
    code: IssueCode,
    location: Location | str,
    message: str,
    hl7_code: str,
    severity: Severity = Severity.ERROR,
) -> Issue:
    """An issue carrying the HL7 error condition (table 0357) an acknowledgement reports."""
    return Issue(severity, code, str(location), message, hl7_code, HL7_ERROR_TABLE)


@dataclass(frozen=True)
class Location:
    """A place in a message: segment (and which one of that name), field, repetition,
    component, sub-component; positions are 1-based as in HL7."""

    segment: str
    sequence: int = 1
    field: int | None = None
    repetition: int | None = None
    component: int | None = None
    subcomponent: int | None = None

    def __str__(self) -> str:
        text = self.segment if self.sequence == 1 else f"{self.segment}[{self.sequence}]"
        if self.field is not None:
            text += f"-{self.field}"
            if self.repetition is not None:
                text += f"[{self.repetition}]"
            if self.component is not None:
                text += f".{self.component}"
                if self.subcomponent is not None:
                    text += f".{self.subcomponent}"
        return text

    def erl(self) -> list[str]:
        """The components of an ERL (ERR-2 in v2.5): segment^sequence^field^rep^comp^sub."""
        parts = [self.segment, str(self.sequence)]
        if self.field is None:
            return parts
        parts.append(str(self.field))
        if self.repetition is None and self.component is None:
            return parts
        parts.append(str(self.repetition or 1))
        for value in (self.component, self.subcomponent):
            if value is None:
                break
            parts.append(str(value))
        return parts

    @classmethod
    def parse(cls, text: str) -> Location | None:
        """Read ``PID-3[2].1`` (or ``OBX[2]-5``) back; ``None`` for anything else."""
        match = _LOCATION.match(text)
        if match is None:
            return None
        segment, sequence, field, rep, comp, sub = match.groups()
        return cls(
            segment,
            int(sequence or 1),
            int(field) if field else None,
            int(rep) if rep else (1 if field and comp else None),
            int(comp) if comp else None,
            int(sub) if sub else None,
        )


@dataclass(frozen=True)
class Delimiters:
    """The field separator and the encoding characters of MSH-1 and MSH-2."""

    field: str = "|"
    component: str = "^"
    repetition: str = "~"
    escape: str = "\\"
    subcomponent: str = "&"

    @property
    def encoding_characters(self) -> str:
        """MSH-2 as written."""
        return self.component + self.repetition + self.escape + self.subcomponent


STANDARD_DELIMITERS = Delimiters()


class Segment:
    """One segment: ``fields[n]`` is field n as written (``fields[0]`` is the name; for MSH,
    ``fields[1]`` is the field separator and ``fields[2]`` the encoding characters)."""

    __slots__ = ("delimiters", "fields", "line", "name", "sequence")

    def __init__(
        self, name: str, fields: list[str], delimiters: Delimiters, sequence: int, line: int
    ) -> None:
        self.name = name
        self.fields = fields
        self.delimiters = delimiters
        #: 1 for the first segment of this name in the message, 2 for the second...
        self.sequence = sequence
        #: the segment's line (1-based) in the message
        self.line = line

    def __repr__(self) -> str:  # never the content: it holds personal data
        return f"<Segment {self.name}[{self.sequence}] with {len(self.fields) - 1} fields>"

    def raw(self, field: int) -> str:
        """Field ``field`` as written (escaped, all repetitions); ``""`` when absent."""
        return self.fields[field] if field < len(self.fields) else ""

    def repetitions(self, field: int) -> list[str]:
        """The repetitions of a field as written; ``[]`` when it is empty."""
        raw = self.raw(field)
        if not raw:
            return []
        if self.name == "MSH" and field <= 2:
            return [raw]
        return raw.split(self.delimiters.repetition)

    def component(self, field: int, component: int = 1, repetition: int = 1) -> str:
        """One component (all its sub-components), unescaped; ``""`` when absent."""
        reps = self.repetitions(field)
        if len(reps) < repetition:
            return ""
        return split_component(reps[repetition - 1], component, self.delimiters)

    def location(self, field: int | None = None, **more: int) -> Location:
        """The location of this segment, or of a field (with repetition= component=...)."""
        return Location(self.name, self.sequence, field, **more)


def split_component(value: str, component: int, delimiters: Delimiters) -> str:
    """Component ``component`` (1-based) of one field repetition, unescaped."""
    parts = value.split(delimiters.component)
    if len(parts) < component:
        return ""
    return unescape(parts[component - 1], delimiters)


@dataclass
class Er7Message:
    """A message split into segments; ``charset`` is MSH-18 as declared (``""`` if none)."""

    segments: list[Segment]
    delimiters: Delimiters
    charset: str

    def first(self, name: str) -> Segment | None:
        """The first segment called ``name``."""
        for segment in self.segments:
            if segment.name == name:
                return segment
        return None

    def all(self, name: str) -> list[Segment]:
        """Every segment called ``name``, in order."""
        return [s for s in self.segments if s.name == name]

    @property
    def msh(self) -> Segment:
        """The message header (``read_er7`` guarantees it comes first)."""
        return self.segments[0]


@dataclass(frozen=True)
class MessageHeader:
    """What an acknowledgement needs from MSH (first components, unescaped)."""

    sending_application: str = ""
    sending_facility: str = ""
    receiving_application: str = ""
    receiving_facility: str = ""
    timestamp: str = ""
    message_type: str = ""
    trigger_event: str = ""
    structure: str = ""
    control_id: str = ""
    processing_id: str = ""
    version: str = ""
    charset: str = ""

    @classmethod
    def of(cls, msh: Segment) -> MessageHeader:
        """The header of a read message."""
        return cls(
            sending_application=msh.component(3),
            sending_facility=msh.component(4),
            receiving_application=msh.component(5),
            receiving_facility=msh.component(6),
            timestamp=msh.component(7),
            message_type=msh.component(9, 1),
            trigger_event=msh.component(9, 2),
            structure=msh.component(9, 3),
            control_id=msh.component(10),
            processing_id=msh.component(11),
            version=msh.component(12),
            charset=msh.component(18),
        )


# -- escaping ---------------------------------------------------------------------------------


def unescape(value: str, delimiters: Delimiters = STANDARD_DELIMITERS) -> str:
    """Resolve HL7 escape sequences (``\\F\\``, ``\\S\\``, ``\\X0D\\``, ``\\.br\\``...)."""
    if delimiters.escape not in value:
        return value
    if delimiters.escape != "\\":
        value = value.replace(delimiters.escape, "\\")

    def replace(match: re.Match[str]) -> str:
        body = match.group(1)
        simple = {
            "F": delimiters.field,
            "S": delimiters.component,
            "T": delimiters.subcomponent,
            "R": delimiters.repetition,
            "E": delimiters.escape,
            ".br": "\n",
        }
        if body in simple:
            return simple[body]
        if body[:1] == "X" and len(body) % 2 == 1:
            try:
                return bytes.fromhex(body[1:]).decode("latin-1")
            except ValueError:
                return ""
        return ""  # highlighting and character set switches carry no text

    return _ESCAPE_SEQUENCE.sub(replace, value)


def escape(value: str, delimiters: Delimiters = STANDARD_DELIMITERS) -> str:
    """Escape the delimiters in ``value`` for a field; line breaks become spaces."""
    d = delimiters
    value = value.replace(d.escape, f"{d.escape}E{d.escape}")
    for char, code in (
        (d.field, "F"),
        (d.component, "S"),
        (d.subcomponent, "T"),
        (d.repetition, "R"),
    ):
        value = value.replace(char, f"{d.escape}{code}{d.escape}")
    return value.replace("\r", " ").replace("\n", " ")


# -- reading ----------------------------------------------------------------------------------


def looks_like_er7(data: bytes) -> bool:
    """Whether ``data`` starts like an ER7 message (after a BOM, blanks or an MLLP start)."""
    return _strip_envelope(data[:64]).startswith(b"MSH")


def _strip_envelope(data: bytes) -> bytes:
    """Drop a UTF-8 byte order mark, surrounding blank lines and MLLP block characters."""
    data = data.removeprefix(_BOM)
    return data.strip(b"\r\n\t " + _MLLP_BYTES)


def _delimiters(msh: str) -> Delimiters:
    """MSH-1 and MSH-2 from the header line, or ``Er7Error`` saying what is wrong."""
    where = Location("MSH", field=2)
    if len(msh) < 8:
        raise Er7Error(
            [
                hl7_issue(
                    IssueCode.INVALID,
                    where,
                    "MSH is too short to hold its encoding characters",
                    "102",
                )
            ]
        )
    field = msh[3]
    end = msh.find(field, 4)
    chars = msh[4:] if end < 0 else msh[4:end]
    problem = None
    if field.isalnum() or field.isspace():
        problem = f"the field separator (MSH-1) must be a symbol, not {field!r}"
        where = Location("MSH", field=1)
    elif len(chars) not in (4, 5):
        problem = (
            f"MSH-2 must hold 4 encoding characters (component, repetition, escape, "
            f"sub-component: usually ^~\\&); it holds {len(chars)}"
        )
    elif len(set(chars + field)) != len(chars) + 1:
        problem = "the encoding characters (MSH-2) and the field separator must all differ"
    elif any(c.isalnum() or c.isspace() for c in chars):
        problem = "the encoding characters (MSH-2) must be symbols, not letters, digits or spaces"
    if problem is not None:
        raise Er7Error([hl7_issue(IssueCode.INVALID, where, problem, "102")])
    return Delimiters(field, chars[0], chars[1], chars[2], chars[3])


def _byte_location(data: bytes, offset: int, delimiters: Delimiters) -> tuple[Location | None, int]:
    """The segment and field holding byte ``offset``, and the line number."""
    start = max(data.rfind(b"\r", 0, offset), data.rfind(b"\n", 0, offset)) + 1
    line = data.count(b"\r", 0, start) or data.count(b"\n", 0, start)
    name = data[start : start + 3].decode("latin-1")
    if not _SEGMENT_NAME.match(name):
        return None, line + 1
    field = data.count(delimiters.field.encode("latin-1"), start, offset)
    if name == "MSH":
        field += 1
    sequence = _segment_sequence(data[:start], name)
    return Location(name, sequence, field or None), line + 1


def _segment_sequence(before: bytes, name: str) -> int:
    lines = before.replace(b"\r\n", b"\r").replace(b"\n", b"\r").split(b"\r")
    return 1 + sum(1 for line in lines if line[:3] == name.encode("latin-1"))


def read_er7(data: bytes, *, max_bytes: int = MAX_MESSAGE_BYTES) -> Er7Message:
    """Decode and split one message; ``Er7Error`` when it cannot be read at all.

    Segments may end with CR (the standard), LF or CR LF (files edited by hand). The message
    must start with MSH, whose encoding characters must be usable, and its bytes must be valid
    in the character set MSH-18 declares. Control characters other than CR, LF and tab are
    refused.
    """
    if len(data) > max_bytes:
        raise Er7Error(
            [
                hl7_issue(
                    IssueCode.TOO_COSTLY,
                    "",
                    f"the message has {len(data):,} bytes; the limit is {max_bytes:,}",
                    "207",
                )
            ]
        )
    data = _strip_envelope(data)
    if not data.startswith(b"MSH"):
        what = "the message is empty" if not data else "the message does not start with MSH"
        raise Er7Error([hl7_issue(IssueCode.INVALID, "MSH", what, "100")])
    line_end = len(data)
    for terminator in (b"\r", b"\n"):
        found = data.find(terminator)
        if 0 <= found < line_end:
            line_end = found
    header = data[:line_end].decode("latin-1")
    delimiters = _delimiters(header)
    msh_fields = header.split(delimiters.field)
    charset = ""
    if len(msh_fields) > 17:
        charset = msh_fields[17].split(delimiters.repetition)[0].split(delimiters.component)[0]
    codec = CHARSETS.get(charset.strip().upper())
    if codec is None:
        raise Er7Error(
            [
                hl7_issue(
                    IssueCode.NOT_SUPPORTED,
                    Location("MSH", field=18),
                    "MSH-18 names a character set this receiver does not read; send ASCII, "
                    "UNICODE UTF-8 or 8859/1",
                    "102",
                )
            ]
        )
    try:
        text = data.decode(codec)
    except UnicodeDecodeError as exc:
        location, line = _byte_location(data, exc.start, delimiters)
        declared = f"MSH-18 says {charset}" if charset else "MSH-18 is empty, so UTF-8 is read"
        raise Er7Error(
            [
                Issue(
                    Severity.ERROR,
                    IssueCode.INVALID,
                    str(location or ""),
                    f"byte 0x{data[exc.start]:02X} is not valid {codec.upper()} ({declared})",
                    "102",
                    HL7_ERROR_TABLE,
                    line=line,
                )
            ]
        ) from None
    control = _CONTROL_CHARS.search(text)
    if control is not None:
        offset = len(text[: control.start()].encode(codec))
        location, line = _byte_location(data, offset, delimiters)
        raise Er7Error(
            [
                Issue(
                    Severity.ERROR,
                    IssueCode.INVALID,
                    str(location or ""),
                    f"control character {_code_point(control.group())} is not allowed in a message",
                    "102",
                    HL7_ERROR_TABLE,
                    line=line,
                )
            ]
        )
    _refuse_escaped_controls(data, text, codec, delimiters)
    return _split(text, delimiters, charset)


def _code_point(character: str) -> str:
    code = ord(character)
    return f"0x{code:02X}" if code < 0x100 else f"U+{code:04X}"


def _refuse_escaped_controls(data: bytes, text: str, codec: str, delimiters: Delimiters) -> None:
    """Refuse a hex escape (``\\X0B\\``) that would put a forbidden character into a field.

    Fields are unescaped when they are read, so a control character written as an escape would
    pass the raw check above and break the FHIR or XML notification built later; it is refused
    here, at its field, like a raw one.
    """
    escape = delimiters.escape
    if escape + "X" not in text:
        return
    pattern = re.escape(escape) + "X[^" + re.escape(escape) + "]*" + re.escape(escape)
    for found in re.finditer(pattern, text):
        control = _CONTROL_CHARS.search(unescape(found.group(), delimiters))
        if control is None:
            continue
        offset = len(text[: found.start()].encode(codec))
        location, line = _byte_location(data, offset, delimiters)
        raise Er7Error(
            [
                Issue(
                    Severity.ERROR,
                    IssueCode.INVALID,
                    str(location or ""),
                    f"the escape sequence for control character {_code_point(control.group())}"
                    " is not allowed in a message",
                    "102",
                    HL7_ERROR_TABLE,
                    line=line,
                )
            ]
        )


def _split(text: str, delimiters: Delimiters, charset: str) -> Er7Message:
    if "\n" in text:
        text = text.replace("\r\n", "\r").replace("\n", "\r")
    segments: list[Segment] = []
    seen: dict[str, int] = {}
    for line, raw in enumerate(text.split("\r"), 1):
        if not raw:
            continue
        fields = raw.split(delimiters.field)
        name = fields[0]
        if name == "MSH":
            fields.insert(1, delimiters.field)
        seen[name] = sequence = seen.get(name, 0) + 1
        segments.append(Segment(name, fields, delimiters, sequence, line))
    return Er7Message(segments, delimiters, charset)


def segment_name_issues(message: Er7Message) -> list[Issue]:
    """An issue for each segment whose name is not three capitals and digits (a cut line)."""
    return [
        Issue(
            Severity.ERROR,
            IssueCode.STRUCTURE,
            "",
            "a segment name is three capital letters or digits; this line looks cut short or split",
            "100",
            HL7_ERROR_TABLE,
            line=segment.line,
        )
        for segment in message.segments
        if not _SEGMENT_NAME.match(segment.name)
    ]


def salvage_header(data: bytes) -> MessageHeader | None:
    """Best-effort MSH fields of a message ``read_er7`` refused, for its acknowledgement."""
    data = _strip_envelope(data[:8192])
    if not data.startswith(b"MSH"):
        return None
    line = re.split(rb"[\r\n]", data, maxsplit=1)[0].decode("latin-1")
    if len(line) < 4:
        return None
    separator = line[3]
    fields = ["MSH", separator, *line.split(separator)[1:]]
    component = "^"

    def first(n: int) -> str:
        value = fields[n] if n < len(fields) else ""
        # a control id or application name has no reason to hold odd characters: keep it safe
        return re.sub(r"[^A-Za-z0-9 ._:/\-]", "", value.split(component)[0])[:50]

    def part(n: int, c: int) -> str:
        value = fields[n] if n < len(fields) else ""
        parts = value.split(component)
        return re.sub(r"[^A-Za-z0-9_]", "", parts[c - 1])[:10] if len(parts) >= c else ""

    return MessageHeader(
        sending_application=first(3),
        sending_facility=first(4),
        receiving_application=first(5),
        receiving_facility=first(6),
        message_type=part(9, 1),
        trigger_event=part(9, 2),
        control_id=first(10),
        processing_id=first(11),
        version=first(12),
    )


# -- timestamps -------------------------------------------------------------------------------


def parse_ts(value: str) -> tuple[datetime, int]:
    """An HL7 TS/DTM (``YYYY[MM[DD[HH[MM[SS[.S]]]]]][+/-ZZZZ]``) as an aware datetime and the
    number of digits given before any fraction (8 for a date, 14 for a full time); missing
    parts are the start of the period. Without an offset the time is UK local time.
    ``ValueError`` when it is not such a value."""
    match = _TS.match(value)
    if match is None:
        raise ValueError("not an HL7 timestamp (YYYYMMDDHHMMSS, optionally +ZZZZ)")
    year, month, day, hour, minute, second, fraction, offset = match.groups()
    digits = len(value.split(".")[0].split("+")[0].split("-")[0])
    zone: timezone | ZoneInfo = LOCAL_TIME
    if offset:
        sign = -1 if offset[0] == "-" else 1
        minutes = int(offset[1:3]) * 60 + int(offset[3:5])
        if int(offset[1:3]) > 14 or int(offset[3:5]) > 59:
            raise ValueError("the time zone offset is out of range")
        zone = timezone(sign * timedelta(minutes=minutes))
    try:
        moment = datetime(
            int(year),
            int(month or 1),
            int(day or 1),
            int(hour or 0),
            int(minute or 0),
            int(second or 0),
            int((fraction or "0").ljust(6, "0")),
            tzinfo=zone,
        )
    except ValueError:
        raise ValueError("not a real date or time (a month, day or hour is out of range)") from None
    return moment, digits
