"""Masking personal data for logs, errors and summaries.

NHS numbers, names and dates of birth never appear in full in anything the toolkit writes
for operators; these functions give the short, recognisable forms that do.
"""

from __future__ import annotations

import itertools
import logging
import re
from datetime import date


def mask_nhs_number(number: str) -> str:
    """``'9434765919'`` → ``'*** *** 5919'``: enough to tell records apart, not to identify."""
    digits = "".join(ch for ch in number if ch.isdigit())
    if len(digits) < 4:
        return "*** *** ****"
    return f"*** *** {digits[-4:]}"


def mask_name(given: str | None, family: str | None) -> str:
    """``('Ada', 'Lovelace')`` → ``'A. L.'``: initials only."""
    parts = [p.strip()[0].upper() + "." for p in (given, family) if p and p.strip()]
    return " ".join(parts) or "?"


def mask_date_of_birth(value: date) -> str:
    """Year of birth only."""
    return f"{value.year}-**-**"


# Ten digits, bare or in groups of 3-3-4 split by a space, a hyphen or "%20" (an NHS number
# as it appears in a message, a file name or a URL): masked whatever their check digit, since
# a mistyped NHS number still points at a child.
_SEPARATOR = r"(?: |-|%20)?"
_NHS_LIKE = re.compile(rf"(?<!\d)\d{{3}}{_SEPARATOR}\d{{3}}{_SEPARATOR}\d{{4}}(?!\d)")
# A longer run of digits is an id, a timestamp or an NHS number with something stuck to it
# ("9434765919001" in a sender's MSH-10): each ten-digit stretch of it that passes the NHS
# number check is masked, the rest stays readable.
_LONG_RUN = re.compile(r"\d{11,}")
_WEIGHTS = range(10, 1, -1)


def _passes_nhs_check(digits: str) -> bool:
    """Whether ten digits end in the NHS number's modulus 11 check digit."""
    remainder = sum(int(d) * w for d, w in zip(digits, _WEIGHTS, strict=False)) % 11
    check = (11 - remainder) % 11
    return check != 10 and check == int(digits[9])


def _mask_long_run(run: str) -> str:
    # every stretch that passes is covered, overlapping ones too: a chance pass that
    # overlaps a real number must not leave part of the number readable
    covered = [False] * len(run)
    for i in range(len(run) - 9):
        if _passes_nhs_check(run[i : i + 10]):
            covered[i : i + 10] = [True] * 10
    parts = []
    for is_covered, group in itertools.groupby(zip(covered, run, strict=True), lambda p: p[0]):
        digits = "".join(d for _, d in group)
        parts.append(mask_nhs_number(digits) if is_covered else digits)
    return "".join(parts)


def mask_nhs_numbers_in(text: str, *, in_longer_runs: bool = True) -> str:
    """``text`` with every NHS number in it masked: each run of ten digits (bare, spaced or
    hyphenated 3-3-4), and (``in_longer_runs``) each valid NHS number inside a longer run of
    digits.

    Runs of other lengths stay as they are (ids, ports, times remain readable in logs); a
    longer run (a timestamp) loses a ten-digit stretch only when it passes the NHS number's
    check, as about one in eleven does by chance. ``in_longer_runs=False`` keeps long runs
    whole, for text that quotes a file's own timestamps and uuids back to its reader.
    """
    # a uuid (a resource's id, a request id) is never an NHS number, though its last group
    # may be twelve digits that pass the check: it stays whole, so messages name resources
    pieces = _UUID.split(text)
    for index in range(0, len(pieces), 2):
        piece = pieces[index]
        if in_longer_runs:
            piece = _LONG_RUN.sub(lambda m: _mask_long_run(m.group(0)), piece)
        pieces[index] = _NHS_LIKE.sub(lambda m: mask_nhs_number(m.group(0)), piece)
    return "".join(pieces)


_UUID = re.compile(
    r"(?<![0-9A-Fa-f-])([0-9A-Fa-f]{8}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-[0-9A-Fa-f]{4}-"
    r"[0-9A-Fa-f]{12})(?![0-9A-Fa-f-])"
)


class NhsNumberLogFilter(logging.Filter):
    """Masks NHS numbers in the log records of libraries the toolkit calls.

    httpx logs every request's URL at INFO, and a FHIR search by NHS number carries the number
    in its query; the toolkit attaches this filter to such loggers (``protect_logger``) so
    that turning on INFO logging never writes a number in full.
    """

    def filter(self, record: logging.LogRecord) -> bool:
        message = record.getMessage()
        masked = mask_nhs_numbers_in(message)
        if masked != message:
            record.msg, record.args = masked, None
        return True


def protect_logger(name: str) -> None:
    """Attach ``NhsNumberLogFilter`` to logger ``name`` once."""
    logger = logging.getLogger(name)
    if not any(isinstance(f, NhsNumberLogFilter) for f in logger.filters):
        logger.addFilter(NhsNumberLogFilter())
