from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from hypothesis import given
from hypothesis import strategies as st

from apps.subscriptions.periods import add_months, arb_interval, period_end


def at(year: int, month: int, day: int) -> datetime:
    return datetime(year, month, day, 9, 30, tzinfo=UTC)


@pytest.mark.parametrize(
    ("start", "expected"),
    [
        (at(2026, 1, 31), at(2026, 2, 28)),
        (at(2028, 1, 31), at(2028, 2, 29)),
        (at(2026, 2, 28), at(2026, 3, 31)),  # back to the anchor's day once the month has it
        (at(2026, 12, 31), at(2027, 1, 31)),
    ],
)
def test_monthly_periods_keep_the_anchor_day_where_the_month_has_it(start, expected):
    anchor = at(2026, 1, 31)

    assert period_end(start, interval="month", count=1, anchor=anchor) == expected


def test_days_weeks_and_years():
    start = at(2026, 3, 1)

    assert period_end(start, interval="day", count=10, anchor=start) == start + timedelta(days=10)
    assert period_end(start, interval="week", count=2, anchor=start) == start + timedelta(weeks=2)
    assert period_end(at(2028, 2, 29), interval="year", count=1, anchor=at(2028, 2, 29)) == at(2029, 2, 28)


@given(
    st.datetimes(min_value=datetime(2000, 1, 1), max_value=datetime(2090, 1, 1), timezones=st.just(UTC)),
    st.integers(min_value=1, max_value=36),
)
def test_months_always_move_forward_by_the_right_number_of_calendar_months(moment, months):
    later = add_months(moment, months, anchor_day=moment.day)

    assert later > moment
    assert (later.year * 12 + later.month) - (moment.year * 12 + moment.month) == months
    assert later.day <= moment.day
    assert later.time() == moment.time()


@pytest.mark.parametrize(
    ("interval", "count", "expected"),
    [
        ("month", 1, (1, "months")),
        ("month", 12, (12, "months")),
        ("year", 1, (12, "months")),
        ("week", 2, (14, "days")),
        ("day", 30, (30, "days")),
        ("day", 6, None),
        ("month", 13, None),
        ("year", 2, None),
    ],
)
def test_arb_takes_only_the_intervals_it_can_express(interval, count, expected):
    assert arb_interval(interval, count) == expected
