"""``interop demo [--report DIR]``: the toolkit's whole journey on 127.0.0.1, in one command.

The work is ``interop.sandbox.demo.run_demo``; this command gives it the mappings and checks
the core cannot import (``demo_toolkit``), prints its lines and sets the exit code.
"""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

import click

from interop.cli.common import fail
from interop.cli.main import InteropCommand

if TYPE_CHECKING:
    from interop.sandbox.demo.toolkit import Toolkit


def demo_toolkit() -> Toolkit:
    """The real mappings, validation chain and conformance kit."""
    from interop.mappings.cpis import record_to_flag
    from interop.mappings.fhir import artefact_to_fhir
    from interop.sandbox.demo.toolkit import FixtureCheck, Toolkit
    from interop.validators.chain import resource_validator
    from interop.validators.conformance import check_fixtures

    def fixtures() -> list[FixtureCheck]:
        found = []
        for outcome in check_fixtures():
            fixture = outcome.fixture
            if not outcome.as_expected:
                note: str | None = outcome.difference()
            elif outcome.issues:
                note = outcome.issues[0].describe()
            else:
                note = None
            found.append(
                FixtureCheck(
                    fixture.path,
                    fixture.kind,
                    fixture.format,
                    fixture.expect,
                    outcome.as_expected,
                    note,
                )
            )
        return found

    return Toolkit(
        record_to_flag=record_to_flag,
        to_fhir=artefact_to_fhir,
        resource_validator=resource_validator(),
        check_fixtures=fixtures,
    )


@click.command(cls=InteropCommand)
@click.option(
    "--report",
    "report_dir",
    type=click.Path(path_type=Path, file_okay=False),
    help="Write report.html here, and keep the run's working files in DIR/state "
    "(default: ./interop-demo-report.html, working files in a temporary folder).",
)
def demo(report_dir: Path | None) -> None:
    """Run the whole journey on 127.0.0.1 with synthetic data, then stop everything.

    Starts a MESH sandbox, the CP-IS stand-in, the FHIR sandbox and an MLLP listener on free
    loopback ports; checks the conformance fixtures; generates a local authority export (a few
    hundred children, some rows bad on purpose); syncs it to CP-IS over MESH and pulls the
    acknowledgements; has a trust look a child up through the CP-IS FHIR API; sends that
    child's A&E attendance over MLLP so that the local authority is told (MESH and FHIR); and
    validates, maps and pushes a travel alert and a strategy discussion health report, holding
    back an invalid file. Prints each step and its result (NHS numbers masked) and writes an
    HTML report of what was sent, received and refused, and why.

    Exit 0 when every step did what it should, 1 when one did not, 2 when the report folder
    cannot be used or the MESH sandbox (package mesh-sandbox) is missing; 130 on Ctrl-C.
    """
    from interop.errors import EXIT_SIGINT
    from interop.sandbox.demo.run import run_demo

    try:  # a DemoError (the report folder) is an InteropError: the one handler reports it
        result = run_demo(report_dir, toolkit=demo_toolkit(), out=click.echo)
    except OSError as exc:
        fail(f"cannot write the report: {exc.strerror or exc}", 2)
    except KeyboardInterrupt:
        click.echo("interrupted: everything the demo started was stopped", err=True)
        raise SystemExit(EXIT_SIGINT) from None
    raise SystemExit(0 if result.ok else 1)
