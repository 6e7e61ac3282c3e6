"""The Razorpay sandbox's webhooks: each event goes to every interested active webhook, in
Razorpay's envelope, signed with that webhook's secret (X-Razorpay-Signature: lower-case hex
HMAC-SHA256 of the raw body) and carrying its event id (x-razorpay-event-id, the same on every
redelivery and duplicate copy), through Celery, at least once.

Faults (SandboxFault rows with gateway "razorpay-webhooks", matched on the event name):
`webhook_duplicate` sends extra copies, `webhook_delay` holds a notification back so that later
ones arrive first.
"""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from django.utils import timezone

from apps.sandbox.models import RzpAccount, RzpNotification, RzpOrder, RzpPayment, RzpRefund
from apps.sandbox.notifications import delivery_plan, post_notification, send_after_commit

from .entities import order_entity, payment_entity, refund_entity, unix
from .ids import new_id

FAULT_GATEWAY = "razorpay-webhooks"
EVENTS = frozenset(
    {"payment.authorized", "payment.captured", "payment.failed", "order.paid", "refund.created", "refund.processed"}
)
SIGNATURE_HEADER = "X-Razorpay-Signature"
EVENT_ID_HEADER = "x-razorpay-event-id"


def signature(body: bytes, secret: str) -> str:
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def event_body(
    *,
    event: str,
    account: RzpAccount,
    payment: RzpPayment,
    order: RzpOrder | None = None,
    refund: RzpRefund | None = None,
) -> bytes:
    payload: dict[str, Any] = {}
    if refund is not None:
        payload["refund"] = {"entity": refund_entity(refund)}
    payload["payment"] = {"entity": payment_entity(payment, expand_card=True)}
    if order is not None:
        payload["order"] = {"entity": order_entity(order)}
    envelope = {
        "entity": "event",
        "account_id": account.account_id,
        "event": event,
        "contains": list(payload),
        "payload": payload,
        "created_at": unix(timezone.now()),
    }
    return json.dumps(envelope, separators=(",", ":")).encode()


def rzp_notify(
    *,
    event: str,
    account: RzpAccount,
    payment: RzpPayment,
    order: RzpOrder | None = None,
    refund: RzpRefund | None = None,
) -> list[int]:
    """Queue the event for every interested webhook (sent after the current transaction commits).

    The body is rendered now, so it shows the entities as they are at this point of the flow.
    """
    webhooks = [webhook for webhook in account.webhooks.filter(active=True) if webhook.wants(event)]
    if not webhooks:
        return []
    event_id = new_id("evt_")
    body = event_body(event=event, account=account, payment=payment, order=order, refund=refund)
    ids = []
    for webhook in webhooks:
        notification = RzpNotification.objects.create(webhook=webhook, event_id=event_id, event=event, body=body)
        copies, countdown = delivery_plan(fault_gateway=FAULT_GATEWAY, event=event)
        send_after_commit("rzp_notification_deliver", notification.pk, copies=copies, countdown=countdown)
        ids.append(notification.pk)
    return ids


def deliver(notification: RzpNotification, *, copy: int = 0) -> int | None:
    """POST it once. Returns the HTTP status, None when the endpoint could not be reached."""
    body = bytes(notification.body)
    webhook = notification.webhook
    headers = {
        "Content-Type": "application/json",
        SIGNATURE_HEADER: signature(body, webhook.secret),
        EVENT_ID_HEADER: notification.event_id,
        "User-Agent": "Razorpay-Webhook/v1 (Clearhouse sandbox)",
    }
    return post_notification(notification, url=webhook.url, body=body, headers=headers, copy=copy)
