"""``interop conformance run|check``: the conformance kit for suppliers.

``run`` checks every shipped fixture against the outcome its manifest entry expects (what CI
runs); ``check`` validates a supplier's own files. Both can write ``junit.xml`` and a readable
``report.html``.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from interop.cli.common import fail
from interop.cli.main import InteropGroup

if TYPE_CHECKING:
    from interop.validators.conformance import ConformanceResult

_REPORT_HELP = "Write junit.xml and report.html into this folder (made when absent)."
_RULES_HELP = (
    "Link rule ids in report.html to this page, such as an absolute URL of docs/rules.md "
    "(#<rule id> is appended); by default to the report's own Rules cited section."
)


@click.group(cls=InteropGroup)
def conformance() -> None:
    """The conformance kit: the shipped fixtures, and suppliers' own files.

    Exit 0 when every file passes, 1 when some do not, 2 when a file or the report folder
    cannot be read or written.
    """


def _finish(result: ConformanceResult, what: str, report_dir: Path | None) -> None:
    counts = (
        f"{result.passed} {what}, {result.failed} not, {result.unreadable} unreadable"
        if result.cases
        else "nothing to check"
    )
    click.echo(f"checked {len(result.cases)} file(s): {counts}")
    if report_dir is not None:
        click.echo("reports: " + ", ".join(str(p) for p in result.written))
    raise SystemExit(result.exit_code)


@conformance.command()
@click.option("--report", "report_dir", type=click.Path(path_type=Path), help=_REPORT_HELP)
@click.option("--rules-page", default="", help=_RULES_HELP)
def run(report_dir: Path | None, rules_page: str) -> None:
    """Validate every shipped fixture and compare with its manifest entry.

    A valid fixture must give no error; an invalid one exactly the errors listed (rule id, or
    issue code, at a location), no more and no fewer.
    """
    from interop.validators.conformance import run_conformance

    try:
        result = run_conformance(report_dir, rules_page=rules_page)
    except OSError as exc:
        fail(f"cannot write the reports: {exc}", 2)
    for outcome, case in zip(result.outcomes, result.cases, strict=True):
        mark = "PASS" if case.passed else "FAIL"
        line = f"{mark} {case.name} ({case.kind}): {case.summary}"
        if not case.passed:
            line += f": {outcome.difference()}"
        click.echo(line)
    _finish(result, "as expected", report_dir)


@conformance.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path))
@click.option("--report", "report_dir", type=click.Path(path_type=Path), help=_REPORT_HELP)
@click.option("--rules-page", default="", help=_RULES_HELP)
@click.option("-v", "--verbose", is_flag=True, help="Print every issue under its file.")
def check(paths: tuple[Path, ...], report_dir: Path | None, rules_page: str, verbose: bool) -> None:
    """Validate your own files (and every file validate accepts in the folders given).

    Any format interop validate reads: artefact JSON, FHIR JSON and XML, CP-IS XML.
    """
    from interop.validators.conformance import check_supplier_files
    from interop.validators.reports import safe_text

    try:
        result = check_supplier_files(paths, report_dir, rules_page=rules_page)
    except OSError as exc:
        fail(f"cannot write the reports: {exc}", 2)
    for case in result.cases:
        mark = "PASS" if case.passed else "ERROR" if case.unreadable else "FAIL"
        detail = f"cannot read: {case.unreadable}" if case.unreadable else case.summary
        click.echo(safe_text(f"{mark} {case.name} ({case.kind}): {detail}"))
        if verbose:
            for issue in case.issues:
                click.echo("  " + safe_text(issue.describe()))
    if not result.cases:
        click.echo("no files to check (folders are searched as interop validate does)", err=True)
    _finish(result, "passed", report_dir)
