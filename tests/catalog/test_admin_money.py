"""A product's prices appear as money in the admin, in the currency's own decimals (USD 2, JPY 0,
KWD 3), never as bare minor units."""

from __future__ import annotations

import pytest

from tests.factories import PriceFactory, ProductFactory
from tests.helpers import assert_shows_money

pytestmark = pytest.mark.django_db


def test_the_product_page_shows_its_prices_as_money(admin_client):
    product = ProductFactory()
    for currency in ("USD", "JPY", "KWD"):
        PriceFactory(product=product, amount=4500, currency=currency)

    page = admin_client.get(f"/admin/catalog/product/{product.pk}/change/")

    assert page.status_code == 200
    assert_shows_money(page.content, shown=["45.00 USD", "4,500 JPY", "4.500 KWD"], bare=[4500])
