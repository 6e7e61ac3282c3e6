"""Builds the adapter for a gateway account: the one place that knows which module serves which
gateway. Adding a gateway adds its entry to GATEWAYS (module, credentials); its module provides

- `adapter_for(account)`: the adapter, implementing `Gateway` and whichever capabilities the
  gateway has (`VaultGateway`, `RecurringGateway`, `CheckoutGateway`, `SettlementGateway`);
- `parse_notification(body, headers, credentials)`: a webhook verified and read in our words;
- `read_notification(body, headers)`: the same for a body verified when it arrived.

Adapter modules are imported on first use, so a process that never talks to a gateway never
imports its SDK.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from types import ModuleType
from typing import Any, TypeVar

from apps.gateways.recurring_interface import RecurringGateway
from apps.gateways.settlement_interface import SettlementGateway

from .base import (
    CardUpdateGateway,
    CheckoutGateway,
    CheckoutVaultGateway,
    Gateway,
    Notification,
    TransactionCardGateway,
    VaultGateway,
)
from .errors import GatewayMisconfigured
from .models import GatewayAccount, GatewayName


@dataclass(frozen=True)
class CredentialField:
    name: str
    label: str
    required: bool = True
    secret: bool = True  # typed in once, encrypted, never shown again


@dataclass(frozen=True)
class GatewayEntry:
    module: str  # the adapter module
    credentials: tuple[CredentialField, ...]
    # Customers pay in the gateway's own page: no card data reaches us, so the gateway does not
    # serve server-side card payments (POST /api/v1/payments).
    hosted_checkout_only: bool = False
    # US bank account debits (ACH) through POST /api/v1/payments (payment_method us_bank_account).
    bank_accounts: bool = False
    # Captures an authorisation the issuer gave by phone (ChargeRequest.authorization_code).
    voice_authorizations: bool = False
    # Saves cards only as the customer pays in the gateway's own page (CheckoutVaultGateway):
    # its saved cards are then charged server-side, though no other card is.
    saves_cards_in_checkout: bool = False


GATEWAYS: dict[str, GatewayEntry] = {
    GatewayName.AUTHORIZENET: GatewayEntry(
        "apps.gateways.authorizenet",
        (
            CredentialField("api_login_id", "API login id", secret=False),
            CredentialField("transaction_key", "Transaction key"),
            CredentialField("signature_key", "Signature key (verifies webhooks)", required=False),
        ),
        bank_accounts=True,  # eCheck.Net
        voice_authorizations=True,  # captureOnlyTransaction
    ),
    GatewayName.RAZORPAY: GatewayEntry(
        "apps.gateways.razorpay",
        (
            CredentialField("key_id", "Key id", secret=False),
            CredentialField("key_secret", "Key secret"),
            CredentialField("webhook_secret", "Webhook secret", required=False),
        ),
        hosted_checkout_only=True,
        saves_cards_in_checkout=True,  # Checkout with recurring: 1, then payments/create/recurring
    ),
    GatewayName.STRIPE: GatewayEntry(
        "apps.gateways.stripe",
        (
            CredentialField("secret_key", "Secret key (sk_…)"),
            CredentialField("publishable_key", "Publishable key (pk_…, for Stripe.js)", required=False, secret=False),
            CredentialField("webhook_secret", "Webhook signing secret (whsec_…)", required=False),
        ),
    ),
}
HOSTED_CHECKOUT_ONLY: frozenset[str] = frozenset(name for name, entry in GATEWAYS.items() if entry.hosted_checkout_only)
BANK_ACCOUNT_GATEWAYS: frozenset[str] = frozenset(name for name, entry in GATEWAYS.items() if entry.bank_accounts)
CHECKOUT_VAULT_GATEWAYS: frozenset[str] = frozenset(
    name for name, entry in GATEWAYS.items() if entry.saves_cards_in_checkout
)
VOICE_AUTHORIZATION_GATEWAYS: frozenset[str] = frozenset(
    name for name, entry in GATEWAYS.items() if entry.voice_authorizations
)


def credential_fields(gateway: str) -> tuple[CredentialField, ...]:
    entry = GATEWAYS.get(gateway)
    return entry.credentials if entry else ()


Capability = TypeVar("Capability")


def _adapter_module(gateway: str) -> ModuleType:
    entry = GATEWAYS.get(gateway)
    if entry is None:
        raise GatewayMisconfigured(f"No adapter for gateway {gateway!r} yet")
    return importlib.import_module(entry.module)


def gateway_for(account: GatewayAccount) -> Gateway:
    adapter: Gateway = _adapter_module(account.gateway).adapter_for(account)
    return adapter


def _capable(account: GatewayAccount, capability: type[Capability], what: str) -> Capability:
    gateway = gateway_for(account)
    if not isinstance(gateway, capability):
        raise GatewayMisconfigured(f"{account.get_gateway_display()} {what}")
    return gateway


def checkout_gateway_for(account: GatewayAccount) -> CheckoutGateway:
    """The adapter of a gateway where customers pay in the gateway's own checkout page."""
    return _capable(account, CheckoutGateway, "has no hosted checkout here")  # type: ignore[type-abstract]


def vault_gateway_for(account: GatewayAccount) -> VaultGateway:
    """The adapter of a gateway that saves cards for later charges."""
    return _capable(account, VaultGateway, "cannot save cards here")  # type: ignore[type-abstract]


def checkout_vault_gateway_for(account: GatewayAccount) -> CheckoutVaultGateway:
    """The adapter of a gateway that saves cards as the customer pays in its own page."""
    return _capable(account, CheckoutVaultGateway, "does not save cards in its checkout")  # type: ignore[type-abstract]


def card_update_gateway_for(account: GatewayAccount) -> CardUpdateGateway:
    """The adapter of a gateway whose vault changes a saved card's expiry and billing address."""
    return _capable(account, CardUpdateGateway, "cannot update saved cards")  # type: ignore[type-abstract]


def transaction_card_gateway_for(account: GatewayAccount) -> TransactionCardGateway:
    """The adapter of a gateway whose vault saves the card of a past transaction."""
    return _capable(account, TransactionCardGateway, "cannot save the card of a past payment")  # type: ignore[type-abstract]


def recurring_gateway_for(account: GatewayAccount) -> RecurringGateway:
    """The adapter of a gateway that runs billing schedules itself."""
    return _capable(account, RecurringGateway, "has no recurring billing here")  # type: ignore[type-abstract]


def settlement_gateway_for(account: GatewayAccount) -> SettlementGateway:
    """The adapter that reads a gateway account's settlement reports."""
    return _capable(account, SettlementGateway, "settlement reports are not read here yet")  # type: ignore[type-abstract]


NotificationParser = Callable[[bytes, dict[str, str], dict[str, Any]], Notification]
NotificationReader = Callable[[bytes, dict[str, str]], Notification]


def notification_parser_for(gateway: str) -> NotificationParser:
    """The function that verifies and reads a gateway's webhooks."""
    parser: NotificationParser = _adapter_module(gateway).parse_notification
    return parser


def notification_reader_for(gateway: str) -> NotificationReader:
    """The function that reads a stored (already verified) webhook of a gateway, in our words."""
    reader: NotificationReader = _adapter_module(gateway).read_notification
    return reader
