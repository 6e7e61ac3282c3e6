from __future__ import annotations

from celery import shared_task
from django.conf import settings

from .models import AnetNotification
from .notifications import deliver


@shared_task(bind=True, ignore_result=True, time_limit=60, soft_time_limit=50, max_retries=None)
def anet_notification_deliver(self, notification_id: int, copy: int = 0) -> None:
    """At least once: retried until the endpoint answers 2xx or attempts run out. Extra copies
    (fault injection) are sent once each, whatever became of the first."""
    notification = AnetNotification.objects.select_related("webhook__account").get(pk=notification_id)
    if copy == 0 and notification.status != AnetNotification.Status.PENDING:
        return
    code = deliver(notification, copy=copy)
    if copy == 0 and not (code is not None and 200 <= code < 300):
        notification.refresh_from_db()
        if notification.status == AnetNotification.Status.PENDING:
            raise self.retry(countdown=settings.SANDBOX_WEBHOOK_RETRY_SECONDS * 2 ** min(notification.attempts, 6))
