"""Sync jobs and their ledger: CP-IS uploads over MESH, replies pulled back, nothing lost."""

__all__ = [
    "cpis_pull",
    "cpis_sync",
    "export_workers",
    "ledger",
    "watermarks",
]
