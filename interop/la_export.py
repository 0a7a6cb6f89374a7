"""The local authority's export of children on plans (CSV), read row by row into flags.

The export is UTF-8 CSV (a byte order mark is tolerated) with a header row:

    local_id, plan_type (CPP|LAC|UCPP), nhs_number, given_name, family_name, date_of_birth,
    plan_start, plan_end [, expected_delivery_date, lac_legal_basis, la_ods_code]

Dates are ``YYYY-MM-DD``; an empty cell is an absent value. For a UCPP the person is the
expectant mother. Every row is checked by the domain model (``ChildProtectionFlag``), so an
export row and an artefact obey the same rules. A bad row becomes a ``RowProblem`` naming its
line, column and reason — never the cell's content, which may be personal data — and the other
rows go on. A problem with the file itself (encoding, header) raises ``ExportError``.

As LA staff produce it: a semicolon- or tab-separated export (Excel in many locales) is read
when its header says so, or refused naming the separator; trailing empty columns (``;;;``)
are ignored; a cell with a character that XML 1.0 and FHIR strings forbid (NUL, the C0
controls but tab, CR and LF, U+FFFE/U+FFFF) rejects its row, since no upload could carry it.
``write_rejects`` keeps every rejected row's line, column and reason for ``--rejects FILE``.
"""

from __future__ import annotations

import csv
import hashlib
import io
import os
import re
from collections import Counter
from collections.abc import Callable, Iterable, Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Generic, NamedTuple, TypeVar

from pydantic import ValidationError

from interop.artefact_json import issues_from_validation_error
from interop.domain import ChildProtectionFlag, ResponsibleLocalAuthority
from interop.errors import ConfigurationError
from interop.identifiers import check_ods_code

REQUIRED_COLUMNS = (
    "local_id",
    "plan_type",
    "nhs_number",
    "given_name",
    "family_name",
    "date_of_birth",
    "plan_start",
    "plan_end",
)
OPTIONAL_COLUMNS = ("expected_delivery_date", "lac_legal_basis", "la_ods_code")
_KNOWN_COLUMNS = frozenset(REQUIRED_COLUMNS + OPTIONAL_COLUMNS)
#: the separators an export may use: Excel writes ';' where ',' is the decimal comma
SEPARATORS = {",": "commas", ";": "semicolons", "\t": "tabs"}
#: characters XML 1.0 cannot hold and FHIR strings forbid (tab, CR and LF are allowed)
FORBIDDEN_CHARACTERS = re.compile("[\x00-\x08\x0b\x0c\x0e-\x1f\ufffe\uffff]")
#: names listed in one header message at most (a very wide header lists the first ones)
_LISTED = 10
MAX_FIELD_CHARS = 1_000
MAX_EXPORT_BYTES = 512 * 1024 * 1024

#: the columns that are the flag's subject, and those that are fields of the flag itself
_SUBJECT_COLUMNS = ("nhs_number", "given_name", "family_name", "date_of_birth")
_FLAG_COLUMNS = (
    "local_id",
    "plan_type",
    "plan_start",
    "plan_end",
    "expected_delivery_date",
    "lac_legal_basis",
)

# where each artefact field comes from in the export, to name the column of a problem
_COLUMN_OF = {
    "$.local_id": "local_id",
    "$.plan_type": "plan_type",
    "$.subject.nhs_number": "nhs_number",
    "$.subject.given_name": "given_name",
    "$.subject.family_name": "family_name",
    "$.subject.date_of_birth": "date_of_birth",
    "$.plan_start": "plan_start",
    "$.plan_end": "plan_end",
    "$.expected_delivery_date": "expected_delivery_date",
    "$.lac_legal_basis": "lac_legal_basis",
    "$.responsible_la.ods_code": "la_ods_code",
}


class ExportError(ConfigurationError):
    """The export as a whole cannot be read (encoding, header): nothing is sent.

    A configuration-branch error (exit 2) rather than an input one: no row can be judged, so
    the job stops before it starts, as for a missing file."""


@dataclass(frozen=True)
class RowProblem:
    """A row that is not sent: its line in the file, the column, and why."""

    line: int
    column: str | None
    message: str
    rule_id: str | None = None

    def describe(self) -> str:
        """``line 7, nhs_number: ... (rule C01)``."""
        where = f"line {self.line}" + (f", {self.column}" if self.column else "")
        rule = f" (rule {self.rule_id})" if self.rule_id else ""
        return f"{where}: {self.message}{rule}"


@dataclass(frozen=True)
class ExportRow:
    """A valid row: its line, the flag it states, and a fingerprint of its cells."""

    line: int
    flag: ChildProtectionFlag
    row_hash: str = ""


@dataclass(frozen=True)
class UnchangedRow:
    """A row whose cells are exactly as last time it was sent: not checked or mapped again."""

    line: int
    la_ods: str
    local_id: str
    row_hash: str


@dataclass(frozen=True)
class ScreenedRow:
    """A row of the right shape, its cells fitted to the header; ``unchanged`` when the ledger
    holds it exactly as last planned (taken as such unless its local id repeats)."""

    line: int
    cells: list[str]
    unchanged: UnchangedRow | None = None


T = TypeVar("T")


class CheckedRow(NamedTuple, Generic[T]):
    """A row's checked outcome before the repeat check: ``local_id`` is the id to look for
    among earlier rows (None when a problem found first makes that check moot). A named
    tuple: the sync job makes one per row of a national export, some from another process."""

    line: int
    local_id: str | None
    outcome: T | RowProblem | list[RowProblem]


#: (LA ODS code, local id, row hash) → whether the ledger holds that row unchanged
IsUnchanged = Callable[[str, str, str], bool]


def _decode(data: bytes) -> str:
    if len(data) > MAX_EXPORT_BYTES:
        raise ExportError(f"the export is {len(data):,} bytes; the limit is {MAX_EXPORT_BYTES:,}")
    if data.startswith((b"\xff\xfe", b"\xfe\xff")):
        raise ExportError("the export is UTF-16; save it as UTF-8 (CSV UTF-8)")
    try:
        return data.decode("utf-8-sig")
    except UnicodeDecodeError as exc:
        line = data[: exc.start].count(b"\n") + 1
        raise ExportError(
            f"line {line}: byte {exc.start} is not UTF-8; save the export as UTF-8 "
            "(it may be Windows-1252)"
        ) from None


def _listed(names: list[str]) -> str:
    shown = ", ".join(repr(n) if FORBIDDEN_CHARACTERS.search(n) else n for n in names[:_LISTED])
    return shown + (f" and {len(names) - _LISTED} more" if len(names) > _LISTED else "")


def _check_header(header: list[str] | None) -> list[str]:
    """The column names, lower case; trailing empty ones dropped. Linear in the columns."""
    if not header:
        raise ExportError("the export is empty: it needs a header row")
    names = [h.strip().lower() for h in header]
    while names and not names[-1]:
        names.pop()  # Excel's trailing empty columns
    counts = Counter(names)
    duplicated = sorted(n for n, count in counts.items() if count > 1)
    missing = [c for c in REQUIRED_COLUMNS if c not in counts]
    unknown = [n for n in counts if n not in _KNOWN_COLUMNS]
    problems = []
    if missing:
        problems.append(f"missing column(s): {', '.join(missing)}")
    if unknown:
        problems.append(f"unknown column(s): {_listed(unknown)}")
    if duplicated:
        problems.append(f"repeated column(s): {_listed(duplicated)}")
    if problems:
        raise ExportError("header row: " + "; ".join(problems))
    return names


def sniff_separator(text: str) -> str:
    """The separator of an export, from its header row: ',' unless the header reads as the
    required columns only when split on ';' or a tab.

    A header that is neither, but has more semicolons or tabs than commas, is refused naming
    the separator, rather than reported as one long unknown column.
    """
    header = text.split("\n", 1)[0]
    for separator in (";", "\t"):
        if separator in header and "," not in header:
            names = {n.strip().strip('"').lower() for n in header.split(separator)}
            if all(c in names for c in REQUIRED_COLUMNS):
                return separator
    found = {sep: header.count(sep) for sep in SEPARATORS}
    likely = max(found, key=lambda sep: found[sep])
    if likely != "," and found[likely] > found[","]:
        raise ExportError(
            f"header row: the columns are separated by {SEPARATORS[likely]}, and do not name"
            f" the required columns ({', '.join(REQUIRED_COLUMNS)}); save the export as CSV"
            " with commas, or fix the header"
        )
    return ","


def read_export(path: Path) -> bytes:
    """The bytes of the export at ``path``, up to one past the limit (``read_bytes`` refuses
    a larger file without reading the rest of it)."""
    with path.open("rb") as handle:
        return handle.read(MAX_EXPORT_BYTES + 1)


def forbidden_character(value: str) -> str | None:
    """The first character of ``value`` that XML 1.0 and FHIR forbid, as ``U+0000``, or None."""
    found = FORBIDDEN_CHARACTERS.search(value)
    return None if found is None else f"U+{ord(found.group()):04X}"


class ExportReader:
    """Reads an export, yielding an ``ExportRow`` or a ``RowProblem`` for each data row."""

    def __init__(
        self,
        default_la: ResponsibleLocalAuthority | None,
        is_unchanged: IsUnchanged | None = None,
        *,
        progress: Callable[[int], None] | None = None,
        progress_every: int = 10_000,
    ) -> None:
        """``progress``: called with the line reached every ``progress_every`` lines, and
        once at the end, so a long read of a national export shows it is moving."""
        self.default_la = default_la
        self.is_unchanged = is_unchanged
        self.progress = progress
        self.progress_every = progress_every
        self._la_json: dict[str, dict[str, Any]] = {}
        self._seen: dict[str, int] = {}
        # authorities named only by ODS code in the export: one object each
        self._named_only: dict[str, ResponsibleLocalAuthority] = {}

    def read_file(self, path: Path) -> Iterator[ExportRow | UnchangedRow | RowProblem]:
        """Every data row of the file at ``path``."""
        return self.read_bytes(read_export(path))

    def read_bytes(self, data: bytes) -> Iterator[ExportRow | UnchangedRow | RowProblem]:
        """Every data row of an export's bytes."""
        columns, raw = self.raw_rows(data)
        return self.rows(columns, raw)

    def raw_rows(
        self, data: bytes
    ) -> tuple[list[str], Iterator[tuple[int, list[str]] | RowProblem]]:
        """The export's columns, and each data row's line and cells as read (or why a line is
        not valid CSV); blank lines are skipped. ``ExportError`` for the file as a whole.

        ``screen``, ``check`` and ``settle`` then judge a row: ``read_bytes`` runs them one
        row at a time, and the sync job's reader can run ``check``, the costly one, for a
        national export's rows in several processes at once.
        """
        text = _decode(data)
        csv.field_size_limit(MAX_FIELD_CHARS * 4)
        separator = sniff_separator(text)
        reader = csv.reader(io.StringIO(text, newline=""), delimiter=separator, strict=True)
        try:
            columns = _check_header(next(reader, None))
        except csv.Error as exc:
            raise ExportError(f"header row: {exc}") from None
        return columns, self._raw(reader)

    def _raw(self, reader: Iterator[list[str]]) -> Iterator[tuple[int, list[str]] | RowProblem]:
        line = 1
        while True:
            try:
                cells = next(reader)
            except StopIteration:
                if self.progress is not None:
                    self.progress(line)
                return
            except csv.Error as exc:
                line = getattr(reader, "line_num", line + 1)
                yield RowProblem(line, None, f"not valid CSV: {exc}")
                continue
            line = getattr(reader, "line_num", line + 1)
            if self.progress is not None and line % self.progress_every == 0:
                self.progress(line)
            if not any(cell.strip() for cell in cells):
                continue  # blank lines are not rows
            yield line, cells

    def rows(
        self, columns: list[str], raw: Iterable[tuple[int, list[str]] | RowProblem]
    ) -> Iterator[ExportRow | UnchangedRow | RowProblem]:
        """``raw_rows``' rows judged one after the other, in this process."""
        for item in raw:
            if isinstance(item, RowProblem):
                yield item
                continue
            outcome = self._row(item[0], columns, item[1])
            if isinstance(outcome, list):
                yield from outcome
            else:
                yield outcome

    def _row(
        self, line: int, columns: list[str], cells: list[str]
    ) -> ExportRow | UnchangedRow | RowProblem | list[RowProblem]:
        screened = self.screen(line, columns, cells)
        if not isinstance(screened, ScreenedRow):
            return screened
        if screened.unchanged is not None and self.take_unchanged(screened.unchanged):
            return screened.unchanged
        return self.settle(self.check(line, columns, screened.cells))

    def screen(
        self, line: int, columns: list[str], cells: list[str]
    ) -> ScreenedRow | RowProblem | list[RowProblem]:
        """A row's shape (its number of cells, characters XML forbids), and whether the
        ledger holds it unchanged: cheap checks, made on every row in order."""
        width = len(columns)
        if len(cells) != width:
            if len(cells) > width and not any(c.strip() for c in cells[width:]):
                cells = cells[:width]  # trailing empty columns, as Excel pads them
            else:
                return RowProblem(line, None, f"has {len(cells)} cells; the header has {width}")
        if FORBIDDEN_CHARACTERS.search("".join(cells)):
            return [
                RowProblem(
                    line,
                    column,
                    f"contains a control character ({code}) that XML and FHIR forbid",
                )
                for column, cell in zip(columns, cells, strict=True)
                if (code := forbidden_character(cell)) is not None
            ]
        unchanged = None
        if self.is_unchanged is not None:
            unchanged = self._unchanged(line, columns, cells)
        return ScreenedRow(line, cells, unchanged)

    def take_unchanged(self, row: UnchangedRow) -> bool:
        """Whether a row ``screen`` found unchanged is taken as such: not when an earlier row
        had its local id (the row is then checked, and refused as a repeat)."""
        if row.local_id in self._seen:
            return False
        self._seen[row.local_id] = row.line
        return True

    def check(self, line: int, columns: list[str], cells: list[str]) -> CheckedRow[ExportRow]:
        """Every check of a screened row's values: the costly part of reading, which depends
        on no other row (``settle`` then looks for a repeated local id)."""
        stripped = [c.strip() for c in cells]
        if max(map(len, stripped)) > MAX_FIELD_CHARS:
            column = next(
                c for c, v in zip(columns, stripped, strict=True) if len(v) > MAX_FIELD_CHARS
            )
            # found before the repeat check: no local id, so settle keeps this problem
            return CheckedRow(
                line, None, RowProblem(line, column, f"is longer than {MAX_FIELD_CHARS} characters")
            )
        # the row's non-empty cells: an empty cell is an absent value
        values = {c: v for c, v in zip(columns, stripped, strict=True) if v}
        local_id = values.get("local_id")
        la = self._authority(values.get("la_ods_code"))
        la_problem = None
        if isinstance(la, RowProblem):
            # the row's other problems are still worth telling in the same run
            la_problem, la = RowProblem(line, la.column, la.message), _PLACEHOLDER_LA
        document: dict[str, Any] = {
            "kind": "child-protection-flag",
            "subject": {k: values[k] for k in _SUBJECT_COLUMNS if k in values},
            "responsible_la": self._la_document(la),
        }
        for column in _FLAG_COLUMNS:
            if column in values:
                document[column] = values[column]
        if "plan_type" in document:
            document["plan_type"] = document["plan_type"].upper()
        try:
            # every cell is a string: validated as JSON strings would be, strictly
            flag = ChildProtectionFlag.model_validate_strings(document, strict=True)
        except ValidationError as exc:
            problems = [
                RowProblem(line, _column_of(issue.location), issue.message, issue.rule_id)
                for issue in issues_from_validation_error(exc)
            ]
            if la_problem is not None:
                problems = [la_problem, *(p for p in problems if p.column != "la_ods_code")]
            return CheckedRow(line, local_id, problems)
        if la_problem is not None:
            return CheckedRow(line, local_id, la_problem)
        return CheckedRow(
            line, local_id, ExportRow(line, flag, _row_hash(la.ods_code, columns, stripped))
        )

    def settle(self, checked: CheckedRow[T]) -> T | RowProblem | list[RowProblem]:
        """A checked row's outcome in the light of the rows before it: a local id already
        taken by an earlier valid row refuses the row, whatever else was wrong with it."""
        local_id = checked.local_id
        if local_id is not None and local_id in self._seen:
            return RowProblem(
                checked.line, "local_id", f"repeats the local_id of line {self._seen[local_id]}"
            )
        outcome = checked.outcome
        if local_id is not None and not isinstance(outcome, RowProblem | list):
            self._seen[local_id] = checked.line
        return outcome

    def _unchanged(self, line: int, columns: list[str], cells: list[str]) -> UnchangedRow | None:
        """The row as unchanged, when its cells are exactly those last planned; else None.

        Checked on the raw cells before anything else, as most rows of a nightly export are
        unchanged; a row that is not goes through every check as usual.
        """
        assert self.is_unchanged is not None
        cell = dict(zip(columns, cells, strict=True))
        local_id = cell["local_id"].strip()
        if not local_id:
            return None
        ods = (cell.get("la_ods_code") or "").strip().upper()
        if not ods:
            if self.default_la is None:
                return None
            ods = self.default_la.ods_code
        row_hash = _row_hash(ods, columns, [c.strip() for c in cells])
        if not self.is_unchanged(ods, local_id, row_hash):
            return None
        return UnchangedRow(line, ods, local_id, row_hash)

    def _la_document(self, la: ResponsibleLocalAuthority) -> dict[str, Any]:
        # the same few authorities on every row: serialise each once
        if la.ods_code not in self._la_json:
            self._la_json[la.ods_code] = la.model_dump(mode="json", exclude_none=True)
        return self._la_json[la.ods_code]

    def _authority(self, ods: str | None) -> ResponsibleLocalAuthority | RowProblem:
        default = self.default_la
        if ods is None:
            if default is None:
                return RowProblem(
                    0, "la_ods_code", "is empty and no configuration names the local authority"
                )
            return default
        try:
            code = check_ods_code(ods)
        except ValueError as exc:
            return RowProblem(0, "la_ods_code", str(exc))
        if default is not None and code == default.ods_code:
            return default
        if code not in self._named_only:
            # the export names an authority the configuration does not describe: its ODS code
            # is all that is known, and all a CP-IS upload needs
            self._named_only[code] = ResponsibleLocalAuthority(ods_code=code, name=code)
        return self._named_only[code]


# stands in for a row's missing authority so that its other cells are still checked
_PLACEHOLDER_LA = ResponsibleLocalAuthority(ods_code="X00", name="(none)")


def write_rejects(path: Path, problems: Iterable[RowProblem]) -> int:
    """Write every rejected row's line, column and reason to ``path`` (CSV, private: 0600).

    The reasons never hold a cell's value, so the file holds no personal data; it is private
    all the same, as it sits beside the export. Returns the number of problems written.
    """
    fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_TRUNC, 0o600)
    os.fchmod(fd, 0o600)  # an existing file keeps its mode through O_TRUNC
    count = 0
    with os.fdopen(fd, "w", encoding="utf-8", newline="") as handle:
        writer = csv.writer(handle)
        writer.writerow(("line", "column", "reason"))
        for problem in problems:
            rule = f" (rule {problem.rule_id})" if problem.rule_id else ""
            writer.writerow((problem.line, problem.column or "", problem.message + rule))
            count += 1
    return count


def _column_of(location: str) -> str | None:
    return next((c for p, c in _COLUMN_OF.items() if location.startswith(p)), None)


def _row_hash(la_ods: str, columns: list[str], stripped: list[str]) -> str:
    """A fingerprint of a row as exported: its authority, the header and every cell, each
    stripped of surrounding spaces."""
    text = "\x1f".join((la_ods, ",".join(columns), *stripped))
    return hashlib.sha256(text.encode()).hexdigest()
