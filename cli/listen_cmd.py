"""``interop listen mllp``: receive ADT messages from a hospital over MLLP and acknowledge them."""

from __future__ import annotations

import asyncio
import logging
import signal
from pathlib import Path
from typing import TYPE_CHECKING

import click

from interop.cli.common import fail, load_config_or_exit

if TYPE_CHECKING:
    from interop.config import Config
    from interop.hl7v2.adt import AttendanceHandler
    from interop.transport.mllp import MllpServer

_log = logging.getLogger("interop.cli.listen")


@click.group()
def listen() -> None:
    """Receive messages from hospital systems (HL7 v2 ADT over MLLP)."""


@listen.command("mllp")
@click.option("--port", type=click.IntRange(0, 65535), required=True, help="TCP port (0: any).")
@click.option("--host", default="127.0.0.1", show_default=True, help="Address to listen on.")
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=None,
    help="interop.toml; without it attendances are acknowledged and logged, nobody notified.",
)
@click.option(
    "--max-frame",
    type=click.IntRange(1024, 64 * 1024 * 1024),
    default=1024 * 1024,
    show_default=True,
    help="Largest message in bytes; a larger frame is answered AR and the connection closed.",
)
@click.option(
    "--idle-timeout",
    type=click.FloatRange(0.1, 86400),
    default=300.0,
    show_default=True,
    help="Seconds a connection may stay silent before it is closed.",
)
@click.option(
    "--max-connections",
    type=click.IntRange(1, 10000),
    default=256,
    show_default=True,
    help="Connections served at once; more are closed at once.",
)
@click.option(
    "--shutdown-grace",
    type=click.FloatRange(0, 3600),
    default=30.0,
    show_default=True,
    help="Seconds to finish in-flight messages after SIGTERM.",
)
@click.option(
    "--log-level",
    type=click.Choice(["debug", "info", "warning", "error"]),
    default="info",
    show_default=True,
)
def mllp(
    port: int,
    host: str,
    config_path: Path | None,
    max_frame: int,
    idle_timeout: float,
    max_connections: int,
    shutdown_grace: float,
    log_level: str,
) -> None:
    """Listen for HL7 v2 ADT messages (A01, A03, A04, A08; v2.3 to v2.5.1) over MLLP.

    Every message is acknowledged: AA when it is read and its attendance recorded, AE when
    its content is wrong (no PID, a bad NHS number...) or the attendance could not be
    recorded, AR when the message cannot be read or its MSH is not acceptable; ERR segments
    say where. SIGTERM or Ctrl-C stops accepting connections, finishes the messages already
    received, and exits 0. Logs go to standard error, NHS numbers masked.

    Exit 0 after a stop, 2 when the configuration or the port cannot be used.
    """
    logging.basicConfig(
        level=log_level.upper(),
        format="%(asctime)s %(levelname)s %(name)s: %(message)s",
    )
    config = load_config_or_exit(config_path) if config_path is not None else None
    from interop.transport.mllp import MllpServer

    server = MllpServer(
        handler_for(config),
        host=host,
        port=port,
        max_frame=max_frame,
        idle_timeout=idle_timeout,
        max_connections=max_connections,
        shutdown_grace=shutdown_grace,
    )
    try:
        asyncio.run(_serve(server))
    except OSError as exc:
        fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}", 2)
    raise SystemExit(0)


def handler_for(config: Config | None) -> AttendanceHandler:
    """What to do with each attendance: the rules of the configuration, or only a log line."""
    from interop.hl7v2.adt import log_only_handler

    if config is None:
        _log.info("no --config: attendances are acknowledged and logged; nobody is notified")
    else:
        # The attendance rules (flag look-up, notifications, dedupe, ledger) plug in here.
        _log.info(
            "configuration %s read (local authority %s); no attendance rules are installed "
            "yet: attendances are acknowledged and logged, nobody is notified",
            config.source,
            config.authority.ods_code,
        )
    return log_only_handler


async def _serve(server: MllpServer) -> None:
    await server.start()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, server.request_stop)
    host, port = server.address
    # the one line on standard error a supervisor or a test waits for
    click.echo(f"listening on {host}:{port}", err=True)
    await server.serve()
