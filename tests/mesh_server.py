"""A real MESH server for the tests: NHS England's mesh-sandbox, run by uvicorn on loopback.

The server itself is the package's (``interop.sandbox.mesh``, which ``interop demo`` uses
too): a uvicorn subprocess with ``STORE_MODE=file``, ``AUTH_MODE=full`` (the real NHSMESH HMAC
on every request), a random ``SHARED_KEY`` and our own mailboxes and workflows. This module
adds the pytest fixtures: ``mesh_sandbox`` (one per session and xdist worker) and
``fresh_mesh_sandbox`` (one per test, empty mailboxes); both stop the server afterwards,
whether the tests passed or not.
"""

from __future__ import annotations

from collections.abc import Iterator
from pathlib import Path

import pytest

from interop.sandbox.mesh import (
    CPIS_MAILBOX,
    LA_MAILBOX,
    OTHER_LA_MAILBOX,
    WORKFLOWS,
    MeshSandbox,
    Party,
    running_sandbox,
    seeded_sandbox_app,
)

__all__ = [
    "CPIS_MAILBOX",
    "LA_MAILBOX",
    "OTHER_LA_MAILBOX",
    "WORKFLOWS",
    "MeshSandbox",
    "Party",
    "fresh_mesh_sandbox",
    "mesh_sandbox",
    "running_sandbox",
    "seeded_sandbox_app",
]


@pytest.fixture(scope="session")
def mesh_sandbox(tmp_path_factory: pytest.TempPathFactory) -> Iterator[MeshSandbox]:
    """Start mesh-sandbox for the session (one per xdist worker) and stop it afterwards."""
    with running_sandbox(tmp_path_factory.mktemp("mesh-sandbox")) as sandbox:
        yield sandbox


@pytest.fixture
def fresh_mesh_sandbox(tmp_path: Path) -> Iterator[MeshSandbox]:
    """A sandbox of the test's own, with empty mailboxes."""
    with running_sandbox(tmp_path / "mesh-sandbox") as sandbox:
        yield sandbox
