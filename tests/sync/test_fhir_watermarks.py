"""The --since watermark in the state file: per endpoint, never moving back, beside the ledger."""

from __future__ import annotations

from pathlib import Path

import pytest

from interop.sync.ledger import Ledger
from interop.sync.watermarks import WatermarkError, Watermarks


def test_watermarks_per_endpoint_and_never_backwards(tmp_path: Path) -> None:
    state = tmp_path / "state.sqlite"
    with Watermarks(state) as marks:
        assert marks.get("sandbox") is None
        assert marks.advance("sandbox", "2026-03-01T10:00:00.5Z") == "2026-03-01T10:00:00.5Z"
        assert marks.advance("sandbox", "2026-02-01") == "2026-03-01T10:00:00.5Z"  # older: kept
        assert marks.advance("http://127.0.0.1:8080/fhir", "2026-01-01") == "2026-01-01"
    with Watermarks(state) as marks:  # kept on disk
        assert marks.all() == {
            "http://127.0.0.1:8080/fhir": "2026-01-01",
            "sandbox": "2026-03-01T10:00:00.5Z",
        }
        # an instant with an offset compares by the moment it names
        assert marks.advance("sandbox", "2026-03-01T11:30:00+01:00") == "2026-03-01T11:30:00+01:00"


def test_the_ledger_and_the_watermarks_share_the_state_file(tmp_path: Path) -> None:
    state = tmp_path / "interop-state.sqlite"
    with Ledger(state) as ledger:
        assert ledger.records() == {}
    with Watermarks(state) as marks:
        marks.advance("sandbox", "2026-01-01")
    with Ledger(state) as ledger:  # the ledger's schema check still passes
        assert ledger.uploads("planned") == []
    with Watermarks(state) as marks:
        assert marks.get("sandbox") == "2026-01-01"


def test_unusable_state_file(tmp_path: Path) -> None:
    not_sqlite = tmp_path / "state.sqlite"
    not_sqlite.write_bytes(b"this is not a database, " * 100)
    with pytest.raises(WatermarkError, match="not a usable state file"):
        Watermarks(not_sqlite)
    with Watermarks(tmp_path / "ok.sqlite") as marks, pytest.raises(WatermarkError):
        marks.advance("sandbox", "last tuesday")
