from __future__ import annotations

from django.db.models import Prefetch, QuerySet

from apps.merchants.models import Merchant

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
