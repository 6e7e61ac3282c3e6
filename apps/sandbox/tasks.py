from __future__ import annotations

from collections.abc import Callable
from typing import Any

from celery import shared_task
from django.conf import settings

from .authorizenet.arb import arb_run as run
from .models import AnetNotification, RzpNotification, StripeNotification
from .notifications import deliver as anet_deliver
from .razorpay.notifications import deliver as rzp_deliver
from .stripe.webhooks import deliver as stripe_deliver


def _deliver_at_least_once(
    task: Any,
    notification: AnetNotification | RzpNotification | StripeNotification,
    deliver: Callable[..., int | None],
    copy: int,
) -> None:
    """Retried with backoff until the endpoint answers 2xx or attempts run out. Extra copies
    (fault injection) are sent once each, whatever became of the first."""
    if copy == 0 and notification.status != notification.Status.PENDING:
        return
    code = deliver(notification, copy=copy)
    if copy == 0 and not (code is not None and 200 <= code < 300):
        notification.refresh_from_db()
        if notification.status == notification.Status.PENDING:
            raise task.retry(countdown=settings.SANDBOX_WEBHOOK_RETRY_SECONDS * 2 ** min(notification.attempts, 6))


@shared_task(bind=True, ignore_result=True, time_limit=60, soft_time_limit=50, max_retries=None)
def anet_notification_deliver(self: Any, notification_id: int, copy: int = 0) -> None:
    notification = AnetNotification.objects.select_related("webhook__account").get(pk=notification_id)
    _deliver_at_least_once(self, notification, anet_deliver, copy)


@shared_task(bind=True, ignore_result=True, time_limit=60, soft_time_limit=50, max_retries=None)
def rzp_notification_deliver(self: Any, notification_id: int, copy: int = 0) -> None:
    notification = RzpNotification.objects.select_related("webhook").filter(pk=notification_id).first()
    if notification is None:  # e.g. a test database that is gone
        return
    _deliver_at_least_once(self, notification, rzp_deliver, copy)


@shared_task(bind=True, ignore_result=True, time_limit=60, soft_time_limit=50, max_retries=None)
def stripe_notification_deliver(self: Any, notification_id: int, copy: int = 0) -> None:
    notification = StripeNotification.objects.select_related("endpoint").filter(pk=notification_id).first()
    if notification is None:  # e.g. a test database that is gone
        return
    _deliver_at_least_once(self, notification, stripe_deliver, copy)


@shared_task(ignore_result=True, time_limit=600, soft_time_limit=540)
def arb_run() -> int:
    """The Authorize.Net sandbox's own recurring-billing run (the real service's daily ARB job).
    Safe to run twice: each scheduled payment is charged once."""
    return run()
