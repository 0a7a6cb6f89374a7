"""The architecture's rules that code review would otherwise have to catch."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parent.parent
SOURCE_DIRS = ("interop", "mappings", "validators", "cli")


def python_files() -> list[Path]:
    return [p for d in SOURCE_DIRS for p in (ROOT / d).rglob("*.py")]


def test_fhir_resources_only_r4b_and_only_in_interop_fhir() -> None:
    pattern = re.compile(r"^\s*(from|import)\s+fhir\.resources(?P<rest>\S*)", re.M)
    for path in python_files():
        for match in pattern.finditer(path.read_text(encoding="utf-8")):
            where = path.relative_to(ROOT)
            assert where.parts[:2] == ("interop", "fhir"), f"{where} imports fhir.resources"
            assert match["rest"].startswith(".R4B"), f"{where} imports a non-R4B model"


def test_only_the_interop_namespace_is_installed() -> None:
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))
    packages = config["tool"]["setuptools"]["packages"]
    assert all(p == "interop" or p.startswith("interop.") for p in packages)
    for folder in ("mappings", "validators", "cli", "profiles", "fixtures"):
        assert f"interop.{folder}" in packages
        assert config["tool"]["setuptools"]["package-dir"][f"interop.{folder}"] == folder


def imports(path: Path) -> set[str]:
    pattern = re.compile(r"^\s*(?:from|import)\s+([\w.]+)", re.M)
    return set(pattern.findall(path.read_text(encoding="utf-8")))


ABOVE_THE_CORE = ("interop.cli", "interop.validators", "interop.mappings")


@pytest.mark.parametrize(
    ("folder", "forbidden", "apart_from"),
    [
        ("interop", (*ABOVE_THE_CORE, "interop.jobs", "interop.sandbox"), ("jobs", "sandbox")),
        ("interop/sandbox", ABOVE_THE_CORE, ()),
        ("interop/jobs", ("interop.cli", "interop.sandbox"), ()),
        ("mappings", ("interop.cli", "interop.validators", "interop.jobs"), ()),
        ("validators", ("interop.cli", "interop.jobs"), ()),
    ],
)
def test_dependencies_point_one_way(
    folder: str, forbidden: tuple[str, ...], apart_from: tuple[str, ...]
) -> None:
    """cli → jobs → validators, mappings → interop core; sandbox beside cli, using the jobs;
    never the other way."""
    for path in (ROOT / folder).rglob("*.py"):
        if path.relative_to(ROOT / folder).parts[0] in apart_from:
            continue
        for name in imports(path):
            assert not name.startswith(forbidden), f"{path.relative_to(ROOT)} imports {name}"


def test_no_logging_of_raw_personal_fields() -> None:
    """Log and echo calls never format a raw NHS number, name or date of birth."""
    risky = re.compile(
        r"(log\w*\.\w+|click\.echo|print)\(.*\.(nhs_number|given_name|family_name|date_of_birth)\b"
    )
    for path in python_files():
        for number, line in enumerate(path.read_text(encoding="utf-8").splitlines(), 1):
            assert not risky.search(line), f"{path.relative_to(ROOT)}:{number}: {line.strip()}"
