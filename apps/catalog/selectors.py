from __future__ import annotations

from django.db.models import Exists, OuterRef, Prefetch, QuerySet

from apps.merchants.models import ApiKey, ApiKeyKind, Merchant

from .errors import CheckoutNotFound, PriceNotFound
from .models import CheckoutOrder, Price, Product


def product_list(*, merchant: Merchant) -> QuerySet[Product]:
    """Active products with their active prices (two queries whatever the size)."""
    prices = Price.objects.filter(active=True).order_by("amount")
    return (
        Product.objects.filter(merchant=merchant, active=True)
        .prefetch_related(Prefetch("prices", queryset=prices, to_attr="active_prices"))
        .order_by("name", "id")
    )


def storefront_merchants() -> QuerySet[Merchant]:
    """Merchants whose storefront page opens and has something to sell: active, with a test-mode
    publishable key (the page's) and an active price of an active product."""
    keys = ApiKey.objects.filter(
        merchant=OuterRef("pk"), kind=ApiKeyKind.PUBLISHABLE, mode="test", revoked_at__isnull=True
    )
    prices = Price.objects.filter(merchant=OuterRef("pk"), active=True, product__active=True)
    return Merchant.objects.filter(Exists(keys), Exists(prices), is_active=True).order_by("name", "id")


def price_get(*, merchant: Merchant, public_id: str) -> Price:
    price = (
        Price.objects.select_related("product")
        .filter(merchant=merchant, public_id=public_id, active=True, product__active=True)
        .first()
    )
    if price is None:
        raise PriceNotFound(param="price")
    return price


def checkout_get(*, merchant: Merchant, public_id: str) -> CheckoutOrder:
    checkout = (
        CheckoutOrder.objects.select_related("payment", "price__product", "customer")
        .filter(merchant=merchant, public_id=public_id)
        .first()
    )
    if checkout is None:
        raise CheckoutNotFound()
    return checkout
