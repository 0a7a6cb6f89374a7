"""The README's library example, unchanged, against the independent FHIR engine (Medplum's
fhir-router behind tests/fhir_engine/server.mjs) instead of the toolkit's own sandbox.

The example starts the sandbox with ``running_server()``; here that name gives the engine's
base URL instead, and nothing else of the example is touched: the default client reads the
engine's CapabilityStatement and searches it the way it supports.
"""

from __future__ import annotations

import contextlib
import sys
from collections.abc import Iterator
from pathlib import Path

import pytest

sys.path.insert(0, str(Path(__file__).resolve().parent))
from test_docs import ROOT, Block, DocumentRun, _prepare

README = ROOT / "README.md"


def _library_example(run: DocumentRun) -> Block:
    """The README's python block that pushes to a FHIR server and looks the child up."""
    found = [
        b
        for b in run.blocks
        if b.language == "python" and "running_server()" in b.text and "CpisApi" in b.text
    ]
    assert len(found) == 1, [b.where for b in found]
    return found[0]


@pytest.mark.integration
def test_the_readme_library_example_works_against_the_engine(
    fhir_engine: str, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    asked: list[str] = []

    @contextlib.contextmanager
    def the_engine(**_: object) -> Iterator[str]:
        asked.append(fhir_engine)
        yield fhir_engine

    monkeypatch.setattr("interop.sandbox.fhir_server.running.running_server", the_engine)
    folder = tmp_path / "example"
    _prepare(folder)
    monkeypatch.chdir(folder)
    with contextlib.ExitStack() as stack:
        run = DocumentRun(README, folder, stack)
        run.write_files()
        block = _library_example(run)
        run.run_python(block)
    assert asked == [fhir_engine]  # the example ran against the engine, not the sandbox
