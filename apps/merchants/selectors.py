from __future__ import annotations

from django.db.models import QuerySet

from apps.core.errors import NotFoundError

from .models import ApiKey, Merchant


def merchant_get_by_slug(*, slug: str) -> Merchant:
    try:
        return Merchant.objects.get(slug=slug)
    except Merchant.DoesNotExist as exc:
        raise NotFoundError(f"No merchant with slug {slug!r}.", param="merchant") from exc


def api_key_list(*, merchant: Merchant) -> QuerySet[ApiKey]:
    return ApiKey.objects.filter(merchant=merchant).order_by("-id")


def api_key_get(*, merchant: Merchant, public_id: str) -> ApiKey:
    """Scoped to the merchant: another merchant's key is simply not found."""
    try:
        return api_key_list(merchant=merchant).get(public_id=public_id)
    except ApiKey.DoesNotExist as exc:
        raise NotFoundError(f"No such API key: {public_id!r}.", param="id") from exc
