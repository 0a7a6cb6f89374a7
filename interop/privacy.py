"""Masking personal data for logs, errors and summaries.

NHS numbers, names and dates of birth never appear in full in anything the toolkit writes
for operators; these functions give the short, recognisable forms that do.
"""

from __future__ import annotations

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
