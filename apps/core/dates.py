"""Whole days in UTC, the unit of settlements, reports and the dashboard."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta


def utc_days(first: date, last: date | None = None) -> tuple[datetime, datetime]:
    """[first 00:00 UTC, the day after `last` (default `first`) 00:00 UTC)."""
    start = datetime.combine(first, time.min, tzinfo=UTC)
    return start, datetime.combine(last or first, time.min, tzinfo=UTC) + timedelta(days=1)
