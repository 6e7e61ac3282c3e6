"""Billing period arithmetic. Months keep the anchor's day where the month has it and the
month's last day where it does not (Jan 31 -> Feb 28 -> Mar 31)."""

from __future__ import annotations

import calendar
from datetime import datetime, timedelta


def add_months(moment: datetime, months: int, *, anchor_day: int) -> datetime:
    index = moment.year * 12 + (moment.month - 1) + months
    year, month = divmod(index, 12)
    month += 1
    day = min(anchor_day, calendar.monthrange(year, month)[1])
    return moment.replace(year=year, month=month, day=day)


def period_end(start: datetime, *, interval: str, count: int, anchor: datetime) -> datetime:
    """The end of the period that begins at `start`."""
    if interval == "day":
        return start + timedelta(days=count)
    if interval == "week":
        return start + timedelta(weeks=count)
    months = count if interval == "month" else 12 * count
    return add_months(start, months, anchor_day=anchor.day)


def arb_interval(interval: str, count: int) -> tuple[int, str] | None:
    """The plan's interval as Authorize.Net ARB takes it (length, unit), or None if ARB cannot
    express it (ARB: 7 to 365 days, or 1 to 12 months)."""
    if interval == "day" and 7 <= count <= 365:
        return count, "days"
    if interval == "week" and 7 * count <= 365:
        return 7 * count, "days"
    if interval == "month" and 1 <= count <= 12:
        return count, "months"
    if interval == "year" and count == 1:
        return 12, "months"
    return None
