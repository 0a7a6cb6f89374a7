"""What the doc generators share: write a generated page, or check it has not drifted."""

from __future__ import annotations

import sys
from collections.abc import Callable
from pathlib import Path


def write_or_check(page: Path, render: Callable[[], str], script: str, argv: list[str]) -> int:
    """With ``--check`` in ``argv``: 0 when ``page`` holds what ``render`` gives, else 1 (a
    message names the script to run); without it, write the page. Returns the exit code."""
    text = render()
    if "--check" in argv:
        current = page.read_text(encoding="utf-8") if page.exists() else ""
        if current != text:
            print(f"{page} is out of date: run {script}", file=sys.stderr)
            return 1
        return 0
    page.write_text(text, encoding="utf-8")
    print(f"wrote {page}")
    return 0
