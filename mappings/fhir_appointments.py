"""Missed and was-not-brought appointments as FHIR ``Appointment`` resources.

A health appointment the child missed or was not brought to (001 L382) is an ``Appointment``
with status ``noshow``; one the family cancelled or rebooked is ``cancelled`` with the
cancellation reason ``pat`` (patient). The toolkit's code (missed / was-not-brought /
cancelled-by-family) rides in the extension ``appointment-attendance``, the service as
``serviceType.text``, the child as the participant.

The proforma records the day, not the time. FHIR requires a start and an end for a noshow
(invariant app-3), so they bound the day in England: midnight to midnight, Europe/London,
written with the offset of the day (``Z`` in winter, ``+01:00`` in summer). Reading takes the
start's day in England.
"""

from __future__ import annotations

from datetime import date, datetime, time, timedelta
from zoneinfo import ZoneInfo

from interop.codes import AppointmentAttendance
from interop.domain.strategy_report import MissedAppointment
from interop.mappings.fhir_common import (
    JSON,
    UKCORE,
    Node,
    Reader,
    ext,
    fhir_datetime,
    profile_url,
    ref,
)
from interop.mappings.fhir_definitions import ElementRule, ExtensionDef, ProfileDef

ENGLAND = ZoneInfo("Europe/London")
APPOINTMENT_PROFILE = profile_url("MissedAppointment")
CANCELLATION_REASON = "http://terminology.hl7.org/CodeSystem/appointment-cancellation-reason"


def _midnight(day: date) -> datetime:
    return datetime.combine(day, time(0), tzinfo=ENGLAND)


def appointment(missed: MissedAppointment, id_: str, subject: JSON) -> JSON:
    """The appointment as an Appointment: noshow, or cancelled by the family."""
    cancelled = missed.attendance is AppointmentAttendance.CANCELLED_BY_FAMILY
    resource: JSON = {
        "resourceType": "Appointment",
        "id": id_,
        "meta": {"profile": [APPOINTMENT_PROFILE]},
        "extension": [ext("appointment-attendance", missed.attendance)],
        "status": "cancelled" if cancelled else "noshow",
        "serviceType": [{"text": missed.service}],
        "start": fhir_datetime(_midnight(missed.appointment_date)),
        "end": fhir_datetime(_midnight(missed.appointment_date + timedelta(days=1))),
        "participant": [{"actor": ref(subject), "status": "accepted"}],
    }
    if cancelled:
        resource["cancelationReason"] = {
            "coding": [{"system": CANCELLATION_REASON, "code": "pat", "display": "Patient"}]
        }
    return resource


def read_appointment(reader: Reader, node: Node) -> JSON:
    """A MissedAppointment field dict from an Appointment."""
    start = reader.string(reader.required(node.child("start"), node, "start"))
    day = None
    if start is not None:
        try:
            instant = datetime.fromisoformat(start)
        except ValueError:
            instant = None
        if instant is None or instant.tzinfo is None:
            reader.problem(f"{node.path}.start", "expected an instant with a UTC offset")
        else:
            day = instant.astimezone(ENGLAND).date().isoformat()
    services = node.items("serviceType")
    attendance = reader.required(
        node.extension("appointment-attendance"), node, "extension('appointment-attendance')"
    )
    return {
        "appointment_date": day,
        "service": reader.string(services[0].child("text"))
        if services
        else reader.required(None, node, "serviceType"),
        "attendance": reader.code(attendance, AppointmentAttendance),
    }


EXTENSION = ExtensionDef(
    "appointment-attendance",
    "How the appointment was not kept: missed, was not brought, cancelled by the family",
    ("Appointment",),
    "Coding",
    AppointmentAttendance,
    source=AppointmentAttendance.source,
)

PROFILE = ProfileDef(
    "MissedAppointment",
    "Appointment",
    UKCORE + "UKCore-Appointment",
    "Missed or was-not-brought appointment",
    "A health appointment the child missed or was not brought to (status noshow), or the "
    "family cancelled (status cancelled, reason pat): the service as serviceType.text, the "
    "day as start and end (midnight to midnight in England), the child as the participant.",
    elements=(
        ElementRule("Appointment.serviceType", min=1, max="1"),
        ElementRule("Appointment.serviceType.text", min=1, short="The service, as named"),
        ElementRule("Appointment.start", min=1, short="The day's midnight in England"),
        ElementRule("Appointment.end", min=1),
    ),
    extensions=(("appointment-attendance", 1, "1"),),
)
