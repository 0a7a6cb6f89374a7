"""Size limits that keep the code readable (issue 12): modules a newcomer can read whole, and
CLI commands that only parse arguments, call a job and present its result."""

from __future__ import annotations

import ast
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
LIBRARY = ("interop", "mappings", "validators", "cli")
MAX_MODULE_LINES = 1000
MAX_COMMAND_LINES = 60


def library_modules() -> list[Path]:
    return sorted(p for d in LIBRARY for p in (ROOT / d).rglob("*.py"))


def is_click_command(decorator: ast.expr) -> bool:
    """``@click.command(...)``, ``@group.command(...)``, ``@click.group(...)``."""
    target = decorator.func if isinstance(decorator, ast.Call) else decorator
    return isinstance(target, ast.Attribute) and target.attr in ("command", "group")


def command_lengths(path: Path) -> dict[str, int]:
    """Lines of each click command function in ``path``, from ``def`` to its last line."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    return {
        node.name: (node.end_lineno or node.lineno) - node.lineno + 1
        for node in ast.walk(tree)
        if isinstance(node, ast.FunctionDef | ast.AsyncFunctionDef)
        and any(is_click_command(d) for d in node.decorator_list)
    }


def test_no_library_module_is_over_a_thousand_lines() -> None:
    sizes = {
        str(p.relative_to(ROOT)): len(p.read_text(encoding="utf-8").splitlines())
        for p in library_modules()
    }
    long = {name: lines for name, lines in sizes.items() if lines > MAX_MODULE_LINES}
    assert not long, f"modules over {MAX_MODULE_LINES} lines: {long}"


def test_no_cli_command_function_is_over_sixty_lines() -> None:
    lengths = {
        f"{path.name}:{name}": lines
        for path in sorted((ROOT / "cli").glob("*.py"))
        for name, lines in command_lengths(path).items()
    }
    assert len(lengths) >= 10, "the command finder found too few commands to be trusted"
    long = {name: lines for name, lines in lengths.items() if lines > MAX_COMMAND_LINES}
    assert not long, f"CLI command functions over {MAX_COMMAND_LINES} lines: {long}"


def test_the_command_finder_measures_what_it_should(tmp_path: Path) -> None:
    source = (
        "import click\n"
        "@click.command()\n"
        "def short() -> None:\n"
        "    pass\n"
        "def helper() -> None:\n"
        "    pass\n"
    )
    path = tmp_path / "probe.py"
    path.write_text(source, encoding="utf-8")
    assert command_lengths(path) == {"short": 2}
