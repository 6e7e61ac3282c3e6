from __future__ import annotations

from celery import shared_task

from .idempotency import idempotency_purge_expired as purge


@shared_task(ignore_result=True, time_limit=600, soft_time_limit=540)
def idempotency_purge_expired() -> int:
    """Safe to run twice: deleting what is already gone deletes nothing."""
    return purge()
