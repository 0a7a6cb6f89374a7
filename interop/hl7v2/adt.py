"""ADT A01 / A03 / A04 / A08 as NHS trusts send them, read into an ``AttendanceEvent``.

``read_adt(data)`` is the listener's fast path: it splits the ER7 text itself (``er7``) and
reads only the segments the attendance rules need: MSH, EVN, PID and PV1. Other segments (PD1,
NK1, AL1, Z segments...) are split but not looked at. hl7apy's full parse of a whole message
costs about 5 ms; this path a few tens of microseconds. ``interop validate`` runs both.

What the fast path checks (each failure is an ``Issue`` located like ``PID-3[1].1``):

- the bytes: size, the character set MSH-18 declares (ASCII or UTF-8 by default), no control
  characters; MSH first with usable encoding characters (``er7.read_er7``);
- MSH: MSH-4 sending facility is an ODS code; MSH-7 a timestamp; MSH-9 is ADT with event A01,
  A03, A04 or A08; MSH-10 control id present; MSH-11 processing id P, T or D; MSH-12 version
  2.3 to 2.5.1; every segment name is three capitals or digits (a cut line is not);
- EVN present, EVN-2 (recorded) a timestamp, EVN-6 (occurred) a timestamp when given, EVN-1
  the same event as MSH-9 (a warning otherwise);
- PID present, PID-3 present; the repetition with identifier type (CX-5) ``NH`` holds a valid
  NHS number (``interop.identifiers.check_nhs_number``: 10 digits, modulus 11) and its
  assigning authority (CX-4) is ``NHS`` (a warning otherwise); no NHS number at all is a
  warning (the attendance cannot be matched to a child); PID-7 birth date a date;
- PV1 present, PV1-2 patient class present (an unknown class is a warning), PV1-44 and PV1-45
  timestamps when given.

It does not check the other fields' data types, lengths or table values, nor segments it does
not read: that is hl7apy's full validation, in ``full_validation.validate_er7``.

Planned or unplanned (``Admission``), in this order:

1. PV1-2 patient class ``E`` (emergency): unplanned, whatever else is said: an A&E attendance
   is unscheduled care.
2. PV1-4 as an NHS Data Dictionary ADMISSION METHOD (NHS trusts put it there): ``11`` waiting
   list, ``12`` booked, ``13`` planned → planned; ``21``-``28`` and ``2A``-``2D`` (emergency:
   via A&E, GP, bed bureau, clinic, mental health crisis team, other) → unplanned; maternity
   (``31``, ``32``), births (``82``, ``83``) and transfers (``81``) → unknown.
3. PV1-4 as HL7 table 0007 admission type: ``E`` emergency, ``A`` accident, ``U`` urgent →
   unplanned; ``C`` elective, ``R`` routine → planned; anything else → unknown.

PV1-14 (admit source, NHS ADMISSION SOURCE: where the patient came from) is kept but does not
decide planned or unplanned. Names are not read at all: the rules need the NHS number.
"""

from __future__ import annotations

import logging
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import date, datetime
from enum import StrEnum

from interop.hl7v2.ack import AckCode, acknowledgement_code
from interop.hl7v2.er7 import (
    Er7Error,
    Er7Message,
    MessageHeader,
    Segment,
    hl7_issue,
    parse_ts,
    read_er7,
    salvage_header,
    segment_name_issues,
)
from interop.identifiers import InvalidNhsNumber, check_nhs_number, check_ods_code
from interop.issues import Issue, IssueCode, Severity
from interop.privacy import mask_nhs_number, mask_nhs_numbers_in, protect_logger

__all__ = [
    "SUPPORTED_EVENTS",
    "SUPPORTED_VERSIONS",
    "Admission",
    "AdtReading",
    "AttendanceEvent",
    "EncounterSetting",
    "HandlerOutcome",
    "HandlerResult",
    "PatientLocation",
    "admission_of",
    "log_only_handler",
    "read_adt",
]

SUPPORTED_EVENTS = ("A01", "A03", "A04", "A08")
SUPPORTED_VERSIONS = ("2.3", "2.3.1", "2.4", "2.5", "2.5.1")


class Admission(StrEnum):
    """Whether the attendance was planned (see the module's docstring for the mapping)."""

    PLANNED = "planned"
    UNPLANNED = "unplanned"
    UNKNOWN = "unknown"


class EncounterSetting(StrEnum):
    """The care setting, from PV1-2 patient class (HL7 table 0004)."""

    EMERGENCY = "emergency"  # E
    INPATIENT = "inpatient"  # I
    OUTPATIENT = "outpatient"  # O
    MATERNITY = "maternity"  # B (obstetrics)
    PREADMISSION = "preadmission"  # P
    RECURRING = "recurring"  # R
    OTHER = "other"  # C (commercial), N (not applicable), U (unknown) and anything else


_SETTINGS = {
    "E": EncounterSetting.EMERGENCY,
    "I": EncounterSetting.INPATIENT,
    "O": EncounterSetting.OUTPATIENT,
    "B": EncounterSetting.MATERNITY,
    "P": EncounterSetting.PREADMISSION,
    "R": EncounterSetting.RECURRING,
    "C": EncounterSetting.OTHER,
    "N": EncounterSetting.OTHER,
    "U": EncounterSetting.OTHER,
}
_PLANNED_METHODS = frozenset({"11", "12", "13", "C", "R"})
_UNPLANNED_METHODS = frozenset(
    {"21", "22", "23", "24", "25", "28", "2A", "2B", "2C", "2D", "E", "A", "U"}
)


def admission_of(patient_class: str, admission_type: str) -> Admission:
    """Planned, unplanned or unknown from PV1-2 and PV1-4 (the module's docstring says how)."""
    if patient_class.upper() == "E":
        return Admission.UNPLANNED
    method = admission_type.strip().upper()
    if method in _PLANNED_METHODS:
        return Admission.PLANNED
    if method in _UNPLANNED_METHODS:
        return Admission.UNPLANNED
    return Admission.UNKNOWN


@dataclass(frozen=True)
class PatientLocation:
    """PV1-3: point of care (ward, department), room, bed and facility."""

    point_of_care: str = ""
    room: str = ""
    bed: str = ""
    facility: str = ""

    def __str__(self) -> str:
        return " / ".join(p for p in (self.facility, self.point_of_care, self.room, self.bed) if p)


@dataclass(frozen=True, repr=False)
class AttendanceEvent:
    """An admission, discharge, attendance or update: who, when and where.

    ``occurred_at`` is when the attendance happened: PV1-45 for a discharge (A03), PV1-44 for
    the others, else EVN-6, else EVN-2. Times without an offset are UK local time. The repr
    masks the NHS number and leaves out the birth date; ``summary()`` is what logs show.
    """

    event_type: str  # A01, A03, A04 or A08
    control_id: str  # MSH-10
    version: str  # MSH-12
    sending_application: str  # MSH-3
    site_ods_code: str  # MSH-4, upper-cased
    recorded_at: datetime  # EVN-2
    occurred_at: datetime
    nhs_number: str | None  # PID-3 with CX-5 NH, validated; None when the sender had none
    local_patient_id: str | None  # PID-3 with CX-5 MR (else PI): the trust's MRN
    local_patient_id_authority: str | None  # its CX-4
    date_of_birth: date | None  # PID-7
    patient_class: str  # PV1-2 as sent
    setting: EncounterSetting
    admission: Admission
    admission_type: str  # PV1-4 as sent (NHS admission method, or HL7 table 0007)
    admit_source: str  # PV1-14 as sent
    location: PatientLocation  # PV1-3
    visit_number: str  # PV1-19
    admitted_at: datetime | None  # PV1-44
    discharged_at: datetime | None  # PV1-45

    @property
    def is_unplanned(self) -> bool:
        """Whether this is unscheduled care (an A&E attendance, an emergency admission)."""
        return self.admission is Admission.UNPLANNED

    def summary(self) -> str:
        """One line for logs, with the NHS number masked and no birth date or name."""
        who = f"NHS {mask_nhs_number(self.nhs_number)}" if self.nhs_number else "no NHS number"
        return (
            # a sender may build its control id (MSH-10) from the NHS number
            f"{self.event_type} {mask_nhs_numbers_in(self.control_id)} from {self.site_ods_code}: "
            f"{self.setting.value}, {self.admission.value}, {who}"
        )

    def __repr__(self) -> str:
        return f"AttendanceEvent({self.summary()})"


class HandlerOutcome(StrEnum):
    """What a handler did with an attendance."""

    RECORDED = "recorded"  # what must be done (a notification...) is durably recorded
    NOTHING_TO_DO = "nothing-to-do"  # no flag, a duplicate within the window...
    FAILED = "failed"  # could not record: the message is answered AE and the sender resends


@dataclass(frozen=True)
class HandlerResult:
    """A handler's answer; ``detail`` is for logs and, on failure, the ACK: no personal data."""

    outcome: HandlerOutcome = HandlerOutcome.RECORDED
    detail: str = ""


#: What the MLLP listener calls for each attendance read without error: a plain function
#: (run in a worker thread, one call at a time by default) or a coroutine function (awaited
#: on the event loop). It must return only once what has to be done is durably recorded:
#: the acknowledgement is sent after it returns, so a crash before then loses nothing (the
#: sender resends). Raising, or returning FAILED, gives AE; it never stops the listener.
AttendanceHandler = Callable[[AttendanceEvent], HandlerResult | Awaitable[HandlerResult]]

_log = logging.getLogger("interop.hl7v2")
protect_logger(_log.name)  # what a sender puts in a message may hold an NHS number


def log_only_handler(event: AttendanceEvent) -> HandlerResult:
    """The handler of a listener without rules: logs the attendance (masked), notifies nobody."""
    _log.info("attendance %s; no rules configured, nobody notified", event.summary())
    return HandlerResult(HandlerOutcome.NOTHING_TO_DO, "no rules configured")


@dataclass(frozen=True)
class AdtReading:
    """What reading one message gave: its header (when MSH could be read, even partly), the
    event (only when there is no error) and every issue."""

    header: MessageHeader | None
    event: AttendanceEvent | None
    issues: tuple[Issue, ...]

    @property
    def errors(self) -> list[Issue]:
        """The issues of error severity."""
        return [i for i in self.issues if i.is_error]

    @property
    def ack_code(self) -> AckCode:
        """AA, AE or AR for this message (``interop.hl7v2.ack``)."""
        return acknowledgement_code(self.issues)


def read_adt(data: bytes) -> AdtReading:
    """Read one ADT message (the fast path: MSH, EVN, PID, PV1); never raises for bad input."""
    try:
        message = read_er7(data)
    except Er7Error as exc:
        return AdtReading(salvage_header(data), None, tuple(exc.issues))
    return _Reader(message).read()


@dataclass(frozen=True)
class _Patient:
    nhs_number: str | None
    mrn: str | None
    mrn_authority: str | None
    birth_date: date | None


@dataclass(frozen=True)
class _Visit:
    patient_class: str
    setting: EncounterSetting
    admission: Admission
    admission_type: str
    admit_source: str
    location: PatientLocation
    visit_number: str
    admitted: datetime | None
    discharged: datetime | None


class _Reader:
    """One message's reading: collects issues while taking the fields out."""

    def __init__(self, message: Er7Message) -> None:
        self.message = message
        self.issues: list[Issue] = []

    def problem(
        self,
        code: IssueCode,
        where: Segment | str,
        field: int | None,
        message: str,
        hl7_code: str,
        severity: Severity = Severity.ERROR,
        **position: int,
    ) -> None:
        location = where if isinstance(where, str) else where.location(field, **position)
        self.issues.append(hl7_issue(code, location, message, hl7_code, severity))

    def timestamp(self, segment: Segment, field: int, required: bool, what: str) -> datetime | None:
        value = segment.component(field)
        if not value:
            if required:
                self.problem(IssueCode.REQUIRED, segment, field, f"{what} is required", "101")
            return None
        try:
            return parse_ts(value)[0]
        except ValueError as exc:
            self.problem(IssueCode.VALUE, segment, field, f"{what}: {exc}", "102")
            return None

    def one(self, name: str, what: str) -> Segment | None:
        segment = self.message.first(name)
        if segment is None:
            self.problem(
                IssueCode.REQUIRED, name, None, f"the {name} segment ({what}) is missing", "100"
            )
        return segment

    def read(self) -> AdtReading:
        msh = self.message.msh
        header = MessageHeader.of(msh)
        site = self.header_checks(msh, header)
        self.issues += segment_name_issues(self.message)
        for extra in self.message.all("MSH")[1:]:
            self.problem(
                IssueCode.STRUCTURE,
                extra,
                None,
                "one message per frame or file: this one holds another MSH (batches are not read)",
                "100",
            )
        evn = self.one("EVN", "event type")
        pid = self.one("PID", "patient identification")
        pv1 = self.one("PV1", "patient visit")
        recorded = occurred = None
        if evn is not None:
            recorded = self.timestamp(evn, 2, True, "EVN-2 (recorded date/time)")
            occurred = self.timestamp(evn, 6, False, "EVN-6 (event occurred)")
            event_code = evn.component(1)
            if event_code and event_code != header.trigger_event:
                self.problem(
                    IssueCode.INVARIANT,
                    evn,
                    1,
                    f"EVN-1 says {event_code[:3]} but MSH-9 says {header.trigger_event[:3]}; "
                    "MSH-9 is used",
                    "103",
                    Severity.WARNING,
                )
        patient = self.patient(pid) if pid is not None else None
        visit = self.visit(pv1) if pv1 is not None else None
        if any(i.is_error for i in self.issues):
            return AdtReading(header, None, tuple(self.issues))
        # no error means each of them was read
        assert recorded is not None
        assert patient is not None
        assert visit is not None
        admitted, discharged = visit.admitted, visit.discharged
        primary = discharged if header.trigger_event == "A03" else admitted
        event = AttendanceEvent(
            event_type=header.trigger_event,
            control_id=header.control_id,
            version=header.version,
            sending_application=header.sending_application,
            site_ods_code=site,
            recorded_at=recorded,
            occurred_at=primary or occurred or recorded,
            nhs_number=patient.nhs_number,
            local_patient_id=patient.mrn,
            local_patient_id_authority=patient.mrn_authority,
            date_of_birth=patient.birth_date,
            patient_class=visit.patient_class,
            setting=visit.setting,
            admission=visit.admission,
            admission_type=visit.admission_type,
            admit_source=visit.admit_source,
            location=visit.location,
            visit_number=visit.visit_number,
            admitted_at=admitted,
            discharged_at=discharged,
        )
        return AdtReading(header, event, tuple(self.issues))

    def header_checks(self, msh: Segment, header: MessageHeader) -> str:
        """The MSH checks; returns the sending facility's ODS code ("" when wrong)."""
        site = ""
        if not header.sending_facility:
            self.problem(
                IssueCode.REQUIRED,
                msh,
                4,
                "MSH-4 (sending facility) must be the sender's ODS site code",
                "101",
            )
        else:
            try:
                site = check_ods_code(header.sending_facility)
            except ValueError as exc:
                self.problem(IssueCode.VALUE, msh, 4, f"MSH-4 (sending facility): {exc}", "102")
        self.timestamp(msh, 7, True, "MSH-7 (date/time of message)")
        if header.message_type != "ADT":
            self.problem(
                IssueCode.NOT_SUPPORTED,
                msh,
                9,
                f"this receiver takes ADT messages, not {header.message_type[:3] or 'none'}",
                "200",
                component=1,
            )
        elif header.trigger_event not in SUPPORTED_EVENTS:
            self.problem(
                IssueCode.NOT_SUPPORTED,
                msh,
                9,
                f"ADT event {header.trigger_event[:3] or '(none)'} is not handled; this receiver "
                f"takes {', '.join(SUPPORTED_EVENTS)}",
                "201",
                component=2,
            )
        if not header.control_id:
            self.problem(
                IssueCode.REQUIRED, msh, 10, "MSH-10 (message control id) is required", "101"
            )
        if header.processing_id not in ("P", "T", "D"):
            self.problem(
                IssueCode.NOT_SUPPORTED,
                msh,
                11,
                "MSH-11 (processing id) must be P, T or D",
                "202",
            )
        if header.version not in SUPPORTED_VERSIONS:
            self.problem(
                IssueCode.NOT_SUPPORTED,
                msh,
                12,
                f"HL7 version {header.version[:8] or '(none)'} is not handled; this receiver "
                f"takes {', '.join(SUPPORTED_VERSIONS)}",
                "203",
            )
        return site

    def patient(self, pid: Segment) -> _Patient:
        """NHS number, MRN and birth date from PID."""
        nhs_number = mrn = mrn_authority = None
        mrn_rank = 3
        identifiers = pid.repetitions(3)
        if not identifiers:
            self.problem(
                IssueCode.REQUIRED, pid, 3, "PID-3 (patient identifier list) is required", "101"
            )
        for index, _ in enumerate(identifiers, 1):
            number = pid.component(3, 1, index).strip()
            authority = pid.component(3, 4, index).split(pid.delimiters.subcomponent)[0]
            kind = pid.component(3, 5, index).strip().upper()
            if kind == "NH":
                if not number:
                    continue
                try:
                    valid = check_nhs_number(number)
                except InvalidNhsNumber as exc:
                    self.problem(
                        IssueCode.VALUE,
                        pid,
                        3,
                        f"invalid NHS number: {exc}",
                        "102",
                        repetition=index,
                        component=1,
                    )
                    continue
                if nhs_number is not None and valid != nhs_number:
                    self.problem(
                        IssueCode.INVARIANT,
                        pid,
                        3,
                        "PID-3 holds two different NHS numbers",
                        "102",
                        repetition=index,
                        component=1,
                    )
                nhs_number = valid
                if authority.upper() != "NHS":
                    self.problem(
                        IssueCode.CODE_INVALID,
                        pid,
                        3,
                        "the assigning authority (CX-4) of an NHS number is NHS",
                        "103",
                        Severity.WARNING,
                        repetition=index,
                        component=4,
                    )
            elif number and kind in ("MR", "PI") and (rank := ("MR", "PI").index(kind)) < mrn_rank:
                mrn, mrn_authority, mrn_rank = number, authority or None, rank
        if nhs_number is None and identifiers and not self.issues_at(pid, 3):
            self.problem(
                IssueCode.REQUIRED,
                pid,
                3,
                "no NHS number (identifier type NH) in PID-3: the attendance cannot be matched "
                "to a child",
                "101",
                Severity.WARNING,
            )
        birth_date = None
        moment = self.timestamp(pid, 7, False, "PID-7 (date of birth)")
        if moment is not None:
            if len(pid.component(7)) < 8:
                self.problem(
                    IssueCode.VALUE,
                    pid,
                    7,
                    "PID-7 (date of birth) is not a full date",
                    "102",
                    Severity.WARNING,
                )
            else:
                birth_date = moment.date()
        return _Patient(nhs_number, mrn, mrn_authority, birth_date)

    def issues_at(self, segment: Segment, field: int) -> bool:
        prefix = f"{segment.location(field)}"
        return any(i.location.startswith(prefix) for i in self.issues)

    def visit(self, pv1: Segment) -> _Visit:
        """Class, setting, admission, location and times from PV1."""
        patient_class = pv1.component(2).strip().upper()
        if not patient_class:
            self.problem(IssueCode.REQUIRED, pv1, 2, "PV1-2 (patient class) is required", "101")
        elif patient_class not in _SETTINGS:
            self.problem(
                IssueCode.CODE_INVALID,
                pv1,
                2,
                "PV1-2 (patient class) is not in HL7 table 0004 (E, I, O, B, P, R...)",
                "103",
                Severity.WARNING,
            )
        admission_type = pv1.component(4).strip()
        sub = pv1.delimiters.subcomponent
        location = PatientLocation(
            point_of_care=pv1.component(3, 1),
            room=pv1.component(3, 2),
            bed=pv1.component(3, 3),
            facility=pv1.component(3, 4).split(sub)[0],
        )
        return _Visit(
            patient_class=patient_class,
            setting=_SETTINGS.get(patient_class, EncounterSetting.OTHER),
            admission=admission_of(patient_class, admission_type),
            admission_type=admission_type,
            admit_source=pv1.component(14).strip(),
            location=location,
            visit_number=pv1.component(19),
            admitted=self.timestamp(pv1, 44, False, "PV1-44 (admit date/time)"),
            discharged=self.timestamp(pv1, 45, False, "PV1-45 (discharge date/time)"),
        )
