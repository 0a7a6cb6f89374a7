"""One exception tree for the whole toolkit, and the exit codes the CLI maps it to.

Every error the toolkit raises on purpose derives from ``InteropError``, through one of four
branches that say whose problem it is, and so which exit code a command ends with:

- ``InputError`` (exit 1): the input is invalid or failed the checks (a file, a row, a message);
- ``ConfigurationError`` and ``UsageError`` (exit 2): the configuration, the command line or the
  local machine (a state file, a full disk, a missing folder) stop the job before it is done;
- ``RemoteError`` (exit 3): an endpoint (FHIR server, MESH, MLLP peer, token service) failed or
  refused;
- ``BusyError`` (exit 75, ``EX_TEMPFAIL``): another run holds the state; try again later.

The CLI maps the tree to exit codes in one place (``interop.cli.main``); a library caller
catches ``InteropError`` or the branch it can act on. Interrupted runs exit 130 (SIGINT) and
143 (SIGTERM), as shells report them.
"""

from __future__ import annotations

from typing import ClassVar

__all__ = [
    "EXIT_BUSY",
    "EXIT_INVALID",
    "EXIT_OK",
    "EXIT_REMOTE",
    "EXIT_SIGINT",
    "EXIT_SIGTERM",
    "EXIT_USAGE",
    "BusyError",
    "ConfigurationError",
    "InputError",
    "InteropError",
    "RemoteError",
    "UsageError",
    "exit_code_for",
]

EXIT_OK = 0
EXIT_INVALID = 1
EXIT_USAGE = 2
EXIT_REMOTE = 3
EXIT_BUSY = 75  # sysexits.h EX_TEMPFAIL: schedulers read it as "try again later"
EXIT_SIGINT = 130
EXIT_SIGTERM = 143


class InteropError(Exception):
    """The root of every error the toolkit raises on purpose."""

    exit_code: ClassVar[int] = EXIT_USAGE


class InputError(InteropError):
    """The input is invalid or failed the checks: exit 1."""

    exit_code: ClassVar[int] = EXIT_INVALID


class ConfigurationError(InteropError):
    """The configuration or the local machine (state, files, disk) stops the job: exit 2."""

    exit_code: ClassVar[int] = EXIT_USAGE


class UsageError(InteropError):
    """The command was used wrongly (options, arguments): exit 2."""

    exit_code: ClassVar[int] = EXIT_USAGE


class RemoteError(InteropError):
    """An endpoint failed or refused (FHIR server, MESH, MLLP peer, token service): exit 3."""

    exit_code: ClassVar[int] = EXIT_REMOTE


class BusyError(InteropError):
    """Another run holds what this one needs (a state lease, a dispatcher): exit 75."""

    exit_code: ClassVar[int] = EXIT_BUSY


def exit_code_for(error: BaseException) -> int:
    """The exit code a command ends with after ``error``."""
    if isinstance(error, InteropError):
        return error.exit_code
    if isinstance(error, KeyboardInterrupt):
        return EXIT_SIGINT
    return EXIT_USAGE
