"""What the portal's pages show: one customer's subscriptions, invoices and saved cards, amounts
formatted with their currency, and the merchant's branding."""

from __future__ import annotations

from dataclasses import dataclass

from django.db.models import QuerySet

from apps.api.customer_scope import CustomerScope
from apps.core.errors import NotFoundError
from apps.core.money import format_amount
from apps.customers.models import Customer, PaymentMethod
from apps.customers.selectors import customer_get, payment_method_list
from apps.gateways.api_errors import NoGatewayAccount
from apps.gateways.selectors import gateway_account_for
from apps.merchants.models import Merchant
from apps.subscriptions.models import Invoice, Subscription
from apps.subscriptions.selectors import subscription_list

from .models import DEFAULT_PRIMARY_COLOR, PortalBranding, PortalLink


@dataclass(frozen=True)
class Branding:
    name: str
    primary_color: str


def branding_for(merchant: Merchant) -> Branding:
    branding = PortalBranding.objects.filter(merchant=merchant).first()
    if branding is None:
        return Branding(merchant.name, DEFAULT_PRIMARY_COLOR)
    return Branding(branding.display_name or merchant.name, branding.primary_color)


def portal_customer(scope: CustomerScope) -> Customer:
    return customer_get(merchant=scope.merchant, public_id=scope.customer)


def portal_return_url(scope: CustomerScope) -> str:
    """The merchant's page the customer goes back to (from the link that opened this session)."""
    link = PortalLink.objects.filter(session__public_id=scope.session).only("return_url").first()
    return link.return_url if link is not None else ""


def portal_subscriptions(scope: CustomerScope) -> QuerySet[Subscription]:
    return subscription_list(merchant=scope.merchant, customer=scope.customer)


def portal_invoices(scope: CustomerScope) -> QuerySet[Invoice]:
    return (
        Invoice.objects.filter(merchant=scope.merchant, subscription__customer__public_id=scope.customer)
        .select_related("plan", "subscription", "payment")
        .order_by("-period_start", "-id")
    )


def portal_invoice(scope: CustomerScope, public_id: str) -> Invoice:
    """One of the customer's invoices; another's is not found."""
    invoice = portal_invoices(scope).filter(public_id=public_id).first()
    if invoice is None:
        raise NotFoundError(f"No such invoice: {public_id!r}.", param="id")
    return invoice


def portal_payment_methods(customer: Customer) -> QuerySet[PaymentMethod]:
    return payment_method_list(customer=customer)


def money(amount: int, currency: str) -> str:
    return format_amount(amount, currency)


@dataclass(frozen=True)
class CardForm:
    """What the page's Accept.js needs to tokenise a card for the merchant's Authorize.Net account."""

    api_login_id: str
    client_key: str


def card_form_for(scope: CustomerScope) -> CardForm | None:
    """The card form's settings, or None where the merchant's account (of the session's mode) is
    not at Authorize.Net: its browser library is the only tokenisation the portal serves."""
    try:
        account = gateway_account_for(merchant=scope.merchant, livemode=scope.livemode)
    except NoGatewayAccount:
        return None
    if account.gateway != "authorizenet":
        return None
    credentials = account.credentials()
    # The API login id and the public client key are made to be put in a web page (Accept.js).
    return CardForm(credentials.get("api_login_id", ""), credentials.get("client_key", ""))
