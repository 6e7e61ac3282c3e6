"""Publishing events (the outbox) and relaying them into deliveries."""

from __future__ import annotations

import json
import logging
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.serializers.json import DjangoJSONEncoder
from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from apps.core.queueing import enqueue, enqueue_many_on_commit, enqueue_on_commit
from apps.core.tracing import continued_span, current_traceparent

from .models import Event, WebhookDelivery, WebhookEndpoint, new_event_id

logger = logging.getLogger(__name__)

# Queued by name: the tasks module imports the services.
RELAY_TASK = "apps.events.tasks.event_relay"
ATTEMPT_TASK = "apps.events.tasks.webhook_delivery_attempt"


# Every event type we publish. Endpoints subscribe to some of them, or "*".
EVENT_TYPES = (
    "payment.requires_action",
    "payment.authorized",
    "payment.captured",
    "payment.processing",  # a bank debit accepted, waiting for settlement
    "payment.succeeded",  # a bank debit settled
    "payment.returned",  # a settled bank debit returned by the customer's bank
    "payment.voided",
    "payment.failed",
    "payment.review_approved",
    "payment.review_rejected",
    "refund.succeeded",
    "refund.failed",
)


# --- outbox ---------------------------------------------------------------------------------------


_EVENT_INSERT_SQL = (
    "INSERT INTO webhooks_event (public_id, merchant_id, livemode, type, object_type, object_id, data, created_at, "
    "traceparent, relayed_at) SELECT %s, %s, %s, %s, %s, %s, %s::jsonb, %s, %s, CASE WHEN EXISTS (SELECT 1 FROM "
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
        traceparent=current_traceparent(),
    )
    if connection.vendor == "postgresql":
        stamp = connection.ops.adapt_datetimefield_value(now)
        with connection.cursor() as cursor:
            cursor.execute(
                _EVENT_INSERT_SQL,
                [event.public_id, merchant_id, livemode, type, object_type, object_id,
                 json.dumps(data, cls=DjangoJSONEncoder), stamp, event.traceparent, merchant_id, stamp],
            )  # fmt: skip
            row = cursor.fetchone()
        event.pk, listening = row[0], bool(row[1])
        event.relayed_at = None if listening else now
        event._state.adding = False
    else:
        # The quickstart's SQLite (whose RETURNING reads the inserted row's relayed_at as set even
        # when the CASE left it NULL): ask, then insert.
        listening = WebhookEndpoint.objects.filter(merchant_id=merchant_id, enabled=True, is_deleted=False).exists()
        event.relayed_at = None if listening else now
        event.data = json.loads(json.dumps(data, cls=DjangoJSONEncoder))
        event.save(force_insert=True)
    if listening:
        enqueue_on_commit(RELAY_TASK, event.pk)
    return event


def event_publish_many(events: list[dict[str, Any]]) -> None:
    """Several events (event_publish's keyword arguments each) in the caller's transaction: one
    query for which merchants listen, one INSERT. For batch work such as billing runs."""
    if not events:
        return
    merchants = {event["merchant_id"] for event in events}
    listening = set(
        WebhookEndpoint.objects.filter(merchant_id__in=merchants, enabled=True, is_deleted=False).values_list(
            "merchant_id", flat=True
        )
    )
    now = timezone.now()
    traceparent = current_traceparent()
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
            traceparent=traceparent,
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
        attributes = {"clearhouse.event.id": event.public_id, "clearhouse.event.type": event.type}
        with continued_span("event.relay", traceparent=event.traceparent, attributes=attributes):
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
