"""What several commands share: loading the configuration and the state file, with clear errors."""

from __future__ import annotations

from collections.abc import Collection
from pathlib import Path
from typing import TYPE_CHECKING

import click

if TYPE_CHECKING:
    from interop.config import Config
    from interop.sync.ledger import Ledger

#: where the state lives when --state is not given
DEFAULT_STATE = Path("interop-state.sqlite")


def fail(message: str, code: int) -> None:
    """Print ``message`` to standard error and exit with ``code``."""
    click.echo(message, err=True)
    raise SystemExit(code)


def load_config_or_exit(path: Path, need: Collection[str] | None = None) -> Config:
    """The configuration, or exit 2 listing every problem with its key. ``need``: the sections
    the command cannot do without (default: those of the CP-IS sync)."""
    from interop.config import CPIS_SECTIONS, ConfigError, load_config

    try:
        return load_config(path, need=CPIS_SECTIONS if need is None else need)
    except ConfigError as exc:
        click.echo(f"{path}: configuration error:", err=True)
        for problem in exc.problems:
            click.echo(f"  {problem.path}: {problem.message}", err=True)
        raise SystemExit(2) from None


def open_ledger_or_exit(path: Path | str) -> Ledger:
    """The state file (created when absent), or exit 2 saying why it cannot be used."""
    from interop.sync.ledger import Ledger, LedgerError

    try:
        return Ledger(path)
    except LedgerError as exc:
        fail(f"state file: {exc}", 2)
        raise AssertionError("unreachable") from None
