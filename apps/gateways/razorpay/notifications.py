"""Razorpay webhooks: verifying the signature and reading the envelope in our words."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from apps.gateways.base import InvalidSignature, MalformedNotification, Notification, NotificationKind

SIGNATURE_HEADER = "X-Razorpay-Signature"
EVENT_ID_HEADER = "x-razorpay-event-id"


def webhook_signature(body: bytes, secret: str) -> str:
    """Lower-case hex HMAC-SHA256 of the raw body with the webhook secret (not the API secret)."""
    return hmac.new(secret.encode(), body, hashlib.sha256).hexdigest()


def parse_notification(body: bytes, headers: dict[str, str], credentials: dict[str, Any]) -> Notification:
    secret = credentials.get("webhook_secret") or ""
    given = (headers.get(SIGNATURE_HEADER.lower()) or "").strip().lower()
    if not secret or not given:
        raise InvalidSignature("missing X-Razorpay-Signature" if secret else "no webhook secret configured")
    if not hmac.compare_digest(given.encode(), webhook_signature(body, secret).encode()):
        raise InvalidSignature("X-Razorpay-Signature does not match")
    return read_notification(body, headers)


# Webhook events in our words.
_NOTIFICATION_KINDS = {
    "payment.authorized": NotificationKind.PAYMENT_AUTHORIZED,
    "payment.captured": NotificationKind.PAYMENT_CAPTURED,
    "payment.failed": NotificationKind.PAYMENT_FAILED,
    "order.paid": NotificationKind.CHECKOUT_PAID,
    "refund.created": NotificationKind.REFUND_CREATED,
    "refund.processed": NotificationKind.REFUND_SUCCEEDED,
    "refund.failed": NotificationKind.REFUND_FAILED,
    "payment.dispute.created": NotificationKind.DISPUTE_OPENED,
    "payment.dispute.won": NotificationKind.DISPUTE_CLOSED,
    "payment.dispute.lost": NotificationKind.DISPUTE_CLOSED,
    "payment.dispute.closed": NotificationKind.DISPUTE_CLOSED,
}


def read_notification(body: bytes, headers: dict[str, str]) -> Notification:
    """What a notification (verified when it arrived) says, in our words. Raises MalformedNotification."""
    event_id = (headers.get(EVENT_ID_HEADER) or "").strip()
    if not event_id:
        raise MalformedNotification("missing x-razorpay-event-id")
    try:
        return _read(body, event_id)
    except (ValueError, KeyError, AttributeError, TypeError) as exc:  # a body of another shape
        raise MalformedNotification(f"unreadable Razorpay notification: {exc}") from exc


def _read(body: bytes, event_id: str) -> Notification:
    envelope = json.loads(body)
    event_type = str(envelope["event"])
    payload = envelope.get("payload") or {}
    entity = next(iter(envelope.get("contains") or []), "")
    obj = (payload.get(entity) or {}).get("entity") or {}
    if not isinstance(obj, dict):
        raise TypeError(f"{entity}.entity is not an object")
    objects = notification_objects(body)
    payment, order, refund = objects.get("payment") or {}, objects.get("order") or {}, objects.get("refund") or {}
    return Notification(
        event_id=event_id[:100],
        event_type=event_type[:100],
        entity=str(entity),
        object_id=str(obj.get("id", ""))[:100],
        reference=str(obj.get("receipt", "") or (obj.get("notes") or {}).get("reference", "") or ""),
        kind=_NOTIFICATION_KINDS.get(event_type, NotificationKind.OTHER),
        order_id=str(payment.get("order_id") or order.get("id") or "")[:100],
        charge_id=str(refund.get("payment_id") or payment.get("id") or "")[:100],
        # The event id is a header, outside the signature: the body itself says what this is.
        content_key=f"{event_type}:{obj.get('id', '')}:{envelope.get('created_at', '')}"[:255],
    )


def notification_objects(body: bytes) -> dict[str, dict[str, Any]]:
    """The entities a (verified) notification carries, by name: payment, order, refund ..."""
    payload = json.loads(body).get("payload") or {}
    entities = {name: value.get("entity") or {} for name, value in payload.items() if isinstance(value, dict)}
    return {name: entity for name, entity in entities.items() if isinstance(entity, dict)}
