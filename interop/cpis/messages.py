"""The small CP-IS messages: acknowledgement (REPC_MT000003GB01), access to service notification
(REPC_MT000004GB01) and inactive NHS number notification (REPC_MT000005GB01).

Each is small enough to build and read as a tree. Reading parses through the hardened
``parse_document`` and validates against the message's XSD before any value is taken, so the
extraction below can rely on the structure the XSD guarantees.
"""

from __future__ import annotations

from datetime import datetime
from typing import TypeVar

from lxml import etree

from interop.codes import CodedEnum, CpisFileResponse, CpisRecordResponse, PlanType
from interop.cpis.hl7 import (
    ASID_OID,
    DEFAULT_LIMITS,
    FILE_RESPONSE_OID,
    MESSAGE_ID_ROOT,
    MESSAGE_TYPE_CODE_OID,
    MESSAGE_TYPE_OID,
    MESSAGE_TYPES,
    NHS_NUMBER_OID,
    NSMAP,
    OBSERVATION_TYPE_OID,
    ODS_OID,
    RECORD_ID_ROOT,
    RECORD_RESPONSE_OID,
    ROOT_ELEMENTS,
    SDS_JOB_ROLE_OID,
    SDS_ROLE_PROFILE_OID,
    SDS_USER_OID,
    CpisInputError,
    CpisLimits,
    ValueReader,
    format_datetime,
    message_schema,
    parse_document,
    q,
    root_kind,
    schema_issues,
)
from interop.cpis.model import (
    AccessNotification,
    Accessor,
    Acknowledgement,
    InactiveNhsNumberNotification,
    RecordResponse,
)
from interop.cpis.upload import upload_file_id
from interop.issues import IssueCode, error

E = TypeVar("E", bound=CodedEnum)

# --- shared ----------------------------------------------------------------------------------


def _message_root(kind: str, message_id: str, when: datetime) -> etree._Element:
    """The root with what every notification starts with: id, messageType, code, time."""
    message_type, code = MESSAGE_TYPES[kind]
    root = etree.Element(q(ROOT_ELEMENTS[kind]), nsmap=NSMAP)
    etree.SubElement(root, q("id"), root=MESSAGE_ID_ROOT, extension=message_id)
    etree.SubElement(root, q("messageType"), root=MESSAGE_TYPE_OID, extension=message_type)
    etree.SubElement(root, q("code"), code=code, codeSystem=MESSAGE_TYPE_CODE_OID)
    etree.SubElement(root, q("effectiveTime"), value=format_datetime(when))
    return root


def _serialise(root: etree._Element) -> bytes:
    return etree.tostring(root, xml_declaration=True, encoding="UTF-8", pretty_print=True)


def _patient(parent: etree._Element, nhs_number: str) -> None:
    patient = etree.SubElement(etree.SubElement(parent, q("subject")), q("Patient"))
    etree.SubElement(patient, q("id"), root=NHS_NUMBER_OID, extension=nhs_number)


def _organisation(parent: etree._Element, ods_code: str, name: str) -> None:
    organisation = etree.SubElement(parent, q("representedOrganizationSDS"))
    etree.SubElement(organisation, q("id"), root=ODS_OID, extension=ods_code)
    etree.SubElement(organisation, q("name")).text = name


def _load(data: bytes, kind: str, limits: CpisLimits) -> etree._Element:
    """The message's tree, checked to be ``kind`` and valid against its XSD."""
    root = parse_document(data, limits)
    found = root_kind(root)
    if found != kind:
        where = f"/{etree.QName(root).localname}"
        raise CpisInputError(
            [error(IssueCode.STRUCTURE, where, f"this is a CP-IS {found} message, not {kind}")]
        )
    issues = schema_issues(message_schema(kind), root)
    if issues:
        raise CpisInputError(issues)
    return root


def _attr(root: etree._Element, path: str, name: str = "extension") -> str:
    """An attribute the XSD makes required, on the element at ``path`` (local names, '/')."""
    element = root.find("/".join(q(part) for part in path.split("/")))
    assert element is not None  # guaranteed by the XSD
    return element.get(name, "")


def _optional_attr(root: etree._Element, path: str, name: str = "extension") -> str | None:
    element = root.find("/".join(q(part) for part in path.split("/")))
    return None if element is None else element.get(name)


def _text(root: etree._Element, path: str) -> str | None:
    return root.findtext("/".join(q(part) for part in path.split("/")))


def _coded(enum: type[E], value: str) -> E:
    """The member of ``enum`` whose code is ``value`` (the XSD's enumeration guarantees one)."""
    member = enum.lookup(value)
    assert member is not None
    return member


def _when(root: etree._Element) -> datetime:
    values = ValueReader()
    when = values.datetime(root.find(q("effectiveTime")))
    if when is None:
        raise CpisInputError(values.issues)
    return when


# --- acknowledgement -------------------------------------------------------------------------


def write_acknowledgement(ack: Acknowledgement) -> bytes:
    """An acknowledgement as REPC_MT000003GB01 XML (UTF-8)."""
    root = _message_root("acknowledgement", ack.message_id, ack.created)
    upload_file_id(etree.SubElement(root, q("pertinentInformation1")), ack.file_id)
    response = etree.SubElement(
        etree.SubElement(root, q("pertinentInformation2")), q("UploadFileResponse")
    )
    etree.SubElement(response, q("code"), code=ack.file_code.value, codeSystem=FILE_RESPONSE_OID)
    for record in ack.records:
        answer = etree.SubElement(etree.SubElement(root, q("component")), q("UploadRecordResponse"))
        etree.SubElement(answer, q("id"), root=RECORD_ID_ROOT, extension=record.record_id)
        etree.SubElement(answer, q("code"), code=record.code.value, codeSystem=RECORD_RESPONSE_OID)
        _patient(answer, record.nhs_number)
        if record.detail is not None:
            etree.SubElement(answer, q("reasonCode"), code=record.detail)
    return _serialise(root)


def read_acknowledgement(data: bytes, *, limits: CpisLimits = DEFAULT_LIMITS) -> Acknowledgement:
    """REPC_MT000003GB01 XML to an ``Acknowledgement``, or ``CpisInputError``."""
    root = _load(data, "acknowledgement", limits)
    records = tuple(
        RecordResponse(
            record_id=_attr(answer, "id"),
            nhs_number=_attr(answer, "subject/Patient/id"),
            code=_coded(CpisRecordResponse, _attr(answer, "code", "code")),
            detail=_optional_attr(answer, "reasonCode", "code"),
        )
        for answer in root.iterfind(f"{q('component')}/{q('UploadRecordResponse')}")
    )
    return Acknowledgement(
        message_id=_attr(root, "id"),
        file_id=_text(root, "pertinentInformation1/UploadFileId/value") or "",
        created=_when(root),
        file_code=_coded(
            CpisFileResponse, _attr(root, "pertinentInformation2/UploadFileResponse/code", "code")
        ),
        records=records,
    )


# --- access to service notification ----------------------------------------------------------


def _check_accessor(accessor: Accessor) -> None:
    person_fields = (
        accessor.sds_user_id,
        accessor.sds_role_profile_id,
        accessor.job_role,
        accessor.person_name,
    )
    if accessor.asid is not None and any(value is not None for value in person_fields):
        raise ValueError("an accessor is a person (SDS ids, job role, name) or a device (ASID)")
    if accessor.asid is None and accessor.responsible_person is not None:
        raise ValueError("a responsible person is named for a device (ASID) accessor only")


def _author(root: etree._Element, accessor: Accessor) -> None:
    _check_accessor(accessor)
    author = etree.SubElement(root, q("author"))
    if accessor.asid is not None:
        agent = etree.SubElement(author, q("AgentSystemSDS"))
        system = etree.SubElement(agent, q("agentSystemSDS"))
        etree.SubElement(system, q("id"), root=ASID_OID, extension=accessor.asid)
        _organisation(agent, accessor.organisation_ods, accessor.organisation_name)
        if accessor.responsible_person is not None:
            responsible = etree.SubElement(agent, q("responsiblePerson"))
            etree.SubElement(responsible, q("name")).text = accessor.responsible_person
        return
    agent = etree.SubElement(author, q("AgentPersonSDS"))
    if accessor.sds_role_profile_id is not None:
        etree.SubElement(
            agent, q("id"), root=SDS_ROLE_PROFILE_OID, extension=accessor.sds_role_profile_id
        )
    if accessor.job_role is not None:
        etree.SubElement(agent, q("code"), code=accessor.job_role, codeSystem=SDS_JOB_ROLE_OID)
    if accessor.sds_user_id is not None or accessor.person_name is not None:
        person = etree.SubElement(agent, q("agentPersonSDS"))
        if accessor.sds_user_id is not None:
            etree.SubElement(person, q("id"), root=SDS_USER_OID, extension=accessor.sds_user_id)
        if accessor.person_name is not None:
            etree.SubElement(person, q("name")).text = accessor.person_name
    _organisation(agent, accessor.organisation_ods, accessor.organisation_name)


def write_access_notification(notification: AccessNotification) -> bytes:
    """An access to service notification as REPC_MT000004GB01 XML (UTF-8).

    ``ValueError`` if the accessor mixes person and device fields (see ``Accessor``).
    """
    root = _message_root("access-notification", notification.message_id, notification.accessed_at)
    _patient(root, notification.nhs_number)
    plan = etree.SubElement(etree.SubElement(root, q("pertinentInformation")), q("PlanInformation"))
    etree.SubElement(
        plan,
        q("code"),
        code=notification.plan_type.cpis_information_code,
        codeSystem=OBSERVATION_TYPE_OID,
    )
    if notification.care_setting is not None:
        setting = etree.SubElement(etree.SubElement(root, q("location")), q("CareSetting"))
        etree.SubElement(setting, q("code"), code=notification.care_setting)
    _author(root, notification.accessor)
    return _serialise(root)


def _read_accessor(author: etree._Element) -> Accessor:
    system = author.find(q("AgentSystemSDS"))
    if system is not None:
        return Accessor(
            organisation_ods=_attr(system, "representedOrganizationSDS/id"),
            organisation_name=_text(system, "representedOrganizationSDS/name") or "",
            asid=_attr(system, "agentSystemSDS/id"),
            responsible_person=_text(system, "responsiblePerson/name"),
        )
    person = author.find(q("AgentPersonSDS"))
    assert person is not None  # the XSD's choice
    return Accessor(
        organisation_ods=_attr(person, "representedOrganizationSDS/id"),
        organisation_name=_text(person, "representedOrganizationSDS/name") or "",
        sds_user_id=_optional_attr(person, "agentPersonSDS/id"),
        sds_role_profile_id=_optional_attr(person, "id"),
        job_role=_optional_attr(person, "code", "code"),
        person_name=_text(person, "agentPersonSDS/name"),
    )


def read_access_notification(
    data: bytes, *, limits: CpisLimits = DEFAULT_LIMITS
) -> AccessNotification:
    """REPC_MT000004GB01 XML to an ``AccessNotification``, or ``CpisInputError``."""
    root = _load(data, "access-notification", limits)
    author = root.find(q("author"))
    assert author is not None
    return AccessNotification(
        message_id=_attr(root, "id"),
        nhs_number=_attr(root, "subject/Patient/id"),
        accessed_at=_when(root),
        plan_type=PlanType.from_cpis_code(
            _attr(root, "pertinentInformation/PlanInformation/code", "code")
        ),
        accessor=_read_accessor(author),
        care_setting=_optional_attr(root, "location/CareSetting/code", "code"),
    )


# --- inactive NHS number notification --------------------------------------------------------


def write_inactive_notification(notification: InactiveNhsNumberNotification) -> bytes:
    """An inactive NHS number notification as REPC_MT000005GB01 XML (UTF-8)."""
    root = _message_root("inactive-nhs-number", notification.message_id, notification.created)
    for nhs_number in notification.nhs_numbers:
        _patient(root, nhs_number)
    return _serialise(root)


def read_inactive_notification(
    data: bytes, *, limits: CpisLimits = DEFAULT_LIMITS
) -> InactiveNhsNumberNotification:
    """REPC_MT000005GB01 XML to an ``InactiveNhsNumberNotification``, or ``CpisInputError``."""
    root = _load(data, "inactive-nhs-number", limits)
    return InactiveNhsNumberNotification(
        message_id=_attr(root, "id"),
        created=_when(root),
        nhs_numbers=tuple(
            patient.get("extension", "")
            for patient in root.iterfind(f"{q('subject')}/{q('Patient')}/{q('id')}")
        ),
    )
