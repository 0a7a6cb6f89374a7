"""Working days: weekends, England and Wales bank holidays (substitute days too), day 0."""

from __future__ import annotations

from datetime import date, timedelta

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from interop.validators.working_days import (
    add_working_days,
    bank_holidays,
    is_working_day,
    working_days_between,
)


@pytest.mark.parametrize(
    ("day", "working"),
    [
        (date(2026, 12, 24), True),  # Thursday
        (date(2026, 12, 25), False),  # Christmas Day, Friday
        (date(2026, 12, 26), False),  # Boxing Day, Saturday
        (date(2026, 12, 28), False),  # Monday: Boxing Day's substitute
        (date(2026, 12, 29), True),
        (date(2027, 1, 1), False),  # New Year's Day
        (date(2026, 4, 3), False),  # Good Friday 2026
        (date(2026, 4, 6), False),  # Easter Monday 2026
        (date(2026, 4, 7), True),
        (date(2026, 3, 7), False),  # Saturday
        (date(2026, 3, 8), False),  # Sunday
        (date(2026, 3, 9), True),  # Monday
        (date(2022, 9, 19), False),  # a one-off bank holiday (state funeral)
        (date(2027, 12, 28), False),  # Christmas and Boxing Day 2027 both on a weekend
    ],
)
def test_working_days_in_england_and_wales(day: date, working: bool) -> None:
    assert is_working_day(day) is working


def test_bank_holidays_are_cached_per_year() -> None:
    assert bank_holidays(2026) is bank_holidays(2026)
    assert date(2026, 12, 28) in bank_holidays(2026)
    assert len(bank_holidays(2026)) == 9  # Boxing Day and its substitute both


def test_trigger_day_is_day_zero() -> None:
    friday, saturday = date(2026, 3, 6), date(2026, 3, 7)
    assert add_working_days(friday, 0) == friday
    assert add_working_days(saturday, 0) == saturday
    assert add_working_days(friday, 1) == date(2026, 3, 9)  # over the weekend
    assert add_working_days(saturday, 1) == date(2026, 3, 9)
    assert working_days_between(friday, friday) == 0
    assert working_days_between(friday, date(2026, 3, 9)) == 1


def test_over_christmas_2026() -> None:
    # Thu 24 Dec is day 0; Fri 25, Sat 26, Sun 27 and the substitute Mon 28 do not count
    assert add_working_days(date(2026, 12, 24), 1) == date(2026, 12, 29)
    # 15 working days from Mon 14 December 2026 lands on Thu 7 January 2027
    assert add_working_days(date(2026, 12, 14), 15) == date(2027, 1, 7)
    assert working_days_between(date(2026, 12, 14), date(2027, 1, 7)) == 15


def test_over_easter_2026() -> None:
    assert add_working_days(date(2026, 4, 2), 1) == date(2026, 4, 7)
    assert add_working_days(date(2026, 3, 20), 15) == date(2026, 4, 14)


def test_backwards() -> None:
    assert add_working_days(date(2026, 4, 7), -1) == date(2026, 4, 2)
    assert working_days_between(date(2026, 3, 9), date(2026, 3, 6)) == -1


days = st.dates(min_value=date(2012, 1, 1), max_value=date(2030, 12, 31))


@settings(max_examples=200, deadline=None)
@given(start=days, n=st.integers(min_value=0, max_value=80))
def test_add_and_count_agree(start: date, n: int) -> None:
    end = add_working_days(start, n)
    assert working_days_between(start, end) == n
    assert n == 0 or is_working_day(end)
    # no working day is skipped: the day before the result is n - 1 working days on
    if n:
        assert working_days_between(start, end - timedelta(days=1)) == n - 1
