"""The architecture's rules that code review would otherwise have to catch.

Which package may import which is checked by import-linter's contracts (``make lint``,
``[tool.importlinter]`` in pyproject.toml), not here."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SOURCE_DIRS = ("interop", "mappings", "validators", "cli")


def python_files() -> list[Path]:
    return [p for d in SOURCE_DIRS for p in (ROOT / d).rglob("*.py")]


def test_only_the_interop_namespace_is_installed() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    packages = config["tool"]["setuptools"]["packages"]
    assert all(p == "interop" or p.startswith("interop.") for p in packages)
    for folder in ("mappings", "validators", "cli", "profiles", "fixtures"):
        assert f"interop.{folder}" in packages
        assert config["tool"]["setuptools"]["package-dir"][f"interop.{folder}"] == folder


def test_no_logging_of_raw_personal_fields() -> None:
    """Log and echo calls never format a raw NHS number, name or date of birth."""
    risky = re.compile(
        r"(log\w*\.\w+|click\.echo|print)\(.*\.(nhs_number|given_name|family_name|date_of_birth)\b"
    )
    for path in python_files():
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            assert not risky.search(line), f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
