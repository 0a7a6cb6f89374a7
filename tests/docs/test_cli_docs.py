"""docs/cli.md is generated from the click commands; it must not drift from them."""

from __future__ import annotations

import importlib.util
import subprocess
import sys
from pathlib import Path

import pytest

ROOT = Path(__file__).resolve().parents[2]


def _script(name: str):  # type: ignore[no-untyped-def]
    """A generator script of scripts/, loaded as a module."""
    spec = importlib.util.spec_from_file_location(name, ROOT / "scripts" / f"{name}.py")
    assert spec is not None
    assert spec.loader is not None
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


def _generator():  # type: ignore[no-untyped-def]
    return _script("generate_cli_docs")


@pytest.mark.integration
def test_cli_reference_matches_the_commands() -> None:
    # in a fresh interpreter: click caches each command's help option on first use, so a
    # command another test invoked on its own would print '--help' without '-h' here
    done = subprocess.run(
        [sys.executable, str(ROOT / "scripts" / "generate_cli_docs.py"), "--check"],
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr


def test_every_command_and_option_is_documented() -> None:
    generator = _generator()
    text = generator.render()
    from interop.cli.main import COMMANDS

    for name in COMMANDS:
        assert f"`interop {name}`" in text
    assert "--edition" in text
    assert "--format" in text


def _rules_generator():  # type: ignore[no-untyped-def]
    return _script("generate_rules_docs")


def test_rules_page_matches_the_rule_tables() -> None:
    current = (ROOT / "docs" / "rules.md").read_text(encoding="utf-8")
    assert current == _rules_generator().render(), (
        "run: .venv/bin/python scripts/generate_rules_docs.py"
    )


def test_every_rule_has_an_anchor_reports_can_link_to() -> None:
    from interop.domain.rules import RULES as CONSISTENCY
    from interop.validators.business_rules import RULES as BUSINESS

    text = _rules_generator().render()
    for rule_id in [*CONSISTENCY, *BUSINESS, "NHS", "NHS-TEST"]:
        assert f'<a id="{rule_id.lower()}"></a>' in text
