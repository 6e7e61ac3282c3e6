"""Thin Celery entry points. Arguments are ids; every task is safe to run twice."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from . import services
from .models import IncomingWebhook


def _countdown(when: object) -> int | None:
    """Seconds until `when`, if short enough to wait in the broker; else None (the sweeper
    queues it when due, so no countdown outlives the broker's visibility timeout)."""
    if when is None:
        return None
    seconds = max(0, int((when - timezone.now()).total_seconds()))  # type: ignore[operator]
    return seconds if seconds <= settings.CELERY_MAX_COUNTDOWN_SECONDS else None


@shared_task(ignore_result=True, time_limit=120, soft_time_limit=100)
def incoming_webhook_process(webhook_id: int) -> None:
    webhook = services.incoming_webhook_process(webhook_id=webhook_id)
    if webhook.status == IncomingWebhook.Status.FAILED:
        countdown = _countdown(webhook.next_attempt_at)
        if countdown is not None:
            incoming_webhook_process.apply_async((webhook_id,), countdown=countdown)


@shared_task(ignore_result=True, time_limit=300, soft_time_limit=240)
def incoming_webhooks_sweep() -> int:
    return len(services.incoming_webhooks_sweep())
