"""Opening the state the jobs keep (the CP-IS ledger, the pull watermarks), with one message."""

from __future__ import annotations

from pathlib import Path
from typing import TYPE_CHECKING

#: where the jobs keep their state when the caller does not say (the CLI's --state default)
DEFAULT_STATE = Path("interop-state.sqlite")

if TYPE_CHECKING:
    from interop.sync.ledger import Ledger
    from interop.sync.watermarks import Watermarks


def open_ledger(path: Path | str) -> Ledger:
    """The CP-IS ledger (created when absent); ``LedgerError`` ("state file: ...") when the
    file cannot be used."""
    from interop.sync.ledger import Ledger, LedgerError

    try:
        return Ledger(path)
    except LedgerError as exc:
        raise LedgerError(f"state file: {exc}") from None


def open_watermarks(path: Path) -> Watermarks:
    """The pull watermarks (created when absent); ``WatermarkError`` ("state file: ...")."""
    from interop.sync.watermarks import WatermarkError, Watermarks

    try:
        return Watermarks(path)
    except WatermarkError as exc:
        raise WatermarkError(f"state file: {exc}") from None
