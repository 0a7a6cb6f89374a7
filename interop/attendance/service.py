"""Attendance rules: a flagged child arrives in unscheduled care, and the right people are told.

``AttendanceService.handle(event)`` is the MLLP listener's handler. For each attendance read
from an HL7 v2 ADT message it:

1. looks the child up (``attendance_sources``: the LA's ledger, the CP-IS stand-in's
   register, or a FHIR endpoint); no NHS number, a discharge (A03) or no flag: nothing to do,
   nothing written. A source that cannot answer gives ``FAILED`` (the ACK is AE and the trust
   resends);
2. for a flagged child, reads the health treatment plan (when ``plan_source`` is configured)
   and decides what is due (``decide``):

   - (a) an **access notification** to each responsible LA, unless the attendance is known
     to be planned (scheduled care is a silent read in CP-IS);
   - (b) a **key social worker notification** for an unplanned admission (A01) of a child
     with a health treatment plan (001 section 9), with the plan's escalation triggers and
     the lead health practitioner;
   - (c) an **alert back to the trust** (``[attendance] alert``) when a plan is in force or a
     treatment plan exists, planned or not: the ward should see the flag and the triggers;

3. in ONE transaction of the state file: skips what was given for the same child, attending
   site and recipient less than ``dedupe_hours`` (24 h, as CP-IS) before or after this
   attendance (by when it happened, not when it arrived), queues one outbox row per message
   and destination, and remembers the message's key (a resend of it changes nothing). When
   everything due was already given, a read says so and nothing is written at all;
4. returns ``RECORDED``; the dispatcher (``attendance_dispatch``) sends the rows.

Where messages go: the responsible LA's mesh and fhir endpoints in ``[directory]`` when it is
there (``route_by_directory``), else ``[attendance] notify``. Keys and logs name the child by a
keyed hash of the NHS number (``AttendanceStore.child_key``), never the number.
"""

from __future__ import annotations

import hashlib
import logging
import threading
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import datetime
from typing import TYPE_CHECKING

from interop.attendance.messages import (
    KeyWorkerFacts,
    Notice,
    Trigger,
    access_notification_xml,
    communication,
    to_json_bytes,
    trust_flag,
    v2_alert,
)
from interop.attendance.settings import AttendanceSettings
from interop.attendance.sources import FlagFact, FlagSource, LookupFailed, PlanSource
from interop.attendance.store import AttendanceStore, Notified, OutboxSpec
from interop.domain import HealthTreatmentPlan
from interop.hl7v2.adt import Admission, AttendanceEvent, HandlerOutcome, HandlerResult
from interop.hl7v2.er7 import LOCAL_TIME
from interop.privacy import protect_logger

if TYPE_CHECKING:
    from interop.attendance.dispatch import Dispatcher
    from interop.config import DirectoryEntry, EndpointSettings

__all__ = [
    "ACCESS_NOTIFICATION",
    "KEY_WORKER",
    "TRUST_ALERT",
    "AttendanceService",
    "Decision",
    "Router",
    "decide",
    "key_worker_facts",
    "notification_id",
]

ACCESS_NOTIFICATION = "access-notification"
KEY_WORKER = "key-worker"
TRUST_ALERT = "trust-alert"

_log = logging.getLogger("interop.attendance")
# a lookup's error text may quote the NHS number searched for: every record of this logger
# has NHS numbers masked (a filter is per logger: interop.attendance.dispatch has its own)
protect_logger(_log.name)


def notification_id(event: AttendanceEvent, kind: str, target_ods: str) -> str:
    """The deterministic id of one notification of one attendance message: the same message
    resent gives the same id (and so the same MESH local id and FHIR identifier)."""
    basis = "|".join(
        (event.site_ods_code, event.sending_application, event.control_id, kind, target_ods)
    )
    return "ATT-" + hashlib.sha256(basis.encode()).hexdigest()[:32].upper()


def key_worker_facts(plan: HealthTreatmentPlan) -> KeyWorkerFacts:
    """What a notification needs of a health treatment plan."""
    worker = plan.cp_plan.key_social_worker
    lead = plan.lead_health_practitioner
    return KeyWorkerFacts(
        plan_id=plan.local_id,
        key_social_worker=worker.name if worker else None,
        key_social_worker_phone=worker.phone if worker else None,
        key_social_worker_email=str(worker.email) if worker and worker.email else None,
        key_social_worker_ods=(
            worker.organisation.ods_code if worker and worker.organisation else None
        ),
        lead_practitioner=lead.name,
        lead_practitioner_role=lead.role,
        lead_practitioner_organisation=lead.organisation.name if lead.organisation else None,
        lead_practitioner_phone=lead.phone,
        lead_practitioner_email=str(lead.email) if lead.email else None,
        triggers=tuple(
            Trigger(
                trigger=t.trigger.display,
                description=t.description,
                action=t.action,
                responsible=t.responsible.name or t.responsible.role.display,
                timescale=t.timescale,
            )
            for t in plan.escalation_triggers
        ),
    )


class Router:
    """Which endpoints reach an organisation, and what the attending site is called."""

    def __init__(
        self,
        settings: AttendanceSettings,
        endpoints: Mapping[str, EndpointSettings],
        directory: Mapping[str, DirectoryEntry] | None = None,
    ) -> None:
        self.settings = settings
        self.endpoints = dict(endpoints)
        self.directory = dict(directory or {})

    def site_name(self, ods: str) -> str:
        """The organisation's name from ``[directory]``, else its ODS code."""
        entry = self.directory.get(ods)
        return entry.name if entry is not None else ods

    def for_organisation(self, ods: str) -> list[EndpointSettings]:
        """The mesh and fhir endpoints that reach ``ods``: its ``[directory]`` entry's, else
        ``[attendance] notify``."""
        entry = self.directory.get(ods) if self.settings.route_by_directory else None
        if entry is not None:
            found = [
                self.endpoints[name]
                for name in entry.endpoints
                if name in self.endpoints and self.endpoints[name].kind in ("mesh", "fhir")
            ]
            if found:
                return found
        return [self.endpoints[name] for name in self.settings.notify if name in self.endpoints]

    def alert(self) -> EndpointSettings | None:
        """The trust's endpoint for (c), when configured."""
        name = self.settings.alert
        return self.endpoints.get(name) if name else None


@dataclass(frozen=True)
class Decision:
    """One notification due for an attendance, and the endpoints that will carry it."""

    kind: str
    target_ods: str
    notice: Notice
    endpoints: tuple[EndpointSettings, ...]
    key_worker_workflow_id: str | None = None

    def rows(self) -> list[OutboxSpec]:
        """The messages to queue, one per endpoint (built only for what is not a duplicate)."""
        workflow = self.key_worker_workflow_id
        return [_row(self.kind, self.notice, e, workflow) for e in self.endpoints]


def _pick(flags: list[FlagFact], day: datetime) -> FlagFact:
    """The plan to speak of: one in force before one kept as history, the latest start first."""
    on = day.astimezone(LOCAL_TIME).date()
    return sorted(flags, key=lambda f: (not f.in_force_on(on), -f.start.toordinal()))[0]


def _carries(kind: str, endpoint: EndpointSettings, settings: AttendanceSettings) -> bool:
    """Whether ``endpoint`` can carry a notification of ``kind``."""
    if endpoint.kind == "fhir":
        return True
    if endpoint.kind == "mllp":
        return kind == TRUST_ALERT
    if endpoint.kind == "mesh":
        return kind == ACCESS_NOTIFICATION or (
            kind == KEY_WORKER and settings.key_worker_workflow_id is not None
        )
    return False


def _row(kind: str, notice: Notice, endpoint: EndpointSettings, workflow: str | None) -> OutboxSpec:
    """The message of ``notice`` for ``endpoint``, as the outbox keeps it."""
    if endpoint.kind == "fhir":
        resource = trust_flag(notice) if kind == TRUST_ALERT else communication(notice)
        return OutboxSpec(endpoint.name, "fhir", to_json_bytes(resource))
    if endpoint.kind == "mllp":
        control = "AL" + notice.notification_id[4:22]  # 20 characters, fixed per notification
        return OutboxSpec(endpoint.name, "mllp", v2_alert(notice, control))
    if kind == ACCESS_NOTIFICATION:
        return OutboxSpec(
            endpoint.name,
            "mesh",
            access_notification_xml(notice),
            workflow_id=endpoint.workflow_id,
            subject="CP-IS access to service notification",
        )
    return OutboxSpec(
        endpoint.name,
        "mesh",
        to_json_bytes(communication(notice)),
        workflow_id=workflow,
        subject="Unplanned admission: additional child safeguards",
    )


def decide(
    event: AttendanceEvent,
    flags: list[FlagFact],
    plan: HealthTreatmentPlan | None,
    router: Router,
    recorded_at: datetime,
) -> list[Decision]:
    """What is due for a flagged child's attendance (see the module's docstring); pure."""
    assert event.nhs_number is not None
    if not flags:
        return []
    day = event.occurred_at.astimezone(LOCAL_TIME).date()
    facts = key_worker_facts(plan) if plan is not None else None
    decisions: list[Decision] = []

    def notice(kind: str, target: str, flag: FlagFact, with_plan: bool) -> Notice:
        assert event.nhs_number is not None
        return Notice(
            notification_id=notification_id(event, kind, target),
            kind=kind,
            nhs_number=event.nhs_number,
            event_type=event.event_type,
            control_id=event.control_id,
            sending_application=event.sending_application,
            site_ods=event.site_ods_code,
            site_name=router.site_name(event.site_ods_code),
            occurred_at=event.occurred_at,
            recorded_at=recorded_at,
            setting=event.setting.value,
            admission=event.admission.value,
            patient_class=event.patient_class,
            location=str(event.location),
            visit_number=event.visit_number,
            plan_type=flag.plan_type,
            la_ods=flag.la_ods,
            la_name=flag.la_name,
            la_emergency_phone=flag.emergency_duty_phone,
            la_office_phone=flag.office_hours_phone,
            key_worker=facts if with_plan else None,
        )

    def add(
        kind: str, target: str, flag: FlagFact, endpoints: list[EndpointSettings], with_plan: bool
    ) -> None:
        carriers = tuple(e for e in endpoints if _carries(kind, e, router.settings))
        if carriers:
            n = notice(kind, target, flag, with_plan)
            workflow = router.settings.key_worker_workflow_id
            decisions.append(Decision(kind, target, n, carriers, workflow))
        else:
            _log.warning("%s for %s: no configured endpoint can carry it", kind, event.summary())

    if event.admission is not Admission.PLANNED:
        by_la: dict[str, list[FlagFact]] = {}
        for flag in flags:
            by_la.setdefault(flag.la_ods, []).append(flag)
        for la_ods, held in by_la.items():
            add(
                ACCESS_NOTIFICATION,
                la_ods,
                _pick(held, event.occurred_at),
                router.for_organisation(la_ods),
                False,
            )
    primary = _pick(flags, event.occurred_at)
    if facts is not None and event.event_type == "A01" and event.admission is Admission.UNPLANNED:
        target = facts.key_social_worker_ods or primary.la_ods
        endpoints = router.for_organisation(target)
        if not any(_carries(KEY_WORKER, e, router.settings) for e in endpoints):
            # the directory's route cannot carry it: the default one can
            endpoints = [
                router.endpoints[n] for n in router.settings.notify if n in router.endpoints
            ]
        add(KEY_WORKER, target, primary, endpoints, True)
    alert = router.alert()
    if alert is not None and (primary.in_force_on(day) or facts is not None):
        add(TRUST_ALERT, event.site_ods_code, primary, [alert], facts is not None)
    return decisions


def _latest(plans: list[HealthTreatmentPlan]) -> HealthTreatmentPlan | None:
    if not plans:
        return None
    return max(plans, key=lambda p: (p.plan_date, p.local_id))


class AttendanceService:
    """The handler the listener calls, over a state file, a flag source and perhaps a plan
    source; with the dispatcher that sends what it records (when given one)."""

    def __init__(
        self,
        settings: AttendanceSettings,
        store: AttendanceStore,
        flags: FlagSource,
        router: Router,
        *,
        plans: PlanSource | None = None,
        dispatcher: Dispatcher | None = None,
        clock: Callable[[], datetime] = lambda: datetime.now(LOCAL_TIME),
    ) -> None:
        self.settings = settings
        self.store = store
        self.flags = flags
        self.plans = plans
        self.router = router
        self.dispatcher = dispatcher
        self.clock = clock
        self._lock = threading.Lock()

    # -- the handler ------------------------------------------------------------------------

    def handle(self, event: AttendanceEvent) -> HandlerResult:
        """Decide and durably record what an attendance calls for (see the module)."""
        if event.nhs_number is None:
            return HandlerResult(HandlerOutcome.NOTHING_TO_DO, "no NHS number")
        if event.event_type == "A03":
            return HandlerResult(HandlerOutcome.NOTHING_TO_DO, "a discharge notifies nobody")
        with self._lock:
            result = self._handle(event, event.nhs_number)
        if result.outcome is HandlerOutcome.RECORDED and self.dispatcher is not None:
            self.dispatcher.wake()
        return result

    def _handle(self, event: AttendanceEvent, nhs_number: str) -> HandlerResult:
        day = event.occurred_at.astimezone(LOCAL_TIME).date()
        try:
            flags = self.flags.flags_for(nhs_number, day)
            if not flags:
                return HandlerResult(HandlerOutcome.NOTHING_TO_DO, "no flag")
            plan = _latest(self.plans.plans_for(nhs_number)) if self.plans else None
        except LookupFailed as exc:
            _log.error("lookup failed for %s: %s", event.summary(), exc)
            return HandlerResult(HandlerOutcome.FAILED, "lookup failed")
        decisions = decide(event, flags, plan, self.router, self.clock())
        child = self.store.child_key(nhs_number)
        event_key = f"{event.site_ods_code}|{event.sending_application}|{event.control_id}"
        epoch = event.occurred_at.timestamp()
        window = self.settings.dedupe_hours * 3600
        with self.store.lock:
            db = self.store.db

            def due() -> list[Decision]:
                return [
                    d
                    for d in decisions
                    if not self.store.notified_within(
                        db, d.kind, child, event.site_ods_code, d.target_ods, epoch, window
                    )
                ]

            # a read first: most attendances of a flagged child fall in a window already
            # given, and need no write (no fsync) at all
            if self.store.seen(db, event_key):
                return HandlerResult(HandlerOutcome.NOTHING_TO_DO, "already recorded")
            if not due():
                _log.info(
                    "child %s at %s: flagged, already notified within the window",
                    child[:8],
                    event.site_ods_code,
                )
                return HandlerResult(HandlerOutcome.NOTHING_TO_DO, "notified within the window")
            queued = 0
            with self.store.transaction():
                if self.store.seen(db, event_key):  # decided again under the write lock
                    return HandlerResult(HandlerOutcome.NOTHING_TO_DO, "already recorded")
                given = due()
                for d in given:
                    queued += self.store.record(
                        db,
                        Notified(d.kind, d.target_ods, d.notice.notification_id, d.rows()),
                        child,
                        event.site_ods_code,
                        epoch,
                        self.clock().timestamp(),
                    )
                self.store.remember_event(
                    db, event_key, child, event.event_type, event.occurred_at, len(given)
                )
        if not given:
            return HandlerResult(HandlerOutcome.NOTHING_TO_DO, "notified within the window")
        _log.info(
            "child %s at %s: %d notification(s), %d message(s) queued",
            child[:8],
            event.site_ods_code,
            len(given),
            queued,
        )
        return HandlerResult(HandlerOutcome.RECORDED, f"{len(given)} notification(s) queued")

    # -- the dispatcher's life --------------------------------------------------------------

    def start(self) -> None:
        """Start sending in the background (the dispatcher's thread)."""
        if self.dispatcher is not None:
            self.dispatcher.start()

    def drain(self, *, everything: bool = False) -> dict[str, int]:
        """Send every row due now (``everything``: those waiting for a retry too), in this
        thread; the outbox's counts after."""
        if self.dispatcher is None:
            return self.store.counts()
        return self.dispatcher.drain(everything=everything)

    def close(self) -> None:
        """Stop the dispatcher and close the sources and the state file."""
        if self.dispatcher is not None:
            self.dispatcher.stop()
        self.flags.close()
        if self.plans is not None:
            self.plans.close()
        self.store.close()
