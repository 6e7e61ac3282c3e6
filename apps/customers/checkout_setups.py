"""Saving a card at a gateway that saves cards only as the customer pays in its own page
(Razorpay Checkout, apps.gateways.base.CheckoutVaultGateway).

First `payment_method_checkout_setup`: the customer's record at the gateway and a small setup
order (authorised, never captured) for the browser to pay with saving on. The page's answer then
comes back as an OpaqueToken to `payment_method_add`, like any browser token.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from typing import Any

from apps.core.money import format_amount
from apps.gateways.errors import GatewayError, GatewayMisconfigured
from apps.gateways.registry import checkout_vault_gateway_for
from apps.gateways.selectors import vault_account_for

from .errors import VaultNotSupported
from .models import Customer
from .services import vault_error, vault_profile_for

# Our reference of a setup order (its receipt): webhooks about it concern no payment of ours.
CARD_SETUP_REFERENCE_PREFIX = "cardsetup-"


@dataclass(frozen=True)
class CheckoutSetup:
    """What the browser needs to open the gateway's page on the setup order."""

    gateway: str
    key_id: str  # the account's public key for the page (Razorpay's key id)
    order_id: str
    customer_token: str  # the customer at the gateway, which the saved card will belong to
    amount: int  # minor units, authorised only
    currency: str
    token_descriptor: str  # what the page's answer is posted as (payment_method_add's OpaqueToken)


def payment_method_checkout_setup(*, customer: Customer, livemode: bool) -> CheckoutSetup:
    """A setup order for the customer at the merchant's vault account. Two calls at most (the
    customer, first time only, then the order), outside any transaction: a lost answer leaves at
    most an unpaid order at the gateway, which expires there."""
    account = vault_account_for(merchant=customer.merchant, livemode=livemode)
    try:
        gateway = checkout_vault_gateway_for(account)
    except GatewayMisconfigured as exc:
        raise VaultNotSupported("This merchant's gateway account saves cards without a checkout setup.") from exc
    try:
        profile = vault_profile_for(customer, account)
        order = gateway.vault_card_setup_order(
            customer_token=profile.customer_token,
            currency=account.currency,
            reference=f"{CARD_SETUP_REFERENCE_PREFIX}{secrets.token_hex(8)}",
        )
    except GatewayError as exc:
        raise vault_error(exc) from exc
    return CheckoutSetup(
        gateway=account.gateway,
        key_id=account.credentials().get("key_id", ""),
        order_id=order.order_id,
        customer_token=profile.customer_token,
        amount=order.amount,
        currency=order.currency,
        token_descriptor=gateway.checkout_token_descriptor,
    )


def checkout_setup_representation(setup: CheckoutSetup) -> dict[str, Any]:
    return {
        "object": "checkout_setup",
        "gateway": setup.gateway,
        "key_id": setup.key_id,
        "order_id": setup.order_id,
        "customer_id": setup.customer_token,
        "amount": setup.amount,
        "currency": setup.currency,
        "amount_display": format_amount(setup.amount, setup.currency),
        "token_descriptor": setup.token_descriptor,
    }
