"""Webhook writes, both ways.

Incoming: verify, store raw once per (gateway account, event id), answer, process later on
Celery. Processing is idempotent (its effects go through payment services that only move a
payment forward, under row locks), so a redelivered task or a replay does no harm.

Outgoing: `event_publish` writes the outbox row inside the caller's transaction; the relay fans
it out into one delivery per subscribed endpoint; each delivery is posted, signed the Standard
Webhooks way, and retried on a schedule until it succeeds or runs out of attempts.
"""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import random
import secrets
import time
import traceback
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime
from typing import Any

import requests
from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import IntegrityError, connection, transaction
from django.db.models import F, Q
from django.utils import timezone

from apps.audit.actors import Actor
from apps.audit.services import audit_record
from apps.core import crypto
from apps.core.context import current_request_id
from apps.core.metrics import WEBHOOK_DELIVERIES, WEBHOOKS_RECEIVED
from apps.core.queueing import enqueue, enqueue_many_on_commit, enqueue_on_commit
from apps.gateways.base import InvalidSignature, MalformedNotification
from apps.gateways.models import GatewayAccount
from apps.gateways.registry import notification_parser_for
from apps.merchants.models import Merchant

from .errors import EndpointUrlNotAllowed, EventTypeUnknown
from .models import DeliveryAttempt, Event, IncomingWebhook, WebhookDelivery, WebhookEndpoint, new_event_id
from .urls_policy import check_endpoint_url

logger = logging.getLogger(__name__)

# Queued by name: the tasks module imports this one.
PROCESS_TASK = "apps.webhooks.tasks.incoming_webhook_process"
RELAY_TASK = "apps.webhooks.tasks.event_relay"
ATTEMPT_TASK = "apps.webhooks.tasks.webhook_delivery_attempt"

# Headers never worth keeping (or never safe to): credentials and cookies.
_DROPPED_HEADERS = frozenset({"authorization", "cookie", "proxy-authorization"})

# Every event type we publish. Endpoints subscribe to some of them, or "*".
EVENT_TYPES = (
    "payment.authorized",
    "payment.captured",
    "payment.voided",
    "payment.failed",
    "refund.succeeded",
    "refund.failed",
)


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
                body=body,
                headers=headers,
                correlation_id=current_request_id() or "",
            )
            enqueue_on_commit(PROCESS_TASK, webhook.pk)
    except IntegrityError:
        WEBHOOKS_RECEIVED.labels(gateway=account.gateway, outcome="duplicate").inc()
        existing = IncomingWebhook.objects.get(gateway_account=account, event_id=notification.event_id)
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
    from .processors import processor_for

    webhook = IncomingWebhook.objects.select_related("gateway_account").get(pk=webhook_id)
    if webhook.status in IncomingWebhook.FINAL:
        return webhook
    IncomingWebhook.objects.filter(pk=webhook.pk).update(attempts=F("attempts") + 1)
    try:
        outcome = processor_for(webhook.gateway)(webhook)
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


# --- outbox ---------------------------------------------------------------------------------------


_EVENT_INSERT_SQL = (
    "INSERT INTO webhooks_event (public_id, merchant_id, livemode, type, object_type, object_id, data, created_at, "
    "relayed_at) SELECT %s, %s, %s, %s, %s, %s, %s::jsonb, %s, CASE WHEN EXISTS (SELECT 1 FROM "
    "webhooks_webhookendpoint WHERE merchant_id = %s AND enabled AND NOT is_deleted) THEN NULL ELSE %s END "
    "RETURNING id, relayed_at IS NULL"
)


def event_publish(
    *, merchant_id: int, livemode: bool, type: str, object_type: str, object_id: str, data: dict[str, Any]
) -> Event:
    """Write an event inside the caller's transaction (the outbox): it exists if and only if the
    change it describes committed. Its relay is queued on commit; a sweeper catches lost ones.

    A merchant with no enabled endpoint has nothing to relay: the event is written as relayed
    already, which spares a task per payment change. (An endpoint created at that very moment
    receives events from its creation on, as with any endpoint.)"""

    # One statement (it runs inside every payment change): the insert decides `relayed_at` itself.
    now = timezone.now()
    event = Event(
        public_id=new_event_id(),
        merchant_id=merchant_id,
        livemode=livemode,
        type=type,
        object_type=object_type,
        object_id=object_id,
        data=data,
        created_at=now,
    )
    stamp = connection.ops.adapt_datetimefield_value(now)
    sql = _EVENT_INSERT_SQL.replace("%s::jsonb", "%s") if connection.vendor != "postgresql" else _EVENT_INSERT_SQL
    with connection.cursor() as cursor:
        cursor.execute(
            sql,
            [event.public_id, merchant_id, livemode, type, object_type, object_id,
             json.dumps(data, cls=DjangoJSONEncoder), stamp, merchant_id, stamp],
        )  # fmt: skip
        row = cursor.fetchone()
    event.pk, listening = row[0], bool(row[1])
    event.relayed_at = None if listening else now
    event._state.adding = False
    if listening:
        enqueue_on_commit(RELAY_TASK, event.pk)
    return event


def event_publish_many(events: list[dict[str, Any]]) -> None:
    """Several events (event_publish's keyword arguments each) in the caller's transaction: one
    query for which merchants listen, one INSERT. For batch work such as billing runs."""
    from .models import WebhookEndpoint

    if not events:
        return
    merchants = {event["merchant_id"] for event in events}
    listening = set(
        WebhookEndpoint.objects.filter(merchant_id__in=merchants, enabled=True, is_deleted=False).values_list(
            "merchant_id", flat=True
        )
    )
    now = timezone.now()
    rows = [
        Event(
            public_id=new_event_id(),
            merchant_id=event["merchant_id"],
            livemode=event["livemode"],
            type=event["type"],
            object_type=event["object_type"],
            object_id=event["object_id"],
            data=json.loads(json.dumps(event["data"], cls=DjangoJSONEncoder)),
            created_at=now,
            relayed_at=None if event["merchant_id"] in listening else now,
        )
        for event in events
    ]
    created = Event.objects.bulk_create(rows)
    relay = [event.pk for event in created if event.relayed_at is None]
    if relay:
        enqueue_many_on_commit(RELAY_TASK, relay)


def event_relay(*, event_id: int) -> list[int]:
    """Fan an event out into one delivery per enabled endpoint subscribed to its type, once.
    Returns the ids of deliveries created (and queued on commit)."""

    with transaction.atomic():
        event = Event.objects.select_for_update(skip_locked=True).filter(pk=event_id, relayed_at__isnull=True).first()
        if event is None:
            return []  # relayed already, or being relayed right now
        endpoints = WebhookEndpoint.objects.filter(merchant_id=event.merchant_id, enabled=True, is_deleted=False)
        now = timezone.now()
        created = [
            WebhookDelivery.objects.create(event=event, endpoint=endpoint, next_attempt_at=now)
            for endpoint in endpoints
            if endpoint.subscribed_to(event.type)
        ]
        event.relayed_at = now
        event.save(update_fields=["relayed_at"])
        ids = [delivery.pk for delivery in created]
        enqueue_many_on_commit(ATTEMPT_TASK, ids)
    return ids


def events_sweep() -> dict[str, int]:
    """Periodic: relay events whose relay task was lost, and queue deliveries that are due."""

    now = timezone.now()
    stale = now - timedelta(seconds=settings.WEBHOOK_REQUEUE_AFTER_SECONDS)
    events = list(
        Event.objects.filter(relayed_at__isnull=True, created_at__lt=stale)
        .order_by("id")
        .values_list("pk", flat=True)[:1000]
    )
    for pk in events:
        enqueue(RELAY_TASK, pk)
    deliveries = list(
        WebhookDelivery.objects.filter(status=WebhookDelivery.Status.PENDING, next_attempt_at__lte=stale)
        .filter(Q(locked_until__isnull=True) | Q(locked_until__lt=now))
        .order_by("next_attempt_at")
        .values_list("pk", flat=True)[:1000]
    )
    for pk in deliveries:
        enqueue(ATTEMPT_TASK, pk)
    return {"events": len(events), "deliveries": len(deliveries)}


# --- endpoints --------------------------------------------------------------------------------------


def new_endpoint_secret() -> str:
    return "whsec_" + base64.b64encode(secrets.token_bytes(32)).decode()


def _check_event_types(event_types: list[str]) -> list[str]:
    unknown = sorted(set(event_types) - {*EVENT_TYPES, "*"})
    if unknown or not event_types:
        raise EventTypeUnknown(
            f"Unknown event type(s): {', '.join(unknown)}." if unknown else "Subscribe to at least one event type.",
            param="event_types",
        )
    return sorted(set(event_types))


def _endpoint_snapshot(endpoint: WebhookEndpoint) -> dict[str, Any]:
    return {
        "url": endpoint.url,
        "event_types": endpoint.event_types,
        "enabled": endpoint.enabled,
        "description": endpoint.description,
        "disabled_reason": endpoint.disabled_reason,
    }


@dataclass(frozen=True)
class IssuedEndpoint:
    endpoint: WebhookEndpoint
    secret: str  # shown once


def webhook_endpoint_create(
    *, merchant: Merchant, url: str, event_types: list[str], description: str = "", enabled: bool = True, actor: Actor
) -> IssuedEndpoint:
    check_endpoint_url(url)
    secret = new_endpoint_secret()
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.create(
            merchant=merchant,
            url=url,
            event_types=_check_event_types(event_types),
            description=description,
            enabled=enabled,
            secret_ciphertext=crypto.encrypt(secret),
        )
        audit_record(
            actor=actor, action="webhook_endpoint.created", target=endpoint, after=_endpoint_snapshot(endpoint)
        )
    return IssuedEndpoint(endpoint, secret)


def webhook_endpoint_update(*, endpoint: WebhookEndpoint, actor: Actor, **changes: Any) -> WebhookEndpoint:
    if "url" in changes:
        check_endpoint_url(changes["url"])
    if "event_types" in changes:
        changes["event_types"] = _check_event_types(changes["event_types"])
    with transaction.atomic():
        locked = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        before = _endpoint_snapshot(locked)
        for name in ("url", "event_types", "description", "enabled"):
            if name in changes:
                setattr(locked, name, changes[name])
        if changes.get("enabled"):
            locked.disabled_reason, locked.failing_since = "", None
        locked.save()
        audit_record(
            actor=actor,
            action="webhook_endpoint.updated",
            target=locked,
            before=before,
            after=_endpoint_snapshot(locked),
        )
    return locked


def webhook_endpoint_delete(*, endpoint: WebhookEndpoint, actor: Actor) -> None:
    """Soft delete (deliveries keep their endpoint); pending deliveries are cancelled."""
    with transaction.atomic():
        locked = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        locked.is_deleted, locked.enabled = True, False
        locked.save(update_fields=["is_deleted", "enabled", "updated_at"])
        locked.deliveries.filter(status=WebhookDelivery.Status.PENDING).update(
            status=WebhookDelivery.Status.CANCELLED, next_attempt_at=None
        )
        audit_record(actor=actor, action="webhook_endpoint.deleted", target=locked, before=_endpoint_snapshot(locked))


def webhook_endpoint_rotate_secret(*, endpoint: WebhookEndpoint, actor: Actor) -> IssuedEndpoint:
    """A new secret, shown once. Deliveries carry signatures with both the new and the old secret
    for WEBHOOK_SECRET_ROTATION_GRACE_HOURS, so the merchant can switch without dropping any."""
    secret = new_endpoint_secret()
    with transaction.atomic():
        locked = WebhookEndpoint.objects.select_for_update().get(pk=endpoint.pk)
        locked.previous_secret_ciphertext = locked.secret_ciphertext
        locked.previous_secret_expires_at = timezone.now() + timedelta(
            hours=settings.WEBHOOK_SECRET_ROTATION_GRACE_HOURS
        )
        locked.secret_ciphertext = crypto.encrypt(secret)
        locked.save()
        audit_record(actor=actor, action="webhook_endpoint.secret_rotated", target=locked)
    return IssuedEndpoint(locked, secret)


def _endpoint_disable(endpoint_id: int, reason: str) -> None:
    with transaction.atomic():
        endpoint = WebhookEndpoint.objects.select_for_update().get(pk=endpoint_id)
        if not endpoint.enabled:
            return
        endpoint.enabled, endpoint.disabled_reason = False, reason[:255]
        endpoint.save(update_fields=["enabled", "disabled_reason", "updated_at"])
        endpoint.deliveries.filter(status=WebhookDelivery.Status.PENDING).update(
            status=WebhookDelivery.Status.CANCELLED, next_attempt_at=None
        )
        audit_record(
            actor=Actor.system("webhook deliveries"),
            action="webhook_endpoint.disabled",
            target=endpoint,
            after={"reason": endpoint.disabled_reason},
        )
    logger.warning("webhook_endpoint_disabled", extra={"endpoint": endpoint.public_id, "reason": reason})


# --- deliveries -------------------------------------------------------------------------------------


def sign(secret: str, msg_id: str, timestamp: int, body: bytes) -> str:
    """Standard Webhooks: `v1,<base64 HMAC-SHA256 of "id.timestamp.body">`, keyed with the
    base64-decoded part of the `whsec_` secret."""
    key = base64.b64decode(secret.removeprefix("whsec_"))
    content = f"{msg_id}.{timestamp}.".encode() + body
    return "v1," + base64.b64encode(hmac.new(key, content, hashlib.sha256).digest()).decode()


def delivery_payload(event: Event) -> bytes:
    return json.dumps(
        {
            "id": event.public_id,
            "object": "event",
            "type": event.type,
            "created_at": event.created_at.isoformat().replace("+00:00", "Z"),
            "livemode": event.livemode,
            "data": {"object": event.data},
        },
        separators=(",", ":"),
        sort_keys=True,
    ).encode()


def delivery_headers(endpoint: WebhookEndpoint, event: Event, body: bytes, *, now: datetime) -> dict[str, str]:
    timestamp = int(now.timestamp())
    signatures = [sign(endpoint.secret(), event.public_id, timestamp, body)]
    if endpoint.previous_secret_ciphertext and (endpoint.previous_secret_expires_at or now) > now:
        signatures.append(sign(endpoint.previous_secret(), event.public_id, timestamp, body))
    return {
        "content-type": "application/json",
        "user-agent": "Clearhouse-Webhooks/1",
        "webhook-id": event.public_id,
        "webhook-timestamp": str(timestamp),
        "webhook-signature": " ".join(signatures),
    }


def _retry_after_seconds(value: str | None, now: datetime) -> int | None:
    if not value:
        return None
    try:
        return max(0, int(value))
    except ValueError:
        pass
    try:
        return max(0, int((parsedate_to_datetime(value) - now).total_seconds()))
    except (TypeError, ValueError):
        return None


@dataclass(frozen=True)
class PostResult:
    status_code: int | None
    latency_ms: int
    error: str = ""
    body: str = ""
    retry_after: str | None = None


def _post(url: str, body: bytes, headers: dict[str, str]) -> PostResult:
    started = time.perf_counter()
    try:
        check_endpoint_url(url, resolve=True)
        response = requests.post(
            url, data=body, headers=headers, timeout=settings.WEBHOOK_DELIVERY_TIMEOUT_SECONDS, allow_redirects=False
        )
    except EndpointUrlNotAllowed as exc:
        return PostResult(None, 0, f"refused: {exc.message}")
    except requests.RequestException as exc:
        return PostResult(None, int((time.perf_counter() - started) * 1000), f"{type(exc).__name__}: {exc}"[:500])
    return PostResult(
        response.status_code,
        int((time.perf_counter() - started) * 1000),
        body=response.text[:1000],
        retry_after=response.headers.get("Retry-After"),
    )


def _claim_delivery(delivery_id: int, *, force: bool) -> WebhookDelivery | None:
    """Take the delivery for one attempt (a guarded UPDATE: of two workers only one wins)."""
    now = timezone.now()
    lease = now + timedelta(seconds=settings.WEBHOOK_DELIVERY_TIMEOUT_SECONDS + 30)
    due = Q(pk=delivery_id, status=WebhookDelivery.Status.PENDING) & (
        Q(locked_until__isnull=True) | Q(locked_until__lt=now)
    )
    if not force:
        due &= Q(next_attempt_at__lte=now)
    if not WebhookDelivery.objects.filter(due).update(locked_until=lease):
        return None
    return WebhookDelivery.objects.select_related("event", "endpoint").get(pk=delivery_id)


def webhook_delivery_attempt(*, delivery_id: int, force: bool = False) -> WebhookDelivery | None:
    """Post one delivery once, if it is due and nobody else is posting it. Records the attempt and
    schedules the next one. Returns None when there was nothing to do."""
    delivery = _claim_delivery(delivery_id, force=force)
    if delivery is None:
        return None
    endpoint, event = delivery.endpoint, delivery.event
    if not endpoint.enabled or endpoint.is_deleted:
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            status=WebhookDelivery.Status.CANCELLED, locked_until=None, next_attempt_at=None
        )
        return None
    now = timezone.now()
    body = delivery_payload(event)
    result = _post(endpoint.url, body, delivery_headers(endpoint, event, body, now=now))
    ok = result.status_code is not None and 200 <= result.status_code < 300
    WEBHOOK_DELIVERIES.labels(outcome="success" if ok else "failure").inc()
    disable_reason = ""
    with transaction.atomic():
        locked = WebhookDelivery.objects.select_for_update().get(pk=delivery.pk)
        DeliveryAttempt.objects.create(
            delivery=locked,
            status_code=result.status_code,
            latency_ms=result.latency_ms,
            error=result.error,
            response_body=result.body,
            correlation_id=current_request_id() or "",
        )
        locked.attempts += 1
        locked.last_status_code, locked.last_error, locked.locked_until = result.status_code, result.error, None
        if ok:
            locked.status, locked.delivered_at, locked.next_attempt_at = WebhookDelivery.Status.SUCCEEDED, now, None
            WebhookEndpoint.objects.filter(pk=endpoint.pk, failing_since__isnull=False).update(failing_since=None)
        elif result.status_code == 410:
            locked.status, locked.next_attempt_at = WebhookDelivery.Status.FAILED, None
            disable_reason = "The endpoint answered 410 Gone."
        else:
            schedule = settings.WEBHOOK_DELIVERY_SCHEDULE_SECONDS
            if locked.attempts > len(schedule):
                locked.status, locked.next_attempt_at = WebhookDelivery.Status.FAILED, None
            else:
                delay = schedule[locked.attempts - 1] * random.uniform(0.9, 1.1)  # noqa: S311 - jitter
                retry_after = _retry_after_seconds(result.retry_after, now)
                if retry_after is not None:
                    delay = max(delay, min(retry_after, settings.WEBHOOK_RETRY_AFTER_MAX_SECONDS))
                locked.next_attempt_at = now + timedelta(seconds=delay)
            WebhookEndpoint.objects.filter(pk=endpoint.pk, failing_since__isnull=True).update(failing_since=now)
            failing_since = WebhookEndpoint.objects.values_list("failing_since", flat=True).get(pk=endpoint.pk)
            if failing_since and now - failing_since > timedelta(hours=settings.WEBHOOK_ENDPOINT_DISABLE_AFTER_HOURS):
                disable_reason = f"Failing since {failing_since:%Y-%m-%d %H:%M} UTC."
        locked.save()
    if disable_reason:
        _endpoint_disable(endpoint.pk, disable_reason)
    return locked


def webhook_delivery_resend(*, delivery: WebhookDelivery, actor: Actor) -> WebhookDelivery:
    """Staff: send a delivery again now, whatever became of it (a new attempt, same event id, so
    the merchant's own dedupe still works)."""

    with transaction.atomic():
        locked = WebhookDelivery.objects.select_for_update().get(pk=delivery.pk)
        before = {"status": locked.status, "attempts": locked.attempts}
        locked.status, locked.next_attempt_at, locked.locked_until = (
            WebhookDelivery.Status.PENDING,
            timezone.now(),
            None,
        )
        locked.save(update_fields=["status", "next_attempt_at", "locked_until"])
        audit_record(
            actor=actor,
            action="webhook_delivery.resent",
            target=locked,
            merchant_id=locked.event.merchant_id,
            before=before,
            after={"status": locked.status},
        )
        enqueue_on_commit(ATTEMPT_TASK, locked.pk)
    return locked
