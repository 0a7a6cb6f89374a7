"""``interop map FILE --to ...``: convert one artefact between its formats."""

from __future__ import annotations

import os
import sys
import tempfile
from pathlib import Path

import click

from interop.cli.common import fail
from interop.cli.main import InteropCommand

FORMATS = ("fhir", "fhir-xml", "cpis", "artefact")


def _write(output: Path | None, data: bytes) -> None:
    if output is None:
        sys.stdout.buffer.write(data)
        sys.stdout.buffer.flush()
        return
    # write beside the target and rename: a reader never sees half a file
    fd, temporary = tempfile.mkstemp(dir=output.parent, prefix=f".{output.name}.")
    try:
        with os.fdopen(fd, "wb") as handle:
            handle.write(data)
        os.replace(temporary, output)
    except BaseException:
        Path(temporary).unlink(missing_ok=True)
        raise


@click.command(name="map", cls=InteropCommand)
@click.argument("file", type=click.Path(path_type=Path, dir_okay=False, allow_dash=True))
@click.option("--to", "target", type=click.Choice(FORMATS), required=True, help="Output format.")
@click.option(
    "-o",
    "--output",
    type=click.Path(path_type=Path, dir_okay=False),
    help="Write here, not stdout.",
)
def map_(file: Path, target: str, output: Path | None) -> None:
    """Convert FILE (artefact JSON, FHIR JSON or XML, or a one-record CP-IS upload; detected)
    to another format.

    fhir: the artefact's FHIR R4 Bundle as JSON; fhir-xml: the same as FHIR XML; cpis: a
    child protection flag as a CP-IS LA upload (REPC_MT000002GB01) of one record; artefact:
    the toolkit's artefact JSON. Exit 0 converted, 1 invalid input, 2 I/O error.
    """
    from interop.mappings.convert import ConversionError, convert

    try:
        data = sys.stdin.buffer.read() if str(file) == "-" else file.read_bytes()
    except OSError as exc:
        fail(f"{file}: cannot read: {exc.strerror or exc}", 2)
    try:
        result = convert(data, target)
    except ConversionError as exc:
        lines = [f"{file}: cannot convert ({exc.detected}):"]
        fail("\n".join(lines + [f"  {issue.describe()}" for issue in exc.issues]), 1)
    try:
        _write(output, result)
    except OSError as exc:
        fail(f"{output}: cannot write: {exc.strerror or exc}", 2)


__all__ = ["map_"]
