"""Merchant webhook endpoints: create, change, delete, rotate the signing secret."""

from __future__ import annotations

import base64
import logging
import secrets
from dataclasses import dataclass
from datetime import timedelta
from typing import TYPE_CHECKING, Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.audit.actors import Actor
from apps.audit.services import audit_record
from apps.core import crypto

from .errors import EventTypeUnknown
from .models import WebhookDelivery, WebhookEndpoint
from .services import EVENT_TYPES
from .urls_policy import check_endpoint_url

if TYPE_CHECKING:  # events sit below every other app: tenancy is named, not imported
    from apps.merchants.models import Merchant

logger = logging.getLogger(__name__)

# Queued by name: the tasks module imports the services.
RELAY_TASK = "apps.events.tasks.event_relay"
ATTEMPT_TASK = "apps.events.tasks.webhook_delivery_attempt"


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


def webhook_endpoint_secrets_reencrypt(*, actor: Actor) -> int:
    """Re-encrypt every endpoint's signing secrets (the current one and a previous one still
    stored) with the first FIELD_ENCRYPTION_KEYS key, for a key rotation; the secrets stay the
    same. Deleted endpoints too: their deliveries keep them."""
    count = 0
    for pk in WebhookEndpoint.objects.order_by("pk").values_list("pk", flat=True):
        with transaction.atomic():
            locked = WebhookEndpoint.objects.select_for_update().get(pk=pk)
            locked.secret_ciphertext = crypto.reencrypt(locked.secret_ciphertext)
            if locked.previous_secret_ciphertext:
                locked.previous_secret_ciphertext = crypto.reencrypt(locked.previous_secret_ciphertext)
            locked.save(update_fields=["secret_ciphertext", "previous_secret_ciphertext", "updated_at"])
            audit_record(actor=actor, action="webhook_endpoint.secret_reencrypted", target=locked)
            count += 1
    return count


def endpoint_disable(endpoint_id: int, reason: str) -> None:
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
