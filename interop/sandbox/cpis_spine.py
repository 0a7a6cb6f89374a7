"""The CP-IS stand-in: what Spine does with an LA upload, as pure rules plus a register kept in
the state layer (a SQLite file, ``:memory:``, or a PostgreSQL database).

``process_upload`` answers an upload file as CP-IS would (cpis-and-nhs-api-notes.md A.2, A.3):
- a malformed or XSD-invalid file: CPF01, no record responses;
- each record, in this order: an NHS number that is not 10 digits or fails the modulus 11
  check: CPR04; not in PDS: CPR01; a sensitive record: CPR02; superseded: CPR05; the plan's
  own facts inconsistent (a UCPP without expected delivery date, an end before the start, a
  delete date before the end): CPR07 with a detail code; otherwise CPR06 and the register holds
  the plan;
- the file: CPF02 when every record was uploaded, CPF03 when some were, CPF04 when none were
  (an empty file included).

The register keeps one current plan per NHS number, plan type and local authority; an upload
replaces it. An ended plan stays until its delete date (given, or 12 months after the end);
a delete date on or before today removes it. Access to a plan is logged, and the notifications
CP-IS sends to local authorities are built on request, never by default (CPIS.md).
"""

from __future__ import annotations

import contextlib
import sqlite3
import threading
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass, field
from datetime import date, datetime
from pathlib import Path

from interop.attendance.sources import FlagFact, LookupFailed
from interop.codes import (
    CpisFileResponse,
    CpisRecordResponse,
    CpisRecordResponseDetail,
    PlanType,
)
from interop.cpis.codec import CpisInputError, read_upload, validate_cpis_xml
from interop.cpis.model import (
    AccessNotification,
    Accessor,
    Acknowledgement,
    CpisRecord,
    InactiveNhsNumberNotification,
    RecordResponse,
    SubjectKind,
    UploadHeader,
)
from interop.domain.child_protection_flag import HISTORY_MONTHS, add_months
from interop.identifiers import InvalidNhsNumber, check_nhs_number
from interop.state import Migration, StateError, migrate, open_state, register

#: The file id an acknowledgement names when the upload's own cannot be read (CPF01).
UNKNOWN_FILE_ID = "unknown"


@dataclass
class PdsDirectory:
    """The PDS facts the stand-in needs: which NHS numbers exist, are sensitive or superseded.

    A number in ``sensitive`` or ``superseded`` is in PDS even when not also in ``known``.
    """

    known: set[str]
    sensitive: set[str] = field(default_factory=set)
    superseded: set[str] = field(default_factory=set)

    def has(self, nhs_number: str) -> bool:
        """Whether PDS knows the number at all."""
        return (
            nhs_number in self.known
            or nhs_number in self.sensitive
            or nhs_number in self.superseded
        )

    def is_sensitive(self, nhs_number: str) -> bool:
        """Whether PDS holds the record as sensitive (restricted)."""
        return nhs_number in self.sensitive

    def is_superseded(self, nhs_number: str) -> bool:
        """Whether PDS holds the number as superseded by another."""
        return nhs_number in self.superseded


@dataclass(frozen=True)
class RegisteredPlan:
    """A plan the register holds: the record as uploaded and the authority that uploaded it."""

    nhs_number: str
    plan_type: PlanType
    la_ods_code: str
    la_name: str
    record_id: str
    file_id: str
    subject_kind: SubjectKind
    date_of_birth: date
    start_date: date
    end_date: date | None
    delete_date: date | None
    expected_delivery_date: date | None
    given_name: str | None
    family_name: str | None
    updated_at: datetime


_SCHEMA = """
CREATE TABLE IF NOT EXISTS plan (
    nhs_number TEXT NOT NULL,
    plan_type TEXT NOT NULL,
    la_ods_code TEXT NOT NULL,
    la_name TEXT NOT NULL,
    record_id TEXT NOT NULL,
    file_id TEXT NOT NULL,
    subject_kind TEXT NOT NULL,
    date_of_birth TEXT NOT NULL,
    start_date TEXT NOT NULL,
    end_date TEXT,
    delete_date TEXT,
    expected_delivery_date TEXT,
    given_name TEXT,
    family_name TEXT,
    updated_at TEXT NOT NULL,
    PRIMARY KEY (nhs_number, plan_type, la_ods_code)
);
CREATE TABLE IF NOT EXISTS access_log (
    id INTEGER PRIMARY KEY AUTOINCREMENT,
    message_id TEXT NOT NULL,
    nhs_number TEXT NOT NULL,
    plan_type TEXT NOT NULL,
    la_ods_code TEXT NOT NULL,
    accessed_at TEXT NOT NULL,
    organisation_ods TEXT NOT NULL,
    sds_user_id TEXT,
    asid TEXT,
    care_setting TEXT
);
"""
_PG_SCHEMA = _SCHEMA.replace(
    "id INTEGER PRIMARY KEY AUTOINCREMENT", "id BIGINT GENERATED ALWAYS AS IDENTITY PRIMARY KEY"
)
register("cpis-register", [Migration(1, _SCHEMA, _PG_SCHEMA)])

_COLUMNS = (
    "nhs_number, plan_type, la_ods_code, la_name, record_id, file_id, subject_kind, "
    "date_of_birth, start_date, end_date, delete_date, expected_delivery_date, given_name, "
    "family_name, updated_at"
)


# every column but the key: what a newer upload of the same plan replaces
_UPDATED = [c.strip() for c in _COLUMNS.split(",")][3:]


def _day(text: str | None) -> date | None:
    return None if text is None else date.fromisoformat(text)


def _plan(code: str) -> PlanType:
    plan = PlanType.lookup(code)
    assert plan is not None  # written by ``apply`` from a PlanType
    return plan


def _iso(value: date | None) -> str | None:
    return None if value is None else value.isoformat()


class Register:
    """CP-IS's register of current plans and its access log: a SQLite file (created when
    missing), ":memory:", or a ``postgresql://`` URL."""

    def __init__(self, path: str | Path = ":memory:") -> None:
        self._db = open_state(path, create=True)
        migrate(self._db, "cpis-register")

    def close(self) -> None:
        """Close the database."""
        self._db.close()

    @contextmanager
    def transaction(self) -> Iterator[None]:
        """Group changes (a whole upload file) into one commit; rolled back on an exception."""
        with self._db.transaction():
            yield

    def apply(self, record: CpisRecord, header: UploadHeader, now: datetime) -> None:
        """Hold the record's plan (replacing the authority's earlier one), or remove it when its
        delete date has come. An ended plan without a delete date keeps 12 months of history."""
        key = (record.nhs_number, record.plan_type.value, header.la_ods_code)
        delete = record.delete_date
        if delete is None and record.end_date is not None:
            delete = add_months(record.end_date, HISTORY_MONTHS)
        if delete is not None and delete <= now.date():
            self._db.execute(
                "DELETE FROM plan WHERE nhs_number = ? AND plan_type = ? AND la_ods_code = ?", key
            )
        else:
            self._db.execute(
                f"INSERT INTO plan ({_COLUMNS}) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?, ?)"
                " ON CONFLICT (nhs_number, plan_type, la_ods_code) DO UPDATE SET "
                + ", ".join(f"{c} = excluded.{c}" for c in _UPDATED),
                (
                    *key,
                    header.la_name,
                    record.record_id,
                    header.file_id,
                    record.subject_kind.value,
                    record.date_of_birth.isoformat(),
                    record.start_date.isoformat(),
                    _iso(record.end_date),
                    _iso(delete),
                    _iso(record.expected_delivery_date),
                    record.given_name,
                    record.family_name,
                    now.isoformat(),
                ),
            )

    def plans_for(self, nhs_number: str, on: date | None = None) -> list[RegisteredPlan]:
        """The plans held for an NHS number (those not yet deleted on ``on``, when given)."""
        rows = self._db.execute(
            f"SELECT {_COLUMNS} FROM plan WHERE nhs_number = ? ORDER BY plan_type, la_ods_code",
            (nhs_number,),
        ).fetchall()
        plans = [
            RegisteredPlan(
                nhs_number=row[0],
                plan_type=_plan(row[1]),
                la_ods_code=row[2],
                la_name=row[3],
                record_id=row[4],
                file_id=row[5],
                subject_kind=SubjectKind(row[6]),
                date_of_birth=date.fromisoformat(row[7]),
                start_date=date.fromisoformat(row[8]),
                end_date=_day(row[9]),
                delete_date=_day(row[10]),
                expected_delivery_date=_day(row[11]),
                given_name=row[12],
                family_name=row[13],
                updated_at=datetime.fromisoformat(row[14]),
            )
            for row in rows
        ]
        if on is not None:
            plans = [p for p in plans if p.delete_date is None or p.delete_date > on]
        return plans

    def purge(self, on: date) -> int:
        """Remove the plans whose delete date has come; return how many."""
        with self._db.transaction():
            cursor = self._db.execute(
                "DELETE FROM plan WHERE delete_date IS NOT NULL AND delete_date <= ?",
                (on.isoformat(),),
            )
        return cursor.rowcount

    def log_access(self, notification: AccessNotification, la_ods_code: str) -> None:
        """Record an access to a plan (the audit log of who viewed what, and when)."""
        accessor = notification.accessor
        with self._db.transaction():
            self._db.execute(
                "INSERT INTO access_log (message_id, nhs_number, plan_type, la_ods_code, "
                "accessed_at, organisation_ods, sds_user_id, asid, care_setting) "
                "VALUES (?, ?, ?, ?, ?, ?, ?, ?, ?)",
                (
                    notification.message_id,
                    notification.nhs_number,
                    notification.plan_type.value,
                    la_ods_code,
                    notification.accessed_at.isoformat(),
                    accessor.organisation_ods,
                    accessor.sds_user_id,
                    accessor.asid,
                    notification.care_setting,
                ),
            )

    def accesses_for(self, nhs_number: str) -> list[tuple[str, str, str, str]]:
        """The access log of an NHS number: (message id, plan type, LA ODS code, accessed at)."""
        rows = self._db.execute(
            "SELECT message_id, plan_type, la_ods_code, accessed_at FROM access_log "
            "WHERE nhs_number = ? ORDER BY id",
            (nhs_number,),
        ).fetchall()
        return [(str(a), str(b), str(c), str(d)) for a, b, c, d in rows]


# --- the rules -------------------------------------------------------------------------------


def check_record(
    record: CpisRecord, pds: PdsDirectory
) -> tuple[CpisRecordResponse, CpisRecordResponseDetail | None]:
    """The response CP-IS gives one record (without touching the register)."""
    try:
        if check_nhs_number(record.nhs_number) != record.nhs_number:
            return CpisRecordResponse.OLD_FORMAT, None  # separators: not the 10-digit form
    except InvalidNhsNumber:
        return CpisRecordResponse.OLD_FORMAT, None
    if not pds.has(record.nhs_number):
        return CpisRecordResponse.NO_PDS_MATCH, None
    if pds.is_sensitive(record.nhs_number):
        return CpisRecordResponse.SENSITIVE, None
    if pds.is_superseded(record.nhs_number):
        return CpisRecordResponse.SUPERSEDED, None
    detail = _inconsistency(record)
    if detail is not None:
        return CpisRecordResponse.UNSUCCESSFUL, detail
    return CpisRecordResponse.SUCCESS, None


def _inconsistency(record: CpisRecord) -> CpisRecordResponseDetail | None:
    if record.plan_type is PlanType.UCPP and record.expected_delivery_date is None:
        return CpisRecordResponseDetail.EDD_MISSING
    if record.end_date is not None and record.end_date < record.start_date:
        return CpisRecordResponseDetail.END_BEFORE_START
    ends = record.end_date
    if record.delete_date is not None and ends is not None and record.delete_date < ends:
        return CpisRecordResponseDetail.DELETE_BEFORE_END
    return None


def _file_code(uploaded: int, total: int) -> CpisFileResponse:
    if uploaded == 0:
        return CpisFileResponse.NONE_UPLOADED
    if uploaded == total:
        return CpisFileResponse.ALL_UPLOADED
    return CpisFileResponse.PARTIAL


def _readable_file_id(data: bytes) -> str:
    try:
        header, _ = read_upload(data)
    except CpisInputError:
        return UNKNOWN_FILE_ID
    return header.file_id


def process_upload(
    data: bytes, register: Register, pds: PdsDirectory, *, message_id: str, now: datetime
) -> Acknowledgement:
    """Answer an LA upload file as CP-IS would, updating the register; see the module doc."""
    if validate_cpis_xml(data):
        return Acknowledgement(
            message_id=message_id,
            file_id=_readable_file_id(data),
            created=now,
            file_code=CpisFileResponse.MALFORMED,
        )
    header, records = read_upload(data)
    responses: list[RecordResponse] = []
    uploaded = 0
    with register.transaction():  # one commit per file, as Spine applies a file
        for record in records:
            code, detail = check_record(record, pds)
            if code.accepted:
                register.apply(record, header, now)
                uploaded += 1
            responses.append(
                RecordResponse(
                    record_id=record.record_id,
                    nhs_number=record.nhs_number,
                    code=code,
                    detail=None if detail is None else detail.value,
                )
            )
    return Acknowledgement(
        message_id=message_id,
        file_id=header.file_id,
        created=now,
        file_code=_file_code(uploaded, len(responses)),
        records=tuple(responses),
    )


# --- notifications on request ----------------------------------------------------------------


def access_notification(
    register: Register,
    nhs_number: str,
    accessor: Accessor,
    *,
    message_id: str,
    now: datetime,
    plan_type: PlanType | None = None,
    care_setting: str | None = None,
) -> tuple[AccessNotification, str]:
    """The notification of an access to a held plan, and the ODS code of the LA to send it to.

    The access is written to the register's log. ``LookupError`` when no plan is held for the
    NHS number (of ``plan_type``, when given) on ``now``'s date.
    """
    plans = [
        plan
        for plan in register.plans_for(nhs_number, on=now.date())
        if plan_type is None or plan.plan_type is plan_type
    ]
    if not plans:
        raise LookupError("no plan is held for this NHS number")
    plan = plans[0]
    notification = AccessNotification(
        message_id=message_id,
        nhs_number=nhs_number,
        accessed_at=now,
        plan_type=plan.plan_type,
        accessor=accessor,
        care_setting=care_setting,
    )
    register.log_access(notification, plan.la_ods_code)
    return notification, plan.la_ods_code


def inactive_notification(
    nhs_numbers: str | tuple[str, ...], *, message_id: str, now: datetime
) -> InactiveNhsNumberNotification:
    """The notification that NHS numbers an LA supplied are inactive in PDS."""
    numbers = (nhs_numbers,) if isinstance(nhs_numbers, str) else tuple(nhs_numbers)
    return InactiveNhsNumberNotification(message_id=message_id, created=now, nhs_numbers=numbers)


class RegisterFlags:
    """The plans of the CP-IS stand-in's register."""

    def __init__(self, path: Path) -> None:
        if not Path(path).is_file():
            raise LookupFailed(f"the stand-in register {path} does not exist")
        self._path = Path(path)
        self._local = threading.local()
        self._opened: list[Register] = []
        self._lock = threading.Lock()

    def _register(self) -> Register:
        register = getattr(self._local, "register", None)
        if register is None:  # one connection per thread: Register's is bound to its thread
            register = Register(self._path)
            self._local.register = register
            with self._lock:
                self._opened.append(register)
        return register

    def flags_for(self, nhs_number: str, day: date) -> list[FlagFact]:
        """The plans the register holds on ``day``."""
        try:
            plans = self._register().plans_for(nhs_number, on=day)
        except (sqlite3.DatabaseError, StateError) as exc:
            raise LookupFailed(f"the stand-in register cannot be read ({exc})") from None
        return [
            fact
            for fact in (
                FlagFact(
                    plan_type=p.plan_type,
                    la_ods=p.la_ods_code,
                    la_name=p.la_name,
                    start=p.start_date,
                    end=p.end_date,
                    delete=p.delete_date,
                )
                for p in plans
            )
            if fact.held_on(day)
        ]

    def close(self) -> None:
        """Close the connections opened."""
        with self._lock:
            for register in self._opened:
                # a connection of another thread cannot be closed here; it goes with its thread
                with contextlib.suppress(sqlite3.ProgrammingError):
                    register.close()
            self._opened.clear()
