"""Write docs/cli.md, the CLI reference, from the click commands themselves.

Run ``.venv/bin/python scripts/generate_cli_docs.py`` after changing a command's options or
help; ``--check`` exits 1 when docs/cli.md differs from what the commands say (CI runs it
through tests/docs/test_cli_docs.py).
"""

from __future__ import annotations

import sys
from collections.abc import Iterator
from pathlib import Path

import click

from interop.cli.main import COMMANDS, cli

sys.path.insert(0, str(Path(__file__).resolve().parent))  # scripts/, run or loaded by file
from generated_page import write_or_check

DOC = Path(__file__).resolve().parents[1] / "docs" / "cli.md"
HEADER = """# CLI reference

Generated from the click commands by `scripts/generate_cli_docs.py`; do not edit by hand
(a test fails when this page and the commands disagree).

Exit codes of every command: 0 ok, 1 invalid input or failed checks, 2 usage, configuration,
state or I/O error (a full disk: one line, nothing lost), 3 remote endpoint failure. The jobs
that hold a state (`sync cpis`, `pull cpis`, `pull --since`) also exit 75 when another run
holds it (`EX_TEMPFAIL`: try again later, or `--wait SECONDS`). An interrupted command exits
130 (SIGINT, Ctrl-C) or 143 (SIGTERM) after recording what it sent: run it again to finish.
"""


def _help(command: click.Command, path: list[str]) -> str:
    """The help text exactly as ``interop ... --help`` prints it (100 columns)."""
    from click.testing import CliRunner

    result = CliRunner().invoke(
        cli, [*path[1:], "--help"], prog_name="interop", terminal_width=100, env={"COLUMNS": "100"}
    )
    if result.exit_code != 0:
        raise SystemExit(f"{' '.join(path)} --help failed: {result.output}")
    return result.output


def _sections(command: click.Command, path: list[str]) -> Iterator[str]:
    level = "#" * min(len(path) + 1, 4)
    yield f"{level} `{' '.join(path)}`\n\n```text\n{_help(command, path).rstrip()}\n```\n"
    if isinstance(command, click.Group):
        for name in sorted(command.commands):
            yield from _sections(command.commands[name], [*path, name])


def render() -> str:
    """The whole reference page."""
    parts = [HEADER, f"## `interop`\n\n```text\n{_help(cli, ['interop']).rstrip()}\n```\n"]
    for name in sorted(COMMANDS):
        command = cli.get_command(click.Context(cli), name)
        if command is None:
            raise SystemExit(f"command {name} is registered but cannot be loaded")
        parts.extend(_sections(command, ["interop", name]))
    return "\n".join(parts)


def main(argv: list[str]) -> int:
    return write_or_check(DOC, render, "scripts/generate_cli_docs.py", argv)


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
