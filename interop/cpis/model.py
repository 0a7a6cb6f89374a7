"""CP-IS records and replies as typed values: what the codec writes and reads.

These are wire-level values, not domain artefacts: ``interop.mappings.cpis`` maps a child
protection flag to a ``CpisRecord`` and back. Field names follow the CP-IS data items
(cpis-and-nhs-api-notes.md A.2); what CP-IS does not carry (category of abuse, the information
sharing marker) has no field here.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from datetime import date, datetime
from enum import StrEnum

from interop.codes import CpisFileResponse, CpisRecordResponse, PlanType


class SubjectKind(StrEnum):
    """Whose record it is: a child (ChildSubject) or an expectant mother (UnbornChildSubject)."""

    CHILD = "child"
    UNBORN_CHILD_MOTHER = "unborn-child-mother"


@dataclass(frozen=True)
class CpisRecord:
    """One record of an LA upload: a person and one plan with its dates.

    ``record_id`` is unique within the file and comes back in the acknowledgement's record
    response, so the LA can tell which record each CPR code is about (the LA's local id).
    """

    record_id: str
    subject_kind: SubjectKind
    nhs_number: str
    date_of_birth: date
    plan_type: PlanType
    start_date: date
    end_date: date | None = None
    delete_date: date | None = None
    expected_delivery_date: date | None = None
    given_name: str | None = None
    family_name: str | None = None


@dataclass(frozen=True)
class UploadHeader:
    """File-level facts of an LA upload (REPC_MT000002GB01)."""

    file_id: str  # LAUFI: the LA upload file id, echoed in the acknowledgement
    created: datetime
    la_ods_code: str
    la_name: str


@dataclass(frozen=True)
class RecordResponse:
    """The acknowledgement of one record: its CPR code and, for CPR07, the detail."""

    record_id: str
    nhs_number: str
    code: CpisRecordResponse
    detail: str | None = None


@dataclass(frozen=True)
class Acknowledgement:
    """CP-IS's reply to an upload file (REPC_MT000003GB01)."""

    message_id: str
    file_id: str  # the LAUFI of the upload acknowledged
    created: datetime
    file_code: CpisFileResponse
    records: tuple[RecordResponse, ...] = ()


@dataclass(frozen=True)
class Accessor:
    """Who viewed a flag: a person (SDS ids) or, for a system, a device (ASID)."""

    organisation_ods: str
    organisation_name: str
    sds_user_id: str | None = None
    sds_role_profile_id: str | None = None
    job_role: str | None = None
    person_name: str | None = None
    asid: str | None = None
    responsible_person: str | None = None


@dataclass(frozen=True)
class AccessNotification:
    """A health setting viewed a child's flag (REPC_MT000004GB01)."""

    message_id: str
    nhs_number: str
    accessed_at: datetime
    plan_type: PlanType
    accessor: Accessor
    care_setting: str | None = None  # e.g. "emergency-department"


@dataclass(frozen=True)
class InactiveNhsNumberNotification:
    """An NHS number the LA supplied is inactive in PDS (REPC_MT000005GB01)."""

    message_id: str
    created: datetime
    nhs_numbers: tuple[str, ...] = field(default_factory=tuple)
