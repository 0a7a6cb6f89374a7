"""interop.jobs: the workflows exist once, and the CLI, the demo and the benchmarks call them.

Two kinds of proof: a spy on each job while the command runs (the command called the job and
printed its result), and an import check of every caller (none imports the lower-level pieces
it used to assemble a workflow from). Plus the one error handler's exit codes.
"""

from __future__ import annotations

import ast
from pathlib import Path
from typing import Any

import click
import pytest
from click.testing import CliRunner

import interop.jobs
from interop.cli.main import InteropCommand, cli
from interop.errors import BusyError, InputError, RemoteError, UsageError
from interop.jobs import CpisSyncResult, PullResult, PushOutcome

ROOT = Path(__file__).resolve().parents[2]
NHS = "9434765919"  # a test-block number with a valid check digit

#: caller file → the job functions it must call
CALLERS: dict[str, set[str]] = {
    "cli/sync_cmd.py": {"run_cpis_sync"},
    "cli/pull_cmd.py": {"pull_artefacts", "pull_cpis_replies"},
    "cli/push_cmd.py": {"push_artefacts"},
    "cli/cpis_cmd.py": {"cpis_lookup"},
    "cli/listen_cmd.py": {"attendance_service", "build_attendance", "dispatch_attendances"},
    "interop/sandbox/demo/steps.py": {
        "cpis_lookup",
        "pull_cpis_replies",
        "push_artefacts",
        "run_cpis_sync",
    },
    "interop/sandbox/demo/world.py": {"build_attendance"},
    "benchmarks/cpis_sync.py": {"run_cpis_sync"},
    "benchmarks/attendance_flood.py": {"build_attendance"},
}

#: the pieces a workflow is assembled from: only interop.jobs may import them
WORKFLOW_PIECES: dict[str, set[str] | None] = {  # None: any name of the module
    "interop.sync.cpis_sync": None,
    "interop.sync.ledger": None,
    "interop.sync.watermarks": None,
    "interop.attendance.wiring": None,
    "interop.la_export": {"ExportReader"},
    "interop.sync.cpis_pull": {"pull"},
    "interop.transport.mesh": {"MeshTransport"},
    "interop.transport.bundles": {"assemble", "to_transaction"},
    "interop.validators.files": {"validate_bytes"},
    "interop.mappings.fhir": {"fhir_to_artefact"},
    "interop.mappings.cpis": {"flag_to_record"},
}

#: a simulator's own mailbox is not a workflow: the CP-IS stand-in (command and demo) and the
#: benchmark's check of what reached the LA's mailbox
SIMULATORS = {
    "cli/cpis_cmd.py": {"interop.transport.mesh.MeshTransport"},
    "interop/sandbox/demo/world.py": {"interop.transport.mesh.MeshTransport"},
    "benchmarks/attendance_flood.py": {"interop.transport.mesh.MeshTransport"},
}


def imports(path: Path) -> list[tuple[str, str]]:
    """(module, name) of every ``from module import name`` in the file, nested ones too."""
    found = []
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom) and node.module:
            found += [(node.module, alias.name) for alias in node.names]
        elif isinstance(node, ast.Import):
            found += [(alias.name, "*") for alias in node.names]
    return found


@pytest.mark.parametrize("caller", sorted(CALLERS))
def test_callers_run_the_jobs_and_assemble_no_workflow_themselves(caller: str) -> None:
    found = imports(ROOT / caller)
    from_jobs = {name for module, name in found if module == "interop.jobs"}
    assert CALLERS[caller] <= from_jobs, f"{caller} should call {CALLERS[caller] - from_jobs}"
    assembled = [
        f"{module}.{name}"
        for module, name in found
        if module in WORKFLOW_PIECES
        and (WORKFLOW_PIECES[module] is None or name in (WORKFLOW_PIECES[module] or ()))
        and f"{module}.{name}" not in SIMULATORS.get(caller, set())
    ]
    assert assembled == [], f"{caller} assembles a workflow itself: {assembled}"


def test_jobs_never_import_the_cli_or_the_sandbox() -> None:
    for path in sorted((ROOT / "interop" / "jobs").glob("*.py")):
        for module, _ in imports(path):
            assert not module.startswith(("interop.cli", "interop.sandbox")), (path, module)
            assert not module.startswith("click"), (path, module)


def test_no_command_function_over_60_lines() -> None:
    for path in sorted((ROOT / "cli").glob("*.py")):
        tree = ast.parse(path.read_text(encoding="utf-8"))
        for node in ast.walk(tree):
            if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (node.end_lineno or node.lineno) - node.lineno + 1
                assert length <= 60, f"{path.name}: {node.name} is {length} lines"


# --- the commands call the jobs (spied) ------------------------------------------------------


def invoke(*args: str) -> tuple[int, str]:
    result = CliRunner().invoke(cli, list(args))
    if result.exception and not isinstance(result.exception, SystemExit):
        raise result.exception
    assert "Traceback" not in result.output
    return result.exit_code, result.output


class Spy:
    """Stands in for a job: records its call, returns (or raises) what it is given."""

    def __init__(self, answer: object) -> None:
        self.answer = answer
        self.calls: list[tuple[tuple[Any, ...], dict[str, Any]]] = []

    def __call__(self, *args: Any, **kwargs: Any) -> object:
        self.calls.append((args, kwargs))
        if isinstance(self.answer, BaseException):
            raise self.answer
        return self.answer


def spy(monkeypatch: pytest.MonkeyPatch, job: str, answer: object) -> Spy:
    stand_in = Spy(answer)
    monkeypatch.setattr(interop.jobs, job, stand_in)
    return stand_in


def test_sync_cpis_runs_the_sync_job(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    from interop.sync.cpis_sync import SyncCounts

    source = tmp_path / "export.csv"
    result = CpisSyncResult(source, dry_run=True, counts=SyncCounts(new=3), valid=3)
    result.written = [tmp_path / "one.xml"]
    job = spy(monkeypatch, "run_cpis_sync", result)
    code, output = invoke("sync", "cpis", "--source", str(source), "--dry-run", "--out", "o")
    assert code == 0, output
    assert len(job.calls) == 1
    args, kwargs = job.calls[0]
    assert args == (source,)
    assert kwargs["dry_run"] is True
    assert kwargs["out"] == Path("o")
    assert "3 row(s): 3 valid, 0 rejected" in output
    assert "compared with the ledger: 3 new" in output
    assert "dry run: 1 upload file(s) written to o; nothing sent" in output


def test_push_runs_the_push_job(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    artefact = tmp_path / "a.json"
    artefact.write_text("{}", encoding="utf-8")
    job = spy(monkeypatch, "push_artefacts", PushOutcome())
    code, output = invoke("push", str(artefact), "--endpoint", "http://127.0.0.1:9/fhir")
    assert code == 0, output
    args, kwargs = job.calls[0]
    assert args == ((artefact,),)
    assert kwargs["endpoint"].url == "http://127.0.0.1:9/fhir"
    assert kwargs["directory"] is None


def test_pull_runs_the_pull_job(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    answer = PullResult("http://127.0.0.1:9/fhir", "patient NHS 943 *** **19", resources=0)
    job = spy(monkeypatch, "pull_artefacts", answer)
    code, output = invoke("pull", "--endpoint", "http://127.0.0.1:9/fhir", "--patient", NHS)
    assert code == 0, output
    assert job.calls[0][1]["nhs_number"] == NHS
    assert "patient NHS 943 *** **19: 0 resource(s), 0 artefact(s)" in output
    assert NHS not in output


def test_cpis_lookup_runs_the_lookup_job(monkeypatch: pytest.MonkeyPatch) -> None:
    from interop.jobs import CpisLookupResult

    job = spy(monkeypatch, "cpis_lookup", CpisLookupResult(NHS, False, teams=[]))
    code, output = invoke(
        "cpis", "lookup", NHS, "--endpoint", "http://127.0.0.1:9/fhir", "--already-traced"
    )
    assert code == 0, output
    args, kwargs = job.calls[0]
    assert args[1] == NHS
    assert kwargs["unscheduled"] is False
    assert kwargs["already_traced"] is True
    assert "0 care team(s); scheduled lookup" in output


# --- one error handler ----------------------------------------------------------------------


@pytest.mark.parametrize(
    ("error", "code"),
    [
        (InputError("bad row"), 1),
        (UsageError("bad option"), 2),
        (RemoteError("MESH: the mailbox refused the login"), 3),
        (BusyError("another run holds the state"), 75),
    ],
)
def test_a_job_error_becomes_its_message_and_exit_code(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path, error: Exception, code: int
) -> None:
    spy(monkeypatch, "run_cpis_sync", error)
    args = ("sync", "cpis", "--source", str(tmp_path / "x.csv"), "--dry-run", "--out", "o")
    exit_code, output = invoke(*args)
    assert exit_code == code
    assert output.strip() == str(error)


def test_a_command_run_on_its_own_has_the_same_handler() -> None:
    @click.command(cls=InteropCommand)
    def alone() -> None:
        raise RemoteError("endpoint down")

    result = CliRunner().invoke(alone, [])
    assert result.exit_code == 3
    assert result.output.strip() == "endpoint down"
    assert not isinstance(result.exception, RemoteError)


def test_fail_is_typed_no_return() -> None:
    import typing

    from interop.cli.common import fail

    assert typing.get_type_hints(fail)["return"] is typing.NoReturn
    with pytest.raises(RemoteError, match="down"):
        fail("down", 3)


# --- the jobs from Python, as a local authority's scheduler calls them -----------------------


class Mailbox:
    """A MESH stand-in that keeps what is sent, or refuses it (``down``)."""

    def __init__(self, *, down: bool = False) -> None:
        self.down = down
        self.sent: list[bytes] = []

    def send(self, recipient: str, workflow_id: str, data: bytes, **_: object) -> str:
        from interop.transport.mesh import TransportError

        if self.down:
            raise TransportError("unavailable", "MESH is down", outcome_unknown=False)
        self.sent.append(data)
        return f"MSG-{len(self.sent)}"

    def find_by_local_id(self, local_id: str) -> object | None:
        return None


def sync(tmp_path: Path, mailbox: Mailbox, **options: Any) -> CpisSyncResult:
    from interop.domain import ResponsibleLocalAuthority
    from interop.jobs import SyncProgress, run_cpis_sync
    from interop.jobs.state import StateOptions

    steps: list[SyncProgress] = []
    first_run = not (tmp_path / "state.sqlite").exists()
    result = run_cpis_sync(
        tmp_path / "export.csv",
        state=tmp_path / "state.sqlite",
        local_authority=ResponsibleLocalAuthority(ods_code="LA380", name="Example City"),
        recipient="X26ABC2",
        workflow_id="TEST_CPIS_UPLOAD",
        transport=mailbox,
        progress=steps.append,
        state_options=StateOptions(new=first_run),
        **options,
    )
    assert [s.stage for s in steps][:1] == ["planned"]
    assert sum(s.records for s in steps if s.stage == "sent") == sum(o.records for o in result.sent)
    return result


def test_run_cpis_sync_sends_once_and_reports_rejected_rows(tmp_path: Path) -> None:
    from interop.synthetic import export_csv

    (tmp_path / "export.csv").write_bytes(export_csv(20, seed=7, bad_rows=2))
    mailbox = Mailbox()
    first = sync(tmp_path, mailbox, keep_rows=True)
    assert first.rejected_lines == 2
    assert len(first.rows) == first.valid == first.counts.new
    assert len(mailbox.sent) == len(first.sent) == 1
    assert first.exit_code == 1  # sent, but rows were rejected
    again = sync(tmp_path, mailbox)
    assert again.pending == 0
    assert again.counts.unchanged == first.valid
    assert len(mailbox.sent) == 1, "nothing is sent twice"


def test_run_cpis_sync_reports_a_mesh_failure_and_sends_it_next_run(tmp_path: Path) -> None:
    from interop.synthetic import export_csv

    (tmp_path / "export.csv").write_bytes(export_csv(5, seed=3))
    failed = sync(tmp_path, Mailbox(down=True))
    assert failed.exit_code == 3
    assert failed.failed
    assert not failed.sent
    mailbox = Mailbox()
    retried = sync(tmp_path, mailbox)
    assert retried.counts.unchanged == 5
    assert len(retried.sent) == 1
    assert retried.exit_code == 0


def test_run_cpis_sync_refuses_before_touching_anything(tmp_path: Path) -> None:
    from interop.errors import UsageError
    from interop.jobs import run_cpis_sync

    with pytest.raises(UsageError, match="cannot read"):
        run_cpis_sync(tmp_path / "absent.csv", state=tmp_path / "s", dry_run=True, out=tmp_path)
    with pytest.raises(UsageError, match="needs the configuration"):
        run_cpis_sync(tmp_path / "absent.csv", state=tmp_path / "s")
    assert not (tmp_path / "s").exists()


def test_pull_artefacts_checks_its_inputs_before_any_request(tmp_path: Path) -> None:
    from interop.config import EndpointSettings
    from interop.identifiers import InvalidNhsNumber
    from interop.jobs import pull_artefacts
    from interop.jobs.state import StateOptions
    from interop.state import StateMissing

    nowhere = EndpointSettings(name="nowhere", kind="fhir", url="http://127.0.0.1:9/fhir")
    state = tmp_path / "state.sqlite"
    with pytest.raises(InvalidNhsNumber):
        pull_artefacts(nowhere, nhs_number="9434765918", state=state)
    with pytest.raises(StateMissing, match="no state at"):
        pull_artefacts(nowhere, since="last", state=state)
    with pytest.raises(UsageError, match="no watermark for nowhere"):
        pull_artefacts(nowhere, since="last", state=state, state_options=StateOptions(new=True))
    with pytest.raises(UsageError, match="expected an ISO date"):
        pull_artefacts(nowhere, since="yesterday", state=state)
    with pytest.raises(UsageError, match="exactly one"):
        pull_artefacts(nowhere, state=state)
