"""The dates of an ARB subscription's payments, shared by its schedule and its listing."""

from __future__ import annotations

import calendar
from datetime import date, timedelta

from apps.sandbox.models import AnetSubscription


def occurrence_date(subscription: AnetSubscription, number: int) -> date:
    """The date of payment `number` (1-based): months keep the start's day where the month has it."""
    steps = (number - 1) * subscription.interval_length
    start = subscription.start_date
    if subscription.interval_unit == "days":
        return start + timedelta(days=steps)
    index = start.year * 12 + start.month - 1 + steps
    year, month = divmod(index, 12)
    return date(year, month + 1, min(start.day, calendar.monthrange(year, month + 1)[1]))
