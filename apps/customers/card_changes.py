"""Changing a saved card (its expiry and billing address) and saving the card of a past payment.

As when a card is saved (services.py): the gateway is called outside any transaction, with our
idempotency reference; what it answers is recorded in a short transaction that runs again on a
fresh connection if the database connection was lost. A gateway that cannot be reached changes
nothing here, and the same request again is safe (the gateway answers a repeated save with the
card already saved, a repeated change with the same card).
"""

from __future__ import annotations

from typing import Any

from django.db import transaction

from apps.audit.actors import Actor
from apps.audit.services import audit_record
from apps.core.db import atomic_with_reconnect
from apps.gateways.api_errors import gateway_unavailable
from apps.gateways.base import Billing, StoredCard, VaultCustomerRequest
from apps.gateways.errors import GatewayError, GatewayMisconfigured, GatewayOutcomeUnknown, GatewayRetryable
from apps.gateways.models import GatewayAccount
from apps.gateways.registry import card_update_gateway_for, transaction_card_gateway_for

from .errors import CardSaveNotSupported, CardUpdateNotSupported, PaymentMethodRemoved
from .models import Customer, PaymentMethod, VaultProfile
from .services import payment_method_record, publish_payment_method, vault_error, vault_reference


def _card_snapshot(method: PaymentMethod) -> dict[str, Any]:
    return {
        "brand": method.card_brand,
        "last4": method.card_last4,
        "exp_month": method.exp_month,
        "exp_year": method.exp_year,
    }


def _gateway_error(exc: GatewayError, not_done: str) -> Exception:
    if isinstance(exc, GatewayRetryable | GatewayOutcomeUnknown):
        return gateway_unavailable(exc, not_done)
    return vault_error(exc)


def payment_method_update(
    *,
    method: PaymentMethod,
    exp_month: int | None = None,
    exp_year: int | None = None,
    billing: Billing | None = None,
    reference: str = "",
    actor: Actor,
) -> PaymentMethod:
    """Change a saved card's expiry (both parts) and/or billing address (replaced as a whole) at
    the gateway's vault, then the expiry, brand and last four kept here. Refused by the gateway's
    check: PaymentDeclined, nothing changed."""
    if method.status != PaymentMethod.Status.ACTIVE:
        raise PaymentMethodRemoved("Only an active saved card can be changed.")
    try:
        gateway = card_update_gateway_for(method.gateway_account)
    except GatewayMisconfigured as exc:
        raise CardUpdateNotSupported() from exc
    try:
        stored = gateway.vault_card_update(
            customer_token=method.profile.customer_token,
            payment_token=method.payment_token,
            exp_month=exp_month,
            exp_year=exp_year,
            billing=billing,
            reference=reference,
        )
    except GatewayError as exc:
        raise _gateway_error(exc, "the card was not changed. Retry later.") from exc

    def record() -> PaymentMethod:
        locked = (
            PaymentMethod.objects.select_for_update(of=("self",))
            .select_related("customer", "gateway_account")
            .get(pk=method.pk)
        )
        before = _card_snapshot(locked)
        locked.card_brand = stored.card_brand or locked.card_brand
        locked.card_last4 = stored.card_last4 or locked.card_last4
        locked.exp_month, locked.exp_year = stored.exp_month, stored.exp_year
        locked.save(update_fields=["card_brand", "card_last4", "exp_month", "exp_year"])
        after = {**_card_snapshot(locked), "billing_address_changed": billing is not None}
        audit_record(actor=actor, action="payment_method.updated", target=locked, before=before, after=after)
        publish_payment_method(locked, "payment_method.updated")
        return locked

    return atomic_with_reconnect(record, what="payment_method_update")


def payment_method_save_from_transaction(
    *, customer: Customer, account: GatewayAccount, transaction_id: str, reference: str = "", actor: Actor
) -> PaymentMethod:
    """Save the card that paid a gateway transaction as the customer's payment method, in the
    gateway's vault (onto the customer's profile there, or a new one). Saving it again returns
    the card already saved."""
    try:
        gateway = transaction_card_gateway_for(account)
    except GatewayMisconfigured as exc:
        raise CardSaveNotSupported() from exc
    profile = VaultProfile.objects.filter(customer=customer, gateway_account=account).first()
    try:
        stored: StoredCard = gateway.vault_card_from_transaction(
            transaction_id=transaction_id,
            customer_token=profile.customer_token if profile is not None else "",
            customer=None
            if profile is not None
            else VaultCustomerRequest(
                reference=vault_reference(customer), email=customer.email, description=customer.name[:255]
            ),
            reference=reference,
        )
    except GatewayError as exc:
        raise _gateway_error(exc, "no card was saved. Retry later.") from exc

    def record() -> PaymentMethod:
        with transaction.atomic():  # a savepoint: a concurrent twin's profile is found, not duplicated
            vault_profile, _ = VaultProfile.objects.get_or_create(
                customer=customer, gateway_account=account, defaults={"customer_token": stored.customer_token}
            )
        return payment_method_record(
            customer=customer, account=account, profile=vault_profile, stored=stored, make_default=False, actor=actor
        )

    return atomic_with_reconnect(record, what="payment_method_save_from_transaction")
