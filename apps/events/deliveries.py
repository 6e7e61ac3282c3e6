"""Posting deliveries, signed the Standard Webhooks way, retried on a schedule until they succeed or
run out of attempts; endpoints failing for days are disabled."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import logging
import random
import time
from dataclasses import dataclass
from datetime import datetime, timedelta
from email.utils import parsedate_to_datetime

import requests
from celery.exceptions import SoftTimeLimitExceeded
from django.conf import settings
from django.db import transaction
from django.db.models import F, Q
from django.utils import timezone

from apps.audit.actors import Actor
from apps.audit.services import audit_record
from apps.core.context import current_request_id
from apps.core.metrics import WEBHOOK_DELIVERIES
from apps.core.queueing import enqueue_on_commit
from apps.core.tracing import continued_span

from .endpoints import endpoint_disable
from .errors import DeliveryInProgress, EndpointUrlNotAllowed
from .models import DeliveryAttempt, Event, WebhookDelivery, WebhookEndpoint
from .pinned_http import pinned_post
from .urls_policy import endpoint_addresses

logger = logging.getLogger(__name__)

# Queued by name: the tasks module imports the services.
RELAY_TASK = "apps.events.tasks.event_relay"
ATTEMPT_TASK = "apps.events.tasks.webhook_delivery_attempt"

# The delivery task's time limits (tasks.py declares them from here). A claim's lease outlasts the
# hard limit, so the sweeper never hands a delivery to a second worker while the first may still
# be posting it; the post itself ends well inside the soft limit (POST_SECONDS_MAX).
DELIVERY_TASK_SOFT_TIME_LIMIT = 100
DELIVERY_TASK_TIME_LIMIT = 120
DELIVERY_LEASE_SECONDS = DELIVERY_TASK_TIME_LIMIT + 30
POST_SECONDS_MAX = 30  # whatever WEBHOOK_DELIVERY_TIMEOUT_SECONDS says
# How much of an endpoint's answer is read (and kept on the attempt): the status is what counts.
RESPONSE_BODY_LIMIT = 1000


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


def _read_body(response: requests.Response, deadline: float) -> bytes:
    """At most RESPONSE_BODY_LIMIT bytes of the answer, and only until the deadline: an endpoint
    trickling (or sending megabytes) cannot keep the worker. Each read returns what one receive
    got, so the deadline is overshot by at most one read timeout."""
    body = b""
    while len(body) < RESPONSE_BODY_LIMIT and time.monotonic() < deadline:
        chunk = response.raw.read1(RESPONSE_BODY_LIMIT - len(body))
        if not chunk:
            break
        body += chunk
    return body


def _post(url: str, body: bytes, headers: dict[str, str]) -> PostResult:
    """One POST, bounded as a whole: connecting and each read within the delivery timeout, the
    answer's body read for no longer than that in all. Never raises."""
    timeout = min(float(settings.WEBHOOK_DELIVERY_TIMEOUT_SECONDS), POST_SECONDS_MAX)
    started = time.monotonic()

    def elapsed_ms() -> int:
        return int((time.monotonic() - started) * 1000)

    try:
        # Resolved once and checked; the post connects to these addresses only (DNS rebinding).
        addresses = endpoint_addresses(url)
        with pinned_post(
            url, addresses=addresses, data=body, headers=headers, timeout=timeout, fallback_until=started + timeout
        ) as response:
            answer = _read_body(response, started + timeout)
    except EndpointUrlNotAllowed as exc:
        return PostResult(None, 0, f"refused: {exc.message}")
    except requests.RequestException as exc:
        return PostResult(None, elapsed_ms(), f"{type(exc).__name__}: {exc}"[:500])
    except SoftTimeLimitExceeded:
        # The task ran out of time mid-post: recorded as a failed attempt, retried on the schedule.
        return PostResult(None, elapsed_ms(), "timed out: the post outlasted the delivery task's time limit")
    return PostResult(
        response.status_code,
        elapsed_ms(),
        # PostgreSQL text cannot hold a NUL; an endpoint may well send one.
        body=answer.decode(response.encoding or "utf-8", errors="replace").replace("\x00", "\ufffd"),
        retry_after=response.headers.get("Retry-After"),
    )


def _claim_delivery(delivery_id: int, *, force: bool) -> WebhookDelivery | None:
    """Take the delivery for one attempt (a guarded UPDATE: of two workers only one wins). The
    attempt is counted here, so one whose worker died mid-post still counts toward giving up."""
    now = timezone.now()
    lease = now + timedelta(seconds=DELIVERY_LEASE_SECONDS)
    due = Q(pk=delivery_id, status=WebhookDelivery.Status.PENDING) & (
        Q(locked_until__isnull=True) | Q(locked_until__lt=now)
    )
    if not force:
        due &= Q(next_attempt_at__lte=now)
    if not WebhookDelivery.objects.filter(due).update(locked_until=lease, attempts=F("attempts") + 1):
        return None
    return WebhookDelivery.objects.select_related("event", "endpoint").get(pk=delivery_id)


def webhook_delivery_attempt(*, delivery_id: int, force: bool = False) -> WebhookDelivery | None:
    """Post one delivery once, if it is due and nobody else is posting it. Records the attempt and
    schedules the next one. Returns None when there was nothing to do."""
    delivery = _claim_delivery(delivery_id, force=force)
    if delivery is None:
        return None
    attributes = {"clearhouse.event.id": delivery.event.public_id, "clearhouse.delivery.id": delivery.public_id}
    with continued_span("webhook_delivery.attempt", traceparent=delivery.event.traceparent, attributes=attributes):
        return _deliver(delivery)


def _deliver(delivery: WebhookDelivery) -> WebhookDelivery | None:
    endpoint, event = delivery.endpoint, delivery.event
    if not endpoint.enabled or endpoint.is_deleted:
        WebhookDelivery.objects.filter(pk=delivery.pk).update(
            status=WebhookDelivery.Status.CANCELLED,
            locked_until=None,
            next_attempt_at=None,
            attempts=F("attempts") - 1,  # claimed, never posted
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
        endpoint_disable(endpoint.pk, disable_reason)
    return locked


def webhook_delivery_resend(*, delivery: WebhookDelivery, actor: Actor) -> WebhookDelivery:
    """Staff: send a delivery again now, whatever became of it (a new attempt, same event id, so
    the merchant's own dedupe still works). Refused (DeliveryInProgress) while a worker holds the
    delivery's lease: that post may still be under way, and a second one beside it would reach the
    merchant twice at once; the lease is never cut short."""

    with transaction.atomic():
        locked = WebhookDelivery.objects.select_for_update().get(pk=delivery.pk)
        now = timezone.now()
        if locked.locked_until is not None and locked.locked_until > now:
            raise DeliveryInProgress()
        before = {"status": locked.status, "attempts": locked.attempts}
        locked.status, locked.next_attempt_at = WebhookDelivery.Status.PENDING, now
        locked.save(update_fields=["status", "next_attempt_at"])
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
