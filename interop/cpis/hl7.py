"""HL7 v3 building blocks of the CP-IS codec: names and OIDs, TS values, safe XML input, the XSDs.

Untrusted XML is read only through ``SafeParser``: lxml's ``iterparse`` with entities,
DTD loading and network access off and libxml2's default limits on (``huge_tree=False``);
the input is counted as it is read (a size limit), must be UTF-8, and a document that declares
a DTD at all is refused, which closes entity bombs and external entities before any expansion
could happen. Every problem becomes an ``Issue`` inside ``CpisInputError``, never another
exception.
"""

from __future__ import annotations

import io
import re
import shutil
import tempfile
from collections.abc import Generator, Sequence
from dataclasses import dataclass
from datetime import date, datetime, timedelta, timezone
from functools import cache
from importlib.resources import files
from pathlib import Path
from typing import BinaryIO

from lxml import etree

from interop.issues import DTD_DECLARATION, Issue, IssueCode, IssuesError, error

V3 = "urn:hl7-org:v3"
NSMAP: dict[str | None, str] = {None: V3}

# Identifier schemes and vocabularies (cpis-and-nhs-api-notes.md A.2, A.3; NHS HL7 v3 usage).
NHS_NUMBER_OID = "2.16.840.1.113883.2.1.4.1"
ODS_OID = "2.16.840.1.113883.2.1.4.3"
MESSAGE_TYPE_OID = "2.16.840.1.113883.2.1.3.2.4.18.17"
TEMPLATE_OID = "2.16.840.1.113883.2.1.3.2.4.18.2"
OBSERVATION_TYPE_OID = "2.16.840.1.113883.2.1.3.2.4.17.469"
MESSAGE_TYPE_CODE_OID = "2.16.840.1.113883.2.1.3.2.4.17.470"
RECORD_RESPONSE_OID = "2.16.840.1.113883.2.1.3.2.4.17.473"
FILE_RESPONSE_OID = "2.16.840.1.113883.2.1.3.2.4.17.474"
ROLE_CODE_OID = "2.16.840.1.113883.5.111"
SDS_USER_OID = "1.2.826.0.1285.0.2.0.65"
SDS_ROLE_PROFILE_OID = "1.2.826.0.1285.0.2.0.67"
SDS_JOB_ROLE_OID = "1.2.826.0.1285.0.2.1.104"
ASID_OID = "1.2.826.0.1285.0.2.0.107"
# The toolkit's own roots (UUID-based OIDs, 2.25.<uuid5 of the toolkit URL>) for ids that are
# the sender's local identifiers; the XSDs fix them (cpis-types.xsd, II.MessageId/II.RecordId).
MESSAGE_ID_ROOT = "2.25.294907925569489900581480786717251627078"
RECORD_ID_ROOT = "2.25.127494059497960795060550504672327817158"

#: Root element -> message kind; the kind names used by ``message_type``.
MESSAGE_KINDS = {
    "LocalAuthorityUpload": "upload",
    "LAAcknowledgementResponse": "acknowledgement",
    "AccessToServiceNotification": "access-notification",
    "InactiveNHSNumberNotification": "inactive-nhs-number",
}
ROOT_ELEMENTS = {kind: root for root, kind in MESSAGE_KINDS.items()}
#: Message kind -> (HL7 v3 message type id, CP-IS MessageType code).
MESSAGE_TYPES = {
    "upload": ("REPC_MT000002GB01", "01"),
    "acknowledgement": ("REPC_MT000003GB01", "02"),
    "access-notification": ("REPC_MT000004GB01", "05"),
    "inactive-nhs-number": ("REPC_MT000005GB01", "06"),
}

DEFAULT_MAX_BYTES = 200 * 1024 * 1024
# libxml2 line numbers stop at 65535 unless XML_PARSE_BIG_LINES, which iterparse does not set.
_MAX_RELIABLE_LINE = 65534


def q(name: str) -> str:
    """The Clark name of an element in the HL7 v3 namespace."""
    return f"{{{V3}}}{name}"


class CpisInputError(IssuesError):
    """Input that is not a readable CP-IS message; ``issues`` say what and where."""


@dataclass(frozen=True)
class CpisLimits:
    """Bounds on CP-IS input: bytes read and issues collected (nesting: libxml2's 256 levels)."""

    max_bytes: int = DEFAULT_MAX_BYTES
    max_issues: int = 1000


DEFAULT_LIMITS = CpisLimits()


# --- HL7 TS values ---------------------------------------------------------------------------

_DATE = re.compile(r"(\d{4})(\d{2})(\d{2})")
_DATETIME = re.compile(
    r"(\d{4})(\d{2})(\d{2})(\d{2})(\d{2})(\d{2})(?:\.(\d{1,6}))?(?:([+-])(\d{2})(\d{2}))?"
)


def format_date(value: date) -> str:
    """A date as HL7 TS: YYYYMMDD."""
    return f"{value.year:04d}{value.month:02d}{value.day:02d}"


def format_datetime(value: datetime) -> str:
    """A datetime as HL7 TS: YYYYMMDDHHMMSS[.ffffff][+HHMM]; naive stays without offset."""
    text = format_date(value) + f"{value.hour:02d}{value.minute:02d}{value.second:02d}"
    if value.microsecond:
        text += f".{value.microsecond:06d}"
    offset = value.utcoffset()
    if offset is not None:
        seconds = offset.days * 86400 + offset.seconds
        if seconds % 60 or offset.microseconds:
            raise ValueError("an HL7 time zone offset is whole minutes")
        sign = "-" if seconds < 0 else "+"
        seconds = abs(seconds)
        text += f"{sign}{seconds // 3600:02d}{seconds % 3600 // 60:02d}"
    return text


def parse_date(text: str) -> date:
    """HL7 TS YYYYMMDD to a date; ``ValueError`` if it is not one (e.g. 30 February)."""
    match = _DATE.fullmatch(text)
    if not match:
        raise ValueError("not an HL7 date (YYYYMMDD)")
    return date(int(match[1]), int(match[2]), int(match[3]))


def parse_datetime(text: str) -> datetime:
    """HL7 TS YYYYMMDDHHMMSS[.f][+HHMM] to a datetime (aware when an offset is given)."""
    match = _DATETIME.fullmatch(text)
    if not match:
        raise ValueError("not an HL7 date and time (YYYYMMDDHHMMSS)")
    tz = None
    if match[8]:
        minutes = int(match[9]) * 60 + int(match[10])
        tz = timezone(timedelta(minutes=-minutes if match[8] == "-" else minutes))
    year, month, day, hour, minute, second = (int(match[i]) for i in range(1, 7))
    fraction = int((match[7] or "0").ljust(6, "0"))
    return datetime(year, month, day, hour, minute, second, fraction, tzinfo=tz)


# --- safe input ------------------------------------------------------------------------------

_HEAD_BYTES = 4096
_DOCTYPE = DTD_DECLARATION
_ENCODING = re.compile(
    rb"^(?:\xef\xbb\xbf)?<\?xml[^>]*?encoding\s*=\s*[\"']([A-Za-z0-9._\-]+)[\"']"
)
_NOT_UTF8_BOMS = (b"\xff\xfe", b"\xfe\xff", b"\x00\x00\xfe\xff")


class _Refused(Exception):
    """Raised from inside the parser's read() to stop it; carries the issue."""

    def __init__(self, issue: Issue) -> None:
        super().__init__(issue.message)
        self.issue = issue


def _too_large(limit: int) -> Issue:
    return error(
        IssueCode.TOO_COSTLY,
        "",
        f"the input is larger than the limit of {limit:,} bytes",
    )


def _check_head(head: bytes) -> None:
    """Refuse what the first bytes already show: another encoding, a DTD."""
    if head.startswith(_NOT_UTF8_BOMS) or b"\x00" in head:
        raise _Refused(
            error(IssueCode.INVALID, "", "the document is not UTF-8 (UTF-16 or UTF-32 bytes)")
        )
    declared = _ENCODING.match(head)
    if declared and declared[1].lower().replace(b"_", b"-") not in (b"utf-8", b"utf8"):
        raise _Refused(
            error(
                IssueCode.INVALID,
                "",
                f"the document declares the encoding {declared[1].decode('ascii')}; "
                "CP-IS messages are UTF-8",
            )
        )
    if _DOCTYPE.search(head):
        raise _Refused(
            error(IssueCode.INVALID, "", "a document type declaration (DTD) is not allowed")
        )


class GuardedStream:
    """A byte source for the parser that counts what it reads and checks the first bytes."""

    def __init__(self, source: bytes | BinaryIO, limits: CpisLimits) -> None:
        if isinstance(source, bytes | bytearray | memoryview):
            if len(source) > limits.max_bytes:
                raise CpisInputError([_too_large(limits.max_bytes)])
            source = io.BytesIO(bytes(source))
        self._raw: BinaryIO = source
        self._limits = limits
        self._count = 0
        self._started = False

    def read(self, size: int = -1) -> bytes:
        """Up to ``size`` bytes; raises ``_Refused`` over the limit or on a bad head."""
        if size is None or size < 0:
            size = 65536
        if not self._started:
            self._started = True
            chunk = self._read_at_least(max(size, _HEAD_BYTES))
            _check_head(chunk[:_HEAD_BYTES])
        else:
            chunk = self._raw.read(size)
        self._count += len(chunk)
        if self._count > self._limits.max_bytes:
            raise _Refused(_too_large(self._limits.max_bytes))
        return chunk

    def _read_at_least(self, size: int) -> bytes:
        parts: list[bytes] = []
        total = 0
        while total < size:
            part = self._raw.read(size - total)
            if not part:
                break
            parts.append(part)
            total += len(part)
        return b"".join(parts)


def _syntax_issue(exc: etree.XMLSyntaxError) -> Issue:
    """A clear issue for a libxml2 parse error."""
    # The log is cleared when parsing starts, but schema validation of records in between
    # adds to it: take the parser's own last error, or the exception's text when it logged none.
    parse_errors = [
        e
        for e in exc.error_log
        if e.level >= etree.ErrorLevels.ERROR and not e.type_name.startswith("SCHEMA")
    ]
    entry = parse_errors[-1] if parse_errors else None
    text = entry.message if entry is not None else exc.msg
    line, column = (entry.line, entry.column) if entry is not None else exc.position
    kind = entry.type_name if entry is not None else ""

    def issue(code: IssueCode, message: str) -> Issue:
        return error(code, "", message, line=line or None, column=column or None)

    if "depth" in text.lower():
        return issue(IssueCode.TOO_COSTLY, "the elements are nested too deeply (over 256 levels)")
    if kind == "ERR_RESOURCE_LIMIT" or "huge" in text.lower():
        return issue(IssueCode.TOO_COSTLY, f"over a parser limit (a text or name too long): {text}")
    if kind == "ERR_INVALID_ENCODING" or "utf-8" in text.lower() or "encoding" in text.lower():
        return issue(IssueCode.INVALID, "the document is not valid UTF-8")
    if kind == "ERR_UNDECLARED_ENTITY":
        return issue(IssueCode.INVALID, "entity references other than XML's own are not allowed")
    if kind in ("ERR_TAG_NOT_FINISHED", "ERR_DOCUMENT_END") and "Premature" in text:
        return issue(IssueCode.INVALID, "the document ends early (truncated?)")
    if text == "no element found" or kind == "ERR_DOCUMENT_EMPTY":
        return issue(IssueCode.INVALID, "the document is empty or not XML")
    return issue(IssueCode.INVALID, f"not well-formed XML: {text}")


class SafeParser:
    """Hardened ``iterparse`` over untrusted XML; ``events()`` (once) gives ``(event, element)``.

    Yields 'start' and 'end' events (of ``tags`` only, when given: lxml filters them in C,
    which is what makes a 150,000-record file fast to read). Raises ``CpisInputError`` for
    anything hostile or malformed: too large, not UTF-8, a DTD, nesting deeper than libxml2's
    limit of 256 levels (``huge_tree`` stays off), not well-formed (including truncated).
    ``root`` is the document's root element once parsing has begun.
    """

    def __init__(
        self,
        source: bytes | BinaryIO,
        limits: CpisLimits = DEFAULT_LIMITS,
        tags: Sequence[str] | None = None,
    ) -> None:
        self._source = source
        self._limits = limits
        self._tags = tags
        self.root: etree._Element | None = None

    def events(self) -> Generator[tuple[str, etree._Element], None, None]:
        """The parse events; raises ``CpisInputError`` as soon as the input is found bad."""
        try:
            stream = GuardedStream(self._source, self._limits)
            etree.clear_error_log()
            parser = etree.iterparse(
                stream,
                events=("start", "end"),
                tag=self._tags,
                resolve_entities=False,
                no_network=True,
                load_dtd=False,
                huge_tree=False,
                remove_comments=True,
                remove_pis=True,
            )
            for event, element in parser:
                if self.root is None:
                    self._set_root(element.getroottree().getroot())
                yield event, element
            if self.root is None and parser.root is not None:
                self._set_root(parser.root)
        except etree.XMLSyntaxError as exc:
            raise CpisInputError([_syntax_issue(exc)]) from None
        except _Refused as exc:
            raise CpisInputError([exc.issue]) from None

    def _set_root(self, root: etree._Element) -> None:
        # The DTD, if any, came before the root: refuse it before anything else is looked at.
        if root.getroottree().docinfo.doctype:
            raise CpisInputError(
                [error(IssueCode.INVALID, "", "a document type declaration (DTD) is not allowed")]
            )
        self.root = root


def root_kind(root: etree._Element) -> str:
    """The message kind of a root element, or ``CpisInputError`` saying why it is none."""
    name = etree.QName(root)
    if name.namespace != V3:
        raise CpisInputError(
            [
                error(
                    IssueCode.STRUCTURE,
                    f"/{name.localname}",
                    f"the root element is not in the HL7 v3 namespace {V3}",
                )
            ]
        )
    kind = MESSAGE_KINDS.get(name.localname)
    if kind is None:
        raise CpisInputError(
            [
                error(
                    IssueCode.NOT_SUPPORTED,
                    f"/{name.localname}",
                    f"'{name.localname}' is not a CP-IS message the toolkit reads "
                    f"(expected one of {', '.join(MESSAGE_KINDS)})",
                )
            ]
        )
    return kind


def parse_document(source: bytes | BinaryIO, limits: CpisLimits = DEFAULT_LIMITS) -> etree._Element:
    """The whole document as a tree (for the small messages), read through ``SafeParser``."""
    parser = SafeParser(source, limits)
    for _ in parser.events():
        pass
    assert parser.root is not None  # iterparse raises on a document without a root
    return parser.root


# --- locations -------------------------------------------------------------------------------


def line_of(element: etree._Element) -> int | None:
    """The element's source line, when libxml2 can tell it."""
    line = element.sourceline
    return line if line is not None and 0 < line <= _MAX_RELIABLE_LINE else None


def element_path(
    element: etree._Element, stop: etree._Element | None = None, prefix: str = ""
) -> str:
    """An XPath-like path of local names (``/LocalAuthorityUpload/component[3]/...``)."""
    parts: list[str] = []
    node: etree._Element | None = element
    while node is not None and node is not stop:
        parent = node.getparent()
        name = etree.QName(node).localname
        if parent is not None:
            same = [child for child in parent if child.tag == node.tag]
            if len(same) > 1:
                name += f"[{same.index(node) + 1}]"
        parts.append(name)
        node = parent
    return prefix + "".join("/" + part for part in reversed(parts))


_STEP = re.compile(r"\*(?:\[(\d+)\])?")


def _resolve(base: etree._Element, path: str | None) -> etree._Element:
    """The element a libxml2 node path (``/*/*[2]/*``, relative to ``base``) points at."""
    node = base
    for step in (path or "").strip("/").split("/")[1:]:
        match = _STEP.fullmatch(step)
        children = [child for child in node if isinstance(child.tag, str)]
        index = int(match[1]) - 1 if match and match[1] else 0
        if not match or index >= len(children):
            break
        node = children[index]
    return node


_VALUE_ERRORS = (
    "PATTERN",
    "DATATYPE",
    "ENUMERATION",
    "LENGTH",
    "FACET",
    "ATTRIBUTE_3",
    "_AU",
    "ELT_5",
)
_REQUIRED_ERRORS = ("COMPLEX_TYPE_2_4", "COMPLEX_TYPE_4")
_REDACTIONS = (
    (re.compile(r"The value '[^']*'"), "The value"),
    (re.compile(r": '[^']*' is not a valid value"), ": the value is not a valid value"),
    (re.compile(r"key-sequence \[[^\]]*\]"), "key-sequence"),
)


def _redact(message: str) -> str:
    """libxml2's message without the namespace and without quoting the input's values."""
    message = message.replace(f"{{{V3}}}", "")
    for pattern, replacement in _REDACTIONS:
        message = pattern.sub(replacement, message)
    return message


def schema_issues(
    schema: etree.XMLSchema,
    base: etree._Element,
    stop: etree._Element | None = None,
    prefix: str = "",
) -> list[Issue]:
    """Every XSD error of ``base`` (a document root or one record) as located issues."""
    if schema.validate(base):
        return []
    issues = []
    for entry in schema.error_log:
        node = _resolve(base, entry.path)
        kind = entry.type_name
        code = (
            IssueCode.REQUIRED
            if kind.endswith(_REQUIRED_ERRORS) or "Missing child" in entry.message
            else IssueCode.VALUE
            if any(part in kind for part in _VALUE_ERRORS)
            else IssueCode.STRUCTURE
        )
        line = entry.line if 0 < entry.line <= _MAX_RELIABLE_LINE else None
        issues.append(
            error(code, element_path(node, stop, prefix), _redact(entry.message), line=line)
        )
    return issues


# --- the XSDs --------------------------------------------------------------------------------

SCHEMA_FILES = {kind: f"{message_type}.xsd" for kind, (message_type, _) in MESSAGE_TYPES.items()}
_SCHEMA_NAMES = (*SCHEMA_FILES.values(), "cpis-types.xsd")


@cache
def schema_dir() -> Path:
    """The folder of the CP-IS XSDs (``interop.profiles/cpis``) as a real directory."""
    folder = files("interop.profiles") / "cpis"
    if isinstance(folder, Path):
        return folder
    # A zipped install: copy the schemas out once, so that xs:include finds its neighbour.
    target = Path(tempfile.mkdtemp(prefix="interop-cpis-xsd-"))
    for name in _SCHEMA_NAMES:
        with (folder / name).open("rb") as src, (target / name).open("wb") as dst:
            shutil.copyfileobj(src, dst)
    return target


def _schema_parser() -> etree.XMLParser:
    return etree.XMLParser(resolve_entities=False, no_network=True, load_dtd=False)


@cache
def message_schema(kind: str) -> etree.XMLSchema:
    """The compiled XSD of a message kind (compiled once per process)."""
    return compile_message_schema(kind)


def compile_message_schema(kind: str) -> etree.XMLSchema:
    """A new compiled XSD of a message kind, for a thread that validates at the same time as
    others (a compiled schema keeps its last validation's error log)."""
    path = schema_dir() / SCHEMA_FILES[kind]
    return etree.XMLSchema(etree.parse(str(path), _schema_parser()))


@cache
def upload_record_schema() -> etree.XMLSchema:
    """The upload XSD with ``component`` as a global element, to validate one record at a time.

    The record's type is the one the upload XSD gives ``component``, so validating the header
    and each record this way equals validating the whole file, in bounded memory; the one
    whole-file rule, unique record ids, is checked by the reader.
    """
    wrapper = (
        '<xs:schema xmlns:xs="http://www.w3.org/2001/XMLSchema" '
        f'xmlns="{V3}" targetNamespace="{V3}" elementFormDefault="qualified">'
        f'<xs:include schemaLocation="{SCHEMA_FILES["upload"]}"/>'
        '<xs:element name="component" type="UploadComponent"/></xs:schema>'
    )
    base = (schema_dir() / "record-wrapper.xsd").as_uri()
    return etree.XMLSchema(etree.fromstring(wrapper.encode(), _schema_parser(), base_url=base))


class ValueReader:
    """Reads typed values (TS dates and times) out of a schema-valid tree, collecting issues."""

    def __init__(self, stop: etree._Element | None = None, prefix: str = "") -> None:
        self.issues: list[Issue] = []
        self._stop = stop
        self._prefix = prefix

    def _problem(self, element: etree._Element, message: str) -> None:
        where = element_path(element, self._stop, self._prefix) + "/@value"
        self.issues.append(error(IssueCode.VALUE, where, message, line=line_of(element)))

    def date(self, element: etree._Element | None) -> date | None:
        """The date in ``element``'s value attribute (None when the element is absent)."""
        if element is None:
            return None
        try:
            return parse_date(element.get("value", ""))
        except ValueError:
            self._problem(element, "the date does not exist (YYYYMMDD)")
            return None

    def datetime(self, element: etree._Element | None) -> datetime | None:
        """The date and time in ``element``'s value attribute (None when absent)."""
        if element is None:
            return None
        try:
            return parse_datetime(element.get("value", ""))
        except ValueError:
            self._problem(element, "the date and time do not exist (YYYYMMDDHHMMSS)")
            return None
