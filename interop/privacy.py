"""Masking personal data for logs, errors and summaries.

NHS numbers, names and dates of birth never appear in full in anything the toolkit writes
for operators; these functions give the short, recognisable forms that do.
"""

from __future__ import annotations

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


#: ten digits, bare or spaced 3-3-4 (an NHS number as it appears in a URL or a message)
_NHS_LIKE = re.compile(r"(?<!\d)(\d{3})[ -]?(\d{3})[ -]?(\d{4})(?!\d)")


def mask_nhs_numbers_in(text: str) -> str:
    """Every run of ten digits in ``text`` masked as an NHS number."""
    return _NHS_LIKE.sub(lambda m: mask_nhs_number(m.group(0)), text)


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
