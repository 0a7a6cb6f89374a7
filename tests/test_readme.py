"""The README's examples run, and its test command is the one CI runs."""

from __future__ import annotations

import contextlib
import io
import re
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
README = (ROOT / "README.md").read_text(encoding="utf-8")


def test_python_examples_run_and_print_what_their_comments_say() -> None:
    blocks = re.findall(r"```python\n(.*?)```", README, re.S)
    assert blocks, "the README has Python examples"
    for block in blocks:
        printed = io.StringIO()
        with contextlib.redirect_stdout(printed):
            exec(compile(block, "README.md", "exec"), {})
        # each `print(...)  # text` comment states the start of what that line prints
        expected = [c.rstrip(" .") for c in re.findall(r"print\(.*\)\s+#\s*(.+)", block)]
        lines = printed.getvalue().splitlines()
        assert len(lines) == len(expected)
        for line, comment in zip(lines, expected, strict=True):
            assert line.startswith(comment.removesuffix("...").rstrip()), (line, comment)


def test_ci_runs_the_readme_test_command() -> None:
    ci = (ROOT / ".ci" / "run").read_text(encoding="utf-8")
    assert "make test" in README
    assert re.search(r"^make test$", ci, re.M)
