"""Gateway webhooks in: verify, store raw once per (gateway account, event id), answer, process
later on Celery. Processing is idempotent (its effects go through payment services that only move
a payment forward, under row locks), so a redelivered task or a replay does no harm."""

from __future__ import annotations

import logging
import random
import traceback
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import timedelta

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import F, Q
from django.utils import timezone

from apps.audit.actors import Actor
from apps.audit.services import audit_record
from apps.core.context import current_request_id
from apps.core.metrics import WEBHOOKS_RECEIVED
from apps.core.queueing import enqueue, enqueue_on_commit
from apps.core.tracing import continued_span, current_traceparent
from apps.gateways.base import InvalidSignature, MalformedNotification
from apps.gateways.models import GatewayAccount
from apps.gateways.registry import notification_parser_for

from .models import IncomingWebhook
from .processors import process_notification

logger = logging.getLogger(__name__)

# Queued by name: the tasks module imports this one.
PROCESS_TASK = "apps.webhooks.tasks.incoming_webhook_process"

# Headers never worth keeping (or never safe to): credentials and cookies.
_DROPPED_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})

# --- incoming -----------------------------------------------------------------------------------


@dataclass(frozen=True)
class Receipt:
    webhook: IncomingWebhook
    duplicate: bool


def _kept_headers(headers: dict[str, str]) -> dict[str, str]:
    return {name.lower(): value for name, value in headers.items() if name.lower() not in _DROPPED_HEADERS}


def incoming_webhook_receive(*, account: GatewayAccount, body: bytes, headers: dict[str, str]) -> Receipt:
    """Verify and store a gateway notification; queue its processing when the row commits.

    Raises InvalidSignature (nothing stored) or MalformedNotification. A copy of a notification
    already stored (also one arriving at the same moment) is a duplicate: not stored, not queued.
    """

    headers = _kept_headers(headers)
    try:
        notification = notification_parser_for(account.gateway)(body, headers, account.credentials())
    except InvalidSignature:
        WEBHOOKS_RECEIVED.labels(gateway=account.gateway, outcome="bad_signature").inc()
        raise
    except MalformedNotification:
        WEBHOOKS_RECEIVED.labels(gateway=account.gateway, outcome="malformed").inc()
        raise
    try:
        with transaction.atomic():
            webhook = IncomingWebhook.objects.create(
                gateway_account=account,
                merchant_id=account.merchant_id,
                gateway=account.gateway,
                event_id=notification.event_id,
                event_type=notification.event_type,
                object_id=notification.object_id,
                content_key=notification.content_key,
                body=body,
                headers=headers,
                correlation_id=current_request_id() or "",
                traceparent=current_traceparent(),
            )
            enqueue_on_commit(PROCESS_TASK, webhook.pk)
    except IntegrityError:
        WEBHOOKS_RECEIVED.labels(gateway=account.gateway, outcome="duplicate").inc()
        same = Q(event_id=notification.event_id)
        if notification.content_key:
            same |= Q(content_key=notification.content_key)
        existing = IncomingWebhook.objects.filter(same, gateway_account=account).order_by("id").first()
        if existing is None:  # pragma: no cover - the row that won the race is committed before we read
            raise
        return Receipt(existing, duplicate=True)
    WEBHOOKS_RECEIVED.labels(gateway=account.gateway, outcome="stored").inc()
    return Receipt(webhook, duplicate=False)


def _retry_delay(attempts: int) -> int:
    """Seconds before the next attempt: exponential from WEBHOOK_RETRY_BASE_SECONDS, capped, with
    full jitter in the upper half so a burst of failures does not retry in lockstep."""
    base = settings.WEBHOOK_RETRY_BASE_SECONDS * 2 ** max(0, attempts - 1)
    delay = min(settings.WEBHOOK_RETRY_MAX_SECONDS, base)
    return max(1, int(delay * random.uniform(0.5, 1.0)))  # noqa: S311 - jitter, not security


def _record_processing_failure(webhook_id: int, exc: BaseException) -> IncomingWebhook:
    with transaction.atomic():
        webhook = IncomingWebhook.objects.select_for_update().get(pk=webhook_id)
        if webhook.status in IncomingWebhook.FINAL:
            return webhook
        webhook.last_error = f"{type(exc).__name__}: {exc}"[:2000]
        webhook.last_traceback = "".join(traceback.format_exception(exc))[-10000:]
        if webhook.attempts >= settings.WEBHOOK_MAX_ATTEMPTS:
            webhook.status, webhook.next_attempt_at = IncomingWebhook.Status.DEAD, None
            audit_record(
                actor=Actor.system("webhook processor"),
                action="incoming_webhook.dead",
                target=webhook,
                after={"attempts": webhook.attempts, "error": webhook.last_error[:255]},
            )
        else:
            webhook.status = IncomingWebhook.Status.FAILED
            webhook.next_attempt_at = timezone.now() + timedelta(seconds=_retry_delay(webhook.attempts))
        webhook.save(update_fields=["status", "next_attempt_at", "last_error", "last_traceback"])
    logger.warning(
        "incoming_webhook_failed",
        extra={"webhook": webhook.public_id, "attempts": webhook.attempts, "status": webhook.status},
    )
    return webhook


def incoming_webhook_process(*, webhook_id: int) -> IncomingWebhook:
    """Process a stored notification once. Safe to run any number of times, also concurrently:
    a webhook already final is left alone, and the effects themselves are idempotent."""
    webhook = IncomingWebhook.objects.select_related("gateway_account").get(pk=webhook_id)
    if webhook.status in IncomingWebhook.FINAL:
        return webhook
    attributes = {"clearhouse.webhook.id": webhook.public_id, "clearhouse.webhook.event_type": webhook.event_type}
    with continued_span("incoming_webhook.process", traceparent=webhook.traceparent, attributes=attributes):
        return _process(webhook)


def _process(webhook: IncomingWebhook) -> IncomingWebhook:
    IncomingWebhook.objects.filter(pk=webhook.pk).update(attempts=F("attempts") + 1)
    try:
        outcome = process_notification(webhook)
    except Exception as exc:
        return _record_processing_failure(webhook.pk, exc)
    with transaction.atomic():
        locked = IncomingWebhook.objects.select_for_update().get(pk=webhook.pk)
        if locked.status in IncomingWebhook.FINAL:
            return locked
        locked.status = outcome.status
        locked.result = outcome.result[:255]
        locked.payment = outcome.payment
        locked.processed_at = timezone.now()
        locked.next_attempt_at = None
        locked.last_error = locked.last_traceback = ""
        locked.save(
            update_fields=[
                "status",
                "result",
                "payment",
                "processed_at",
                "next_attempt_at",
                "last_error",
                "last_traceback",
            ]
        )
    return locked


def incoming_webhook_replay(*, webhook: IncomingWebhook, actor: Actor) -> IncomingWebhook:
    """Ops: process a stored notification again (after a fix, or to re-check the gateway).
    The processing is idempotent, so replaying a processed one changes nothing that is right."""

    with transaction.atomic():
        locked = IncomingWebhook.objects.select_for_update().get(pk=webhook.pk)
        before = {"status": locked.status, "attempts": locked.attempts}
        locked.status, locked.attempts, locked.next_attempt_at = IncomingWebhook.Status.RECEIVED, 0, None
        locked.save(update_fields=["status", "attempts", "next_attempt_at"])
        audit_record(
            actor=actor, action="incoming_webhook.replayed", target=locked, before=before, after={"status": "received"}
        )
        enqueue_on_commit(PROCESS_TASK, locked.pk)
    return locked


def incoming_webhooks_replay(*, webhooks: Iterable[IncomingWebhook], actor: Actor) -> int:
    count = 0
    for webhook in webhooks:
        incoming_webhook_replay(webhook=webhook, actor=actor)
        count += 1
    return count


def incoming_webhooks_sweep() -> list[int]:
    """Periodic: queue notifications whose task was lost (still `received` after a while) and
    failed ones whose retry is overdue (long waits live here, not in the broker). Short retries
    wait in the broker; the grace period keeps the sweeper from doubling them."""

    now = timezone.now()
    stale = now - timedelta(seconds=settings.WEBHOOK_REQUEUE_AFTER_SECONDS)
    due = IncomingWebhook.objects.filter(
        Q(status=IncomingWebhook.Status.RECEIVED, received_at__lt=stale)
        | Q(status=IncomingWebhook.Status.FAILED, next_attempt_at__lte=stale)
    ).order_by("id")
    ids = list(due.values_list("pk", flat=True)[:1000])
    for pk in ids:
        enqueue(PROCESS_TASK, pk)
    return ids
