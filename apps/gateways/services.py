from __future__ import annotations

from typing import Any

from django.db import IntegrityError, transaction

from apps.audit.actors import Actor
from apps.audit.services import audit_record, audited_update
from apps.core import crypto
from apps.core.errors import ConflictError
from apps.merchants.models import Merchant

from .models import GatewayAccount
from .registry import credential_fields


class GatewayAccountConflict(ConflictError):
    code = "gateway_account_exists"
    default_message = "This merchant already has an active account at this gateway in this mode."


def credentials_missing(gateway: str, credentials: dict[str, str]) -> list[str]:
    """The credentials `gateway` requires that `credentials` leaves blank (forms check this first)."""
    return [field.name for field in credential_fields(gateway) if field.required and not credentials.get(field.name)]


def _check_credentials(gateway: str, credentials: dict[str, str]) -> dict[str, str]:
    missing = credentials_missing(gateway, credentials)
    if missing:
        raise ValueError(f"Missing credentials for {gateway}: {', '.join(missing)}")
    return {key: value for key, value in credentials.items() if value}


def _login(gateway: str, credentials: dict[str, str]) -> str:
    """The credential that names the account (its login or key id): shown as a hint."""
    return next((credentials.get(field.name, "") for field in credential_fields(gateway) if not field.secret), "")


def gateway_account_create(
    *,
    merchant: Merchant,
    gateway: str,
    mode: str,
    credentials: dict[str, str],
    currency: str = "USD",
    name: str = "",
    actor: Actor,
) -> GatewayAccount:
    account = GatewayAccount(merchant=merchant, gateway=gateway, mode=mode, currency=currency.upper(), name=name)
    account.set_credentials(_check_credentials(gateway, credentials), login=_login(gateway, credentials))
    try:
        with transaction.atomic():
            account.save()
            audit_record(
                actor=actor,
                action="gateway_account.created",
                target=account,
                after={"gateway": gateway, "mode": mode, "currency": account.currency, "credentials": "set"},
            )
    except IntegrityError as exc:
        raise GatewayAccountConflict() from exc
    return account


def gateway_account_set_credentials(
    *, account: GatewayAccount, credentials: dict[str, str], actor: Actor
) -> GatewayAccount:
    """Replace an account's credentials (merged with the stored ones: blank fields keep theirs)."""
    with transaction.atomic():
        locked = GatewayAccount.objects.select_for_update().get(pk=account.pk)
        merged = {**locked.credentials(), **{k: v for k, v in credentials.items() if v}}
        locked.set_credentials(_check_credentials(locked.gateway, merged), login=_login(locked.gateway, merged))
        locked.save(update_fields=["credentials_ciphertext", "credentials_hint", "updated_at"])
        changed = sorted(key for key, value in credentials.items() if value)
        audit_record(
            actor=actor, action="gateway_account.credentials_changed", target=locked, after={"changed": changed}
        )
    return locked


def gateway_credentials_reencrypt(*, actor: Actor) -> int:
    """Re-encrypt every account's credentials with the first FIELD_ENCRYPTION_KEYS key (rotation)."""
    count = 0
    for pk in GatewayAccount.objects.values_list("pk", flat=True):
        with transaction.atomic():
            account = GatewayAccount.objects.select_for_update().get(pk=pk)
            rotated = crypto.reencrypt(account.credentials_ciphertext)
            if rotated != account.credentials_ciphertext:
                account.credentials_ciphertext = rotated
                account.save(update_fields=["credentials_ciphertext", "updated_at"])
                audit_record(actor=actor, action="gateway_account.credentials_reencrypted", target=account)
                count += 1
    return count


def gateway_account_update(*, account: GatewayAccount, changes: dict[str, Any], actor: Actor) -> GatewayAccount:
    """The account's name, settlement currency, or whether it is active; audited. (Credentials:
    gateway_account_set_credentials.)"""
    try:
        with transaction.atomic():
            locked = GatewayAccount.objects.select_for_update().get(pk=account.pk)
            audited_update(
                target=locked, changes=changes, allowed=("name", "currency", "is_active"),
                action="gateway_account.updated", actor=actor,
            )  # fmt: skip
    except IntegrityError as exc:
        raise GatewayAccountConflict() from exc
    return locked
