"""The import contracts of ``make lint`` catch what they claim to: an upward import and a
cycle planted in a copy of the tree break them; the tree as it is keeps them."""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
FOLDERS = ("mappings", "validators", "cli", "profiles", "fixtures")

pytestmark = pytest.mark.skipif(
    not (Path(sys.executable).parent / "lint-imports").exists(),
    reason="lint-imports is not installed (it comes with the dev extra)",
)


def tree(at: Path, copied: str | None = None) -> Path:
    """A tree laid out as the package installs, of links to the checkout; ``copied`` (a
    package of interop/) is a real copy that a test may change."""
    package = at / "interop"
    package.mkdir(parents=True)
    for entry in (ROOT / "interop").iterdir():
        if entry.name == copied:
            shutil.copytree(entry, package / entry.name)
        elif entry.name != "__pycache__":
            (package / entry.name).symlink_to(entry)
    for folder in FOLDERS:
        (package / folder).symlink_to(ROOT / folder)
    return at


def lint_imports(at: Path) -> subprocess.CompletedProcess[str]:
    return subprocess.run(
        [str(Path(sys.executable).parent / "lint-imports"), "--no-cache", ROOT / "pyproject.toml"],
        cwd=at,
        env={**os.environ, "PYTHONPATH": str(at)},
        capture_output=True,
        text=True,
        timeout=300,
        check=False,
    )


def test_the_tree_keeps_every_contract(tmp_path: Path) -> None:
    run = lint_imports(tree(tmp_path))
    assert run.returncode == 0, run.stdout + run.stderr
    assert "0 broken" in run.stdout


def test_an_upward_import_and_a_cycle_break_the_contracts(tmp_path: Path) -> None:
    at = tree(tmp_path, copied="domain")
    planted = at / "interop" / "domain"
    (planted / "_upward.py").write_text("import interop.cli.main\n", encoding="utf-8")
    (planted / "_ping.py").write_text("from interop.domain import _pong\n", encoding="utf-8")
    (planted / "_pong.py").write_text("from interop.domain import _ping\n", encoding="utf-8")
    run = lint_imports(at)
    assert run.returncode != 0
    assert "interop.domain is not allowed to import interop.cli" in run.stdout
    assert "No cycles are allowed in interop.domain" in run.stdout
