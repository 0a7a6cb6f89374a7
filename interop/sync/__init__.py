"""Sync jobs and their ledger: CP-IS uploads over MESH, replies pulled back, nothing lost."""
