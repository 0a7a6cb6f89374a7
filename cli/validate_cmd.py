"""``interop validate PATH...``: check artefact files, reporting every problem."""

from __future__ import annotations

from pathlib import Path

import click

from interop.validators import validate_paths


@click.command()
@click.argument("paths", nargs=-1, required=True, type=click.Path(path_type=Path, exists=False))
@click.option("-q", "--quiet", is_flag=True, help="Print only files with problems.")
def validate(paths: tuple[Path, ...], quiet: bool) -> None:
    """Validate files, and every *.json and *.xml file in the folders given.

    Artefact JSON is checked against the domain model; FHIR JSON and XML are checked for
    structure and read back into their artefact; CP-IS XML is checked against the toolkit's
    XSDs. Each problem is printed with its location (a JSON path such as
    $.subject.nhs_number, a FHIRPath, or a line) and, for the guidance's rules, the rule id
    and where the rule comes from.

    Exit 0 when no file has errors, 1 when some have, 2 when a file cannot be read.
    """
    checked = failed = unreadable = 0
    for report in validate_paths(paths):
        checked += 1
        if report.io_error is not None:
            unreadable += 1
            click.echo(f"{report.path}: cannot read: {report.io_error}", err=True)
            continue
        errors = report.errors
        if errors:
            failed += 1
        if report.issues or not quiet:
            kind = report.kind
            status = f"{len(errors)} error(s)" if errors else "valid"
            click.echo(f"{report.path}: {status} ({kind})")
        for issue in report.issues:
            click.echo(f"  {issue.describe()}")
    if checked == 0:
        click.echo("no files to validate (folders are searched for *.json and *.xml)", err=True)
        raise SystemExit(2)
    click.echo(
        f"checked {checked} file(s): {checked - failed - unreadable} valid, "
        f"{failed} with errors, {unreadable} unreadable"
    )
    raise SystemExit(2 if unreadable else 1 if failed else 0)
