"""``interop listen mllp``: receive ADT messages from a hospital over MLLP and acknowledge them.

With ``--config`` naming an ``[attendance]`` section, each attendance goes through the
attendance rules (``interop.attendance.service``): the flag is looked up, what is due is recorded
in the state before the ACK, and a dispatcher thread sends it (MESH, FHIR, MLLP).
``interop listen dispatch`` sends what is still queued, once, and exits.
"""

from __future__ import annotations

import asyncio
import logging
import signal
from collections.abc import Callable
from pathlib import Path
from typing import TYPE_CHECKING

import click

from interop.cli.common import DEFAULT_STATE, fail
from interop.cli.main import InteropGroup

if TYPE_CHECKING:
    from interop.attendance.service import AttendanceService
    from interop.attendance.settings import AttendanceSettings
    from interop.attendance.sources import FlagSource
    from interop.config import Config
    from interop.transport.mllp import MllpServer


@click.group(cls=InteropGroup)
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
    help="interop.toml; with an [attendance] section the attendance rules run, otherwise "
    "attendances are acknowledged and logged, nobody notified.",
)
@click.option(
    "--state",
    metavar="PATH|URL",
    default=None,
    help="State of the attendance rules: a SQLite file or a postgresql:// URL (default:"
    f" [attendance] state, else the configuration's state, else {DEFAULT_STATE}).",
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
    state: str | None,
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

    With --config naming an [attendance] section, a flagged child's attendance is recorded in
    the state (--state: a SQLite file, or a PostgreSQL database that listeners on several
    machines may share) before the ACK, and the notifications it calls for (the LA, the key
    social worker, the trust) are sent in the background, each once.

    Exit 0 after a stop, 2 when the configuration, the state or the port cannot be used.
    """
    from interop.jobs import handle_attendance
    from interop.transport.mllp import MllpServer

    configure_logging(log_level)
    config = load_listen_config(config_path) if config_path is not None else None
    service = attendance_or_exit(config, state)
    server = MllpServer(
        handle_attendance(service, config),
        host=host,
        port=port,
        max_frame=max_frame,
        idle_timeout=idle_timeout,
        max_connections=max_connections,
        shutdown_grace=shutdown_grace,
    )
    try:
        asyncio.run(_serve(server, service))
    except OSError as exc:
        fail(f"cannot listen on {host}:{port}: {exc.strerror or exc}", 2)
    finally:
        if service is not None:
            service.close()
    raise SystemExit(0)


@listen.command("dispatch")
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    required=True,
    help="interop.toml with an [attendance] section.",
)
@click.option(
    "--state",
    metavar="PATH|URL",
    default=None,
    help="A SQLite file or a postgresql:// URL (default: [attendance] state, else the"
    f" configuration's state, else {DEFAULT_STATE}).",
)
def dispatch(config_path: Path, state: str | None) -> None:
    """Send the attendance notifications still queued in the state, once, and exit.

    Exit 0 when nothing is left to send (or another dispatcher of a shared PostgreSQL state
    is sending what is left), 3 when some sends failed (they stay queued and are
    retried by the next run or by the listener), 2 for a configuration or state error or
    when a listener is dispatching from the same SQLite file. A PostgreSQL state's outbox is
    shared: each queued notification is claimed by one dispatcher, which alone sends it.

    Prints what this run sent, what is still queued, and how many the outbox holds as sent
    by every run: `sent 0, still queued 0 (4 sent in all)`.
    """
    from interop.jobs import dispatch_attendances

    configure_logging("info")
    config = load_listen_config(config_path)
    settings = attendance_settings(config)
    if settings is None:
        fail(f"{config_path}: no [attendance] section: nothing to dispatch", 2)
    result = dispatch_attendances(config, settings, state, stand_in_flags=_stand_in_flags())
    elsewhere = f", {result.elsewhere} being sent by another dispatcher" if result.elsewhere else ""
    in_all = f" ({result.sent_in_all} sent in all)"
    click.echo(f"sent {result.sent}, still queued {result.left}{elsewhere}{in_all}")
    raise SystemExit(result.exit_code)


def configure_logging(level: str) -> None:
    """Log lines to standard error at ``level``, NHS numbers masked in every one of them
    (whichever logger wrote it); httpx's request lines never below WARNING: at INFO they
    carry the whole URL, and a search's query holds the NHS number."""
    from interop.privacy import NhsNumberLogFilter

    logging.basicConfig(
        level=level.upper(), format="%(asctime)s %(levelname)s %(name)s: %(message)s"
    )
    for handler in logging.getLogger().handlers:
        if not any(isinstance(f, NhsNumberLogFilter) for f in handler.filters):
            handler.addFilter(NhsNumberLogFilter())
    for name in ("httpx", "httpcore"):
        logger = logging.getLogger(name)
        logger.setLevel(max(logging.WARNING, logging.getLogger().level))


def load_listen_config(path: Path) -> Config:
    """The configuration, exit 2 listing every problem. Only what the attendance rules use is
    read in full: the endpoints they may send to or read from (their secrets and files), and
    ``[mesh]`` when one of those is a mesh endpoint."""
    from interop.cli.common import config_error
    from interop.config import ConfigError, load_config

    try:
        config = load_config(path, need=(), endpoints=[])
        settings = attendance_settings(config)
        if settings is None:
            return config
        names = set(settings.endpoint_names())
        if settings.route_by_directory:
            names.update(name for entry in config.directory.values() for name in entry.endpoints)
        config = load_config(path, need=(), endpoints=sorted(names))
        if any(e.kind == "mesh" for e in config.endpoints.values()):
            config = load_config(path, need=("mesh",), endpoints=sorted(names))
    except ConfigError as exc:
        raise config_error(path, exc) from None
    return config


def attendance_settings(config: Config | None) -> AttendanceSettings | None:
    """The configuration's ``[attendance]``, if it has one."""
    return None if config is None else config.attendance


def attendance_or_exit(config: Config | None, state: str | None) -> AttendanceService | None:
    """The attendance rules of ``config`` (None without ``[attendance]``); a
    ``ConfigurationError`` (exit 2) when they cannot be built."""
    from interop.jobs import attendance_service

    settings = attendance_settings(config)
    if config is None or settings is None:
        return None
    return attendance_service(config, settings, state, stand_in_flags=_stand_in_flags())


def build_attendance(
    config: Config, settings: AttendanceSettings, state: Path | str | None = None
) -> AttendanceService:
    """``interop.jobs.build_attendance`` with the sandbox's stand-in register as the flag
    source for ``flag_source = "stand-in"`` (the jobs may not import the sandbox)."""
    from interop.jobs import build_attendance as build

    return build(config, settings, state, stand_in_flags=_stand_in_flags())


def _stand_in_flags() -> Callable[[Path], FlagSource]:
    from interop.sandbox.cpis_spine import RegisterFlags

    return RegisterFlags


async def _serve(server: MllpServer, service: AttendanceService | None) -> None:
    await server.start()
    if service is not None:
        service.start()
    loop = asyncio.get_running_loop()
    for signum in (signal.SIGTERM, signal.SIGINT):
        loop.add_signal_handler(signum, server.request_stop)
    host, port = server.address
    # the one line on standard error a supervisor or a test waits for
    click.echo(f"listening on {host}:{port}", err=True)
    await server.serve()
