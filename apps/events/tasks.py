"""Thin Celery entry points for events out. Arguments are ids; every task is safe to run twice."""

from __future__ import annotations

from celery import shared_task
from django.conf import settings
from django.utils import timezone

from . import deliveries, services
from .models import WebhookDelivery


def _countdown(when: object) -> int | None:
    """Seconds until `when`, if short enough to wait in the broker; else None (the sweeper
    queues it when due, so no countdown outlives the broker's visibility timeout)."""
    if when is None:
        return None
    seconds = max(0, int((when - timezone.now()).total_seconds()))  # type: ignore[operator]
    return seconds if seconds <= settings.CELERY_MAX_COUNTDOWN_SECONDS else None


@shared_task(ignore_result=True, time_limit=60, soft_time_limit=50)
def event_relay(event_id: int) -> None:
    services.event_relay(event_id=event_id)


@shared_task(
    ignore_result=True,
    time_limit=deliveries.DELIVERY_TASK_TIME_LIMIT,
    soft_time_limit=deliveries.DELIVERY_TASK_SOFT_TIME_LIMIT,
)
def webhook_delivery_attempt(delivery_id: int) -> None:
    delivery = deliveries.webhook_delivery_attempt(delivery_id=delivery_id)
    if delivery is not None and delivery.status == WebhookDelivery.Status.PENDING:
        countdown = _countdown(delivery.next_attempt_at)
        if countdown is not None:
            webhook_delivery_attempt.apply_async((delivery_id,), countdown=countdown)


@shared_task(ignore_result=True, time_limit=300, soft_time_limit=240)
def events_sweep() -> dict[str, int]:
    return services.events_sweep()


# Messages queued under the names these tasks had in the webhooks app still run after the move.
@shared_task(name="apps.webhooks.tasks.event_relay", ignore_result=True, time_limit=60, soft_time_limit=50)
def legacy_event_relay(event_id: int) -> None:
    event_relay(event_id)


@shared_task(
    name="apps.webhooks.tasks.webhook_delivery_attempt",
    ignore_result=True,
    time_limit=deliveries.DELIVERY_TASK_TIME_LIMIT,
    soft_time_limit=deliveries.DELIVERY_TASK_SOFT_TIME_LIMIT,
)
def legacy_webhook_delivery_attempt(delivery_id: int) -> None:
    webhook_delivery_attempt(delivery_id)
