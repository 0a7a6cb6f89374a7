"""Everything the demo starts on 127.0.0.1, and how each is stopped.

``start_world(stack, root, toolkit)`` starts, in order:

1. **MESH**: NHS England's mesh-sandbox (a uvicorn subprocess) with the LA's and CP-IS's
   mailboxes;
2. **the FHIR sandbox** (uvicorn in a thread), checking every write with the validation chain:
   here it is the CP-IS FHIR API the trust reads and the LA's FHIR endpoint;
3. **the CP-IS stand-in** (a thread) answering uploads in its MESH mailbox as Spine would, and
   publishing the plans it then holds on the FHIR sandbox (``cpis_fhir``);
4. **the MLLP listener** (a thread) running the attendance rules: a flagged child's ADT makes
   CP-IS tell the LA, over MESH and as a FHIR Communication;
5. **the national stand-ins** (uvicorn in a thread): PDS FHIR, ODS and Patient Flags, which the
   LA's sync and the trust's lookup trace against (``interop.sandbox.national``).

Each is entered into the caller's ``ExitStack``, so all of them stop, in reverse order, when it
closes: at the end, on an error or on Ctrl-C. The configuration files the parties use are
written under ``root/config`` (secrets in files beside them, never in the environment).
"""

from __future__ import annotations

import threading
from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass, field
from datetime import date
from pathlib import Path
from typing import Any

from interop.attendance.service import AttendanceService
from interop.config import Config, StandInConfig, load_config, load_stand_in_config
from interop.domain import ResponsibleLocalAuthority
from interop.jobs import build_attendance
from interop.sandbox.cpis_fhir import Published, publish_upload
from interop.sandbox.cpis_spine import Register, RegisterFlags
from interop.sandbox.cpis_standin import Answered, StandIn, pds_for
from interop.sandbox.demo.toolkit import Toolkit
from interop.sandbox.fhir_server.running import running_server
from interop.sandbox.mesh import MeshSandbox, running_sandbox
from interop.sandbox.national import (
    PDS_PATH,
    NationalServices,
    running_national_services,
    stand_in_organisations,
    stand_in_patients,
)
from interop.transport.fhir_client import FhirClient
from interop.transport.mesh import MeshTransport, ReceivedMessage
from interop.transport.mllp import MllpServer, ServerThread

__all__ = ["AnsweredUpload", "StandInService", "World", "start_world"]

#: an NHS number of the test block that the stand-in's PDS does not know (CP-IS: CPR01)
UNKNOWN_TO_PDS = "9000000033"
#: the trust whose A&E sends attendances and looks children up
TRUST_ODS = "RR8"
STOP_TIMEOUT = 15.0


@dataclass(frozen=True)
class AnsweredUpload:
    """One upload the stand-in answered, and what it then published on the CP-IS FHIR API."""

    answered: Answered
    published: Published


class _WatchedTransport(MeshTransport):
    """The stand-in's mailbox, keeping each upload it downloads for the publication."""

    def __init__(self, *args: Any, **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.downloaded: dict[str, bytes] = {}

    def download(self, message_id: str) -> ReceivedMessage:
        message = super().download(message_id)
        self.downloaded[message_id] = message.data
        return message


class StandInService:
    """The CP-IS stand-in in a background thread: polls its mailbox, answers, publishes.

    Its register, transport and FHIR client live in the thread (SQLite connections and
    MESH sessions are not shared between threads).
    """

    def __init__(
        self,
        config: StandInConfig,
        fhir_base: str,
        toolkit: Toolkit,
        authorities: dict[str, ResponsibleLocalAuthority],
        *,
        poll: float = 0.1,
    ) -> None:
        self.config = config
        self.fhir_base = fhir_base
        self.toolkit = toolkit
        self.authorities = authorities
        self.poll = poll
        self._stop = threading.Event()
        self._changed = threading.Condition()
        self._answers: list[AnsweredUpload] = []
        self._failure: BaseException | None = None
        self._thread = threading.Thread(target=self._run, name="cpis-stand-in", daemon=True)

    def start(self) -> None:
        """Start answering in the background."""
        self._thread.start()

    def stop(self) -> None:
        """Stop the thread and wait for it."""
        self._stop.set()
        self._thread.join(STOP_TIMEOUT)

    @property
    def running(self) -> bool:
        """Whether the thread is alive."""
        return self._thread.is_alive()

    def _run(self) -> None:
        register = Register(self.config.stand_in.register)
        transport = _WatchedTransport(self.config.mesh)
        try:
            with transport, FhirClient(self.fhir_base, name="cpis-fhir") as client:
                transport.handshake()
                service = StandIn(
                    transport, register, pds_for(self.config.stand_in), self.config.cpis
                )
                while not self._stop.is_set():
                    for answered in service.answer_uploads():
                        upload = transport.downloaded.pop(answered.upload_message_id, None)
                        published = Published()
                        if upload is not None and not answered.already_answered:
                            published = publish_upload(
                                upload,
                                register,
                                client,
                                authorities=self.authorities,
                                record_to_flag=self.toolkit.record_to_flag,
                                to_fhir=self.toolkit.to_fhir,
                                today=date.today(),
                            )
                        with self._changed:
                            self._answers.append(AnsweredUpload(answered, published))
                            self._changed.notify_all()
                    self._stop.wait(self.poll)
        except BaseException as exc:  # reported to whoever waits for an answer
            with self._changed:
                self._failure = exc
                self._changed.notify_all()
        finally:
            register.close()

    def wait_for_answers(self, count: int, timeout: float) -> list[AnsweredUpload]:
        """The first ``count`` answers, waiting up to ``timeout`` seconds for them.

        ``TimeoutError`` when they do not come; the thread's own failure when it failed.
        """
        with self._changed:
            self._changed.wait_for(
                lambda: len(self._answers) >= count or self._failure is not None, timeout
            )
            if self._failure is not None:
                raise RuntimeError(f"the CP-IS stand-in failed: {self._failure}")
            if len(self._answers) < count:
                raise TimeoutError(f"the CP-IS stand-in answered nothing in {timeout:.0f} s")
            return list(self._answers[:count])


@dataclass
class World:
    """The running services and the files the parties are configured by."""

    root: Path
    mesh: MeshSandbox
    fhir_base: str
    la_config_path: Path
    standin: StandInService
    standin_config: StandInConfig
    register_path: Path
    mllp_address: tuple[str, int]
    attendance: AttendanceService
    #: PDS, ODS and Patient Flags: the demo seeds PDS with the export's children
    national: NationalServices
    pds_base: str
    listening: list[tuple[str, int]] = field(default_factory=list)

    def la_config(self) -> Config:
        """The LA's configuration (its MESH mailbox, CP-IS workflows, its endpoints)."""
        return load_config(self.la_config_path, need=("local_authority", "mesh", "cpis"))


#: the attendance rules of the listener: the flag read (silently) from the CP-IS FHIR API; an
#: access notification to the LA's MESH mailbox and a Communication to its FHIR endpoint
ATTENDANCE = """
[attendance]
flag_source = "endpoint:cpis-fhir"
notify = ["la-mesh", "la-fhir"]
retry_initial = 0.5
retry_max = 5.0
"""


def _write(path: Path, text: str) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(text, encoding="utf-8")
    return path


def _endpoint(name: str, values: dict[str, str]) -> str:
    lines = [f"\n[endpoints.{name}]", *(f'{key} = "{value}"' for key, value in values.items())]
    if values.get("kind") == "fhir":
        lines += ["timeout = 10", "max_retries = 1", "retry_budget = 2"]
    return "\n".join(lines) + "\n"


def write_configs(
    sandbox: MeshSandbox, fhir_base: str, directory: Path, pds_base: str
) -> dict[str, Path]:
    """The interop.toml of each party: the LA, the CP-IS stand-in, the attendance listener."""
    la_password, shared = sandbox.secret_files(directory, "la")
    cpis_password, _ = sandbox.secret_files(directory, "cpis")
    la = sandbox.config_text("la", password=la_password, shared_key=shared)
    # traced before shared: the LA's sync traces every new or changed record on PDS
    la += _endpoint("pds", {"kind": "fhir", "url": pds_base})
    la += '\n[pds]\nendpoint = "pds"\nmismatch = "hold"\nbefore_upload = true\n'
    standin = sandbox.config_text("cpis", password=cpis_password, shared_key=shared, with_la=False)
    standin += (
        '\n[stand_in]\nregister = "../cpis-register.sqlite"\naccept_test_block = true\n'
        f'pds_unknown = ["{UNKNOWN_TO_PDS}"]\n'
    )
    # the attendance listener sends CP-IS's access notifications: it uses CP-IS's mailbox
    listener = sandbox.config_text("cpis", password=cpis_password, shared_key=shared, with_la=False)
    listener += _endpoint(
        "la-mesh",
        {
            "kind": "mesh",
            "mailbox": sandbox.la_mailbox,
            "workflow_id": sandbox.workflows["access_notification"],
        },
    )
    listener += _endpoint("la-fhir", {"kind": "fhir", "url": fhir_base})
    listener += _endpoint("cpis-fhir", {"kind": "fhir", "url": fhir_base})
    listener += ATTENDANCE
    return {
        "la": _write(directory / "interop-la.toml", la),
        "stand-in": _write(directory / "cpis-stand-in.toml", standin),
        "listener": _write(directory / "attendance-listener.toml", listener),
    }


def _attendance(config_path: Path, state: Path) -> AttendanceService:
    """The attendance rules as ``interop listen mllp --config`` wires them."""
    config = load_config(config_path, need=("mesh",))
    if config.attendance is None:
        raise RuntimeError(f"{config_path}: no [attendance] section")
    return build_attendance(config, config.attendance, state, stand_in_flags=RegisterFlags)


@contextmanager
def _thread_service(service: StandInService) -> Iterator[StandInService]:
    service.start()
    try:
        yield service
    finally:
        service.stop()


@contextmanager
def _listener(attendance: AttendanceService) -> Iterator[tuple[str, int]]:
    """The MLLP listener with the attendance rules as its handler; the rules' dispatcher
    sends in the background. Both stopped, and the rules' files closed, on exit."""
    try:
        thread = ServerThread(MllpServer(attendance.handle, host="127.0.0.1", port=0))
        address = thread.start()
        try:
            attendance.start()
            yield address
        finally:
            thread.stop(STOP_TIMEOUT)
    finally:
        attendance.close()


def start_world(stack: ExitStack, root: Path, toolkit: Toolkit) -> World:
    """Start every service on 127.0.0.1 (free ports), each entered into ``stack``."""
    mesh = stack.enter_context(running_sandbox(root / "mesh-sandbox"))
    fhir_base = stack.enter_context(
        running_server(
            root / "fhir-sandbox.sqlite",
            validator=toolkit.resource_validator,
            audit_log=root / "fhir-access.jsonl",
        )
    )
    national = NationalServices(stand_in_patients(), stand_in_organisations())
    national_host = stack.enter_context(running_national_services(national))
    pds_base = national_host + PDS_PATH
    paths = write_configs(mesh, fhir_base, root / "config", pds_base)
    la_config = load_config(paths["la"], need=("local_authority", "mesh", "cpis"))
    authorities = {la_config.authority.ods_code: la_config.local_authority()}
    standin_config = load_stand_in_config(paths["stand-in"])
    standin = stack.enter_context(
        _thread_service(StandInService(standin_config, fhir_base, toolkit, authorities))
    )
    attendance = _attendance(paths["listener"], root / "attendance-state.sqlite")
    address = stack.enter_context(_listener(attendance))
    fhir_port = int(fhir_base.split(":")[2].split("/")[0])
    national_port = int(national_host.rsplit(":", 1)[1])
    return World(
        root=root,
        mesh=mesh,
        fhir_base=fhir_base,
        la_config_path=paths["la"],
        standin=standin,
        standin_config=standin_config,
        register_path=standin_config.stand_in.register,
        mllp_address=address,
        attendance=attendance,
        national=national,
        pds_base=pds_base,
        listening=[
            ("127.0.0.1", mesh.port),
            ("127.0.0.1", fhir_port),
            address,
            ("127.0.0.1", national_port),
        ],
    )
