"""``interop state``: back up and check the state the jobs keep (ledger, watermarks, outbox)."""

from __future__ import annotations

from pathlib import Path

import click

from interop.cli.common import DEFAULT_STATE, fail, load_config_or_exit, resolve_state
from interop.cli.main import InteropGroup

_STATE_HELP = (
    "The state: a SQLite file or a postgresql:// URL"
    f" [default: --config's state, else {DEFAULT_STATE}]."
)
_config = click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    help="interop.toml, to read its state key.",
)


@click.group(cls=InteropGroup)
def state() -> None:
    """Back up and check the jobs' state."""


def _where(state_option: str | None, config_path: Path | None) -> str | Path:
    config = load_config_or_exit(config_path, need=()) if config_path else None
    return resolve_state(state_option, config)


@state.command("backup")
@click.argument("dest", type=click.Path(path_type=Path, dir_okay=False))
@click.option("--state", "state_option", metavar="PATH|URL", help=_STATE_HELP)
@_config
def state_backup(dest: Path, state_option: str | None, config_path: Path | None) -> None:
    """Copy the state to DEST, consistently, while jobs may be running.

    SQLite's online backup: the copy is one moment's state, private (0600), and DEST is
    replaced only once the copy is whole. To restore, stop the jobs and copy the backup to the
    state's place. A PostgreSQL state is backed up with pg_dump (the message says how).

    Exit 0 copied, 2 no state there, a PostgreSQL state, or the copy could not be written.
    """
    from interop.jobs.state_admin import backup_state

    target = backup_state(_where(state_option, config_path), dest)
    click.echo(f"backed up to {target}")


@state.command("check")
@click.option("--state", "state_option", metavar="PATH|URL", help=_STATE_HELP)
@_config
def state_check(state_option: str | None, config_path: Path | None) -> None:
    """Check the state's integrity and the schema version of each of its parts.

    Exit 0 sound, 2 missing, unusable, damaged or written by a newer release.
    """
    from interop.jobs.state_admin import check_state

    report = check_state(_where(state_option, config_path))
    click.echo(f"{report.location} ({report.backend})")
    for component, version in sorted(report.versions.items()):
        click.echo(f"  {component}: schema {version}")
    if not report.ok:
        fail("\n".join(f"  problem: {problem}" for problem in report.problems), 2)
    click.echo("ok")


__all__ = ["state"]
