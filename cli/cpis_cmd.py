"""``interop cpis ...``: commands about CP-IS itself (the stand-in for tests and rehearsal)."""

from __future__ import annotations

import time
from pathlib import Path

import click

from interop.cli.common import fail


@click.group()
def cpis() -> None:
    """CP-IS: the stand-in national service."""


@cpis.command("stand-in")
@click.option("--config", "config_path", type=click.Path(path_type=Path), required=True)
@click.option("--once", is_flag=True, help="Answer what is waiting, then stop.")
@click.option("--poll", type=click.FloatRange(min=0.5), default=5.0, show_default=True)
@click.option(
    "--notify-access", "access_nhs", help="Send an access notification for this NHS number."
)
@click.option(
    "--notify-inactive", "inactive_nhs", multiple=True, help="Report this NHS number inactive."
)
@click.option("--to", "to_mailbox", help="The LA's MESH mailbox, for --notify-*.")
@click.option("--accessor-ods", default="RR8", show_default=True, help="Who viewed the flag (ODS).")
@click.option("--accessor-name", default="Emergency department", show_default=True)
def stand_in(
    config_path: Path,
    once: bool,
    poll: float,
    access_nhs: str | None,
    inactive_nhs: tuple[str, ...],
    to_mailbox: str | None,
    accessor_ods: str,
    accessor_name: str,
) -> None:
    """Play CP-IS on a MESH server: answer LA uploads as Spine would (CPF/CPR codes), keep the
    national register in SQLite, and send notifications on request.

    Not the national service: for tests, demonstrations and rehearsing onboarding. It answers
    until stopped (Ctrl-C) unless --once or a --notify-* option is given.
    """
    from interop.config import ConfigError, load_stand_in_config
    from interop.cpis.model import Accessor
    from interop.cpis.spine import Register
    from interop.cpis.standin import StandIn, pds_for
    from interop.transport.mesh import MeshTransport, TransportError

    try:
        config = load_stand_in_config(config_path)
    except ConfigError as exc:
        click.echo(f"{config_path}: configuration error:", err=True)
        for problem in exc.problems:
            click.echo(f"  {problem.path}: {problem.message}", err=True)
        raise SystemExit(2) from None
    if (access_nhs or inactive_nhs) and not to_mailbox:
        fail("--notify-access and --notify-inactive need --to MAILBOX (the LA's mailbox)", 2)
    register = Register(config.stand_in.register)
    try:
        with MeshTransport(config.mesh) as transport:
            transport.handshake()
            service = StandIn(transport, register, pds_for(config.stand_in), config.cpis)
            if access_nhs:
                accessor = Accessor(organisation_ods=accessor_ods, organisation_name=accessor_name)
                try:
                    service.notify_access(
                        access_nhs, accessor, to_mailbox=str(to_mailbox), care_setting=None
                    )
                except LookupError as exc:
                    fail(f"--notify-access: {exc}", 1)
                click.echo("access notification sent")
            if inactive_nhs:
                service.notify_inactive(inactive_nhs, to_mailbox=str(to_mailbox))
                click.echo(f"inactive-NHS-number notification sent ({len(inactive_nhs)} number(s))")
            if access_nhs or inactive_nhs:
                return
            while True:
                for answered in service.answer_uploads():
                    state = "already answered" if answered.already_answered else answered.file_code
                    records = f"{answered.records} record(s)"
                    click.echo(f"upload {answered.upload_message_id}: {state}, {records}")
                if once:
                    return
                time.sleep(poll)
    except TransportError as exc:
        fail(f"MESH: {exc}", 3)
    except KeyboardInterrupt:
        click.echo("stopped")
    finally:
        register.close()
