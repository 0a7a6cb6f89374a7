"""``interop demo``: the whole journey end to end, twice in a row, and nothing left behind.

Each run starts a real mesh-sandbox (a subprocess), the FHIR sandbox, the CP-IS stand-in and
the MLLP listener on 127.0.0.1, goes through every step and stops them all. After each run no
port it printed still accepts connections, no child process of this one remains, and no
thread it started is alive.
"""

from __future__ import annotations

import html
import os
import re
import socket
import subprocess
import threading
from dataclasses import replace
from pathlib import Path

import pytest
from click.testing import CliRunner

from interop.cli.demo_cmd import demo_toolkit
from interop.cli.main import cli
from interop.sandbox.demo.run import run_demo
from interop.sandbox.demo.steps import STEPS
from interop.sandbox.demo.toolkit import FixtureCheck

pytestmark = pytest.mark.integration

STEP_NAMES = [name for name, _ in STEPS] + ["Stop everything"]
NHS_LIKE = re.compile(r"(?<!\d)\d{10}(?!\d)")


def child_processes() -> set[int]:
    """The live child processes of this process: /proc on Linux, else ``pgrep -P``."""
    tasks = Path("/proc/self/task")
    if tasks.is_dir():
        text = " ".join((task / "children").read_text("ascii") for task in tasks.iterdir())
    else:
        run = subprocess.run(
            ["pgrep", "-P", str(os.getpid())], capture_output=True, text=True, check=False
        )
        text = run.stdout
    return {int(pid) for pid in text.split()}


def found(pattern: str, text: str) -> str:
    """The first group of ``pattern`` in ``text``, which must be there."""
    match = re.search(pattern, text)
    assert match is not None, pattern
    return match[1]


def accepts(port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex(("127.0.0.1", port)) == 0


@pytest.mark.slow
def test_the_demo_runs_end_to_end_twice_and_leaves_nothing_running(tmp_path: Path) -> None:
    processes_before = child_processes()
    threads_before = set(threading.enumerate())
    for run in (1, 2):
        report_dir = tmp_path / f"run-{run}"
        result = CliRunner().invoke(cli, ["demo", "--report", str(report_dir)])
        output = result.output
        assert result.exit_code == 0, output
        assert "Traceback" not in output
        assert f"demo finished: {len(STEP_NAMES)} steps ok in" in output
        for number, name in enumerate(STEP_NAMES, 1):
            assert f"{number:>2}/{len(STEP_NAMES)} ok      {name}: " in output

        # what each step had to show, refusals included
        assert "289 valid rows, 12 refused (2 held back by the PDS trace)" in output
        assert "refused: export line" in output
        # traced before shared: what CP-IS would refuse (CPR01) a day later is held back
        assert "held back by the PDS trace: PDS does not know this NHS number" in output
        assert "held back by the PDS trace: the date of birth differs from PDS" in output
        assert "0 refused" in output
        assert "CPR01" not in output
        assert "traced on PDS first: traced" in output
        assert "the unscheduled access is recorded by CP-IS: 1 AuditEvent(s) naming RR8" in output
        assert "mistyped NHS number: ACK AE" in output
        assert "the LA received 1 access notification over MESH and 1 Communication" in output
        assert "not pushed: error [required]" in output
        assert "the FHIR sandbox refuses it: HTTP 422" in output

        report = (report_dir / "report.html").read_text(encoding="utf-8")
        assert report.count('<span class="badge ok">OK</span>') == 2 * len(STEP_NAMES)
        for name in STEP_NAMES:
            assert f"{html.escape(name)} " in report
        assert "Refused, and why" in report
        for text in (output, report):
            assert not NHS_LIKE.search(text), "NHS numbers are printed and reported masked"
        assert (report_dir / "state" / "la-export.csv").is_file()

        # nothing left running: the ports printed are closed, the sandbox process has ended
        ports = [int(p) for p in found(r"ports ([\d, ]+): closed", output).split(", ")]
        assert len(ports) == 4  # MESH, FHIR, MLLP, the national stand-ins
        assert not [port for port in ports if accepts(port)]
        pid = int(found(r"mesh-sandbox process (\d+): ended", output))
        with pytest.raises(ProcessLookupError):
            os.kill(pid, 0)
        assert child_processes() <= processes_before
        left = [t.name for t in set(threading.enumerate()) - threads_before if t.is_alive()]
        assert left == []


def test_a_report_folder_holding_other_files_is_refused(tmp_path: Path) -> None:
    (tmp_path / "state").mkdir()
    (tmp_path / "state" / "mine.txt").write_text("not the demo's", encoding="utf-8")
    result = CliRunner().invoke(cli, ["demo", "--report", str(tmp_path)])
    assert result.exit_code == 2
    assert "is not a demo's working folder" in result.output
    assert (tmp_path / "state" / "mine.txt").is_file()


def test_a_failing_step_stops_the_journey_and_everything_started(tmp_path: Path) -> None:
    wrong = FixtureCheck(
        "artefacts/valid/travel-alert/x.json",
        "travel-alert",
        "artefact-json",
        "valid",
        False,
        "missing ['rule T06 at $.x']",
    )
    toolkit = replace(demo_toolkit(), check_fixtures=lambda: [wrong])
    printed: list[str] = []
    result = run_demo(tmp_path, toolkit=toolkit, out=printed.append)
    assert not result.ok
    verdicts = [(step.name, step.ran, step.ok) for step in result.steps]
    assert verdicts[:2] == [
        ("Start the services", True, True),
        ("Conformance fixtures", True, False),
    ]
    assert [ran for _, ran, _ in verdicts[2:-1]] == [False] * (len(STEPS) - 2)
    assert verdicts[-1] == ("Stop everything", True, True)
    assert printed[-1].startswith(f"demo FAILED: 2 of {len(STEP_NAMES)} steps ok")
    output = "\n".join(printed)
    assert "NOT AS EXPECTED" not in output  # a detail of the report
    report = result.report.read_text(encoding="utf-8")
    assert "NOT AS EXPECTED artefacts/valid/travel-alert/x.json" in report
    assert report.count("NOT RUN") == 2 * (len(STEPS) - 2)  # the table and the sections
    ports = [int(p) for p in found(r"ports ([\d, ]+): closed", output).split(", ")]
    assert not [port for port in ports if accepts(port)]
    assert result.state == tmp_path / "state"


def test_without_mesh_sandbox_the_demo_says_how_to_install_it(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr("interop.sandbox.mesh.installed", lambda: False)
    result = CliRunner().invoke(cli, ["demo", "--report", str(tmp_path)])
    assert result.exit_code == 2
    assert "pip install 'safeguarding-interop[demo]'" in result.output
    assert not (tmp_path / "state").exists()
