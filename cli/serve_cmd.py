"""``interop serve``: the local FHIR R4 sandbox server, for development and supplier testing."""

from __future__ import annotations

import logging
import signal
from pathlib import Path
from types import FrameType

import click

from interop.cli.common import fail
from interop.cli.main import InteropCommand

BANNER = (
    "FHIR R4 SANDBOX: for development and supplier testing only. Not for production, "
    "not for real patient data (synthetic patients, test-block NHS numbers only)."
)


def _already_stopping(signum: int, frame: FrameType | None) -> None:
    """uvicorn handles Ctrl-C and SIGTERM itself (it finishes open requests, then returns) and
    afterwards re-raises the signal to the handler it found: this one, so the command can
    close the database and exit 0 instead of dying on the re-raised signal."""


@click.command(cls=InteropCommand)
@click.option(
    "--db",
    "db_path",
    type=click.Path(dir_okay=False, path_type=Path),
    help="SQLite file to keep resources in across restarts (default: in memory, lost on exit).",
)
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--port",
    type=click.IntRange(0, 65535),
    default=8080,
    show_default=True,
    help="Port to listen on (0: any free port).",
)
@click.option(
    "--audit-log",
    type=click.Path(dir_okay=False, path_type=Path),
    help="Append a line (NHS number masked) here for each unscheduled CP-IS access.",
)
@click.option(
    "--ig",
    "igs",
    multiple=True,
    type=click.Path(path_type=Path, exists=True, file_okay=False),
    help="Also validate against this implementation guide's profiles (repeatable).",
)
@click.option(
    "--validation",
    type=click.Choice(["chain", "structure"]),
    default="chain",
    show_default=True,
    help="chain: the whole validation chain (as interop validate); structure: R4 structure only.",
)
@click.option("--quiet", is_flag=True, help="Do not log each request.")
def serve(
    db_path: Path | None,
    host: str,
    port: int,
    audit_log: Path | None,
    igs: tuple[Path, ...],
    validation: str,
    quiet: bool,
) -> None:
    """Run a local FHIR R4 server (JSON) backed by SQLite: read, vread, create, update
    (conditional too), search, history, transaction and batch Bundles, every write validated
    (422 with an OperationOutcome when invalid), and the CP-IS CareTeam/AuditEvent shape.

    A sandbox, not a production server: no authentication. Stop it with Ctrl-C.
    """
    import uvicorn

    from interop.sandbox.fhir_server.app import create_app
    from interop.sandbox.fhir_server.running import bind_socket, server_config
    from interop.sandbox.fhir_server.store import SqliteStore, StoreError

    try:
        store = SqliteStore(db_path)
    except StoreError as exc:
        fail(f"--db: {exc}", 2)
    try:
        sock = bind_socket(host, port)
    except OSError as exc:
        store.close()
        fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}", 2)
    if not quiet:
        logging.basicConfig(format="%(asctime)s %(message)s", level=logging.WARNING)
        logging.getLogger("interop.sandbox.fhir_server").setLevel(logging.INFO)
    bound_host, bound_port = sock.getsockname()[:2]
    shown_host = f"[{bound_host}]" if ":" in bound_host else bound_host
    click.echo(BANNER, err=True)
    if host not in ("127.0.0.1", "localhost", "::1"):
        click.echo(f"warning: listening on {host}, not only this machine", err=True)
    click.echo(f"database: {db_path if db_path else 'in memory (lost on exit)'}", err=True)
    click.echo(f"http://{shown_host}:{bound_port}/fhir")
    validator = None  # the server's own default: the R4 structure check
    if validation == "chain":
        from interop.validators.chain import ValidationContext, resource_validator

        validator = resource_validator(ValidationContext(igs=igs))
    app = create_app(store, validator=validator, audit_log=audit_log)
    server = uvicorn.Server(server_config(app))
    stops = (signal.SIGINT, signal.SIGTERM)
    previous = {sig: signal.signal(sig, _already_stopping) for sig in stops}
    try:
        server.run(sockets=[sock])
    finally:
        for sig, handler in previous.items():
            signal.signal(sig, handler)
        sock.close()
        store.close()
    click.echo("stopped", err=True)
