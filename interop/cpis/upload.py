"""REPC_MT000002GB01 LA upload files: written and read as streams, so 150,000 records never sit
in memory as one tree (the structure is documented in profiles/cpis/REPC_MT000002GB01.xsd).

Writing goes through ``lxml.etree.xmlfile``, one record element at a time, one record per line
(each record line declares the namespace, so it is a well-formed fragment on its own). Reading
goes through the hardened ``SafeParser``: the header is checked against the XSD before any
record is returned, then each record against the XSD's record type as it completes, after which
it is dropped from the tree.
"""

from __future__ import annotations

import io
import re
from collections.abc import Callable, Iterable, Iterator
from copy import deepcopy
from dataclasses import dataclass, field
from datetime import date
from typing import BinaryIO

from lxml import etree

from interop.codes import PlanType
from interop.cpis.hl7 import (
    DEFAULT_LIMITS,
    MESSAGE_KINDS,
    MESSAGE_TYPE_CODE_OID,
    MESSAGE_TYPE_OID,
    MESSAGE_TYPES,
    NHS_NUMBER_OID,
    NSMAP,
    OBSERVATION_TYPE_OID,
    ODS_OID,
    RECORD_ID_ROOT,
    ROLE_CODE_OID,
    TEMPLATE_OID,
    CpisInputError,
    CpisLimits,
    SafeParser,
    ValueReader,
    format_date,
    format_datetime,
    line_of,
    message_schema,
    q,
    root_kind,
    schema_issues,
    upload_record_schema,
)
from interop.cpis.model import CpisRecord, SubjectKind, UploadHeader
from interop.issues import Issue, IssueCode, error

ROOT = "LocalAuthorityUpload"
#: Plan type -> (record element, its template id) (S10 template list, LACInformation naming).
PLAN_ELEMENTS = {
    PlanType.CPP: ("CPPInformation", "COCT_TP146101GB01"),
    PlanType.LAC: ("LACInformation", "COCT_TP146100GB01"),
    PlanType.UCPP: ("UCPInformation", "COCT_TP146102GB01"),
}
_PLAN_BY_ELEMENT = {q(name): plan for plan, (name, _) in PLAN_ELEMENTS.items()}
CHILD_TEMPLATE = "COCT_TP145101GB01#ChildSubject"
UNBORN_TEMPLATE = "COCT_TP145100GB01#UnbornChildSubject"
# The three date observations, each under its own numbered act relationship.
_DATE_WORDS = ("StartDate", "EndDate", "DeleteDate")
_COMPONENT = q("component")


# --- writing ---------------------------------------------------------------------------------


def _check_shape(record: CpisRecord) -> None:
    """Refuse a record the message cannot carry (a programming error, not bad input)."""
    unborn = record.subject_kind is SubjectKind.UNBORN_CHILD_MOTHER
    if unborn != (record.plan_type is PlanType.UCPP):
        raise ValueError(
            f"record {record.record_id}: an unborn child plan (UCPP) and only it has the mother "
            f"as subject (plan {record.plan_type.value}, subject {record.subject_kind.value})"
        )
    if record.expected_delivery_date is not None and not unborn:
        raise ValueError(
            f"record {record.record_id}: only an unborn child plan has an expected delivery date"
        )


def _person(parent: etree._Element, record: CpisRecord) -> None:
    if record.given_name is not None or record.family_name is not None:
        name = etree.SubElement(parent, q("name"))
        if record.given_name is not None:
            etree.SubElement(name, q("given")).text = record.given_name
        if record.family_name is not None:
            etree.SubElement(name, q("family")).text = record.family_name
    etree.SubElement(parent, q("birthTime"), value=format_date(record.date_of_birth))


def _subject(info: etree._Element, record: CpisRecord) -> None:
    subject = etree.SubElement(info, q("subject"))
    if record.subject_kind is SubjectKind.CHILD:
        child = etree.SubElement(subject, q("ChildSubject"))
        etree.SubElement(child, q("templateId"), root=TEMPLATE_OID, extension=CHILD_TEMPLATE)
        etree.SubElement(child, q("id"), root=NHS_NUMBER_OID, extension=record.nhs_number)
        _person(etree.SubElement(child, q("patientPerson")), record)
        return
    unborn = etree.SubElement(subject, q("UnbornChildSubject"))
    etree.SubElement(unborn, q("templateId"), root=TEMPLATE_OID, extension=UNBORN_TEMPLATE)
    if record.expected_delivery_date is not None:
        child = etree.SubElement(unborn, q("patientPerson"))
        etree.SubElement(child, q("birthTime"), value=format_date(record.expected_delivery_date))
    mother = etree.SubElement(unborn, q("Mother"))
    etree.SubElement(mother, q("code"), code="MTH", codeSystem=ROLE_CODE_OID)
    etree.SubElement(mother, q("id"), root=NHS_NUMBER_OID, extension=record.nhs_number)
    _person(etree.SubElement(mother, q("relationshipHolder")), record)


def record_element(record: CpisRecord) -> etree._Element:
    """One upload record as its ``component`` element."""
    _check_shape(record)
    plan = record.plan_type
    name, template = PLAN_ELEMENTS[plan]
    component = etree.Element(_COMPONENT, nsmap=NSMAP)
    info = etree.SubElement(component, q(name))
    etree.SubElement(info, q("templateId"), root=TEMPLATE_OID, extension=f"{template}#{name}")
    etree.SubElement(info, q("id"), root=RECORD_ID_ROOT, extension=record.record_id)
    etree.SubElement(info, q("code"), code=plan.cpis_upload_code, codeSystem=OBSERVATION_TYPE_OID)
    _subject(info, record)
    dates = (record.start_date, record.end_date, record.delete_date)
    for number, (code, word, value) in enumerate(
        zip(plan.cpis_date_codes, _DATE_WORDS, dates, strict=True), start=1
    ):
        if value is None:
            continue
        relationship = etree.SubElement(info, q(f"pertinentInformation{number}"))
        observation = etree.SubElement(relationship, q(code[:-2] + word))  # CPPSD -> CPPStartDate
        etree.SubElement(observation, q("code"), code=code, codeSystem=OBSERVATION_TYPE_OID)
        etree.SubElement(observation, q("value"), value=format_date(value))
    return component


# Building a record element by element costs ~45 µs; copying a ready-made template of the
# record's shape and filling in its values costs a quarter of that, which is what lets a
# 150,000-record export be written in seconds. Templates are built by ``record_element`` itself
# from a probe record whose every value is a unique marker, so the two can never disagree.
_Getter = Callable[[CpisRecord], str]
_Shape = tuple[PlanType, SubjectKind, bool, bool, bool, bool, bool]
_PROBE_TEXT: dict[str, _Getter] = {
    "\ue000": lambda r: r.record_id,
    "\ue001": lambda r: r.nhs_number,
    "\ue002": lambda r: r.given_name or "",
    "\ue003": lambda r: r.family_name or "",
}
_PROBE_DATES: dict[date, _Getter] = {
    date(1001, 1, 1): lambda r: format_date(r.date_of_birth),
    date(1002, 1, 1): lambda r: format_date(r.expected_delivery_date or r.date_of_birth),
    date(1003, 1, 1): lambda r: format_date(r.start_date),
    date(1004, 1, 1): lambda r: format_date(r.end_date or r.start_date),
    date(1005, 1, 1): lambda r: format_date(r.delete_date or r.start_date),
}
_PROBES = {**_PROBE_TEXT, **{format_date(day): get for day, get in _PROBE_DATES.items()}}
_templates: dict[
    _Shape, tuple[etree._Element, list[tuple[tuple[int, ...], str | None, _Getter]]]
] = {}


def _shape(record: CpisRecord) -> _Shape:
    return (
        record.plan_type,
        record.subject_kind,
        record.given_name is not None,
        record.family_name is not None,
        record.expected_delivery_date is not None,
        record.end_date is not None,
        record.delete_date is not None,
    )


def _template(
    shape: _Shape,
) -> tuple[etree._Element, list[tuple[tuple[int, ...], str | None, _Getter]]]:
    plan, kind, given, family, edd, end, delete = shape
    days = list(_PROBE_DATES)
    probe = CpisRecord(
        record_id="\ue000",
        subject_kind=kind,
        nhs_number="\ue001",
        date_of_birth=days[0],
        plan_type=plan,
        start_date=days[2],
        end_date=days[3] if end else None,
        delete_date=days[4] if delete else None,
        expected_delivery_date=days[1] if edd else None,
        given_name="\ue002" if given else None,
        family_name="\ue003" if family else None,
    )
    template = record_element(probe)
    slots: list[tuple[tuple[int, ...], str | None, _Getter]] = []
    for node in template.iter():
        path = tuple(ancestor.index(child) for child, ancestor in _steps(template, node))
        if node.text in _PROBES:
            slots.append((path, None, _PROBES[node.text]))
        for name, value in node.attrib.items():
            if value in _PROBES:
                slots.append((path, str(name), _PROBES[value]))
    return template, slots


def _steps(
    top: etree._Element, node: etree._Element
) -> list[tuple[etree._Element, etree._Element]]:
    """(child, parent) pairs from ``top`` down to ``node``."""
    steps = []
    while node is not top:
        parent = node.getparent()
        assert parent is not None
        steps.append((node, parent))
        node = parent
    return steps[::-1]


def fast_record_element(record: CpisRecord) -> etree._Element:
    """The same element as ``record_element``, from a cached template of the record's shape."""
    _check_shape(record)
    shape = _shape(record)
    if shape not in _templates:
        _templates[shape] = _template(shape)
    template, slots = _templates[shape]
    element = deepcopy(template)
    for path, attribute, get in slots:
        node = element
        for index in path:
            node = node[index]
        if attribute is None:
            node.text = get(record)
        else:
            node.set(attribute, get(record))
    return element


def upload_file_id(parent: etree._Element, file_id: str) -> None:
    """The LAUFI observation (shared with the acknowledgement)."""
    observation = etree.SubElement(parent, q("UploadFileId"))
    etree.SubElement(observation, q("code"), code="LAUFI", codeSystem=OBSERVATION_TYPE_OID)
    etree.SubElement(observation, q("value")).text = file_id


def _header_elements(header: UploadHeader) -> list[etree._Element]:
    message_type, code = MESSAGE_TYPES["upload"]
    holder = etree.Element(q(ROOT), nsmap=NSMAP)
    etree.SubElement(holder, q("messageType"), root=MESSAGE_TYPE_OID, extension=message_type)
    etree.SubElement(holder, q("code"), code=code, codeSystem=MESSAGE_TYPE_CODE_OID)
    etree.SubElement(holder, q("effectiveTime"), value=format_datetime(header.created))
    authority = etree.SubElement(etree.SubElement(holder, q("author")), q("LocalAuthority"))
    etree.SubElement(authority, q("id"), root=ODS_OID, extension=header.la_ods_code)
    etree.SubElement(authority, q("name")).text = header.la_name
    upload_file_id(etree.SubElement(holder, q("pertinentInformation")), header.file_id)
    return list(holder)


# Serialising each record's element through lxml still costs ~15 µs. A record whose values
# need no escaping (nearly all of them) is written instead from the bytes lxml wrote for its
# shape's probe record, cut at the markers; any other record goes through lxml, so escaping and
# lxml's refusal of values XML cannot carry (ValueError) are lxml's own.
_PLAIN = re.compile(r"[^&<>\"\x00-\x1f\x7f-\x9f\ud800-\udfff\ufdd0-\ufdef\ufffe\uffff]*")
_byte_templates: dict[_Shape, tuple[list[bytes], list[_Getter]]] = {}


def _serialized(elements: Iterable[etree._Element]) -> bytes:
    """The bytes ``write_upload`` writes for ``elements`` inside the root element."""
    buffer = io.BytesIO()
    with etree.xmlfile(buffer, encoding="UTF-8") as xf, xf.element(q(ROOT), nsmap=NSMAP):
        xf.write("\n")  # newlines around the elements mark where they start and end
        for element in elements:
            xf.write(element)
        xf.write("\n")
    data = buffer.getvalue()
    return data[data.index(b"\n") + 1 : data.rindex(b"\n")]


def _byte_template(shape: _Shape) -> tuple[list[bytes], list[_Getter]]:
    if shape not in _templates:
        _templates[shape] = _template(shape)
    element, _ = _templates[shape]
    data = _serialized([element])
    markers = {get_marker.encode(): get for get_marker, get in _PROBES.items()}
    found = sorted((data.index(marker), marker) for marker in markers if marker in data)
    parts, getters, position = [], [], 0
    for index, marker in found:
        parts.append(data[position:index])
        getters.append(markers[marker])
        position = index + len(marker)
    parts.append(data[position:])
    return parts, getters


def record_bytes(record: CpisRecord) -> bytes:
    """The record's line of an upload file, as ``write_upload`` writes it."""
    _check_shape(record)
    shape = _shape(record)
    if shape not in _byte_templates:
        _byte_templates[shape] = _byte_template(shape)
    parts, getters = _byte_templates[shape]
    values = [get(record) for get in getters]
    if not _PLAIN.fullmatch("".join(values)):
        return _serialized([fast_record_element(record)])
    out = [parts[0]]
    for value, part in zip(values, parts[1:], strict=True):
        out.append(value.encode())
        out.append(part)
    return b"".join(out)


def write_upload(header: UploadHeader, records: Iterable[CpisRecord], out: BinaryIO) -> int:
    """Write an upload file to ``out``, streaming; return the number of records written.

    Records are consumed one at a time from ``records`` (a generator is fine). A record whose
    plan type and subject disagree raises ``ValueError`` (see ``_check_shape``), as does a
    value XML cannot carry (lxml refuses control characters).
    """
    buffer = io.BytesIO()
    with etree.xmlfile(buffer, encoding="UTF-8") as xf:
        xf.write_declaration()
        with xf.element(q(ROOT), nsmap=NSMAP):
            for element in _header_elements(header):
                xf.write("\n")
                xf.write(element)
            xf.write("\n")
    head = buffer.getvalue()
    closing = f"</{ROOT}>".encode()
    assert head.endswith(b"\n" + closing)
    out.write(head[: -len(closing) - 1])
    count = 0
    lines: list[bytes] = []
    for record in records:
        lines.append(b"\n")
        lines.append(record_bytes(record))
        count += 1
        if len(lines) >= 2000:  # written a thousand records at a time: streaming, few writes
            out.write(b"".join(lines))
            lines.clear()
    lines.append(b"\n" + closing)
    out.write(b"".join(lines))
    return count


# --- reading ---------------------------------------------------------------------------------


@dataclass
class RecordResult:
    """One record of a file as read: the record, or the issues that stop it being read."""

    index: int
    line: int | None
    record: CpisRecord | None
    issues: list[Issue] = field(default_factory=list)


_CHILD_SUBJECT = q("ChildSubject")
_GIVEN = q("given")
_NAME = q("name")


def _record_from(component: etree._Element, prefix: str) -> tuple[CpisRecord | None, list[Issue]]:
    """A schema-valid ``component`` as a record (its dates may still not exist: issues).

    The XSD has fixed every element's position, so values are taken by index (templateId, id,
    code, subject, pertinentInformation1-3; see REPC_MT000002GB01.xsd), which is several
    times faster than searching by name.
    """
    values = ValueReader(component, prefix)
    info = component[0]
    subject = info[3][0]
    if subject.tag == _CHILD_SUBJECT:
        kind, holder, person = SubjectKind.CHILD, subject, subject[2]
        edd = None
    else:  # UnbornChildSubject: templateId, patientPerson?, Mother(code, id, relationshipHolder)
        kind, holder = SubjectKind.UNBORN_CHILD_MOTHER, subject[-1]
        person = holder[2]
        edd = values.date(subject[1][0]) if len(subject) == 3 else None
    given = family = None
    if person[0].tag == _NAME:
        for part in person[0]:
            if part.tag == _GIVEN:
                given = part.text
            else:
                family = part.text
    birth = values.date(person[-1])
    dates: list[date | None] = [None, None, None]
    for relationship in info[4:]:  # pertinentInformationN / observation / value
        dates[int(str(relationship.tag)[-1]) - 1] = values.date(relationship[0][1])
    start = dates[0]
    if values.issues or start is None or birth is None:
        return None, values.issues
    record = CpisRecord(
        record_id=info[1].get("extension", ""),
        subject_kind=kind,
        nhs_number=holder[1].get("extension", ""),
        date_of_birth=birth,
        plan_type=_PLAN_BY_ELEMENT[str(info.tag)],
        start_date=start,
        end_date=dates[1],
        delete_date=dates[2],
        expected_delivery_date=edd,
        given_name=given,
        family_name=family,
    )
    return record, []


class UploadReader:
    """One pass over an upload file: ``header()`` first, then ``records()``.

    Memory stays bounded: the header elements, the record being read and the one before it.
    Only the root and ``component`` elements produce parse events.
    """

    def __init__(self, source: bytes | BinaryIO, limits: CpisLimits = DEFAULT_LIMITS) -> None:
        self._parser = SafeParser(source, limits, tags=[_COMPONENT, *map(q, MESSAGE_KINDS)])
        self._events = self._parser.events()
        self._root: etree._Element | None = None
        self._header_size = 0
        self._finished = False

    @property
    def held(self) -> int:
        """How many of the root's children the tree holds now (diagnostics: stays small)."""
        return 0 if self._root is None else len(self._root)

    def header(self) -> tuple[UploadHeader | None, list[Issue]]:
        """The file-level facts, or the issues found in them; consumes up to the first record."""
        root = None
        for event, element in self._events:
            if root is None:
                root = self._check_root(element.getroottree().getroot())
            if element is root:
                if event == "end":
                    self._finished = True
                    break
            elif event == "start" and element.getparent() is root:
                break  # the first record
        if root is None:  # no root or component event: the root is none of the messages
            assert self._parser.root is not None
            root = self._check_root(self._parser.root)
        self._root = root
        # The parser reads ahead: count the children before the first record, not all of them.
        self._header_size = next(
            (i for i, child in enumerate(root) if child.tag == _COMPONENT), len(root)
        )
        return _read_header(root)

    @staticmethod
    def _check_root(root: etree._Element) -> etree._Element:
        kind = root_kind(root)
        if kind != "upload":
            message = f"this is a CP-IS {kind} message, not an upload"
            raise CpisInputError(
                [error(IssueCode.STRUCTURE, f"/{etree.QName(root).localname}", message)]
            )
        return root

    def records(self) -> Iterator[RecordResult]:
        """Each record in file order, validated against the XSD as it completes."""
        root = self._root
        if root is None:
            raise RuntimeError("call header() first")
        if self._finished:
            yield from self._leftovers(root, None, 0)
            for _ in self._events:  # whatever follows the root must still be well-formed
                pass
            return
        index = 0
        seen: set[str] = set()
        for event, element in self._events:
            if element is root:  # its end
                yield from self._leftovers(root, None, index)
            elif event == "end" and element.getparent() is root:
                index += 1
                yield self._record(element, index, seen)
                # The element that just ended stays (the parser may still add its tail); the
                # ones before it, after the header, are done with. (The parser reads ahead, so
                # later siblings may already be in the tree: they are not touched.)
                yield from self._leftovers(root, element, index)

    def _record(self, component: etree._Element, index: int, seen: set[str]) -> RecordResult:
        prefix = f"/{ROOT}/component[{index}]"
        line = line_of(component)
        issues = schema_issues(upload_record_schema(), component, component, prefix)
        record = None
        if not issues:
            record, issues = _record_from(component, prefix)
        if record is not None and record.record_id in seen:
            message = "the record id is used by an earlier record of the file"
            issues = [error(IssueCode.INVARIANT, f"{prefix}/*/id/@extension", message, line=line)]
            record = None
        elif record is not None:
            seen.add(record.record_id)
        component.clear(keep_tail=True)
        return RecordResult(index, line, record, issues)

    def _leftovers(
        self, root: etree._Element, until: etree._Element | None, index: int
    ) -> Iterator[RecordResult]:
        """Check and drop the root's children after the header, up to ``until`` (or all)."""
        while len(root) > self._header_size and root[self._header_size] is not until:
            element = root[self._header_size]
            line = line_of(element)
            if element.tag != _COMPONENT:
                where = f"/{ROOT}/{etree.QName(element).localname}"
                message = "only records (component elements) may follow the first record"
                yield RecordResult(
                    index, line, None, [error(IssueCode.STRUCTURE, where, message, line=line)]
                )
            if element.tail and element.tail.strip():
                message = "text is not allowed between records"
                yield RecordResult(
                    index, line, None, [error(IssueCode.STRUCTURE, f"/{ROOT}", message, line=line)]
                )
            del root[self._header_size]


def _read_header(root: etree._Element) -> tuple[UploadHeader | None, list[Issue]]:
    """Validate the root's header (a copy without records) and read it."""
    copy = etree.Element(root.tag, attrib=dict(root.attrib), nsmap=root.nsmap)
    copy.text = root.text
    for child in root:
        if child.tag == _COMPONENT:
            break
        copy.append(deepcopy(child))
    issues = schema_issues(message_schema("upload"), copy)
    if issues:
        return None, issues
    values = ValueReader()
    created = values.datetime(copy.find(q("effectiveTime")))
    authority = copy.find(f"{q('author')}/{q('LocalAuthority')}")
    file_id = copy.findtext(f"{q('pertinentInformation')}/{q('UploadFileId')}/{q('value')}")
    if created is None or authority is None or not file_id:
        return None, values.issues
    header = UploadHeader(
        file_id=file_id,
        created=created,
        la_ods_code=authority[0].get("extension", ""),
        la_name=authority[1].text or "",
    )
    return header, []


def read_upload(
    source: bytes | BinaryIO, *, limits: CpisLimits = DEFAULT_LIMITS
) -> tuple[UploadHeader, Iterator[CpisRecord]]:
    """The header of an upload file and an iterator over its records, streaming.

    Raises ``CpisInputError`` at once for a bad header or hostile input, and from the iterator
    at the first record that cannot be read.
    """
    reader = UploadReader(source, limits)
    header, issues = reader.header()
    if header is None:
        raise CpisInputError(issues)

    def records() -> Iterator[CpisRecord]:
        for result in reader.records():
            if result.record is None:
                raise CpisInputError(result.issues)
            yield result.record

    return header, records()


def validate_upload(source: bytes | BinaryIO, limits: CpisLimits = DEFAULT_LIMITS) -> list[Issue]:
    """Every issue of an upload file (XSD and readability), up to ``limits.max_issues``."""
    issues: list[Issue] = []
    try:
        reader = UploadReader(source, limits)
        issues.extend(reader.header()[1])
        for result in reader.records():
            issues.extend(result.issues)
            if len(issues) >= limits.max_issues:
                del issues[limits.max_issues :]
                message = f"validation stopped after {limits.max_issues} issues"
                issues.append(error(IssueCode.TOO_COSTLY, "", message))
                break
    except CpisInputError as exc:
        issues.extend(exc.issues)
    return issues
