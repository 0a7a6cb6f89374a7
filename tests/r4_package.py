"""HL7's R4 package (hl7.fhir.r4.examples 4.0.1) for tests: fetched with npm by the same
checksummed step as scripts/build_r4_index.py, cached outside git, never committed.

Absent (no npm, no registry) it skips the test saying so; under ``CI=true`` it fails instead,
so CI never passes without having run it.
"""

from __future__ import annotations

import importlib.util
import os
import subprocess
from functools import cache
from pathlib import Path
from types import ModuleType

import pytest

ROOT = Path(__file__).resolve().parents[1]
UKCORE = ROOT.parent / "shared" / "ukcore"


@cache
def _script() -> ModuleType:
    spec = importlib.util.spec_from_file_location(
        "build_r4_index", ROOT / "scripts" / "build_r4_index.py"
    )
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(module)
    return module


def missing(reason: str) -> None:
    """Skip, or under CI=true fail: a shared asset CI must have is missing."""
    if os.environ.get("CI") == "true":
        pytest.fail(f"{reason} (CI=true: this test must run in CI)")
    pytest.skip(reason)


@cache
def _folder() -> Path | str:
    try:
        return Path(_script().unpacked())
    except (OSError, subprocess.CalledProcessError, SystemExit) as exc:
        return f"the R4 package hl7.fhir.r4.examples 4.0.1 could not be fetched with npm: {exc}"


def r4_package() -> Path:
    """The unpacked package folder (``.../package``), or skip/fail."""
    found = _folder()
    if isinstance(found, str):
        missing(found)
        raise AssertionError("unreachable")
    return found


#: skips a test that needs UK Core when it is absent, except under CI=true, where the test
#: runs (and fails on the missing folder) rather than passing without having run
NEEDS_UKCORE = pytest.mark.skipif(
    not (UKCORE / "examples").is_dir() and os.environ.get("CI") != "true",
    reason=f"the UK Core conformance resources are not at {UKCORE} (a shared test asset)",
)


def ukcore() -> Path:
    """The shared UK Core folder, or skip/fail."""
    if not (UKCORE / "examples").is_dir():
        missing(f"the UK Core conformance resources are not at {UKCORE} (a shared test asset)")
    return UKCORE
