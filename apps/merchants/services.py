from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import IntegrityError, transaction
from django.db.models import Q
from django.utils import timezone

from apps.audit.actors import Actor
from apps.audit.services import audit_record, audited_update

from .errors import ApiKeyInvalid, MerchantSlugTaken
from .keys import generate_secret, hash_secret, visible_prefix
from .models import ApiKey, ApiKeyKind, ApiMode, Merchant


def _api_key_snapshot(api_key: ApiKey) -> dict[str, object]:
    return {
        "public_id": api_key.public_id,
        "display": api_key.display,
        "mode": api_key.mode,
        "kind": api_key.kind,
        "name": api_key.name,
        "revoked_at": api_key.revoked_at,
    }


def merchant_create(*, slug: str, name: str, actor: Actor) -> Merchant:
    try:
        with transaction.atomic():
            merchant = Merchant.objects.create(slug=slug, name=name)
            audit_record(actor=actor, action="merchant.created", target=merchant, after={"slug": slug, "name": name})
    except IntegrityError as exc:
        raise MerchantSlugTaken(param="slug") from exc
    return merchant


def merchant_update(*, merchant: Merchant, changes: dict[str, Any], actor: Actor) -> Merchant:
    """The merchant's name, or whether it is active (a deactivated merchant's keys stop working;
    its records remain). Audited."""
    with transaction.atomic():
        locked = Merchant.objects.select_for_update().get(pk=merchant.pk)
        audited_update(
            target=locked, changes=changes, allowed=("name", "is_active"), action="merchant.updated", actor=actor
        )
    return locked


@dataclass(frozen=True)
class IssuedApiKey:
    api_key: ApiKey
    secret: str  # shown to the caller once; never stored


def api_key_create(
    *, merchant: Merchant, mode: str = ApiMode.TEST, name: str = "", kind: str = ApiKeyKind.SECRET, actor: Actor
) -> IssuedApiKey:
    if mode not in ApiMode.values:
        raise ValueError(f"mode must be one of {ApiMode.values}")
    if kind not in ApiKeyKind.values:
        raise ValueError(f"kind must be one of {ApiKeyKind.values}")
    secret = generate_secret(mode, kind)
    with transaction.atomic():
        api_key = ApiKey.objects.create(
            merchant=merchant,
            mode=mode,
            kind=kind,
            publishable_key=secret if kind == ApiKeyKind.PUBLISHABLE else "",
            name=name,
            prefix=visible_prefix(secret),
            last4=secret[-4:],
            secret_hash=hash_secret(secret),
            created_by=actor.label,
        )
        audit_record(actor=actor, action="api_key.created", target=api_key, after=_api_key_snapshot(api_key))
    return IssuedApiKey(api_key=api_key, secret=secret)


def api_key_revoke(*, api_key: ApiKey, actor: Actor) -> ApiKey:
    """Revoke a key. Revoking an already revoked key changes nothing and is not an error."""
    with transaction.atomic():
        locked = ApiKey.objects.select_for_update().get(pk=api_key.pk)
        if locked.revoked_at is not None:
            return locked
        before = _api_key_snapshot(locked)
        locked.revoked_at = timezone.now()
        locked.revoked_by = actor.label
        locked.save(update_fields=["revoked_at", "revoked_by"])
        audit_record(
            actor=actor, action="api_key.revoked", target=locked, before=before, after=_api_key_snapshot(locked)
        )
    return locked


def api_key_authenticate(*, secret: str) -> ApiKey:
    """The active key for this secret, with its merchant; records when it was last used."""
    try:
        api_key = ApiKey.objects.select_related("merchant").get(secret_hash=hash_secret(secret))
    except ApiKey.DoesNotExist as exc:
        raise ApiKeyInvalid() from exc
    if api_key.revoked_at is not None:
        raise ApiKeyInvalid("This API key has been revoked.", code="api_key_revoked")
    if not api_key.merchant.is_active:
        raise ApiKeyInvalid("This merchant account is deactivated.", code="merchant_inactive")
    api_key_touch(api_key)
    return api_key


def api_key_touch(api_key: ApiKey) -> None:
    """Record that the key was used now: at most once per API_KEY_LAST_USED_RESOLUTION_SECONDS
    per key, by a guarded UPDATE, so a busy key does not turn every request into a row write
    (an update, not a save: it changes no stamp, apps.merchants.key_cache)."""
    now = timezone.now()
    stale_before = now - timedelta(seconds=settings.API_KEY_LAST_USED_RESOLUTION_SECONDS)
    if api_key.last_used_at is None or api_key.last_used_at < stale_before:
        ApiKey.objects.filter(pk=api_key.pk).filter(
            Q(last_used_at__isnull=True) | Q(last_used_at__lt=stale_before)
        ).update(last_used_at=now)
        api_key.last_used_at = now
