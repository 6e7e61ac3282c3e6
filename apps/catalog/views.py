"""The demo storefront (STOREFRONT_ENABLED): a page per merchant that sells its catalogue through
the checkout API with the merchant's publishable key, as a merchant's own frontend would. Also the
site's front page, which lists the storefronts in dev."""

from __future__ import annotations

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.shortcuts import get_object_or_404, render

from apps.core.money import format_amount
from apps.gateways.models import GatewayName
from apps.gateways.selectors import gateways_by_currency
from apps.merchants.models import ApiKey, ApiKeyKind, Merchant

from . import selectors
from .models import CheckoutOrder


def home(request: HttpRequest) -> HttpResponse:
    """The site's front page: where the admin and the API's docs are and, where the dev-only
    sandboxes run, the demo storefronts (never listed in production)."""
    storefronts = (
        list(selectors.storefront_merchants()[:20]) if settings.STOREFRONT_ENABLED and settings.SANDBOX_ENABLED else []
    )
    return render(request, "home.html", {"storefronts": storefronts, "api_docs_public": settings.API_DOCS_PUBLIC})


def _merchant(slug: str) -> Merchant:
    return get_object_or_404(Merchant, slug=slug, is_active=True)


def index(request: HttpRequest, slug: str) -> HttpResponse:
    merchant = _merchant(slug)
    key = (
        ApiKey.objects.filter(merchant=merchant, kind=ApiKeyKind.PUBLISHABLE, mode="test", revoked_at__isnull=True)
        .order_by("-id")
        .first()
    )
    if key is None:
        raise Http404("This merchant has no publishable key.")
    gateways = gateways_by_currency(merchant=merchant, livemode=False)
    products = list(selectors.product_list(merchant=merchant))
    used: set[str] = set()
    for product in products:
        for price in product.active_prices:  # type: ignore[attr-defined]
            price.display = format_amount(price.amount, price.currency)
            # Each price is offered through the gateways whose account settles its currency; with
            # none, the Razorpay button stays and the API says what is missing.
            offered = gateways.get(price.currency, set()) & {GatewayName.RAZORPAY, GatewayName.STRIPE}
            price.razorpay = GatewayName.RAZORPAY in offered or not offered
            price.stripe = GatewayName.STRIPE in offered
            used |= {name for name in (GatewayName.RAZORPAY, GatewayName.STRIPE) if getattr(price, name)}
    return render(
        request,
        "storefront/index.html",
        {
            "merchant": merchant,
            "products": products,
            "publishable_key": key.publishable_key,
            "api_base": "/api/v1",
            "razorpay": GatewayName.RAZORPAY in used,
            "stripe": GatewayName.STRIPE in used,
            "checkout_js_url": settings.RAZORPAY_CHECKOUT_JS_URL,
            "stripe_js_url": settings.STRIPE_JS_URL,
            "sandbox": settings.SANDBOX_ENABLED,
        },
    )


def _result(request: HttpRequest, slug: str, outcome: str) -> HttpResponse:
    merchant = _merchant(slug)
    checkout = (
        CheckoutOrder.objects.select_related("payment", "price__product")
        .filter(merchant=merchant, public_id=request.GET.get("checkout", ""))
        .first()
    )
    context = {
        "merchant": merchant,
        "outcome": outcome,
        "checkout": checkout,
        "reason": request.GET.get("reason", "")[:200],
        "sandbox": settings.SANDBOX_ENABLED,
        "amount": format_amount(checkout.payment.amount, checkout.payment.currency) if checkout else "",
        "captured": bool(checkout and checkout.payment.amount_captured),
    }
    return render(request, "storefront/result.html", context)


def success(request: HttpRequest, slug: str) -> HttpResponse:
    return _result(request, slug, "success")


def failure(request: HttpRequest, slug: str) -> HttpResponse:
    return _result(request, slug, "failure")
