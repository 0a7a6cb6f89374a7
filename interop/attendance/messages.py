"""The attendance rules' messages, built from a ``Notice``: pure functions, no I/O.

- (a) **access notification** to the responsible LA: CP-IS's REPC_MT000004GB01 XML for a MESH
  mailbox (``access_notification_xml``), or a FHIR ``Communication`` (``communication``);
- (b) **key social worker notification** of an unplanned admission of a child under
  additional child safeguards (001 section 9): a FHIR ``Communication`` naming the key social
  worker (contained Practitioner, with their phone) and carrying the plan's escalation
  triggers and the lead health practitioner's contact; the same JSON travels over MESH;
- (c) **alert back to the trust**: a FHIR ``Flag`` (``trust_flag``: status active, code
  PatientFlagCategory CP-IS plus the plan type and, with a treatment plan, "additional child
  safeguards"; period from the attendance; the escalation triggers in its narrative), or an
  HL7 v2 ``ORU^R01`` (``v2_alert``): PID and PV1 as the trust sent them, an OBR for the alert
  and one OBX line per fact (an A08 would update the patient's demographics: see there).

Every message names the NHS number only where its recipient needs it (the subject), never
the child's name or birth date, which the rules do not read.
"""

from __future__ import annotations

import html
import json
from dataclasses import dataclass, field
from datetime import datetime
from typing import Any

from interop.codes import CANONICAL_BASE, AttendanceSetting, PlanType
from interop.cpis.messages import write_access_notification
from interop.cpis.model import AccessNotification, Accessor
from interop.hl7v2.er7 import LOCAL_TIME, escape
from interop.identifiers import NHS_NUMBER_SYSTEM, ODS_ORGANISATION_SYSTEM

__all__ = [
    "ALERT_CODE_SYSTEM",
    "NOTIFICATION_ID_SYSTEM",
    "KeyWorkerFacts",
    "Notice",
    "Trigger",
    "access_notification_xml",
    "communication",
    "trust_flag",
    "v2_alert",
]

JSON = dict[str, Any]

#: the identifier system of every message the rules produce (conditional create by it)
NOTIFICATION_ID_SYSTEM = f"{CANONICAL_BASE}/Id/attendance-notification"
#: the toolkit's codes for the alert's kind (no national code exists for "additional child
#: safeguards")
ALERT_CODE_SYSTEM = f"{CANONICAL_BASE}/CodeSystem/attendance-alert"
PATIENT_FLAG_CATEGORY = "https://fhir.nhs.uk/England/CodeSystem/PatientFlagCategory"
_COMMUNICATION_CATEGORY = "http://terminology.hl7.org/CodeSystem/communication-category"
_FLAG_CATEGORY = "http://terminology.hl7.org/CodeSystem/flag-category"
#: PV1-2's setting to the toolkit's attendance-setting code (CP-IS's unscheduled settings);
#: an inpatient child admitted unplanned is on a paediatric ward
_CARE_SETTINGS = {
    "emergency": AttendanceSetting.EMERGENCY_DEPARTMENT.value,
    "inpatient": AttendanceSetting.PAEDIATRIC_WARD.value,
    "maternity": AttendanceSetting.MATERNITY.value,
}
_EVENTS = {
    "A01": "admission",
    "A04": "attendance",
    "A08": "attendance (update)",
    "A03": "discharge",
}


@dataclass(frozen=True)
class Trigger:
    """An escalation trigger of the treatment plan, as the ward and social worker read it."""

    trigger: str
    description: str
    action: str
    responsible: str
    timescale: str | None = None

    def line(self) -> str:
        """One line: what, then who does what and when."""
        when = f" ({self.timescale})" if self.timescale else ""
        return (
            f"{self.trigger}: {self.description}. Action: {self.action}{when}. "
            f"Responsible: {self.responsible}."
        )


@dataclass(frozen=True)
class KeyWorkerFacts:
    """What the treatment plan says about who to tell and what to watch for."""

    plan_id: str
    key_social_worker: str | None
    key_social_worker_phone: str | None
    key_social_worker_email: str | None
    key_social_worker_ods: str | None
    lead_practitioner: str
    lead_practitioner_role: str
    lead_practitioner_organisation: str | None
    lead_practitioner_phone: str | None
    lead_practitioner_email: str | None
    triggers: tuple[Trigger, ...] = ()

    def lead_line(self) -> str:
        """The lead health practitioner and how to reach them."""
        parts = [f"{self.lead_practitioner}, {self.lead_practitioner_role}"]
        if self.lead_practitioner_organisation:
            parts.append(self.lead_practitioner_organisation)
        contact = ", ".join(
            c for c in (self.lead_practitioner_phone, self.lead_practitioner_email) if c
        )
        return "; ".join(parts) + (f" ({contact})" if contact else "")


@dataclass(frozen=True)
class Notice:
    """Everything one message says: the attendance, the plan and who it is for."""

    notification_id: str
    kind: str  # access-notification | key-worker | trust-alert
    nhs_number: str = field(repr=False)
    event_type: str
    control_id: str
    sending_application: str
    site_ods: str
    site_name: str
    occurred_at: datetime
    recorded_at: datetime
    setting: str
    admission: str
    patient_class: str
    location: str
    visit_number: str
    plan_type: PlanType
    la_ods: str
    la_name: str
    la_emergency_phone: str | None = None
    la_office_phone: str | None = None
    key_worker: KeyWorkerFacts | None = None

    def when(self) -> str:
        """When the attendance happened, in UK local time, for people to read."""
        return self.occurred_at.astimezone(LOCAL_TIME).strftime("%d/%m/%Y %H:%M")

    def what(self) -> str:
        """One sentence: what happened, when and where."""
        event = _EVENTS.get(self.event_type, self.event_type)
        where = _org(self.site_name, self.site_ods)
        if self.location:
            where += f", {self.location}"
        return (
            f"{self.admission.capitalize()} {self.setting} {event} at {where} on "
            f"{self.when()} (HL7 {self.event_type}, message {self.control_id})."
        )


def _patient(notice: Notice) -> JSON:
    return {
        "type": "Patient",
        "identifier": {"system": NHS_NUMBER_SYSTEM, "value": notice.nhs_number},
    }


def _organisation(ods: str, name: str) -> JSON:
    return {
        "type": "Organization",
        "identifier": {"system": ODS_ORGANISATION_SYSTEM, "value": ods},
        "display": name,
    }


def _identifier(notice: Notice) -> list[JSON]:
    return [{"system": NOTIFICATION_ID_SYSTEM, "value": notice.notification_id}]


def _org(name: str, ods: str) -> str:
    """``Name (ODS)``, or the ODS code alone when no name is known."""
    return ods if not name or name == ods else f"{name} ({ods})"


def _la_line(notice: Notice) -> str:
    phones = []
    if notice.la_office_phone:
        phones.append(f"office hours {notice.la_office_phone}")
    if notice.la_emergency_phone:
        phones.append(f"emergency duty team {notice.la_emergency_phone}")
    contact = f" ({', '.join(phones)})" if phones else ""
    return f"Responsible local authority: {_org(notice.la_name, notice.la_ods)}{contact}."


def access_notification_xml(notice: Notice) -> bytes:
    """(a) as CP-IS sends it to the LA's MESH mailbox: REPC_MT000004GB01 XML.

    The accessor is the attending organisation alone: no SDS user viewed a screen and the
    trust's system has no ASID the rules know of (its ADT feed announced the attendance).
    """
    notification = AccessNotification(
        message_id=notice.notification_id,
        nhs_number=notice.nhs_number,
        accessed_at=notice.occurred_at,
        plan_type=notice.plan_type,
        accessor=Accessor(organisation_ods=notice.site_ods, organisation_name=notice.site_name),
        care_setting=_CARE_SETTINGS.get(notice.setting),
    )
    return write_access_notification(notification)


def communication(notice: Notice) -> JSON:
    """(a) or (b) as a FHIR R4 Communication (status completed, category notification)."""
    payload = [notice.what()]
    recipients = [_organisation(notice.la_ods, notice.la_name)]
    contained: list[JSON] = []
    priority = "routine"
    if notice.kind == "access-notification":
        topic = "CP-IS access notification: a flagged child attended unscheduled care"
        payload.insert(
            0,
            f"The child's CP-IS record ({notice.plan_type.display}) was accessed by "
            f"{_org(notice.site_name, notice.site_ods)}.",
        )
        payload.append(_la_line(notice))
    else:
        facts = notice.key_worker
        assert facts is not None, "a key worker notice carries the plan's facts"
        priority = "urgent"
        topic = "Unplanned hospital admission of a child under additional child safeguards"
        payload.insert(
            0,
            "The allocated key social worker is to be notified of this unplanned admission "
            "(additional child safeguards, 001 section 9). Consider as early as possible "
            "whether a Safe Discharge Planning Meeting is required.",
        )
        if facts.key_social_worker:
            worker: JSON = {
                "resourceType": "Practitioner",
                "id": "key-social-worker",
                "name": [{"text": facts.key_social_worker}],
            }
            telecom = [
                {"system": system, "value": value, "use": "work"}
                for system, value in (
                    ("phone", facts.key_social_worker_phone),
                    ("email", facts.key_social_worker_email),
                )
                if value
            ]
            if telecom:
                worker["telecom"] = telecom
            contained.append(worker)
            recipients.insert(
                0,
                {
                    "reference": "#key-social-worker",
                    "type": "Practitioner",
                    "display": f"{facts.key_social_worker} (key social worker)",
                },
            )
        else:
            payload.append("The treatment plan names no key social worker: the LA is told.")
        payload.append(f"Lead health practitioner: {facts.lead_line()}.")
        payload.extend(f"Escalation trigger: {t.line()}" for t in facts.triggers)
        payload.append(_la_line(notice))
    resource: JSON = {
        "resourceType": "Communication",
        "identifier": _identifier(notice),
        "status": "completed",
        "category": [
            {
                "coding": [
                    {
                        "system": _COMMUNICATION_CATEGORY,
                        "code": "notification",
                        "display": "Notification",
                    }
                ]
            }
        ],
        "priority": priority,
        "subject": _patient(notice),
        "topic": {"text": topic},
        "sent": notice.recorded_at.isoformat(),
        "recipient": recipients,
        "sender": _organisation(notice.site_ods, notice.site_name),
        "payload": [{"contentString": text} for text in payload],
    }
    if contained:
        resource["contained"] = contained
    return resource


def _alert_codings(notice: Notice) -> list[JSON]:
    codings: list[JSON] = [
        {"system": PATIENT_FLAG_CATEGORY, "code": "CP-IS", "display": "Child Protection"},
        {
            "system": PlanType.system(),
            "code": notice.plan_type.value,
            "display": notice.plan_type.display,
        },
    ]
    if notice.key_worker is not None:
        codings.append(
            {
                "system": ALERT_CODE_SYSTEM,
                "code": "additional-child-safeguards",
                "display": "Additional child safeguards: health treatment plan in place",
            }
        )
    return codings


def _alert_text(notice: Notice) -> str:
    text = f"{notice.plan_type.display}"
    if notice.key_worker is not None:
        text += " / additional child safeguards (health treatment plan)"
    return text


def _alert_lines(notice: Notice) -> list[str]:
    lines = [_la_line(notice)]
    facts = notice.key_worker
    if facts is not None:
        if facts.key_social_worker:
            contact = facts.key_social_worker_phone or facts.key_social_worker_email or ""
            lines.append(f"Key social worker: {facts.key_social_worker} {contact}".strip() + ".")
        lines.append(f"Lead health practitioner: {facts.lead_line()}.")
        lines.extend(f"Escalation trigger: {t.line()}" for t in facts.triggers)
    return lines


def trust_flag(notice: Notice) -> JSON:
    """(c) as a FHIR R4 Flag for the trust's endpoint (see the module's docstring)."""
    items = "".join(f"<li>{html.escape(line)}</li>" for line in _alert_lines(notice))
    div = (
        '<div xmlns="http://www.w3.org/1999/xhtml">'
        f"<p>{html.escape(_alert_text(notice))}</p><ul>{items}</ul></div>"
    )
    flag: JSON = {
        "resourceType": "Flag",
        "identifier": _identifier(notice),
        "text": {"status": "generated", "div": div},
        "status": "active",
        "category": [
            {"coding": [{"system": _FLAG_CATEGORY, "code": "safety", "display": "Safety"}]}
        ],
        "code": {"coding": _alert_codings(notice), "text": _alert_text(notice)},
        "subject": _patient(notice),
        "period": {"start": notice.occurred_at.isoformat()},
        "author": _organisation(notice.la_ods, notice.la_name),
    }
    if notice.visit_number:
        flag["encounter"] = {
            "type": "Encounter",
            "identifier": {
                "system": f"{CANONICAL_BASE}/Id/visit-number/{notice.site_ods}",
                "value": notice.visit_number,
            },
        }
    return flag


def v2_alert(notice: Notice, control_id: str) -> bytes:
    """(c) as HL7 v2.4 ``ORU^R01`` for the trust's MLLP endpoint: MSH, PID (the NHS number),
    PV1 (patient class, visit number), OBR (the alert, filler order number = the
    notification id), then OBX lines: the plan (CE), additional child safeguards (CE), the LA,
    the key social worker, the lead health practitioner and each escalation trigger (TX).

    An ORU, not an ``ADT^A08``: an A08 updates the patient's demographics, and the rules do not
    know the child's name, so PID-5 carries only the name type U (unspecified), which no
    receiver takes as a name to store. ``control_id`` (at most 20 characters) is the same on
    every resend, so the receiver can tell a repeat.
    """
    stamp = notice.recorded_at.astimezone(LOCAL_TIME).strftime("%Y%m%d%H%M%S%z")
    occurred = notice.occurred_at.astimezone(LOCAL_TIME).strftime("%Y%m%d%H%M%S%z")
    pv1 = [""] * 20  # the visit by its number; the trust knows where the child is
    pv1[:3] = ["PV1", "1", escape(notice.patient_class or "U")]
    pv1[19] = escape(notice.visit_number)
    segments = [
        "|".join(
            [
                "MSH",
                "^~\\&",
                "INTEROP",
                escape(notice.la_ods),
                escape(notice.sending_application),
                escape(notice.site_ods),
                stamp,
                "",
                "ORU^R01^ORU_R01",
                escape(control_id[:20]),
                "P",
                "2.4",
            ]
        ),
        f"PID|1||{escape(notice.nhs_number)}^^^NHS^NH||^^^^^^U",
        "|".join(pv1),
        f"OBR|1||{escape(notice.notification_id)}|CPIS^Child protection alert^L|||{occurred}",
    ]
    plan = notice.plan_type
    observations = [
        ("CE", "CPIS^Child protection information^L", f"{plan.value}^{escape(plan.display)}^L")
    ]
    if notice.key_worker is not None:
        observations.append(("CE", "CPIS-ACS^Additional child safeguards^L", "Y^Yes^HL70136"))
    observations += [
        ("TX", "CPIS-NOTE^Child protection note^L", escape(line)) for line in _alert_lines(notice)
    ]
    for index, (kind, code, value) in enumerate(observations, start=1):
        segments.append(f"OBX|{index}|{kind}|{code}|{index}|{value}||||||F|||{occurred}")
    return ("\r".join(segments) + "\r").encode("utf-8")


def to_json_bytes(resource: JSON) -> bytes:
    """A resource as compact UTF-8 JSON (what the outbox stores and MESH carries)."""
    return json.dumps(resource, ensure_ascii=False, separators=(",", ":")).encode("utf-8")
