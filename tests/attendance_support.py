"""Helpers for the attendance rules' tests: ADT messages, a stand-in register, configurations,
a trust's MLLP receiver."""

from __future__ import annotations

import threading
from datetime import UTC, date, datetime
from pathlib import Path
from typing import Any, Literal

from builders import CHILD, SOCIAL_WORKER, doc

from interop.attendance.settings import AttendanceSettings
from interop.codes import PlanType
from interop.config import Config, load_config
from interop.cpis.model import CpisRecord, SubjectKind, UploadHeader
from interop.domain import HealthTreatmentPlan
from interop.hl7v2.adt import AttendanceEvent, read_adt
from interop.sandbox.cpis_spine import Register

FLAGGED = CHILD["nhs_number"]  # 9434765919, on a CPP with Example City Council
UNFLAGGED = "9434765870"
LA_ODS, LA_NAME = "LA380", "Example City Council"
SITE = "RR801"


def adt(
    control_id: str,
    nhs_number: str | None = FLAGGED,
    *,
    event: str = "A04",
    patient_class: str = "E",
    admission_type: str = "",
    occurred: str = "20260301101500",
    site: str = SITE,
    visit: str = "V0001",
    version: str = "2.4",
) -> bytes:
    """An ADT message as a trust sends it (PID-3 NHS number, PV1-44 admitted at ``occurred``)."""
    pid3 = f"{nhs_number}^^^NHS^NH~D1^^^RR8^MR" if nhs_number else "D1^^^RR8^MR"
    pv1 = [""] * 45
    pv1[:5] = ["PV1", "1", patient_class, "WARD12^BAY2^BED3^RR801", admission_type]
    pv1[19] = visit
    pv1[44] = occurred
    structure = "ADT_A03" if event == "A03" else "ADT_A01"
    segments = [
        f"MSH|^~\\&|PAS|{site}|INTEROP|X26|{occurred}||ADT^{event}^{structure}|{control_id}|P|"
        f"{version}",
        f"EVN|{event}|{occurred}",
        f"PID|1||{pid3}||SYNTHETIC^ALEX||20150402|M",
        "|".join(pv1),
    ]
    return ("\r".join(segments) + "\r").encode()


def event_of(message: bytes) -> AttendanceEvent:
    """The attendance read from a message that must read without error."""
    reading = read_adt(message)
    assert reading.event is not None, [i.message for i in reading.errors]
    return reading.event


def register_plans(
    path: Path,
    plans: list[tuple[str, PlanType, date, date | None]],
    *,
    la_ods: str = LA_ODS,
    la_name: str = LA_NAME,
) -> None:
    """A CP-IS stand-in register holding ``plans`` (NHS number, type, start, end)."""
    register = Register(path)
    header = UploadHeader("F1", datetime(2026, 1, 1, tzinfo=UTC), la_ods, la_name)
    with register.transaction():
        for index, (nhs, plan_type, start, end) in enumerate(plans):
            record = CpisRecord(
                record_id=f"R{index}",
                subject_kind=SubjectKind.CHILD,
                nhs_number=nhs,
                date_of_birth=date(2015, 4, 2),
                plan_type=plan_type,
                start_date=start,
                end_date=end,
            )
            register.apply(record, header, datetime(2026, 1, 1, tzinfo=UTC))
    register.close()


def treatment_plan(*, with_worker: bool = True, nhs_number: str = FLAGGED) -> HealthTreatmentPlan:
    """A health treatment plan with a key social worker and two escalation triggers."""
    cp_plan: dict[str, Any] = {"local_id": "CP-0001", "start_date": "2026-02-03"}
    if with_worker:
        cp_plan["key_social_worker"] = {
            **SOCIAL_WORKER,
            "email": "dana.whitfield@example.gov.uk",
            "organisation": {"ods_code": LA_ODS, "name": LA_NAME},
        }
    data = doc(
        "health-treatment-plan",
        child={**CHILD, "nhs_number": nhs_number},
        cp_plan=cp_plan,
        lead_health_practitioner={
            "name": "Dr Imran Qureshi",
            "role": "Consultant paediatrician",
            "phone": "0113 496 0200",
            "organisation": {"ods_code": "RR8", "name": "Example Teaching Hospitals"},
        },
        escalation_triggers=[
            *doc("health-treatment-plan")["escalation_triggers"],
            {
                "trigger": "missed-appointments",
                "description": "Two missed diabetes clinic appointments",
                "action": "Lead health practitioner calls the key social worker",
                "responsible": {"role": "lead-health-practitioner"},
                "timescale": "within 24 hours",
            },
        ],
    )
    return HealthTreatmentPlan.model_validate(data)


def write_config(
    directory: Path,
    endpoints: dict[str, dict[str, str]],
    *,
    base_text: str = "",
    attendance: dict[str, Any] | None = None,
) -> tuple[Config, AttendanceSettings | None]:
    """Write ``base_text`` plus ``[endpoints.NAME]`` tables and ``attendance`` as the
    ``[attendance]`` table into an interop.toml, and load it (with [mesh] when there is one)."""
    lines = [base_text]
    for name, values in endpoints.items():
        lines.append(f"\n[endpoints.{name}]")
        lines.extend(f'{key} = "{value}"' for key, value in values.items())
        if values.get("kind") == "fhir":
            lines += ["max_retries = 0", "retry_budget = 0.01", "timeout = 10"]
    if "[environment]" not in base_text:
        lines.append('\n[environment]\nname = "test"')
    if attendance is not None:
        lines.append("\n" + _toml_table("attendance", attendance))
    directory.mkdir(parents=True, exist_ok=True)
    path = directory / "interop.toml"
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    need = ("mesh",) if "[mesh]" in base_text else ()
    config = load_config(path, need=need)
    return config, config.attendance


def _toml_table(name: str, values: dict[str, Any]) -> str:
    def value(item: Any) -> str:
        if isinstance(item, bool):
            return "true" if item else "false"
        if isinstance(item, int | float):
            return str(item)
        if isinstance(item, list):
            return "[" + ", ".join(value(v) for v in item) + "]"
        return f'"{item}"'

    return f"[{name}]\n" + "".join(f"{k} = {value(v)}\n" for k, v in values.items())


def flood_messages(
    count: int, flagged: list[str], unflagged: list[str], *, seed: int, site: str = SITE
) -> tuple[list[bytes], list[str], list[tuple[str, str, str]]]:
    """``count`` attendances, every 20th malformed (an invalid HL7 fixture): the messages, the
    ACK code each must get, and for each valid one (NHS number, event, admission type)."""
    import json
    import random

    from interop.fixtures import fixtures_root

    root = Path(str(fixtures_root())) / "hl7v2"
    manifest = json.loads((root / "manifest.json").read_text("utf-8"))["fixtures"]
    invalid = [f for f in manifest if f["path"].startswith("invalid/")]
    rng = random.Random(seed)
    shapes = [
        ("A04", "E", ""),  # an A&E attendance
        ("A01", "I", "21"),  # an emergency admission via A&E
        ("A01", "I", "11"),  # a planned admission from the waiting list
        ("A08", "E", ""),  # an update of an A&E attendance
        ("A03", "I", "21"),  # a discharge
    ]
    messages: list[bytes] = []
    expected: list[str] = []
    valid: list[tuple[str, str, str]] = []
    for index in range(count):
        if index % 20 == 7:
            fixture = rng.choice(invalid)
            messages.append((root / fixture["path"]).read_bytes())
            expected.append(fixture["ack_code"])
            continue
        number = rng.choice(flagged) if rng.random() < 0.3 else rng.choice(unflagged)
        event, patient_class, admission = rng.choices(shapes, weights=[50, 20, 10, 15, 5])[0]
        minute = rng.randint(0, 119)
        occurred = f"202603011{minute // 60}{minute % 60:02d}00"
        messages.append(
            adt(
                f"F{index}",
                number,
                event=event,
                patient_class=patient_class,
                admission_type=admission,
                occurred=occurred,
                site=site,
                visit=f"V{index:06d}",
                version=rng.choice(["2.4", "2.5"]),
            )
        )
        expected.append("AA")
        valid.append((number, event, admission))
    return messages, expected, valid


class OruReceiver:
    """A trust's MLLP receiver for alerts: answers each frame AA (or ``code``), keeps them."""

    def __init__(self, code: Literal["AA", "AR"] = "AA") -> None:
        import socketserver

        from interop.hl7v2.ack import build_ack, encode_ack
        from interop.hl7v2.er7 import salvage_header
        from interop.transport.mllp import Frame, MllpDecoder, frame

        self.received: list[bytes] = []
        received = self.received

        class Handler(socketserver.BaseRequestHandler):
            def handle(self) -> None:
                decoder = MllpDecoder()
                while data := self.request.recv(65536):
                    for item in decoder.feed(data):
                        assert isinstance(item, Frame)
                        received.append(item.payload)
                        header = salvage_header(item.payload)
                        text = "" if code == "AA" else "refused"
                        ack = build_ack(header, code, text=text)
                        self.request.sendall(frame(encode_ack(ack, header)))

        self.server = socketserver.ThreadingTCPServer(("127.0.0.1", 0), Handler)
        self.server.daemon_threads = True
        self.port = self.server.server_address[1]
        threading.Thread(target=self.server.serve_forever, daemon=True).start()

    def close(self) -> None:
        self.server.shutdown()
        self.server.server_close()
