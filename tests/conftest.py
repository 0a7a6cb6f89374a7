"""Fixtures shared by several test files (tests/ is on sys.path)."""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest
from mesh_server import fresh_mesh_sandbox, mesh_sandbox
from pg_server import postgres_server, postgres_url, state_url

__all__ = ["fresh_mesh_sandbox", "mesh_sandbox", "postgres_server", "postgres_url", "state_url"]


@pytest.fixture(autouse=True)
def _work_in_a_temporary_folder(tmp_path_factory: pytest.TempPathFactory) -> Iterator[None]:
    """Every test runs in a folder of its own, so that nothing a command writes by default
    (a state file, a report, an --out folder) lands in the checkout; tests name the
    repository's files by absolute path."""
    folder: Path = tmp_path_factory.mktemp("cwd")
    with pytest.MonkeyPatch.context() as patch:
        patch.chdir(folder)
        yield
