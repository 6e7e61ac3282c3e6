from __future__ import annotations

from typing import TYPE_CHECKING

from django.db.models import QuerySet

from apps.core.errors import NotFoundError

from .models import Event, WebhookEndpoint

if TYPE_CHECKING:  # events sit below every other app: tenancy is named, not imported
    from apps.merchants.models import Merchant


def event_list(*, merchant: Merchant) -> QuerySet[Event]:
    return Event.objects.filter(merchant=merchant)


def event_get(*, merchant: Merchant, public_id: str) -> Event:
    try:
        return event_list(merchant=merchant).get(public_id=public_id)
    except Event.DoesNotExist as exc:
        raise NotFoundError(f"No such event: {public_id!r}.", param="id") from exc


def webhook_endpoint_list(*, merchant: Merchant) -> QuerySet[WebhookEndpoint]:
    return WebhookEndpoint.objects.filter(merchant=merchant, is_deleted=False)


def webhook_endpoint_get(*, merchant: Merchant, public_id: str) -> WebhookEndpoint:
    try:
        return webhook_endpoint_list(merchant=merchant).get(public_id=public_id)
    except WebhookEndpoint.DoesNotExist as exc:
        raise NotFoundError(f"No such webhook endpoint: {public_id!r}.", param="id") from exc
