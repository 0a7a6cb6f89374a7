"""The FHIR sandbox: a local FHIR R4 server for development and supplier testing.

Not a production server (no authentication, no access control): synthetic data only.

- ``store``: the ``ResourceStore`` interface and ``SqliteStore`` (every version kept, search
  parameters indexed on write, keyset paging);
- ``search`` and ``indexing``: the search parameters it supports, parsed and indexed;
- ``interactions``: read, vread, create, update (conditional too), delete, history, search;
- ``bundles``: transaction and batch Bundles, and ``to_transaction`` for other Bundles;
- ``cpis``: the CP-IS API shape (CareTeam lookups, unscheduled access → AuditEvent);
- ``capability``: the CapabilityStatement at ``/metadata``;
- ``app``: the Starlette app (``create_app``); ``running``: ``running_server`` for tests.

``interop serve`` (``interop.cli.serve_cmd``) runs it from the command line. Importing this
package imports nothing heavy: the modules are imported where used.
"""

__all__ = [
    "app",
    "running",
    "store",
]
