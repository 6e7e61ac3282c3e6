"""Authorize.Net webhooks: verifying the signature and reading the envelope in our words."""

from __future__ import annotations

import hashlib
import hmac
import json
from typing import Any

from apps.gateways.base import InvalidSignature, MalformedNotification, Notification, NotificationKind

from .vocabulary import NOTIFICATION_KINDS, SUBSCRIPTION_EVENT_PREFIX

SIGNATURE_HEADER = "X-ANET-Signature"


def webhook_signature(body: bytes, signature_key: str) -> str:
    """`sha512=<HEX>`: HMAC-SHA512 of the raw body keyed with the Signature Key *text* (not
    hex-decoded), upper-case hex, as Authorize.Net sends it."""
    digest = hmac.new(signature_key.encode(), body, hashlib.sha512).hexdigest().upper()
    return f"sha512={digest}"


def parse_notification(body: bytes, headers: dict[str, str], credentials: dict[str, Any]) -> Notification:
    """Verify `X-ANET-Signature` in constant time (case-insensitively) and read the envelope.
    Raises InvalidSignature or MalformedNotification."""
    key = credentials.get("signature_key") or ""
    given = (headers.get(SIGNATURE_HEADER.lower()) or "").strip()
    if not key or not given.lower().startswith("sha512="):
        raise InvalidSignature("missing X-ANET-Signature" if key else "no Signature Key configured")
    expected = webhook_signature(body, key)
    if not hmac.compare_digest(given.upper().encode(), expected.upper().encode()):
        raise InvalidSignature("X-ANET-Signature does not match")
    return read_notification(body, headers)


def read_notification(body: bytes, headers: dict[str, str]) -> Notification:
    """What a notification (verified when it arrived) says, in our words. Raises MalformedNotification."""
    try:
        envelope = json.loads(body)
        payload = envelope.get("payload") or {}
        event_type = str(envelope.get("eventType", ""))[:100]
        object_id = str(payload.get("id", ""))[:100]
        recurring = event_type.startswith(SUBSCRIPTION_EVENT_PREFIX)
        return Notification(
            event_id=str(envelope["notificationId"])[:100],
            event_type=event_type,
            entity=str(payload.get("entityName", "")),
            object_id=object_id,
            reference=str(payload.get("merchantReferenceId", "") or payload.get("invoiceNumber", "")),
            kind=NotificationKind.RECURRING_CHANGED
            if recurring
            else NOTIFICATION_KINDS.get(event_type, NotificationKind.OTHER),
            recurring_id=object_id if recurring else "",
        )
    except (ValueError, KeyError, AttributeError, TypeError) as exc:
        raise MalformedNotification(f"unreadable Authorize.Net notification: {exc}") from exc
