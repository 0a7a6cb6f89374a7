"""The ``interop`` command: a click group whose subcommands load only when run.

``interop --help`` must start fast and import neither pydantic models nor fhir.resources, so
each subcommand is named here with its one-line help and imported on first use.
"""

from __future__ import annotations

import errno
import importlib
import signal
from collections.abc import Iterator
from contextlib import contextmanager
from types import FrameType
from typing import Any

import click

from interop import __version__
from interop.errors import EXIT_SIGINT, EXIT_SIGTERM, EXIT_USAGE, InteropError

#: command name → (module in interop.cli, attribute, one-line help)
COMMANDS: dict[str, tuple[str, str, str]] = {
    "cpis": (
        "cpis_cmd",
        "cpis",
        "CP-IS: lookups through the CP-IS FHIR API, and the stand-in for tests.",
    ),
    "conformance": (
        "conformance_cmd",
        "conformance",
        "Conformance kit: check the shipped fixtures, or your own files.",
    ),
    "config": ("config_cmd", "config", "Check a configuration file without running a job."),
    "demo": ("demo_cmd", "demo", "Run the main job on the shipped default data."),
    "listen": ("listen_cmd", "listen", "Receive HL7 v2 ADT from hospital systems over MLLP."),
    "map": (
        "map_cmd",
        "map_",
        "Convert an artefact between artefact JSON, FHIR JSON/XML and CP-IS.",
    ),
    "ods": (
        "ods_cmd",
        "ods",
        "ODS: look organisations up; check the endpoint directory and artefacts' organisations.",
    ),
    "pds": (
        "pds_cmd",
        "pds",
        "PDS: trace a child (NHS number current, alive, not restricted, details match).",
    ),
    "pull": (
        "pull_cmd",
        "pull",
        "Read artefacts from a FHIR endpoint; collect CP-IS replies (cpis).",
    ),
    "push": ("push_cmd", "push", "Write artefacts to a FHIR endpoint (by name, URL or --route)."),
    "schema": ("schema_cmd", "schema", "Print the JSON Schema of an artefact kind."),
    "serve": (
        "serve_cmd",
        "serve",
        "Run the local FHIR R4 sandbox server (development and supplier testing only).",
    ),
    "state": ("state_cmd", "state", "Back up and check the jobs' state (ledger, watermarks)."),
    "sync": ("sync_cmd", "sync", "Send new and changed records to national services (CP-IS)."),
    "validate": (
        "validate_cmd",
        "validate",
        "Validate files: artefacts, FHIR, CP-IS and HL7 v2, through the whole chain.",
    ),
}


class Terminated(KeyboardInterrupt):
    """SIGTERM, raised where the job is like Ctrl-C: what is under way unwinds (a ledger
    transaction rolls back, a lease is released) and the command exits 143."""


def _terminate(signum: int, frame: FrameType | None) -> None:
    raise Terminated()


def install_signal_handlers() -> None:
    """SIGTERM behaves like SIGINT (an exception, so the job records what it sent and stops
    at the next statement) instead of killing the process where it stands."""
    signal.signal(signal.SIGTERM, _terminate)


#: errno of a local disk or file system failure: one line and exit 2, not a traceback
_LOCAL_IO = {errno.ENOSPC, errno.EFBIG, errno.EIO, errno.EDQUOT, errno.EROFS}


@contextmanager
def errors_as_exit_codes() -> Iterator[None]:
    """The one error handler: an ``InteropError`` ends the command with its message on
    standard error and the exit code of its branch (``interop.errors``), never a traceback.

    A full disk or a failing file system (``OSError``) ends it with exit 2 and one line;
    Ctrl-C (SIGINT) with 130 and SIGTERM with 143, as shells report them. Each step of a job
    is recorded before the next begins, so re-running finishes the work without duplicates.
    """
    try:
        yield
    except InteropError as exc:
        click.echo(str(exc), err=True)
        raise click.exceptions.Exit(exc.exit_code) from None
    except OSError as exc:
        if exc.errno not in _LOCAL_IO:
            raise
        where = f"{exc.filename}: " if exc.filename else ""
        click.echo(
            f"{where}{exc.strerror or exc}; nothing was lost: free space or fix the disk,"
            " then run the job again",
            err=True,
        )
        raise click.exceptions.Exit(EXIT_USAGE) from None
    except KeyboardInterrupt as exc:
        which = "terminated (SIGTERM)" if isinstance(exc, Terminated) else "interrupted"
        click.echo(f"{which}: what was sent is recorded; run the job again to finish", err=True)
        raise click.exceptions.Exit(
            EXIT_SIGTERM if isinstance(exc, Terminated) else EXIT_SIGINT
        ) from None


class InteropCommand(click.Command):
    """A command whose ``InteropError`` becomes a message and an exit code."""

    def invoke(self, ctx: click.Context) -> Any:
        with errors_as_exit_codes():
            return super().invoke(ctx)


class InteropGroup(click.Group):
    """A group whose commands (and subgroups) map ``InteropError`` to exit codes.

    The handler sits on each command, not only on the ``interop`` group, so that a command
    run on its own (``python -m``, tests invoking it directly) behaves the same."""

    command_class = InteropCommand
    group_class = type  # subgroups are InteropGroups too

    def invoke(self, ctx: click.Context) -> Any:
        with errors_as_exit_codes():
            return super().invoke(ctx)


class LazyGroup(InteropGroup):
    """A group that imports a subcommand's module only when that subcommand is used."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted(COMMANDS)

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name not in COMMANDS:
            return None
        module_name, attribute, _ = COMMANDS[cmd_name]
        module = importlib.import_module(f"interop.cli.{module_name}")
        command = getattr(module, attribute)
        if not isinstance(command, click.Command):
            raise TypeError(f"interop.cli.{module_name}.{attribute} is not a click command")
        return command

    def format_commands(self, ctx: click.Context, formatter: click.HelpFormatter) -> None:
        # Listing reads the registry's help lines, so --help imports no subcommand.
        rows = [(name, COMMANDS[name][2]) for name in self.list_commands(ctx)]
        with formatter.section("Commands"):
            formatter.write_dl(rows)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"]})
@click.version_option(__version__, prog_name="interop")
def cli() -> None:
    """safeguarding-interop: children's safeguarding information between the NHS and local
    authorities, as FHIR R4 (UK Core) and CP-IS, validated and moved safely.

    Exit codes: 0 ok, 1 invalid input or failed checks, 2 usage, configuration, state or
    I/O error (a full disk), 3 remote endpoint failure, 75 the state is in use by another
    run (try again later), 130 interrupted (SIGINT), 143 terminated (SIGTERM).
    """


def main(argv: list[str] | None = None) -> Any:
    """Console script entry point."""
    install_signal_handlers()
    return cli.main(args=argv, prog_name="interop")
