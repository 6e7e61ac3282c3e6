from __future__ import annotations

from datetime import timedelta

from django.db.models import Q, QuerySet
from django.utils import timezone

from apps.core.errors import NotFoundError
from apps.merchants.models import Merchant

from .keys import LEEWAY_SECONDS, MAX_LIFETIME_SECONDS
from .models import CustomerSession, SigningAlgorithm, SigningKey


def signing_key_by_kid(*, kid: str) -> SigningKey | None:
    return SigningKey.objects.select_related("merchant").filter(kid=kid).first()


def signing_key_active(*, merchant: Merchant) -> SigningKey | None:
    return SigningKey.objects.filter(merchant=merchant, retired_at__isnull=True).first()


def signing_keys_verifying() -> QuerySet[SigningKey]:
    """Keys that still verify tokens: active, or retired less than a token's longest life ago."""
    oldest = timezone.now() - timedelta(seconds=MAX_LIFETIME_SECONDS + LEEWAY_SECONDS)
    return SigningKey.objects.filter(Q(retired_at__isnull=True) | Q(retired_at__gt=oldest), compromised_at__isnull=True)


def public_signing_keys() -> QuerySet[SigningKey]:
    """What the JWKS publishes: the asymmetric keys that still verify (an HS256 secret never)."""
    return signing_keys_verifying().filter(algorithm=SigningAlgorithm.ES256).order_by("id")


def customer_session_get(*, merchant: Merchant, public_id: str) -> CustomerSession:
    try:
        return CustomerSession.objects.select_related("customer", "merchant", "signing_key").get(
            merchant=merchant, public_id=public_id
        )
    except CustomerSession.DoesNotExist as exc:
        raise NotFoundError(f"No such customer session: {public_id!r}.", param="id") from exc


def revoked_sessions_unexpired() -> list[tuple[str, float]]:
    """(jti, expires at as a timestamp) of every revoked session whose token has not expired."""
    since = timezone.now() - timedelta(seconds=LEEWAY_SECONDS)
    rows = CustomerSession.objects.filter(revoked_at__isnull=False, expires_at__gt=since)
    return [(jti, expires_at.timestamp()) for jti, expires_at in rows.values_list("jti", "expires_at")]
