"""Files with personal data stay private whatever the umask the job was started with.

Uploads, replies, dry-run files and pulled artefacts name children: they are created 0600 in
folders 0700. The jobs create them through several libraries (the ledger's SQLite, the upload
writer, the reply writer), so the one reliable place is the process umask while the job runs.
"""

from __future__ import annotations

import os
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path

__all__ = ["PRIVATE_UMASK", "private_files", "private_folder"]

#: no permission for the group or others on anything created
PRIVATE_UMASK = 0o077


@contextmanager
def private_files() -> Iterator[None]:
    """Everything created in the block is private to this user (the umask is restored after)."""
    previous = os.umask(PRIVATE_UMASK)
    try:
        yield
    finally:
        os.umask(previous)


def private_folder(path: Path) -> Path:
    """``path`` created if needed (with its parents), 0700 when created here: a folder the
    user chose and made already keeps its mode (it may be shared on purpose)."""
    if not path.exists():
        path.mkdir(parents=True, mode=0o700)
        os.chmod(path, 0o700)  # mkdir's mode passes through the umask
    return path
