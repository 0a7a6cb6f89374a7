"""The LA export as staff really produce it: Excel's separators, BOM, CRLF and padding,
control characters in cells, very wide headers, and the list of rejected rows."""

from __future__ import annotations

import csv
import os
import time
from pathlib import Path

import pytest

from interop.domain import ResponsibleLocalAuthority
from interop.la_export import (
    ExportError,
    ExportReader,
    ExportRow,
    RowProblem,
    UnchangedRow,
    write_rejects,
)

LA = ResponsibleLocalAuthority(ods_code="LA380", name="Example City Council")
COLUMNS = (
    "local_id",
    "plan_type",
    "nhs_number",
    "given_name",
    "family_name",
    "date_of_birth",
    "plan_start",
    "plan_end",
)
GOOD = ("A1", "CPP", "9434765919", "Poppy", "Ashworth", "2016-04-12", "2026-02-03", "")
OTHER = ("A2", "LAC", "9990000018", "Noah", "Okafor", "2019-09-30", "2026-01-15", "")
TEXT_CELLS = ("local_id", "given_name", "family_name")


def read(data: bytes, la: ResponsibleLocalAuthority | None = LA) -> list[object]:
    return list(ExportReader(la).read_bytes(data))


def export(*rows: tuple[str, ...], separator: str = ",", end: str = "\n") -> bytes:
    lines = [separator.join(COLUMNS), *(separator.join(row) for row in rows)]
    return (end.join(lines) + end).encode("utf-8")


@pytest.mark.parametrize("separator", [";", "\t"])
def test_a_semicolon_or_tab_separated_export_is_read(separator: str) -> None:
    rows = read(export(GOOD, OTHER, separator=separator))
    assert [r.flag.local_id for r in rows if isinstance(r, ExportRow)] == ["A1", "A2"]


def test_an_excel_export_with_bom_crlf_and_trailing_semicolons_is_read() -> None:
    header = ";".join(COLUMNS) + ";;;"
    body = [";".join(GOOD) + ";;;", ";".join(OTHER) + ";;;", ";;;;;;;;;;;"]
    data = "\ufeff" + "\r\n".join([header, *body]) + "\r\n"
    rows = read(data.encode("utf-8"))
    assert [type(r).__name__ for r in rows] == ["ExportRow", "ExportRow"]


def test_trailing_empty_columns_are_ignored_but_a_filled_extra_cell_is_not() -> None:
    data = export((*GOOD, "", ""), (*OTHER, "", "surprise"))
    rows = read(data.replace(b"plan_end\n", b"plan_end,,\n", 1))
    assert isinstance(rows[0], ExportRow)
    assert isinstance(rows[1], RowProblem)
    assert (rows[1].line, rows[1].column) == (3, None)


def test_a_header_of_another_separator_is_refused_naming_it() -> None:
    data = b"local_id;plan_type;nhs_number\nA1;CPP;9434765919\n"
    with pytest.raises(ExportError, match="separated by semicolons"):
        read(data)


@pytest.mark.parametrize("column", TEXT_CELLS)
@pytest.mark.parametrize("character", ["\x00", "\x01", "\x08", "\x0b", "\x0c", "\x1b", "\uffff"])
def test_a_control_character_in_any_text_cell_rejects_the_row_by_line_and_column(
    column: str, character: str
) -> None:
    bad = list(OTHER)
    bad[COLUMNS.index(column)] = f"No{character}ah" if column != "local_id" else f"A{character}2"
    rows = read(export(GOOD, tuple(bad)))
    assert isinstance(rows[0], ExportRow)  # the others are read
    problem = rows[1]
    assert isinstance(problem, RowProblem)
    assert (problem.line, problem.column) == (3, column)
    assert f"U+{ord(character):04X}" in problem.message
    assert "No" not in problem.message  # never the cell's value


def test_a_control_character_rejects_even_a_row_the_ledger_holds_unchanged() -> None:
    bad = (*OTHER[:3], "No\x00ah", *OTHER[4:])
    reader = ExportReader(LA, is_unchanged=lambda *_: True)
    rows = list(reader.read_bytes(export(GOOD, bad)))
    assert isinstance(rows[0], UnchangedRow)
    assert isinstance(rows[1], RowProblem)


def test_tab_in_a_quoted_cell_is_no_control_character() -> None:
    data = export(GOOD).replace(b"Poppy", b'"Pop\tpy"')
    (row,) = read(data)
    assert isinstance(row, ExportRow)


def test_a_missing_authority_does_not_hide_the_rows_other_problems() -> None:
    bad = ("A1", "CPP", "9434765918", "Poppy", "Ashworth", "2016-04-12", "03/02/2026", "")
    rows = read(export(bad), la=None)
    found = [(r.line, r.column) for r in rows if isinstance(r, RowProblem)]
    assert found == [(2, "la_ods_code"), (2, "nhs_number"), (2, "plan_start")]
    (alone,) = read(export(GOOD), la=None)
    assert isinstance(alone, RowProblem)
    assert alone.column == "la_ods_code"


def test_a_very_wide_header_is_checked_in_linear_time() -> None:
    def header_check(width: int) -> float:
        extra = ",".join(f"extra_{i}" for i in range(width))
        data = (",".join(COLUMNS) + "," + extra + "\n").encode()
        started = time.perf_counter()
        with pytest.raises(ExportError, match="unknown column") as refused:
            read(data)
        assert len(str(refused.value)) < 1000  # a few names and a count, not all of them
        return time.perf_counter() - started

    # counting each name against the whole header (quadratic) took well over a minute at
    # this width; linear takes a fraction of a second, so even a loaded machine stays far below
    assert header_check(40_000) < 5.0


def test_rejects_are_written_without_values_and_privately(tmp_path: Path) -> None:
    bad = ("A2", "LAC", "9434765918", "No\x1bah", "Okafor", "2019-09-30", "2026-01-15", "")
    problems = [r for r in read(export(GOOD, bad)) if isinstance(r, RowProblem)]
    path = tmp_path / "rejects.csv"
    path.write_text("old")
    path.chmod(0o644)
    previous = os.umask(0)
    try:
        assert write_rejects(path, problems) == len(problems)
    finally:
        os.umask(previous)
    assert path.stat().st_mode & 0o777 == 0o600
    with path.open(encoding="utf-8", newline="") as handle:
        written = list(csv.reader(handle))
    assert written[0] == ["line", "column", "reason"]
    assert [row[:2] for row in written[1:]] == [["3", "given_name"]]
    assert not any(value in path.read_text() for value in ("9434765918", "No", "Okafor"))


def test_progress_is_told_while_a_large_export_is_read() -> None:
    seen: list[int] = []
    data = export(*[(f"A{i}", *GOOD[1:]) for i in range(2_500)])
    reader = ExportReader(LA, progress=seen.append, progress_every=1_000)
    rows = list(reader.read_bytes(data))
    assert len(rows) == 2_500
    assert seen == [1_000, 2_000, 2_501]  # lines reached (the header is line 1), then the end
