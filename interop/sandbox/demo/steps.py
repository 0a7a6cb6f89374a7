"""The demo's steps: each does one part of the journey and says what it sent, received and refused.

A step is ``step(journey) -> StepResult``. ``ok`` is true only when the step did what it should,
refusals included: the export's bad rows refused with their reasons, CP-IS's refusal of the
child PDS does not know, the mistyped NHS number's AE, the invalid file kept back. Every line
names children by masked NHS number only.
"""

from __future__ import annotations

import json
import time
from collections.abc import Callable
from contextlib import ExitStack
from dataclasses import dataclass, field, replace
from datetime import datetime
from pathlib import Path

from interop.attendance.service import AttendanceService
from interop.codes import CpisFileResponse, CpisRecordResponse
from interop.config import EndpointSettings
from interop.domain import ARTEFACT_KINDS
from interop.fixtures import fixtures_root
from interop.hl7v2.er7 import LOCAL_TIME
from interop.identifiers import InvalidNhsNumber
from interop.jobs import cpis_lookup, pull_cpis_replies, push_artefacts, run_cpis_sync
from interop.jobs.state import StateOptions
from interop.la_export import ExportRow
from interop.privacy import mask_nhs_number
from interop.sandbox.demo.toolkit import JSON, Toolkit
from interop.sandbox.demo.world import TRUST_ODS, UNKNOWN_TO_PDS, World, start_world
from interop.sync.cpis_pull import OUTPUT_FILES
from interop.synthetic import export_csv
from interop.transport.cpis_api import AuditLog
from interop.transport.fhir_client import FhirClient, FhirError

__all__ = ["STEPS", "Journey", "StepResult"]

#: the synthetic export: children, and how many of their rows are spoilt on purpose
EXPORT_CHILDREN = 300
EXPORT_BAD_ROWS = 10
EXPORT_SEED = 2026
#: a child on a plan whom PDS does not know: CP-IS refuses the record (CPR01)
UNKNOWN_CHILD_ROW = f"LA-DEMO-PDS1,CPP,{UNKNOWN_TO_PDS},Sam,Doe,2015-03-01,2026-01-10,,,,"
#: a child attending A&E who has no plan (a test-block number the export does not use)
UNFLAGGED_CANDIDATES = ("9434765870", "9876543210", "9434765919")
#: the trust's A&E, where the attendance happens
SITE = "RR801"
WAIT = 30.0  # the longest wait for a background service: a safety net, not a timing
#: what the push step sends (paths inside the shipped fixtures), and the file it holds back
PUSHED = (
    "artefacts/valid/travel-alert/planned-abroad-significant-risk.json",
    "fhir/strategy-discussion-health-report/s47-diabetes-neglect.xml",
)
REFUSED = "fhir/invalid/travel-alert/flag-without-subject.json"


@dataclass
class StepResult:
    """What one step did: its verdict, a one-line summary, lines printed under it, and for the
    report what was sent, received and refused (with why) and any further detail."""

    name: str
    ok: bool
    summary: str
    lines: list[str] = field(default_factory=list)
    sent: list[str] = field(default_factory=list)
    received: list[str] = field(default_factory=list)
    rejected: list[str] = field(default_factory=list)
    details: list[str] = field(default_factory=list)
    seconds: float = 0.0
    ran: bool = True


@dataclass
class Journey:
    """What the steps share: the toolkit, the working folder, the services, and what earlier
    steps found (the export, the sync's uploads, the child the trust sees)."""

    toolkit: Toolkit
    root: Path
    stack: ExitStack
    world: World | None = None
    export: Path | None = None
    valid_rows: list[ExportRow] = field(default_factory=list)
    uploads_sent: int = 0
    child: ExportRow | None = None
    #: the local id of the row whose date of birth PDS holds differently (held back)
    mismatched: str | None = None

    @property
    def services(self) -> World:
        """The running services (the first step starts them)."""
        if self.world is None:
            raise RuntimeError("the services are not running")
        return self.world

    @property
    def ledger_path(self) -> Path:
        """The LA's CP-IS sync ledger."""
        return self.root / "la-state.sqlite"

    @property
    def flagged_child(self) -> ExportRow:
        """The child the trust sees: the export's first child on a current child protection
        plan (CP-IS accepts them all but the one PDS does not know)."""
        if self.child is None:
            for row in self.valid_rows:
                flag = row.flag
                if (
                    flag.plan_type.value == "CPP"
                    and flag.plan_end is None
                    and flag.subject.nhs_number != UNKNOWN_TO_PDS
                ):
                    self.child = row
                    break
            else:
                raise RuntimeError("the export holds no current child protection plan")
        return self.child


Step = Callable[[Journey], StepResult]


def _masked(nhs_number: str) -> str:
    return f"NHS {mask_nhs_number(nhs_number)}"


# --- 1. start -------------------------------------------------------------------------------


def start_services(journey: Journey) -> StepResult:
    """MESH, the FHIR sandbox, the CP-IS stand-in and the MLLP listener, on 127.0.0.1."""
    world = start_world(journey.stack, journey.root, journey.toolkit)
    journey.world = world
    mesh = world.mesh
    host, port = world.mllp_address
    lines = [
        f"MESH: mesh-sandbox on {mesh.base_url} (process {mesh.pid}); mailboxes "
        f"{mesh.la_mailbox} (the LA) and {mesh.cpis_mailbox} (CP-IS)",
        f"FHIR sandbox on {world.fhir_base}, validating every write with the validation chain",
        f"CP-IS stand-in answering mailbox {mesh.cpis_mailbox}; PDS: the NHS test block",
        f"MLLP listener on {host}:{port}: attendance rules, flags from the CP-IS FHIR API",
        f"PDS FHIR, ODS and Patient Flags stand-ins; PDS at {world.pds_base}",
    ]
    return StepResult(
        "",
        ok=world.standin.running,
        summary="MESH, FHIR, the CP-IS stand-in and the MLLP listener are up on 127.0.0.1",
        lines=lines,
        details=[f"configuration of each party: {world.la_config_path.parent}"],
    )


# --- 2. conformance -------------------------------------------------------------------------


def conformance(journey: Journey) -> StepResult:
    """Every shipped conformance fixture against its manifest (the supplier kit's check)."""
    checks = journey.toolkit.check_fixtures()
    wrong = [c for c in checks if not c.as_expected]
    lines = []
    for kind in ARTEFACT_KINDS:
        mine = [c for c in checks if c.kind == kind]
        valid = sum(c.expect == "valid" and c.format == "artefact-json" for c in mine)
        invalid = sum(c.expect == "invalid" and c.format == "artefact-json" for c in mine)
        good = sum(c.as_expected for c in mine)
        lines.append(
            f"{kind}: {valid} valid and {invalid} invalid artefacts, "
            f"{len(mine) - valid - invalid} FHIR and CP-IS files; {good}/{len(mine)} as expected"
        )
    return StepResult(
        "",
        ok=bool(checks) and not wrong,
        summary=f"{len(checks) - len(wrong)} of {len(checks)} fixtures behave as the manifest says",
        lines=lines,
        rejected=[f"{c.path}: {c.note}" for c in checks if c.expect == "invalid" and c.note],
        details=[f"NOT AS EXPECTED {c.path}: {c.note}" for c in wrong],
    )


# --- 3. the export --------------------------------------------------------------------------


def generate_export(journey: Journey) -> StepResult:
    """The LA's case-management export: synthetic children, some rows spoilt on purpose."""
    synthetic = export_csv(EXPORT_CHILDREN, seed=EXPORT_SEED, bad_rows=EXPORT_BAD_ROWS)
    data = synthetic + (UNKNOWN_CHILD_ROW + "\n").encode("utf-8")
    path = journey.root / "la-export.csv"
    path.write_bytes(data)
    journey.export = path
    journey.mismatched = _seed_pds(journey, data)
    rows = data.count(b"\n") - 1
    return StepResult(
        "",
        ok=rows == EXPORT_CHILDREN + 1,
        summary=f"{path.name}: {rows} children on plans, {EXPORT_BAD_ROWS} rows spoilt on purpose",
        lines=[
            "synthetic children, NHS numbers from the test block; spoilt rows: a wrong check "
            "digit, a short NHS number, a UK-format date, an unknown plan type, an end before "
            "the start, a UCPP without expected delivery date, a repeated local id",
            "one more child, LA-DEMO-PDS1, whose NHS number PDS does not know "
            f"({_masked(UNKNOWN_TO_PDS)})",
            f"PDS knows the other children; for {journey.mismatched} it holds another date of "
            "birth than the export (a typing slip in the case record)",
        ],
        details=[f"export: {path}"],
    )


def _seed_pds(journey: Journey, data: bytes) -> str:
    """The PDS stand-in learns the export's children (all but the one PDS does not know); for
    the last current child protection plan it holds a date of birth a day later. Returns that
    row's local id. The export is read as plain CSV: PDS knows people, not rows."""
    import csv
    from datetime import date, timedelta

    from interop.identifiers import InvalidNhsNumber, check_nhs_number
    from interop.sandbox.national import PdsRecord

    people: dict[str, PdsRecord] = {}
    slip: tuple[str, str] | None = None  # (local id, NHS number)
    local_ids: set[str] = set()
    for row in csv.DictReader(data.decode("utf-8-sig").splitlines()):
        if row["local_id"] in local_ids:
            continue  # a repeated local id: the export's checks refuse the row
        local_ids.add(row["local_id"])
        try:
            number = check_nhs_number(row["nhs_number"])
            born = date.fromisoformat(row["date_of_birth"])
            date.fromisoformat(row["plan_start"])
        except (InvalidNhsNumber, ValueError):
            continue  # a row spoilt on purpose: the export's checks refuse it
        if number == UNKNOWN_TO_PDS or number in people:
            continue
        people[number] = PdsRecord(number, row["given_name"], row["family_name"], born)
        if row["plan_type"] == "CPP" and not row["plan_end"]:
            slip = (row["local_id"], number)
    if slip is None:
        raise RuntimeError("the export holds no current child protection plan")
    local_id, number = slip
    typed = people[number]
    people[number] = replace(typed, birth_date=typed.birth_date + timedelta(days=1))
    journey.services.national.add_patients(people.values())
    return local_id


# --- 4. the sync ----------------------------------------------------------------------------


def cpis_sync(journey: Journey) -> StepResult:
    """``interop sync cpis``: check every row, trace new and changed ones on PDS, plan the
    uploads in the ledger, send over MESH."""
    world = journey.services
    export = journey.export
    if export is None:
        raise RuntimeError("no export to sync")
    config = world.la_config()
    uploads = journey.root / "uploads"
    result = run_cpis_sync(
        export,
        state=journey.ledger_path,
        config=config,
        out=uploads,
        keep_rows=True,
        state_options=StateOptions(new=True),  # the demo's world starts with its ledger
    )
    journey.valid_rows = valid = result.rows
    sent = result.sent
    journey.uploads_sent = len(sent)
    counts = result.counts
    records = sum(o.records for o in sent)
    trace = result.trace
    held = [p for p in result.problems if p.rule_id == "PDS"]
    traced = (
        f"PDS trace before upload: {trace.traced} traced, {trace.held} held back "
        "(an NHS number PDS does not know, a date of birth that differs from PDS)"
        if trace
        else "PDS trace: not configured"
    )
    return StepResult(
        "",
        ok=result.rejected_lines == EXPORT_BAD_ROWS + 2
        and len(held) == 2
        and trace is not None
        and trace.held == 2
        and bool(sent)
        and len(sent) == len(result.outcomes)
        and records == counts.to_send == len(valid),
        summary=f"{len(valid)} valid rows, {result.rejected_lines} refused "
        f"({len(held)} held back by the PDS trace); {len(sent)} upload(s) "
        f"of {records} records sent to CP-IS over MESH",
        lines=[
            traced,
            f"compared with the ledger: {counts.new} new, {counts.changed} changed, "
            f"{counts.unchanged} unchanged",
        ],
        sent=[
            f"upload {o.upload_id}: {o.records} records to {config.cpis.mailbox} "
            f"(workflow {config.cpis.upload_workflow_id}, MESH message {o.message_id})"
            for o in sent
        ],
        rejected=[f"export {p.describe()}" for p in result.problems],
        details=[f"upload files kept in {uploads}", f"ledger: {journey.ledger_path}"],
    )


# --- 5. CP-IS answers -----------------------------------------------------------------------


def cpis_answers(journey: Journey) -> StepResult:
    """The stand-in answers the upload as Spine would and publishes what it now holds."""
    world = journey.services
    answers = world.standin.wait_for_answers(journey.uploads_sent, WAIT)
    lines: list[str] = []
    sent: list[str] = []
    received: list[str] = []
    rejected: list[str] = []
    ok = bool(answers)
    plans = 0
    for item in answers:
        answered, published = item.answered, item.published
        code = CpisFileResponse.lookup(answered.file_code)
        meaning = code.display if code else answered.file_code
        lines.append(
            f"upload {answered.upload_message_id}: {answered.file_code} ({meaning}), "
            f"{answered.records} record responses"
        )
        received.append(f"upload {answered.upload_message_id} from {world.mesh.la_mailbox}")
        sent.append(
            f"acknowledgement {answered.file_code} to {world.mesh.la_mailbox} "
            f"(workflow {world.mesh.workflows['acknowledgement']})"
        )
        sent.append(
            f"{published.plans} plans published on the CP-IS FHIR API "
            f"({published.resources} resources: Flag, CareTeam, Patient, Organization)"
        )
        rejected.extend(f"not published: {why}" for why in published.not_mapped)
        plans += published.plans
        lines.append(
            f"{published.plans} plans published: every plan CP-IS accepted and still holds "
            "(an ended plan past its delete date is not held)"
        )
        ok = ok and answered.file_code in ("CPF02", "CPF03") and not published.not_mapped
    return StepResult(
        "",
        ok=ok and plans > 0,
        summary=f"answered {len(answers)} upload(s); {plans} plans now on the CP-IS FHIR API",
        lines=lines,
        sent=sent,
        received=received,
        rejected=rejected,
        details=[f"register: {world.register_path}"],
    )


# --- 6. acknowledgements --------------------------------------------------------------------


def pull_acknowledgements(journey: Journey) -> StepResult:
    """``interop pull cpis``: the LA receives, records and acknowledges CP-IS's replies."""
    world = journey.services
    replies = journey.root / "replies"
    pulled = pull_cpis_replies(world.la_config(), state=journey.ledger_path, out=replies)
    report = pulled.report
    rejected = []
    for record in pulled.rejected:
        code = CpisRecordResponse.lookup(record.outcome)
        why = code.display if code else (record.outcome or "rejected")
        rejected.append(
            f"CP-IS refused {record.local_id} [{record.la_ods}]: {record.outcome} {why}"
        )
    # the PDS trace held back what CP-IS would have refused (CPR01) a day later
    expected_refusal = not pulled.rejected
    return StepResult(
        "",
        ok=report.acknowledgements == journey.uploads_sent
        and pulled.waiting == 0
        and expected_refusal
        and not report.unreadable,
        summary=f"{report.acknowledgements} acknowledgement(s): {pulled.accepted} records held "
        f"by CP-IS, {pulled.waiting} awaiting, {len(pulled.rejected)} refused",
        lines=list(rejected),
        received=[
            f"acknowledgement of upload {ack.get('file_id')}: {ack.get('file_code')}"
            for ack in _json_lines(replies / OUTPUT_FILES["acknowledgement"])
        ],
        rejected=rejected,
        details=[f"replies written to {replies}"],
    )


def _json_lines(path: Path) -> list[JSON]:
    """The replies a pull wrote out, one JSON object a line."""
    return [json.loads(line) for line in path.read_text("utf-8").splitlines() if line]


# --- 7. the trust's lookup ------------------------------------------------------------------


def _describe_team(team: JSON, organisations: dict[str, JSON]) -> str:
    """``Child protection plan (CPP), active, from 2026-02-01; Test Borough Council (LA1)``."""
    coding: JSON = {}
    for category in team.get("category") or []:
        codings = category.get("coding") or []
        if codings:
            coding = codings[0]
            break
    period = team.get("period") or {}
    span = f"from {period.get('start', '?')}" + (
        f" to {period['end']}" if period.get("end") else ""
    )
    managers = []
    for org in team.get("managingOrganization") or []:
        found = organisations.get(str(org.get("reference")))
        if found is None:
            managers.append(str(org.get("display") or "?"))
            continue
        codes = [i.get("value") for i in found.get("identifier") or [] if isinstance(i, dict)]
        managers.append(f"{found.get('name', '?')} ({codes[0] if codes else '?'})")
    return (
        f"{coding.get('display', '?')} ({coding.get('code', '?')}), {team.get('status', '?')}, "
        f"{span}; responsible: {', '.join(managers) or '?'}"
    )


def lookup(journey: Journey) -> StepResult:
    """``interop cpis lookup --unscheduled``: the trust's A&E asks CP-IS about the child."""
    world = journey.services
    child = journey.flagged_child
    number = child.flag.subject.nhs_number
    audit_path = journey.root / "trust-audit.jsonl"
    audit = AuditLog(audit_path, user="demo.clinician")
    reason = "Child attending A&E with an injury"
    cpis_api = EndpointSettings(
        name="CP-IS FHIR API", kind="fhir", url=world.fhir_base, ods_code=TRUST_ODS
    )
    pds = EndpointSettings(name="PDS", kind="fhir", url=world.pds_base)
    found = cpis_lookup(
        cpis_api, number, unscheduled=True, reason=reason, history=True, audit=audit, pds=pds
    )
    teams, events = found.teams, found.events
    rejected = []
    mistyped = number[:-1] + str((int(number[-1]) + 1) % 10)
    try:
        cpis_lookup(
            cpis_api, mistyped, unscheduled=True, reason=reason, audit=audit, already_traced=True
        )
        refused = False
    except InvalidNhsNumber as exc:
        refused = True
        rejected.append(f"a lookup of a mistyped NHS number, refused before it is sent: {exc}")
    phases = [json.loads(line)["phase"] for line in audit_path.read_text("utf-8").splitlines()]
    plans = [t for t in teams if "CPP" in json.dumps(t.get("category"))]
    by_trust = [e for e in events if TRUST_ODS in json.dumps(e.get("agent"))]
    trace = found.trace
    lines = [f"traced on PDS first: {trace.status if trace else 'not traced'}"]
    lines.append(f"{_masked(number)}: {len(teams)} care team(s)")
    lines += [f"  {_describe_team(team, found.organisations)}" for team in teams]
    lines.append(
        f"the unscheduled access is recorded by CP-IS: {len(by_trust)} AuditEvent(s) naming "
        f"{TRUST_ODS}; the trust's audit log: {', '.join(phases)}"
    )
    return StepResult(
        "",
        ok=bool(plans)
        and len(by_trust) == 1
        and phases == ["requested", "completed"]
        and refused
        and trace is not None
        and trace.status == "traced",
        summary=f"{TRUST_ODS} found {_masked(number)} on a child protection plan; the "
        "unscheduled access is recorded",
        lines=lines,
        sent=[
            f"GET CareTeam?patient:identifier=…|{mask_nhs_number(number)} "
            f"(IsUnscheduledAccessEvent: true, NHSD-End-User-Organisation-ODS: {TRUST_ODS})"
        ],
        received=[f"{len(teams)} CareTeam(s); {len(events)} AuditEvent(s) on reading back"],
        rejected=rejected,
        details=[f"trust audit log: {audit_path}"],
    )


# --- 8. the attendance ----------------------------------------------------------------------


def adt_message(
    control_id: str, nhs_number: str, *, born: str, occurred: datetime, site: str = SITE
) -> bytes:
    """An A04 (an A&E attendance) as a trust's PAS sends it, ER7, v2.5."""
    stamp = occurred.astimezone(LOCAL_TIME).strftime("%Y%m%d%H%M%S")
    pv1 = [""] * 45
    pv1[:5] = ["PV1", "1", "E", f"AE^MAJORS^CUBICLE4^{site}", ""]
    pv1[19] = f"V{control_id}"
    pv1[44] = stamp
    segments = [
        f"MSH|^~\\&|PAS|{site}|INTEROP|X26|{stamp}||ADT^A04^ADT_A01|{control_id}|P|2.5",
        f"EVN|A04|{stamp}",
        f"PID|1||{nhs_number}^^^NHS^NH~D{control_id}^^^{TRUST_ODS}^MR||SYNTHETIC^CHILD||{born}|U",
        "|".join(pv1),
    ]
    return ("\r".join(segments) + "\r").encode("ascii")


def _wait_until_sent(service: AttendanceService) -> dict[str, int]:
    """The outbox's counts once the dispatcher has sent what is queued (or after ``WAIT``)."""
    deadline = time.monotonic() + WAIT
    while True:
        counts: dict[str, int] = service.store.counts()
        if counts["pending"] == counts["sending"] == 0 or time.monotonic() > deadline:
            return counts
        time.sleep(0.05)


def attendance(journey: Journey) -> StepResult:
    """Three ADT messages over MLLP: the flagged child, a child without a plan, and one with
    a mistyped NHS number; the attendance rules answer each and tell the LA of the first."""
    from interop.hl7v2.ack import read_ack
    from interop.transport.mllp import MllpClient

    world = journey.services
    child = journey.flagged_child
    number = child.flag.subject.nhs_number
    born = child.flag.subject.date_of_birth.strftime("%Y%m%d")
    known = {row.flag.subject.nhs_number for row in journey.valid_rows}
    other = next(n for n in UNFLAGGED_CANDIDATES if n not in known)
    mistyped = number[:-1] + str((int(number[-1]) + 1) % 10)
    now = datetime.now(LOCAL_TIME)
    host, port = world.mllp_address
    with MllpClient(host, port, timeout=WAIT) as trust:
        flagged = read_ack(trust.send(adt_message("DEMO1", number, born=born, occurred=now)))
        counts = _wait_until_sent(world.attendance)
        unflagged = read_ack(trust.send(adt_message("DEMO2", other, born=born, occurred=now)))
        wrong = read_ack(trust.send(adt_message("DEMO3", mistyped, born=born, occurred=now)))
    after = _wait_until_sent(world.attendance)
    why = "; ".join(
        f"{e.message or wrong.text} (HL7 error {e.code} at {e.location})" for e in wrong.errors
    )
    sent_rows = [row for row in world.attendance.store.rows() if row.state == "sent"]
    return StepResult(
        "",
        ok=flagged.code == "AA"
        and unflagged.code == "AA"
        and wrong.code == "AE"
        and counts["sent"] == 2  # the access notification: to the LA's MESH and FHIR endpoints
        and after["sent"] == counts["sent"]
        and after["pending"] == after["sending"] == 0,
        summary=f"the flagged child's A04: ACK {flagged.code}, {counts['sent']} notifications "
        f"sent to the LA; no plan: ACK {unflagged.code}; mistyped NHS number: ACK {wrong.code}",
        lines=[
            f"A04 at {SITE} for {_masked(number)} (on a plan): ACK {flagged.code}; the LA is "
            f"told over MESH and FHIR ({counts['sent']} message(s))",
            f"A04 for {_masked(other)} (no plan): ACK {unflagged.code}; nobody is told",
        ],
        sent=[
            f"ADT^A04 DEMO1 ({_masked(number)}) → ACK {flagged.code}",
            f"ADT^A04 DEMO2 ({_masked(other)}) → ACK {unflagged.code}",
            f"ADT^A04 DEMO3 ({_masked(mistyped)}) → ACK {wrong.code}",
            *(f"{row.kind} to {row.endpoint}: sent" for row in sent_rows),
        ],
        rejected=[f"ADT DEMO3 answered {wrong.code}: {why}"],
        details=[f"attendance state: {journey.root / 'attendance-state.sqlite'}"],
    )


# --- 9. the LA receives ---------------------------------------------------------------------


def la_receives(journey: Journey) -> StepResult:
    """The LA pulls CP-IS's access notification from MESH and finds the FHIR Communication."""
    world = journey.services
    config = world.la_config()
    number = journey.flagged_child.flag.subject.nhs_number
    replies = journey.root / "replies"
    pulled = pull_cpis_replies(
        config,
        state=journey.ledger_path,
        out=replies,
        workflow_ids=(config.cpis.access_notification_workflow_id,),
    )
    report = pulled.report
    notifications = _json_lines(replies / OUTPUT_FILES["access-notification"])
    about_child = [n for n in notifications if n.get("nhs_number") == number]
    with FhirClient(world.fhir_base) as client:
        notes = list(client.search_by_patient("Communication", number))
    received = []
    for note in about_child:
        accessor = note.get("accessor") or {}
        received.append(
            f"MESH: access notification about {_masked(number)}: {note.get('plan_type')} plan, "
            f"seen by {accessor.get('organisation_ods', '?')} "
            f"({note.get('care_setting') or 'care setting not given'})"
        )
    for note in notes:
        topic = (note.get("topic") or {}).get("text", "?")
        received.append(f"FHIR: Communication {note.get('id')}: {topic}")
    return StepResult(
        "",
        ok=report.access_notifications == 1 and len(about_child) == 1 and len(notes) >= 1,
        summary=f"the LA received {report.access_notifications} access notification over MESH "
        f"and {len(notes)} Communication at its FHIR endpoint",
        lines=received,
        received=received,
        details=[f"access notifications: {replies / OUTPUT_FILES['access-notification']}"],
    )


# --- 10. push -------------------------------------------------------------------------------


def _fixture(journey: Journey, path: str) -> Path:
    """A shipped fixture copied into the working folder, as a user's file to push."""
    resource = fixtures_root().joinpath(*path.split("/"))
    copy = journey.root / "push" / path.rsplit("/", 1)[-1]
    copy.parent.mkdir(exist_ok=True)
    copy.write_bytes(resource.read_bytes())
    return copy


def push(journey: Journey) -> StepResult:
    """``interop push``: validate, map and write a travel alert and a strategy discussion
    health report; an invalid file is held back with its reasons, and the FHIR sandbox refuses
    it too when it is sent anyway."""
    from interop.fhir import read_fhir_json

    world = journey.services
    sandbox = EndpointSettings(name="FHIR sandbox", kind="fhir", url=world.fhir_base)
    files = [_fixture(journey, path) for path in PUSHED]
    outcome = push_artefacts(files, endpoint=sandbox)
    lines: list[str] = []
    sent: list[str] = []
    rejected: list[str] = []
    pushed = 0
    for event in outcome.events:
        if event.kind == "invalid":
            rejected += [f"{event.path.name}: {issue.describe()}" for issue in event.issues]
        if event.kind != "pushed" or event.result is None or event.artefact is None:
            continue
        result = event.result
        created = sum(o.status.startswith(("200", "201")) for o in result.outcomes)
        if result.outcomes and created == len(result.outcomes):
            pushed += 1
        lines.append(
            f"{event.artefact.kind} ({event.path.name}): valid; mapped to "
            f"{len(result.outcomes)} FHIR resources; written: {created}"
        )
        sent += [f"PUT {o.resource}: {o.status}" for o in result.outcomes]
    refused = _fixture(journey, REFUSED)
    held = push_artefacts([refused], endpoint=sandbox)
    errors = [i for e in held.events if e.kind == "invalid" for i in e.issues if i.is_error]
    held_back = bool(errors) and not held.pushed
    rejected += [f"{refused.name}: not pushed: {issue.describe()}" for issue in errors]
    lines.append(f"{refused.name}: {len(errors)} error(s): not pushed")
    with FhirClient(world.fhir_base, name="FHIR sandbox") as client:
        try:  # past the toolkit's own check, on purpose: the server must refuse it too
            client.push(read_fhir_json(refused.read_bytes()))
            server_refused = False
        except FhirError as exc:
            server_refused = 400 <= exc.status < 500
            rejected += [
                f"{refused.name}, sent anyway: HTTP {exc.status}: {issue.describe()}"
                for issue in exc.issues
            ]
            lines.append(f"sent anyway, the FHIR sandbox refuses it: HTTP {exc.status}")
    return StepResult(
        "",
        ok=pushed == len(PUSHED) and held_back and server_refused,
        summary=f"{pushed} artefacts validated, mapped and written; the invalid file was refused "
        "with its reasons",
        lines=lines,
        sent=sent,
        received=[f"{pushed} artefact(s) written; the invalid one refused twice"],
        rejected=rejected,
    )


#: the journey, in order (the runner adds the final stop)
STEPS: tuple[tuple[str, Step], ...] = (
    ("Start the services", start_services),
    ("Conformance fixtures", conformance),
    ("The LA's export", generate_export),
    ("CP-IS sync over MESH", cpis_sync),
    ("CP-IS stand-in answers", cpis_answers),
    ("LA pulls the acknowledgements", pull_acknowledgements),
    ("Trust looks the child up on CP-IS", lookup),
    ("ADT attendances over MLLP", attendance),
    ("LA receives the notification", la_receives),
    ("Push to FHIR", push),
)
