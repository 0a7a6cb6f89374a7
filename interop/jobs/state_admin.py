"""Looking after a state and a configuration without running a job: ``interop state backup``,
``interop state check`` and ``interop config check``."""

from __future__ import annotations

import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import TYPE_CHECKING

from interop.errors import UsageError

if TYPE_CHECKING:
    from interop.config import Config
    from interop.jobs.ods_check import OdsFinding
    from interop.state import StateReport

__all__ = ["ConfigCheck", "backup_state", "check_config", "check_state"]


def _register_components() -> None:
    """Import every component that keeps tables in a state, so each registers its schema."""
    import interop.attendance.store
    import interop.state.lease
    import interop.sync.ledger
    import interop.sync.watermarks  # noqa: F401


def backup_state(state: Path | str, dest: Path) -> Path:
    """A consistent, private (0600) copy of the SQLite state at ``state`` in ``dest``, taken
    while jobs may be running. ``StateMissing`` when there is no state; a PostgreSQL state is
    refused with the ``pg_dump`` command to use instead."""
    from interop.jobs.private_files import private_folder
    from interop.jobs.state import state_location
    from interop.state import backup, open_state

    with open_state(state_location(state)) as opened:
        if opened.backend == "sqlite":
            private_folder(dest.parent)  # a backups folder made here is 0700
        return backup(opened, dest)


def check_state(state: Path | str) -> StateReport:
    """The state's integrity and the schema version of each of its parts (``report.ok``)."""
    from interop.jobs.state import state_location
    from interop.state import check, open_state

    _register_components()
    with open_state(state_location(state)) as opened:
        return check(opened)


@dataclass
class ConfigCheck:
    """A configuration read the way the jobs read it: its sections, secrets and files."""

    config: Config
    sections: list[str] = field(default_factory=list)
    #: with ``[ods]``: the directory's organisations and the LA's own code asked of ODS
    #: (unknown or closed: errors; a role that does not fit: warnings)
    ods: list[OdsFinding] = field(default_factory=list)
    #: with ``[ods]``: why ODS could not be asked (the rest of the check still stands)
    ods_unreachable: str | None = None

    @property
    def ok(self) -> bool:
        """No ODS finding is an error (and ODS answered, when it was to be asked)."""
        return self.ods_unreachable is None and all(f.severity != "error" for f in self.ods)


def check_config(path: Path) -> ConfigCheck:
    """Read ``path`` as the jobs do, every section present in it needed (its secrets and
    files are read too); ``ConfigError`` lists every problem, ``UsageError`` for a file that
    cannot be read. Nothing is sent and no state is touched."""
    from interop.config import load_config
    from interop.config.loading import SECTIONS

    try:
        document = tomllib.loads(path.read_text(encoding="utf-8"))
    except OSError as exc:
        raise UsageError(f"{path}: cannot read: {exc.strerror or exc}") from None
    except (tomllib.TOMLDecodeError, UnicodeDecodeError):
        document = {}  # load_config reports the syntax error with its place
    present = [name for name in document if name in SECTIONS and name != "state"]
    checked = ConfigCheck(load_config(path, need=present), present)
    if checked.config.ods is not None:
        from interop.errors import RemoteError
        from interop.jobs.ods_check import check_directory

        try:
            checked.ods.extend(check_directory(checked.config))
        except RemoteError as exc:
            checked.ods_unreachable = str(exc)
    return checked
