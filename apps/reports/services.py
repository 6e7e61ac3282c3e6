"""Keeping the daily totals: recomputed from the payment and refund tables for whole days."""

from __future__ import annotations

from datetime import date, timedelta

from django.db import transaction
from django.utils import timezone

from apps.core.dates import utc_days

from .models import DailyTotal, DailyTotalDay
from .selectors import day_totals


def daily_totals_refresh(*, days: list[date]) -> int:
    """Recompute the totals of these closed days (not today: it is read live). Idempotent;
    returns the number of rows written."""
    today = timezone.now().date()
    written = 0
    for day in sorted({d for d in days if d < today}):
        since, until = utc_days(day)
        now = timezone.now()
        rows = [DailyTotal(computed_at=now, **row) for row in day_totals(since=since, until=until)]
        with transaction.atomic():
            DailyTotal.objects.filter(day=day).delete()
            DailyTotal.objects.bulk_create(rows)
            DailyTotalDay.objects.update_or_create(day=day, defaults={"computed_at": now})
        written += len(rows)
    return written


def daily_totals_catch_up(*, recent_days: int, lookback_days: int = 62) -> int:
    """What the beat task runs: the last `recent_days` closed days again (late captures,
    refunds and corrections land there), plus any day of the lookback never computed."""
    today = timezone.now().date()
    recent = [today - timedelta(days=n) for n in range(1, recent_days + 1)]
    window = [today - timedelta(days=n) for n in range(1, lookback_days + 1)]
    done = set(DailyTotalDay.objects.filter(day__in=window).values_list("day", flat=True))
    return daily_totals_refresh(days=[*recent, *(day for day in window if day not in done)])
