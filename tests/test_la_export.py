"""The LA export reader: every malformed row named by line and column, the rest read."""

from __future__ import annotations

import re

import pytest

from interop.domain import ResponsibleLocalAuthority
from interop.la_export import ExportError, ExportReader, ExportRow, RowProblem, UnchangedRow

LA = ResponsibleLocalAuthority(ods_code="LA380", name="Example City Council")
HEADER = "local_id,plan_type,nhs_number,given_name,family_name,date_of_birth,plan_start,plan_end"
GOOD = "A1,CPP,9434765919,Poppy,Ashworth,2016-04-12,2026-02-03,"


def read(
    text: str | bytes, reader: ExportReader | None = None
) -> list[ExportRow | UnchangedRow | RowProblem]:
    data = text.encode("utf-8") if isinstance(text, str) else text
    return list((reader or ExportReader(LA)).read_bytes(data))


def problems(text: str) -> list[tuple[int, str | None, str | None]]:
    return [(r.line, r.column, r.rule_id) for r in read(text) if isinstance(r, RowProblem)]


def test_a_good_row() -> None:
    (row,) = read(f"{HEADER}\n{GOOD}\n")
    assert isinstance(row, ExportRow)
    assert row.flag.responsible_la == LA
    assert row.flag.subject.given_name == "Poppy"


def test_bom_crlf_quoted_commas_and_non_ascii() -> None:
    text = f'\ufeff{HEADER}\r\nA1,CPP,9434765919,"Zoë, Jr",Ó Briain,2016-04-12,2026-02-03,\r\n'
    (row,) = read(text)
    assert isinstance(row, ExportRow)
    assert (row.flag.subject.given_name, row.flag.subject.family_name) == ("Zoë, Jr", "Ó Briain")


@pytest.mark.parametrize(
    ("row", "expected"),
    [
        ("A1,CPP,9434765918,P,A,2016-04-12,2026-02-03,", [(2, "nhs_number", "C01")]),
        ("A1,CPP,943476591,P,A,2016-04-12,2026-02-03,", [(2, "nhs_number", "C01")]),
        ("A1,CPP,9434765919,P,A,2016-04-12,03/02/2026,", [(2, "plan_start", None)]),
        ("A1,CIN,9434765919,P,A,2016-04-12,2026-02-03,", [(2, "plan_type", None)]),
        ("A1,CPP,9434765919,P,A,2016-04-12,2026-02-03,2025-01-01", [(2, "plan_end", "C02")]),
        ("A1,UCPP,9434765919,P,A,1990-04-12,2026-02-03,", [(2, "expected_delivery_date", "C03")]),
        ("A1,CPP,9434765919,,A,2016-04-12,2026-02-03,", [(2, "given_name", None)]),
        ("A1,CPP,9434765919,P,A", [(2, None, None)]),
        (f"A1,CPP,9434765919,{'x' * 2000},A,2016-04-12,2026-02-03,", [(2, "given_name", None)]),
        (
            "A1,CPP,9434765918,P,A,2016-04-12,2026-02-03,2025-01-01",
            [(2, "nhs_number", "C01")],  # the domain checks run only when fields are valid
        ),
    ],
)
def test_bad_rows_are_named_and_others_go_on(row: str, expected: list[object]) -> None:
    text = f"{HEADER}\n{row}\n{GOOD.replace('A1', 'B2')}\n"
    results = read(text)
    assert [(r.line, r.column, r.rule_id) for r in results if isinstance(r, RowProblem)] == expected
    assert sum(isinstance(r, ExportRow) for r in results) == 1


def test_every_problem_of_a_row_is_reported() -> None:
    found = problems(f"{HEADER}\nA1,XYZ,9434765918,P,A,not-a-date,2026-02-03,\n")
    assert {c for _, c, _ in found} == {"plan_type", "nhs_number", "date_of_birth"}


def test_repeated_local_id() -> None:
    found = problems(f"{HEADER}\n{GOOD}\n{GOOD.replace('9434765919', '9000000009')}\n")
    assert found == [(3, "local_id", None)]


def test_messages_never_quote_the_cells() -> None:
    text = f"{HEADER}\nA1,CPP,9434765918,Secretname,Ashworth,2016-04-12,2026-02-03,\n"
    described = " ".join(r.describe() for r in read(text) if isinstance(r, RowProblem))
    assert "9434765918" not in described and "Secretname" not in described  # noqa: PT018


@pytest.mark.parametrize(
    ("data", "says"),
    [
        (b"", "empty"),
        (HEADER.replace("nhs_number,", "").encode(), "missing column(s): nhs_number"),
        (f"{HEADER},colour".encode(), "unknown column(s): colour"),
        (f"{HEADER},plan_end".encode(), "repeated column(s): plan_end"),
        (b"\xff\xfe" + HEADER.encode("utf-16-le"), "UTF-16"),
        (f"{HEADER}\n{GOOD}\nA2,CPP,9000000009,J\xf6rg".encode("latin-1"), "line 3"),
    ],
)
def test_file_level_problems_stop_the_run(data: bytes, says: str) -> None:
    with pytest.raises(ExportError, match=re.escape(says)):
        read(data)


def test_la_from_the_row_or_the_configuration() -> None:
    header = f"{HEADER},la_ods_code"
    text = f"{header}\n{GOOD},LA999\n{GOOD.replace('A1', 'A2')},\n{GOOD.replace('A1', 'A3')},x\n"
    results = read(text)
    first, second, third = results
    assert isinstance(first, ExportRow) and first.flag.responsible_la.ods_code == "LA999"  # noqa: PT018
    assert isinstance(second, ExportRow) and second.flag.responsible_la == LA  # noqa: PT018
    assert isinstance(third, RowProblem) and third.column == "la_ods_code"  # noqa: PT018
    (without_default,) = list(ExportReader(None).read_bytes(f"{header}\n{GOOD},\n".encode()))
    assert isinstance(without_default, RowProblem)


def test_unchanged_rows_skip_the_checks_and_changed_ones_do_not() -> None:
    (row,) = read(f"{HEADER}\n{GOOD}\n")
    assert isinstance(row, ExportRow)
    known = {("LA380", "A1"): row.row_hash}
    reader = ExportReader(LA, lambda la, local_id, h: known.get((la, local_id)) == h)
    (again,) = read(f"{HEADER}\n{GOOD}\n", reader)
    assert again == UnchangedRow(2, "LA380", "A1", row.row_hash)
    reader = ExportReader(LA, lambda la, local_id, h: known.get((la, local_id)) == h)
    (changed,) = read(f"{HEADER}\n{GOOD}2026-03-01\n", reader)
    assert isinstance(changed, ExportRow)
    reader = ExportReader(LA, lambda la, local_id, h: known.get((la, local_id)) == h)
    reordered = (
        "plan_type,local_id,nhs_number,given_name,family_name,date_of_birth,plan_start,plan_end"
    )
    (moved,) = read(
        f"{reordered}\nCPP,A1,9434765919,Poppy,Ashworth,2016-04-12,2026-02-03,\n", reader
    )
    assert isinstance(moved, ExportRow), "a different header is checked afresh"
