"""Which of a merchant's gateway accounts serves a call, and the checks before calling it."""

from __future__ import annotations

from datetime import date
from typing import TYPE_CHECKING

from django.conf import settings
from django.utils import timezone

from apps.core.money import SUPPORTED_CURRENCIES

from .api_errors import (
    CardExpired,
    CurrencyNotSupported,
    NoGatewayAccount,
    PaymentMethodNotSupported,
    RawCardDataNotAllowed,
    VoiceAuthorizationNotSupported,
)
from .base import BankAccount, Card, OpaqueToken, SavedCard
from .models import GatewayAccount
from .registry import BANK_ACCOUNT_GATEWAYS, CHECKOUT_VAULT_GATEWAYS, HOSTED_CHECKOUT_ONLY, VOICE_AUTHORIZATION_GATEWAYS

if TYPE_CHECKING:  # gateways sit below the merchants' other apps: tenancy is named, not imported
    from apps.merchants.models import Merchant


def gateway_account_for(*, merchant: Merchant, livemode: bool, gateway: str | None = None) -> GatewayAccount:
    """The merchant's active account for this mode: at `gateway`, or else at a gateway that
    takes card data server-side (what /payments charges)."""
    accounts = GatewayAccount.objects.filter(merchant=merchant, mode="live" if livemode else "test", is_active=True)
    accounts = accounts.filter(gateway=gateway) if gateway else accounts.exclude(gateway__in=HOSTED_CHECKOUT_ONLY)
    account = accounts.order_by("id").first()
    if account is None:
        raise NoGatewayAccount()
    return account


def vault_account_for(*, merchant: Merchant, livemode: bool) -> GatewayAccount:
    """The account cards are saved at for later charges: the card account (gateway_account_for),
    else one whose gateway saves cards as the customer pays in its own page (Razorpay)."""
    try:
        return gateway_account_for(merchant=merchant, livemode=livemode)
    except NoGatewayAccount:
        accounts = GatewayAccount.objects.filter(
            merchant=merchant, mode="live" if livemode else "test", is_active=True, gateway__in=CHECKOUT_VAULT_GATEWAYS
        )
        account = accounts.order_by("id").first()
        if account is None:
            raise
        return account


def gateways_by_currency(*, merchant: Merchant, livemode: bool) -> dict[str, set[str]]:
    """Per currency, the gateways at which the merchant has an active account settling it."""
    accounts = GatewayAccount.objects.filter(merchant=merchant, mode="live" if livemode else "test", is_active=True)
    found: dict[str, set[str]] = {}
    for gateway, currency in accounts.values_list("gateway", "currency"):
        found.setdefault(currency, set()).add(gateway)
    return found


def check_payment_method(account: GatewayAccount, payment_method: Card | OpaqueToken | SavedCard | BankAccount) -> None:
    if isinstance(payment_method, BankAccount):
        if account.gateway not in BANK_ACCOUNT_GATEWAYS or account.currency != "USD":
            raise PaymentMethodNotSupported(
                f"US bank account debits are not supported by this merchant's {account.gateway} account.",
                param="payment_method.type",
            )
        return
    if not isinstance(payment_method, Card):
        return
    if account.gateway in CHECKOUT_VAULT_GATEWAYS:
        raise PaymentMethodNotSupported(
            f"This merchant's {account.gateway} account takes cards only in its checkout: ask for a checkout setup "
            "(POST …/payment-methods/checkout-setup) and send its answer as opaque_data.",
            param="payment_method.type",
        )
    policy = settings.PAYMENTS_RAW_CARD_DATA
    if policy == "never" or (policy == "test_mode" and account.mode != "test"):
        raise RawCardDataNotAllowed(param="payment_method")


def card_expired(
    payment_method: Card | OpaqueToken | SavedCard | BankAccount, *, param_prefix: str = "", today: date | None = None
) -> CardExpired | None:
    """The refusal for a card past its expiry month (`today` in UTC unless given), naming the part
    at fault (`exp_year` for a past year, `exp_month` for an earlier month this year); None for a
    card still valid (through the last day of its month) or any other method."""
    if not isinstance(payment_method, Card):
        return None
    today = today or timezone.now().date()
    if payment_method.exp_year < today.year:
        return CardExpired(param=f"{param_prefix}exp_year")
    if payment_method.exp_year == today.year and payment_method.exp_month < today.month:
        return CardExpired(param=f"{param_prefix}exp_month")
    return None


def check_voice_authorization(account: GatewayAccount) -> None:
    """A card authorised by phone can be captured only at a gateway that takes its approval code."""
    if account.gateway not in VOICE_AUTHORIZATION_GATEWAYS:
        raise VoiceAuthorizationNotSupported(param="payment_method.authorization_code")


def check_currency(account: GatewayAccount, currency: str) -> None:
    if currency not in SUPPORTED_CURRENCIES or currency != account.currency:
        raise CurrencyNotSupported(
            f"{currency} is not supported by this merchant's gateway account (it settles {account.currency}).",
            param="currency",
        )
