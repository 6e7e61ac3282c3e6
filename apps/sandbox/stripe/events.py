"""Events: every state change the sandbox makes is an Event (`evt_…`) holding the object as it is
now, queued (after the transaction commits) to each enabled webhook endpoint that wants its type.
Also `GET /v1/events` and `GET /v1/events/{id}`.

Faults (SandboxFault rows with gateway "stripe-webhooks", matched on the event type):
`webhook_duplicate` sends extra copies, `webhook_delay` holds one back so later ones overtake it.
"""

from __future__ import annotations

import json
from typing import Any

from apps.sandbox.models import StripeEvent, StripeNotification, StripeWebhookEndpoint
from apps.sandbox.notifications import delivery_plan, send_after_commit

from . import lists
from . import params as check
from .context import Call
from .errors import resource_missing
from .ids import new_id
from .objects import event_object

FAULT_GATEWAY = "stripe-webhooks"
DELIVERY_TASK = "stripe_notification_deliver"

EVENT_TYPES = frozenset(
    {
        "payment_intent.created",
        "payment_intent.requires_action",
        "payment_intent.amount_capturable_updated",
        "payment_intent.succeeded",
        "payment_intent.payment_failed",
        "payment_intent.canceled",
        "charge.succeeded",
        "charge.failed",
        "charge.captured",
        "charge.refunded",
        "charge.refund.updated",
        "charge.dispute.created",
        "refund.created",
        "refund.updated",
        "refund.failed",
        "setup_intent.created",
        "setup_intent.succeeded",
        "setup_intent.setup_failed",
        "setup_intent.requires_action",
        "setup_intent.canceled",
        "payment_method.attached",
        "payment_method.detached",
        "payment_method.updated",
        "customer.created",
        "customer.updated",
        "customer.deleted",
    }
)


def emit(call: Call, event_type: str, obj: dict[str, Any], previous: dict[str, Any] | None = None) -> StripeEvent:
    """Record the event and queue its deliveries (sent once the current transaction commits)."""
    data: dict[str, Any] = {"object": obj}
    if previous:
        data["previous_attributes"] = previous
    endpoints = [
        endpoint
        for endpoint in StripeWebhookEndpoint.objects.filter(account=call.account, deleted=False).order_by("pk")
        if endpoint.wants(event_type)
    ]
    event = StripeEvent.objects.create(
        account=call.account,
        stripe_id=new_id("evt_"),
        type=event_type,
        data=data,
        request_id=call.request_id,
        idempotency_key=call.idempotency_key,
        pending_webhooks=len(endpoints),
    )
    body = json.dumps(event_object(event), separators=(",", ":")).encode()
    for endpoint in endpoints:
        notification = StripeNotification.objects.create(endpoint=endpoint, event=event, body=body)
        copies, countdown = delivery_plan(fault_gateway=FAULT_GATEWAY, event=event_type)
        send_after_commit(DELIVERY_TASK, notification.pk, copies=copies, countdown=countdown)
    return event


def changed(before: dict[str, Any], after: dict[str, Any]) -> dict[str, Any]:
    """Stripe's `previous_attributes`: the old values of the top-level fields that changed."""
    return {key: value for key, value in before.items() if after.get(key) != value}


def event_retrieve(call: Call, event_id: str, params: check.Params) -> dict[str, Any]:
    event = StripeEvent.objects.filter(account=call.account, stripe_id=event_id).first()
    if event is None:
        raise resource_missing("event", event_id)
    return event_object(event)


def event_list(call: Call, params: check.Params) -> dict[str, Any]:
    check.only(params, (*lists.LIST_PARAMS, "type", "types", "created", "delivery_success"))
    events = StripeEvent.objects.filter(account=call.account, **check.created_range(params))
    event_type = check.string(params, "type")
    if event_type:
        # `payment_intent.*` matches every payment_intent event.
        if event_type.endswith(".*"):
            events = events.filter(type__startswith=event_type[:-1])
        else:
            events = events.filter(type=event_type)
    types = check.array(params, "types")
    if types:
        events = events.filter(type__in=types)
    return lists.page(events, params, url="/v1/events", kind="event", render=event_object)
