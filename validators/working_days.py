"""Working-day arithmetic for the guidance's timescales.

Working Together defines a working day as "any day which is not a Saturday, Sunday, or bank
holiday" (002 L2747). The bank holidays are those of England and Wales, substitute days
included (Boxing Day 2026 falls on a Saturday, so Monday 28 December is a bank holiday), taken
from the ``holidays`` package (``country_holidays("GB", subdiv="ENG")``).

Counting follows the guidance's convention: the day that starts the clock (the trigger day) is
day 0, and day 1 is the first working day after it. "Within 15 working days of X" therefore
means on or before ``add_working_days(X, 15)``.
"""

from __future__ import annotations

from datetime import date, timedelta
from functools import cache

import holidays

_ONE_DAY = timedelta(days=1)
_SATURDAY = 5


@cache
def bank_holidays(year: int) -> frozenset[date]:
    """England and Wales bank holidays of ``year``, substitute days included (cached)."""
    calendar = holidays.country_holidays("GB", subdiv="ENG", years=year)
    return frozenset(calendar.keys())


def is_working_day(day: date) -> bool:
    """Whether ``day`` is neither a Saturday, a Sunday nor an England and Wales bank holiday."""
    return day.weekday() < _SATURDAY and day not in bank_holidays(day.year)


def add_working_days(day: date, n: int) -> date:
    """The date ``n`` working days after ``day``, which is day 0 (before it when ``n < 0``).

    ``add_working_days(d, 0)`` is ``d`` itself, working day or not; for ``n > 0`` the result
    is always a working day, whatever ``d`` is.
    """
    step = _ONE_DAY if n >= 0 else -_ONE_DAY
    remaining = abs(n)
    current = day
    while remaining:
        current += step
        if is_working_day(current):
            remaining -= 1
    return current


def working_days_between(start: date, end: date) -> int:
    """How many working days ``end`` is after ``start`` (day 0); negative if before.

    Counts the working days in ``(start, end]``, so that for a working day ``end``,
    ``add_working_days(start, working_days_between(start, end)) == end``.
    """
    if end < start:
        return -working_days_between(end, start)
    count = 0
    current = start
    while current < end:
        current += _ONE_DAY
        if is_working_day(current):
            count += 1
    return count
