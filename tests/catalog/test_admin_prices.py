"""Prices are added on the product's admin page: a new row takes an amount in the currency's own
decimals and an ISO 4217 currency; a bad one is a form error (never a 500) and adds nothing. An
existing price keeps its amount and currency, shown as money."""

from __future__ import annotations

import pytest

from apps.audit.models import AuditEvent
from apps.catalog.models import Price
from tests.factories import PriceFactory, ProductFactory
from tests.helpers import assert_shows_money

pytestmark = pytest.mark.django_db


def product_form(product, **new_price):
    """What the browser posts for the product's page: its fields, the existing prices unchanged and
    the new-price row after them (blank unless given)."""
    existing = list(product.prices.order_by("pk"))
    new = len(existing)
    data = {
        "merchant": product.merchant_id,
        "name": product.name,
        "description": product.description,
        "active": "on" if product.active else "",
        "prices-TOTAL_FORMS": new + 1,
        "prices-INITIAL_FORMS": new,
        "prices-MIN_NUM_FORMS": 0,
        "prices-MAX_NUM_FORMS": 1000,
        f"prices-{new}-product": product.pk,
        f"prices-{new}-nickname": new_price.get("nickname", ""),
        f"prices-{new}-amount": new_price.get("amount", ""),
        f"prices-{new}-currency": new_price.get("currency", ""),
        f"prices-{new}-active": "on",
    }
    for index, price in enumerate(existing):
        data |= {
            f"prices-{index}-id": price.pk,
            f"prices-{index}-product": product.pk,
            f"prices-{index}-nickname": price.nickname,
            f"prices-{index}-active": "on" if price.active else "",
        }
    return {key: value for key, value in data.items() if value != ""}


@pytest.mark.parametrize(
    ("amount", "currency", "minor"), [("45.00", "USD", 4500), ("1500", "JPY", 1500), ("4.5", "KWD", 4500)]
)
def test_a_price_added_on_the_product_page_is_stored_in_minor_units_and_audited(admin_client, amount, currency, minor):
    product = ProductFactory()

    page = admin_client.post(
        f"/admin/catalog/product/{product.pk}/change/",
        product_form(product, nickname="Monthly", amount=amount, currency=currency),
    )

    assert page.status_code == 302, page.content.decode()[:3000]
    price = Price.objects.get(product=product)
    assert (price.amount, price.currency, price.nickname, price.merchant_id) == (
        minor,
        currency,
        "Monthly",
        product.merchant_id,
    )
    assert AuditEvent.objects.filter(action="price.created", target_id=price.public_id).exists()


@pytest.mark.parametrize(
    ("amount", "currency", "said"),
    [
        ("0", "USD", "The amount must be positive."),
        ("-5", "USD", "The amount must be positive."),
        ("inf", "USD", "Enter an amount in USD with at most 2 decimals."),
        ("NaN", "USD", "Enter an amount in USD with at most 2 decimals."),
        ("1e999999", "USD", "Enter an amount in USD with at most 2 decimals."),
        ("12.345", "USD", "Enter an amount in USD with at most 2 decimals."),
        ("12.5", "JPY", "Enter an amount in JPY with at most 0 decimals."),
        ("ten", "USD", "Enter an amount in USD with at most 2 decimals."),
        ("", "USD", "This field is required."),
        ("10.00", "", "This field is required."),
        ("10.00", "XYZ", "Select a valid choice."),
        ("10.00", "usd", "Select a valid choice."),
    ],
)
def test_a_bad_new_price_is_a_form_error_and_adds_nothing(admin_client, amount, currency, said):
    product = ProductFactory()

    page = admin_client.post(
        f"/admin/catalog/product/{product.pk}/change/",
        product_form(product, nickname="Monthly", amount=amount, currency=currency),
    )

    assert page.status_code == 200
    assert said in page.content.decode()
    assert not Price.objects.filter(product=product).exists()
    assert not AuditEvent.objects.filter(action="price.created").exists()


def test_an_existing_price_keeps_its_amount_and_currency_shown_as_money(admin_client):
    price = PriceFactory(amount=4500, currency="USD", nickname="Old")
    product = price.product
    form = product_form(product) | {
        "prices-0-nickname": "Renamed",
        "prices-0-amount": "1",
        "prices-0-currency": "JPY",
    }

    page = admin_client.get(f"/admin/catalog/product/{product.pk}/change/")
    saved = admin_client.post(f"/admin/catalog/product/{product.pk}/change/", form)

    assert_shows_money(page.content, shown=["45.00 USD"], bare=[4500])
    assert 'name="prices-0-amount"' not in page.content.decode()  # shown, not an input
    assert 'name="prices-1-amount"' in page.content.decode()  # the new price's row
    assert saved.status_code == 302
    price.refresh_from_db()
    assert (price.nickname, price.amount, price.currency) == ("Renamed", 4500, "USD")
    assert AuditEvent.objects.filter(action="price.updated", target_id=price.public_id).exists()


def test_a_product_is_added_with_its_first_price(admin_client):
    product = ProductFactory.build(merchant=ProductFactory().merchant)
    data = {
        "merchant": product.merchant_id,
        "name": "New product",
        "active": "on",
        "prices-TOTAL_FORMS": 1,
        "prices-INITIAL_FORMS": 0,
        "prices-0-amount": "9.99",
        "prices-0-currency": "EUR",
        "prices-0-active": "on",
    }

    page = admin_client.post("/admin/catalog/product/add/", data)

    assert page.status_code == 302, page.content.decode()[:3000]
    price = Price.objects.get(product__name="New product")
    assert (price.amount, price.currency) == (999, "EUR")


def test_a_price_added_not_on_sale_stays_off_sale(admin_client):
    product = ProductFactory()
    form = product_form(product, amount="5.00", currency="USD")
    del form["prices-0-active"]

    page = admin_client.post(f"/admin/catalog/product/{product.pk}/change/", form)

    assert page.status_code == 302
    price = Price.objects.get(product=product)
    assert (price.amount, price.active) == (500, False)
