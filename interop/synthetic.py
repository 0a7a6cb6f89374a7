"""Synthetic LA exports: plausible children on plans, test-block NHS numbers, seeded.

For tests, benchmarks and the demo. Every person is invented; NHS numbers come from the
9000000000-9999999999 block reserved for test patients, with valid check digits. Bad rows can
be mixed in on purpose, each of a kind a real export has been seen to contain.
"""

from __future__ import annotations

import csv
import io
import random
from collections.abc import Iterator
from datetime import date, timedelta

from interop.la_export import OPTIONAL_COLUMNS, REQUIRED_COLUMNS

# names with accents, apostrophes and spaces, as real registers hold them
GIVEN = (
    "Amelia",
    "Olivia",
    "Isla",
    "Ava",
    "Mia",
    "Ivy",
    "Lily",
    "Isabella",
    "Rosie",
    "Sophia",
    "Grace",
    "Willow",
    "Freya",
    "Florence",
    "Evie",
    "Oliver",
    "Noah",
    "George",
    "Arthur",
    "Muhammad",
    "Leo",
    "Harry",
    "Oscar",
    "Archie",
    "Henry",
    "Theo",
    "Jack",
    "Charlie",
    "Finley",
    "Zoë",
    "Siân",
    "Aoife",
    "Chloé",
    "Noémie",
    "Łucja",
    "Oisín",
    "Seán",
    "Renée",
    "Jürgen",
)
FAMILY = (
    "Smith",
    "Jones",
    "Taylor",
    "Brown",
    "Williams",
    "Wilson",
    "Johnson",
    "Davies",
    "Patel",
    "Wright",
    "Robinson",
    "Thompson",
    "Evans",
    "Walker",
    "White",
    "Roberts",
    "Green",
    "Hall",
    "Khan",
    "Lewis",
    "Clarke",
    "Jackson",
    "Wood",
    "Harris",
    "Edwards",
    "Turner",
    "Martin",
    "Cooper",
    "Hill",
    "Ward",
    "Hughes",
    "Moore",
    "Clark",
    "King",
    "Harrison",
    "Lee",
    "Baker",
    "O'Neill",
    "Nowak",
    "Ó Briain",
    "Ní Dhomhnaill",
)

#: bad-row kinds that ``export_csv`` can mix in
BAD_ROW_KINDS = (
    "check-digit",
    "short-nhs-number",
    "bad-date",
    "unknown-plan-type",
    "end-before-start",
    "ucpp-without-edd",
    "duplicate-local-id",
)


def nhs_numbers(rng: random.Random) -> Iterator[str]:
    """Distinct valid NHS numbers from the test block."""
    seen: set[str] = set()
    while True:
        nine = str(rng.randint(900_000_000, 999_999_999))
        total = sum(int(d) * w for d, w in zip(nine, range(10, 1, -1), strict=True))
        check = (11 - total % 11) % 11
        if check == 10 or nine in seen:
            continue
        seen.add(nine)
        yield f"{nine}{check}"


def _row(rng: random.Random, index: int, number: str, today: date) -> dict[str, str]:
    plan = rng.choices(["CPP", "LAC", "UCPP"], weights=[60, 35, 5])[0]
    start = today - timedelta(days=rng.randint(1, 700))
    if plan == "UCPP":
        born = today - timedelta(days=rng.randint(18 * 365, 40 * 365))
    else:
        born = start - timedelta(days=rng.randint(30, 17 * 365))
    end = start + timedelta(days=rng.randint(30, 600)) if rng.random() < 0.2 else None
    if end is not None and end > today:
        end = None
    return {
        "local_id": f"LA-{index:07d}",
        "plan_type": plan,
        "nhs_number": number,
        "given_name": rng.choice(GIVEN),
        "family_name": rng.choice(FAMILY),
        "date_of_birth": born.isoformat(),
        "plan_start": start.isoformat(),
        "plan_end": end.isoformat() if end else "",
        "expected_delivery_date": (start + timedelta(days=rng.randint(30, 200))).isoformat()
        if plan == "UCPP"
        else "",
        "lac_legal_basis": rng.choice(["s20", "s31", "s38", ""]) if plan == "LAC" else "",
        "la_ods_code": "",
    }


def _spoil(row: dict[str, str], kind: str, first_local_id: str) -> None:
    if kind == "check-digit":
        last = int(row["nhs_number"][-1])
        row["nhs_number"] = row["nhs_number"][:-1] + str((last + 1) % 10)
    elif kind == "short-nhs-number":
        row["nhs_number"] = row["nhs_number"][:9]
    elif kind == "bad-date":
        row["plan_start"] = "31/02/2026"
    elif kind == "unknown-plan-type":
        row["plan_type"] = "CIN"
    elif kind == "end-before-start":
        row["plan_end"] = "2000-01-01"
    elif kind == "ucpp-without-edd":
        row["plan_type"], row["expected_delivery_date"], row["lac_legal_basis"] = "UCPP", "", ""
    elif kind == "duplicate-local-id":
        row["local_id"] = first_local_id


def export_rows(
    count: int, *, seed: int = 1, bad_rows: int = 0, today: date | None = None
) -> Iterator[dict[str, str]]:
    """``count`` export rows; ``bad_rows`` of them spoilt, one kind after another."""
    rng = random.Random(seed)
    today = today or date(2026, 11, 23)
    numbers = nhs_numbers(rng)
    spoil_at = (
        set(rng.sample(range(1, count), min(bad_rows, max(count - 1, 0)))) if count > 1 else set()
    )
    kinds = iter(BAD_ROW_KINDS * (bad_rows // len(BAD_ROW_KINDS) + 1))
    for index in range(count):
        row = _row(rng, index, next(numbers), today)
        if index in spoil_at:
            _spoil(row, next(kinds), "LA-0000000")
        yield row


def export_csv(count: int, *, seed: int = 1, bad_rows: int = 0, crlf: bool = False) -> bytes:
    """A whole export as CSV bytes (UTF-8 with a byte order mark, as spreadsheets save it)."""
    buffer = io.StringIO(newline="")
    writer = csv.DictWriter(
        buffer,
        fieldnames=[*REQUIRED_COLUMNS, *OPTIONAL_COLUMNS],
        lineterminator="\r\n" if crlf else "\n",
    )
    writer.writeheader()
    writer.writerows(export_rows(count, seed=seed, bad_rows=bad_rows))
    return b"\xef\xbb\xbf" + buffer.getvalue().encode("utf-8")
