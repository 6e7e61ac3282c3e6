"""Razorpay. Webhook verification lives here now; the SDK adapter (orders, payments, refunds)
joins it with the Razorpay issue, and will be the only place that imports the `razorpay` SDK."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from .base import InvalidSignature, MalformedNotification, Notification

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
    event_id = (headers.get(EVENT_ID_HEADER) or "").strip()
    try:
        envelope = json.loads(body)
        event_type = str(envelope["event"])
        payload = envelope.get("payload") or {}
        entity = next(iter(envelope.get("contains") or []), "")
        obj = (payload.get(entity) or {}).get("entity") or {}
    except (ValueError, KeyError, AttributeError, TypeError) as exc:
        raise MalformedNotification(f"unreadable Razorpay notification: {exc}") from exc
    if not event_id:
        raise MalformedNotification("missing x-razorpay-event-id")
    return Notification(
        event_id=event_id[:100],
        event_type=event_type[:100],
        entity=entity,
        object_id=str(obj.get("id", ""))[:100],
        reference=str(obj.get("receipt", "") or (obj.get("notes") or {}).get("reference", "") or ""),
    )
