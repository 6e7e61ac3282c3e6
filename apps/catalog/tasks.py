"""Thin Celery entry points; every task is safe to run twice."""

from __future__ import annotations

from celery import shared_task

from . import services


@shared_task(ignore_result=True, time_limit=300, soft_time_limit=240)
def checkout_reconcile() -> dict[str, int]:
    return services.checkout_reconcile()
