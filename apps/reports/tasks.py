"""Thin Celery entry points (safe to run twice: a refresh recomputes whole days)."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings

from .services import daily_totals_catch_up


@shared_task(ignore_result=True, time_limit=1800, soft_time_limit=1700)
def daily_totals_refresh() -> int:
    return daily_totals_catch_up(recent_days=settings.REPORTS_REFRESH_DAYS)
