"""``interop demo``: the toolkit's whole journey on 127.0.0.1, in one call.

``run_demo(report_dir, toolkit=...)`` starts MESH, the FHIR sandbox, the CP-IS stand-in and
the MLLP listener (``world``), runs the steps (``steps.STEPS``) in order, stops everything it
started, checks that nothing is left listening, and writes the HTML report (``report``).

A step that fails stops the journey: the steps after it are reported as not run. Whatever
happens (a failure, an exception, Ctrl-C), the services are stopped by one ``ExitStack``.

Where things go: with ``report_dir``, the report is ``report_dir/report.html`` and the working
files (export, configuration, ledgers, MESH's messages) are under ``report_dir/state``, kept.
Without it, the report is ``./interop-demo-report.html`` and the working files go to a fresh
temporary folder, removed after a run where every step passed (kept, and named, otherwise).
"""

from __future__ import annotations

import logging
import os
import shutil
import socket
import tempfile
import time
from collections.abc import Callable, Iterator
from contextlib import ExitStack, contextmanager
from dataclasses import dataclass
from pathlib import Path

from interop import __version__
from interop.errors import ConfigurationError
from interop.privacy import mask_nhs_numbers_in as mask_text
from interop.sandbox import mesh
from interop.sandbox.demo.report import write_report
from interop.sandbox.demo.steps import STEPS, Journey, Step, StepResult
from interop.sandbox.demo.toolkit import Toolkit

__all__ = ["DEFAULT_REPORT", "DemoError", "DemoResult", "StepResult", "print_step", "run_demo"]

#: the report's name in the current folder when no report folder is given
DEFAULT_REPORT = Path("interop-demo-report.html")
REPORT_NAME = "report.html"
STATE_NAME = "state"
#: marks a state folder as the demo's own, so a later run may clear it
MARKER = ".interop-demo"
PRINTED_REJECTIONS = 12


class DemoError(ConfigurationError):
    """The demo cannot start: mesh-sandbox is missing, or the report folder is unusable."""


@dataclass(frozen=True)
class DemoResult:
    """The steps as they ran (the final stop included), the report, and the time taken."""

    steps: tuple[StepResult, ...]
    report: Path
    seconds: float
    #: the working folder, when it is kept (a report folder was given, or a step failed)
    state: Path | None

    @property
    def ok(self) -> bool:
        """Every step ran and did what it should."""
        return all(step.ran and step.ok for step in self.steps)


def _places(report_dir: Path | None) -> tuple[Path, Path, bool]:
    """(the working folder, the report file, whether the working folder is temporary)."""
    if not mesh.installed():
        raise DemoError(
            "the demo runs NHS England's mesh-sandbox, which is not installed: "
            "pip install 'safeguarding-interop[demo]' (make demo does it)"
        )
    if report_dir is None:
        return Path(tempfile.mkdtemp(prefix="interop-demo-")), DEFAULT_REPORT.resolve(), True
    report_dir = report_dir.resolve()
    state = report_dir / STATE_NAME
    try:
        if state.exists():
            if not (state / MARKER).exists():
                raise DemoError(f"--report: {state} exists and is not a demo's working folder")
            shutil.rmtree(state)
        state.mkdir(parents=True)
        (state / MARKER).write_text("interop demo working folder\n", encoding="utf-8")
    except OSError as exc:
        raise DemoError(f"--report {report_dir}: cannot use it: {exc.strerror or exc}") from None
    return state, report_dir / REPORT_NAME, False


def _run_step(name: str, step: Step, journey: Journey) -> StepResult:
    started = time.perf_counter()
    try:
        result = step(journey)
        result.name = name
    except Exception as exc:  # a step's failure is reported as such, never as a traceback
        result = StepResult(name, ok=False, summary=f"failed: {type(exc).__name__}: {exc}")
    result.seconds = time.perf_counter() - started
    return result


def _port_open(host: str, port: int) -> bool:
    with socket.socket() as sock:
        sock.settimeout(1)
        return sock.connect_ex((host, port)) == 0


def _process_alive(pid: int) -> bool:
    if pid <= 0:
        return False
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    except PermissionError:
        return True
    return True


def _stopped(journey: Journey, stop_failure: BaseException | None) -> StepResult:
    """The final step: everything started is stopped, no port left listening, no process."""
    world = journey.world
    if world is None:
        return StepResult(
            "Stop everything",
            ok=stop_failure is None,
            summary="the services did not all start; those that did were stopped",
        )
    still_open = [port for host, port in world.listening if _port_open(host, port)]
    alive = _process_alive(world.mesh.pid)
    lines = [
        f"ports {', '.join(str(p) for _, p in world.listening)}: "
        + (f"still open: {still_open}" if still_open else "closed"),
        f"mesh-sandbox process {world.mesh.pid}: " + ("still running" if alive else "ended"),
        "CP-IS stand-in: " + ("still running" if world.standin.running else "stopped"),
    ]
    if stop_failure is not None:
        lines.append(f"stopping failed: {type(stop_failure).__name__}: {stop_failure}")
    ok = not still_open and not alive and not world.standin.running and stop_failure is None
    return StepResult(
        "Stop everything",
        ok=ok,
        summary="every service stopped; nothing left listening" if ok else "not all stopped",
        lines=lines,
    )


def print_step(out: Callable[[str], None], number: int, total: int, step: StepResult) -> None:
    """Print a step as the demo does: its verdict, summary and time, its lines, and what it
    refused (the conformance step's refusals are the invalid fixtures: report only)."""
    verdict = "ok" if step.ok else ("FAILED" if step.ran else "not run")
    out(
        mask_text(
            f"{number:>2}/{total} {verdict:<7} {step.name}: {step.summary} ({step.seconds:.2f} s)"
        )
    )
    for line in step.lines:
        out(mask_text(f"             {line}"))
    shown = [r for r in step.rejected if r not in step.lines]
    if shown and step.name != "Conformance fixtures":
        for line in shown[:PRINTED_REJECTIONS]:
            out(mask_text(f"             refused: {line}"))
        if len(shown) > PRINTED_REJECTIONS:
            out(f"             ... and {len(shown) - PRINTED_REJECTIONS} more in the report")


@contextmanager
def _service_logs(path: Path) -> Iterator[None]:
    """The services' log records (the toolkit's ``interop`` loggers) go to ``path`` for the
    run, not to the terminal the steps are printed on."""
    logger = logging.getLogger("interop")
    handler = logging.FileHandler(path, encoding="utf-8")
    handler.setFormatter(logging.Formatter("%(asctime)s %(levelname)s %(name)s: %(message)s"))
    saved = (logger.level, logger.propagate)
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False
    try:
        yield
    finally:
        logger.removeHandler(handler)
        logger.setLevel(saved[0])
        logger.propagate = saved[1]
        handler.close()


def run_demo(
    report_dir: Path | None = None,
    *,
    toolkit: Toolkit,
    out: Callable[[str], None] = print,
) -> DemoResult:
    """Run the whole journey (see the module's docstring); ``out`` receives each line printed.

    ``DemoError`` when ``report_dir`` cannot be used. Ctrl-C stops everything started and
    propagates as ``KeyboardInterrupt``.
    """
    started = time.perf_counter()
    root, report, temporary = _places(report_dir)
    out(f"safeguarding-interop {__version__}: the whole journey on 127.0.0.1")
    out(f"  working folder: {root}")
    total = len(STEPS) + 1
    results: list[StepResult] = []
    stop_failure: BaseException | None = None
    journey = Journey(toolkit, root, ExitStack())
    stopping = time.perf_counter()
    try:
        with _service_logs(root / "services.log"), journey.stack:
            failed = False
            for number, (name, step) in enumerate(STEPS, 1):
                if failed:
                    result = StepResult(name, ok=False, summary="an earlier step failed", ran=False)
                else:
                    result = _run_step(name, step, journey)
                    failed = not result.ok
                results.append(result)
                print_step(out, number, total, result)
            stopping = time.perf_counter()  # the stack stops every service on leaving
    except KeyboardInterrupt:
        # everything started is stopped by now; a temporary folder goes too
        if temporary:
            shutil.rmtree(root, ignore_errors=True)
        raise
    except Exception as exc:  # raised while stopping the services
        stop_failure = exc
    final = _stopped(journey, stop_failure)
    final.seconds = time.perf_counter() - stopping
    results.append(final)
    print_step(out, total, total, final)
    seconds = time.perf_counter() - started
    ok = all(r.ran and r.ok for r in results)
    kept: Path | None = root
    if temporary and ok:
        shutil.rmtree(root, ignore_errors=True)
        kept = None
    demo = DemoResult(tuple(results), report, seconds, kept)
    write_report(report, demo.steps, seconds=seconds, state=kept)
    passed = sum(r.ran and r.ok for r in results)
    if ok:
        out(f"demo finished: {passed} steps ok in {seconds:.1f} s; report: {report}")
    else:
        out(
            f"demo FAILED: {passed} of {len(results)} steps ok in {seconds:.1f} s; "
            f"report: {report}; working files kept in {root}"
        )
    return demo
