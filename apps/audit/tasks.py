from __future__ import annotations

from celery import shared_task

from .checkpoints import audit_checkpoint_create


@shared_task(ignore_result=True, time_limit=120, soft_time_limit=100)
def audit_checkpoint() -> None:
    """Sign every audit chain's head (a no-op when nothing was appended since the last one)."""
    audit_checkpoint_create()
