"""What the portal's pages show: one customer's subscriptions, invoices and saved cards, amounts
formatted with their currency, and the merchant's branding."""

from __future__ import annotations

from dataclasses import dataclass

from django.conf import settings
from django.db.models import QuerySet

from apps.api.customer_scope import CustomerScope
from apps.core.errors import NotFoundError
from apps.core.money import format_amount
from apps.customers.models import Customer, PaymentMethod
from apps.customers.selectors import customer_get, payment_method_list
from apps.gateways import stripe_vocabulary as stripe_words
from apps.gateways.api_errors import NoGatewayAccount
from apps.gateways.models import GatewayName
from apps.gateways.razorpay_vocabulary import CHECKOUT_TOKEN_DESCRIPTOR
from apps.gateways.selectors import vault_account_for
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
    """What the page's card form needs to tokenise a card in the browser with the gateway's own
    library: Accept.js (an Authorize.Net account: API login id and public client key), Stripe.js
    (a Stripe account: publishable key) or Razorpay Checkout (a Razorpay account: key id; the card
    is saved paying a setup order, portal_card_checkout_setup). Each of these is made to be put in
    a web page. With no form (`gateway` blank), `unavailable` is "not_configured": no account of
    this mode saves cards, or its browser keys are missing."""

    gateway: str  # GatewayName: authorizenet (Accept.js), stripe (Stripe.js), razorpay; blank: none
    script_url: str = ""
    api_login_id: str = ""
    client_key: str = ""
    publishable_key: str = ""
    key_id: str = ""  # Razorpay's public key id
    token_descriptor: str = ""  # what the form posts as the token's descriptor (Stripe, Razorpay)
    unavailable: str = ""


NOT_CONFIGURED = CardForm("", unavailable="not_configured")


def card_form_for(scope: CustomerScope) -> CardForm:
    """The card form for the merchant's vault account of the session's mode (the one saved cards
    go to: apps.customers.services.payment_method_add)."""
    try:
        account = vault_account_for(merchant=scope.merchant, livemode=scope.livemode)
    except NoGatewayAccount:  # no account of this mode keeps cards for later charges
        return NOT_CONFIGURED
    credentials = account.credentials()
    if account.gateway == GatewayName.AUTHORIZENET:
        return CardForm(
            GatewayName.AUTHORIZENET,
            script_url=settings.ACCEPT_JS_URL,
            api_login_id=credentials.get("api_login_id", ""),
            client_key=credentials.get("client_key", ""),
        )
    if account.gateway == GatewayName.STRIPE and credentials.get("publishable_key", "").startswith("pk_"):
        return CardForm(
            GatewayName.STRIPE,
            script_url=settings.STRIPE_JS_URL,
            publishable_key=credentials["publishable_key"],
            token_descriptor=stripe_words.PAYMENT_METHOD_DESCRIPTOR,
        )
    if account.gateway == GatewayName.RAZORPAY and credentials.get("key_id"):
        return CardForm(
            GatewayName.RAZORPAY,
            script_url=settings.RAZORPAY_CHECKOUT_JS_URL,
            key_id=credentials["key_id"],
            token_descriptor=CHECKOUT_TOKEN_DESCRIPTOR,
        )
    return NOT_CONFIGURED


def portal_card_outcome(scope: CustomerScope, public_id: str) -> PaymentMethod | None:
    """The customer's card of that id (any status), as the customer comes back from 3-D Secure;
    None for an unknown id or another customer's card."""
    return (
        PaymentMethod.objects.filter(
            merchant=scope.merchant, customer__public_id=scope.customer, public_id=public_id[:40]
        )
        .only("public_id", "status", "card_last4", "is_default")
        .first()
    )
