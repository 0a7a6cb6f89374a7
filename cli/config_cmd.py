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

    Exit 0 the configuration is usable, 2 it is not (or cannot be read).
    """
    from interop.config import ConfigError
    from interop.jobs.state_admin import check_config

    try:
        checked = check_config(config_path)
    except ConfigError as exc:
        raise config_error(config_path, exc) from None
    sections = ", ".join(f"[{name}]" for name in checked.sections) or "no sections"
    click.echo(f"{config_path}: ok ({sections})")
    if checked.config.state is not None:
        click.echo(f"  state: {checked.config.state}")


__all__ = ["config"]
