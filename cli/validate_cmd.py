"""``interop validate PATH...``: run the validation chain over files, reporting every problem."""

from __future__ import annotations

import sys
from datetime import date
from pathlib import Path
from typing import TYPE_CHECKING

import click

from interop.cli.main import InteropCommand

if TYPE_CHECKING:
    from interop.config import Config
    from interop.validators.chain import ValidationContext
    from interop.validators.files import FileReport

#: the editions of interop.validators.business_rules (kept here so --help imports no rules)
EDITIONS = ("2013", "2026")


@click.command(cls=InteropCommand)
@click.argument("paths", nargs=-1, type=click.Path(path_type=Path))
@click.option(
    "--case",
    "cases",
    multiple=True,
    type=click.Path(path_type=Path, exists=True, file_okay=False),
    help="A folder holding a child's whole case: its files are validated too, and a meeting "
    "missing from it is reported (repeatable).",
)
@click.option(
    "--ig",
    "igs",
    multiple=True,
    type=click.Path(path_type=Path, exists=True),
    help="Load another implementation guide's conformance resources: a folder, or a FHIR "
    "NPM package (.tgz, as NHS England distributes UK Core) (repeatable).",
)
@click.option(
    "--profile",
    "profiles",
    multiple=True,
    metavar="URL",
    help="Validate against this profile too, even if meta.profile does not name it.",
)
@click.option(
    "--format",
    "output_format",
    type=click.Choice(["text", "json", "junit"]),
    default="text",
    show_default=True,
    help="json prints a FHIR OperationOutcome (a Bundle of them for several files).",
)
@click.option(
    "--as-of",
    type=click.DateTime(formats=["%Y-%m-%d"]),
    help="Check the guidance's timescales as on this day (default: today).",
)
@click.option(
    "--edition",
    type=click.Choice(EDITIONS),
    default="2026",
    show_default=True,
    help="The edition of Working Together the business rules are checked against.",
)
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="interop.toml: outside production, NHS numbers outside the test block are warned of; "
    "with [ods], closed or unknown organisations too.",
)
@click.option(
    "--max-size",
    "max_mb",
    type=click.IntRange(1, 4096),
    default=64,
    show_default=True,
    metavar="MB",
    help="The largest FHIR file read, in megabytes.",
)
@click.option("-q", "--quiet", is_flag=True, help="Print only files with problems.")
def validate(
    paths: tuple[Path, ...],
    cases: tuple[Path, ...],
    igs: tuple[Path, ...],
    profiles: tuple[str, ...],
    output_format: str,
    as_of: object,
    edition: str,
    config_path: Path | None,
    max_mb: int,
    quiet: bool,
) -> None:
    """Validate files, and every *.json, *.xml and *.hl7 file in the folders given ("-" reads
    standard input).

    Every file goes through the whole chain: syntax, structure, terminology, profiles
    (meta.profile and --profile, from the toolkit's profiles and every --ig), FHIRPath
    invariants, NHS numbers, and the guidance's rules (consistency and timescales, for
    --edition as on --as-of). Artefact JSON, FHIR JSON and XML (single resources and Bundles),
    CP-IS XML and HL7 v2 ER7 are recognised by their content (a UTF-8 byte order mark is
    allowed); anything else is reported as not a format the toolkit reads. Each problem is
    printed with its severity, code, location and, for the guidance's rules, the rule id and
    its source.

    Exit 0 when no file has errors (warnings allowed), 1 when some have, 2 when a file cannot
    be read or the options are wrong.
    """
    from interop.validators.chain import ValidationContext

    production, config = True, None
    if config_path is not None:
        from interop.cli.common import load_config_or_exit

        config = load_config_or_exit(config_path, need=())
        production = config.environment.name == "production"
    if not paths and not cases:
        raise click.UsageError("Missing argument 'PATHS...': files or folders, or --case DIR")
    day = as_of.date() if hasattr(as_of, "date") else date.today()
    context = ValidationContext(igs, profiles, day, edition, production, max_mb * 1024 * 1024)
    reports = _validate(paths, cases, context)
    _ods_warnings(reports, config)
    if not reports:
        click.echo("no files to validate (folders are searched for *.json, *.xml, *.hl7)", err=True)
        raise SystemExit(2)
    _print(reports, output_format, quiet, context)
    unreadable = sum(r.io_error is not None for r in reports)
    failed = sum(1 for r in reports if r.io_error is None and r.errors)
    raise SystemExit(2 if unreadable else 1 if failed else 0)


def _ods_warnings(reports: list[FileReport], config: Config | None) -> None:
    """With ``[ods]`` configured, the organisations each artefact names asked of ODS: unknown
    or closed is a warning (the file is no less valid; ``interop push`` refuses it)."""
    from interop.jobs.ods_check import artefact_issues

    for report in reports:
        if report.artefact is not None:
            report.issues.extend(artefact_issues(config, report.artefact, refuse=False))


def _validate(
    paths: tuple[Path, ...], cases: tuple[Path, ...], context: ValidationContext
) -> list[FileReport]:
    from interop.validators.files import validate_bytes, validate_paths
    from interop.validators.rules_across import add_case_issues, children_of

    reports: list[FileReport] = []
    if any(str(p) == "-" for p in paths):
        reports.append(validate_bytes(sys.stdin.buffer.read(), Path("-"), context))
    reports.extend(validate_paths((p for p in paths if str(p) != "-"), context))
    case_reports = list(validate_paths(cases, context))
    reports.extend(case_reports)
    add_case_issues(reports, context, complete=children_of(case_reports))
    return reports


def _print(
    reports: list[FileReport], output_format: str, quiet: bool, context: ValidationContext
) -> None:
    if output_format != "text":
        from interop.validators.reports import render

        click.echo(render(reports, output_format), nl=False)
        return
    for issue in context.registry_issues if context.igs else ():
        click.echo(f"implementation guide: {issue.describe()}", err=True)
    for report in reports:
        if report.io_error is not None:
            click.echo(f"{report.path}: cannot read: {report.io_error}", err=True)
            continue
        errors = report.errors
        if report.issues or not quiet:
            status = f"{len(errors)} error(s)" if errors else "valid"
            warnings = len(report.issues) - len(errors)
            if warnings:
                status += f", {warnings} other issue(s)"
            click.echo(f"{report.path}: {status} ({report.kind})")
        for issue in report.issues:
            click.echo(f"  {issue.describe()}")
    unreadable = sum(r.io_error is not None for r in reports)
    failed = sum(1 for r in reports if r.io_error is None and r.errors)
    click.echo(
        f"checked {len(reports)} file(s): {len(reports) - failed - unreadable} valid, "
        f"{failed} with errors, {unreadable} unreadable"
    )
