"""Fixtures shared by several test files (tests/ is on sys.path)."""

from mesh_server import fresh_mesh_sandbox, mesh_sandbox

__all__ = ["fresh_mesh_sandbox", "mesh_sandbox"]
