"""The Authorize.Net sandbox's webhooks: after each transaction it notifies every registered
webhook, signed as the real service signs (X-ANET-Signature: sha512=<HMAC-SHA512 of the body,
keyed with the Signature Key text, upper-case hex>), through Celery, at least once.

Faults (SandboxFault rows with gateway "anet-webhooks", matched on the event type):
`webhook_duplicate` sends extra copies, `webhook_delay` holds a notification back so that later
ones arrive first.
"""

from __future__ import annotations

import hashlib
import hmac
import json
import uuid
from datetime import UTC, datetime
from decimal import Decimal

import requests
from django.conf import settings
from django.db import transaction
from django.db.models import F
from django.utils import timezone

from apps.core.money import to_decimal
from apps.core.queueing import enqueue

from .faults import take_faults
from .models import (
    AnetAccount,
    AnetNotification,
    AnetSubscription,
    AnetTransaction,
    AnetWebhook,
    RzpNotification,
    SandboxFault,
)

FAULT_GATEWAY = "anet-webhooks"

EVENT_BY_TRANSACTION_TYPE = {
    "authCaptureTransaction": "net.authorize.payment.authcapture.created",
    "authOnlyTransaction": "net.authorize.payment.authorization.created",
    "priorAuthCaptureTransaction": "net.authorize.payment.priorAuthCapture.created",
    "captureOnlyTransaction": "net.authorize.payment.capture.created",
    "refundTransaction": "net.authorize.payment.refund.created",
    "voidTransaction": "net.authorize.payment.void.created",
}


def anet_webhook_register(*, account: AnetAccount, url: str, event_types: list[str] | None = None) -> AnetWebhook:
    return AnetWebhook.objects.create(account=account, url=url, event_types=event_types or [])


def _event_date(now: datetime) -> str:
    # Seven fractional digits and a Z, as the real service writes them.
    return now.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%S.%f") + "0Z"


def notification_body(
    *, event_type: str, notification_id: str, webhook_id: str, stored: AnetTransaction, response_code: str, ref_id: str
) -> bytes:
    amount: Decimal = to_decimal(stored.auth_amount, stored.currency)
    payload = {
        "responseCode": int(response_code),
        "authCode": stored.auth_code,
        "avsResponse": stored.avs_code or "P",
        "authAmount": "__AMOUNT__",
        "merchantReferenceId": ref_id,
        "invoiceNumber": stored.invoice_number,
        "entityName": "transaction",
        "id": stored.trans_id,
    }
    envelope = {
        "notificationId": notification_id,
        "eventType": event_type,
        "eventDate": _event_date(timezone.now()),
        "webhookId": webhook_id,
        "payload": payload,
    }
    # A JSON number, not a string, as the real service sends it (and never a float of ours).
    return json.dumps(envelope).replace('"__AMOUNT__"', str(amount.normalize())).encode()


def signature(body: bytes, signature_key: str) -> str:
    return "sha512=" + hmac.new(signature_key.encode(), body, hashlib.sha512).hexdigest().upper()


def anet_notify(
    *, account: AnetAccount, transaction_type: str, stored: AnetTransaction, response_code: str, ref_id: str
) -> list[int]:
    """Queue one notification per interested webhook (after the current transaction commits)."""
    event_type = EVENT_BY_TRANSACTION_TYPE.get(transaction_type)
    if event_type is None:
        return []
    ids = []
    for webhook in account.webhooks.filter(active=True):
        if not webhook.wants(event_type):
            continue
        notification_id = str(uuid.uuid4())
        body = notification_body(
            event_type=event_type,
            notification_id=notification_id,
            webhook_id=str(uuid.UUID(int=webhook.pk)),
            stored=stored,
            response_code=response_code,
            ref_id=ref_id,
        )
        notification = AnetNotification.objects.create(
            webhook=webhook, notification_id=notification_id, event_type=event_type, body=body
        )
        copies, countdown = delivery_plan(fault_gateway=FAULT_GATEWAY, event=event_type)
        send_after_commit("anet_notification_deliver", notification.pk, copies=copies, countdown=countdown)
        ids.append(notification.pk)
    return ids


def anet_notify_subscription(*, subscription: AnetSubscription, event_type: str) -> list[int]:
    """Queue a `net.authorize.customer.subscription.*` notification to every interested webhook."""
    ids = []
    for webhook in subscription.account.webhooks.filter(active=True):
        if not webhook.wants(event_type):
            continue
        notification_id = str(uuid.uuid4())
        envelope = {
            "notificationId": notification_id,
            "eventType": event_type,
            "eventDate": _event_date(timezone.now()),
            "webhookId": str(uuid.UUID(int=webhook.pk)),
            "payload": {
                "name": subscription.name,
                "amount": "__AMOUNT__",
                "status": subscription.status,
                "profile": {
                    "customerProfileId": int(subscription.customer_profile_id),
                    "customerPaymentProfileId": int(subscription.payment_profile_id),
                    "customerShippingAddressId": None,
                },
                "entityName": "subscription",
                "id": subscription.subscription_id,
            },
        }
        amount: Decimal = to_decimal(subscription.amount, subscription.currency)
        body = json.dumps(envelope).replace('"__AMOUNT__"', str(amount.normalize())).encode()
        notification = AnetNotification.objects.create(
            webhook=webhook, notification_id=notification_id, event_type=event_type, body=body
        )
        copies, countdown = delivery_plan(fault_gateway=FAULT_GATEWAY, event=event_type)
        send_after_commit("anet_notification_deliver", notification.pk, copies=copies, countdown=countdown)
        ids.append(notification.pk)
    return ids


def deliver(notification: AnetNotification, *, copy: int = 0) -> int | None:
    """POST it once. Returns the HTTP status, None when the endpoint could not be reached."""
    body = bytes(notification.body)
    headers = {
        "Content-Type": "application/json",
        "X-ANET-Signature": signature(body, notification.webhook.account.signature_key),
        "User-Agent": "AuthorizeNet-Webhooks/1.0 (Clearhouse sandbox)",
    }
    return post_notification(notification, url=notification.webhook.url, body=body, headers=headers, copy=copy)


# --- shared by every sandbox's webhooks ---------------------------------------------------------


def delivery_plan(*, fault_gateway: str, event: str) -> tuple[int, float]:
    """How many copies to send and how long to hold them back (both 1 and 0 unless a fault says so)."""
    copies, countdown = 1, 0.0
    for fault in take_faults(gateway=fault_gateway, match=[event], max_rows=2):
        if fault.kind == SandboxFault.Kind.WEBHOOK_DUPLICATE:
            copies += max(1, fault.value)
        elif fault.kind == SandboxFault.Kind.WEBHOOK_DELAY:
            countdown = fault.value / 1000
    return copies, countdown


def send_after_commit(task_name: str, pk: int, *, copies: int, countdown: float) -> None:
    """Enqueue the delivery task (by its name in apps.sandbox.tasks) once the transaction commits."""

    def send() -> None:
        for copy in range(copies):
            enqueue(f"apps.sandbox.tasks.{task_name}", pk, copy=copy, countdown=countdown)

    transaction.on_commit(send)


def post_notification(
    notification: AnetNotification | RzpNotification, *, url: str, body: bytes, headers: dict[str, str], copy: int
) -> int | None:
    """POST a notification once and record the attempt. Returns the HTTP status, None when unreachable.

    Only the first copy counts as an attempt and towards giving up: extra copies (fault injection)
    are sent once each.
    """
    try:
        response = requests.post(url, data=body, headers=headers, timeout=settings.SANDBOX_WEBHOOK_TIMEOUT_SECONDS)
        code: int | None = response.status_code
    except requests.RequestException:
        code = None
    delivered = code is not None and 200 <= code < 300
    updates: dict[str, object] = {"last_status_code": code}
    if copy == 0:
        updates["attempts"] = F("attempts") + 1
    if delivered:
        updates.update(status=notification.Status.DELIVERED, delivered_at=timezone.now())
    elif notification.attempts + 1 >= settings.SANDBOX_WEBHOOK_MAX_ATTEMPTS and copy == 0:
        updates["status"] = notification.Status.FAILED
    type(notification)._default_manager.filter(pk=notification.pk).update(**updates)
    return code
