"""``interop config check``: read a configuration as the jobs do, without running one."""

from __future__ import annotations

from pathlib import Path

import click

from interop.cli.common import config_error
from interop.cli.main import InteropGroup


@click.group(cls=InteropGroup)
def config() -> None:
    """Check a configuration file."""


@config.command("check")
@click.option(
    "--config",
    "config_path",
    type=click.Path(path_type=Path, dir_okay=False),
    default=Path("interop.toml"),
    show_default=True,
    help="The configuration to check.",
)
def config_check(config_path: Path) -> None:
    """Read the configuration as the jobs do: every section, secret and file it names.

    Nothing is sent and no state is touched. Every problem is listed with its key; no secret
    value is ever printed.

    With ``[ods]``, the directory's organisations and the LA's own ODS code are asked of the
    Organisation Data Terminology API: an unknown or closed organisation is an error, a role
    that does not fit a warning.

    Exit 0 the configuration is usable, 1 an organisation is unknown to ODS or closed, 2 the
    configuration is not usable (or cannot be read), 3 ODS could not be asked.
    """
    from interop.config import ConfigError
    from interop.jobs.state_admin import check_config

    try:
        checked = check_config(config_path)
    except ConfigError as exc:
        raise config_error(config_path, exc) from None
    sections = ", ".join(f"[{name}]" for name in checked.sections) or "no sections"
    click.echo(f"{config_path}: {'ok' if checked.ok else 'read'} ({sections})")
    if checked.config.state is not None:
        click.echo(f"  state: {checked.config.state}")
    for finding in checked.ods:
        click.echo(f"  ODS: {finding.describe()}")
    if checked.ods_unreachable is not None:
        click.echo(f"  ODS could not be asked: {checked.ods_unreachable}", err=True)
        raise SystemExit(3)
    if not checked.ok:
        raise SystemExit(1)


__all__ = ["config"]
