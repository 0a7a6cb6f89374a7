"""Fixtures shared by several test files (tests/ is on sys.path), and the Hypothesis profiles.

The folders follow the packages: tests/<package>/ holds the tests of interop/<package>/ (and of
mappings/, validators/, cli/, profiles/ and fixtures/), tests/docs/ those of the documentation,
and tests/ itself those of interop's top-level modules plus the shared helpers (builders.py,
strategies.py, mesh_server.py, attendance_support.py). Markers (pyproject.toml): ``slow`` for
tests over about 2 s in a CI run, ``integration`` for tests that start a real server or process;
``make quick`` runs neither.

Property tests take their number of examples from the profile named by ``HYPOTHESIS_PROFILE``:
``ci`` (the default when ``CI=true``) runs the full 500 examples the round trips were written
for, derandomized so that a red build is reproducible; ``dev`` (the default otherwise) runs 50,
enough to catch a broken mapping in the inner loop. Tests that pin a smaller count keep it.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from pathlib import Path

import pytest
from fhir_engine_server import _engine_process, fhir_engine
from hypothesis import settings
from mesh_server import fresh_mesh_sandbox, mesh_sandbox
from pg_server import postgres_server, postgres_url, state_url

__all__ = [
    "_engine_process",
    "fhir_engine",
    "fresh_mesh_sandbox",
    "mesh_sandbox",
    "postgres_server",
    "postgres_url",
    "state_url",
]

# deadline=None: a round trip through fhir.resources and the validator is slow on a busy
# machine; a timing failure there would say nothing about the mapping.
settings.register_profile("ci", max_examples=500, deadline=None, derandomize=True, database=None)
settings.register_profile("dev", max_examples=50, deadline=None)


def _profile_name() -> str:
    """The profile asked for, else ``ci`` under CI and ``dev`` on a developer's machine."""
    default = "ci" if os.environ.get("CI", "").lower() == "true" else "dev"
    return os.environ.get("HYPOTHESIS_PROFILE", default)


settings.load_profile(_profile_name())


def pytest_report_header() -> str:
    """Say in the log which profile ran, and so how many examples a property test tried."""
    return f"hypothesis profile {_profile_name()!r}: max_examples={settings().max_examples}"


# The shared mesh-sandbox fixtures start a real server, so whatever uses them is integration
# even where the test file does not say so.
_REAL_SERVER_FIXTURES = frozenset({"mesh_sandbox", "fresh_mesh_sandbox", "fhir_engine"})


def pytest_collection_modifyitems(items: list[pytest.Item]) -> None:
    """Mark every test that uses a shared real-server fixture as ``integration``, and run the
    ``slow`` tests first.

    xdist hands the first quarter of the list out round robin and the rest as workers free
    up: with the slow tests at the front they are shared between the workers at once, instead
    of one of them finishing a 10-second round trip while the other has nothing left to do.
    """
    for item in items:
        if _REAL_SERVER_FIXTURES.intersection(getattr(item, "fixturenames", ())):
            item.add_marker(pytest.mark.integration)
    items.sort(key=lambda item: item.get_closest_marker("slow") is None)


@pytest.fixture(autouse=True)
def _work_in_a_temporary_folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Every test runs in a folder of its own, so that nothing a command writes by default
    (a state file, a report, an --out folder) lands in the checkout; tests name the
    repository's files by absolute path."""
    folder: Path = tmp_path_factory.mktemp("cwd")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        yield
