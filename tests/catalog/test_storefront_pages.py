"""The storefront's server side (the browser tests drive the whole page)."""

from __future__ import annotations

from io import StringIO

import pytest
from django.core.management import call_command

from apps.audit.actors import Actor
from apps.catalog.services import price_create
from apps.merchants.services import api_key_create

pytestmark = pytest.mark.django_db


def test_the_store_lists_prices_and_embeds_only_the_publishable_key(client, merchant, price, settings):
    issued = api_key_create(merchant=merchant, kind="publishable", actor=Actor.system("tests"))
    secret = api_key_create(merchant=merchant, actor=Actor.system("tests"))

    page = client.get(f"/store/{merchant.slug}/").content.decode()

    assert issued.secret in page and secret.secret not in page
    assert f'id="buy-{price.public_id}"' in page and "499.00" in page
    assert f'src="{settings.RAZORPAY_CHECKOUT_JS_URL}"' in page


def test_a_store_without_a_publishable_key_is_not_found(client, merchant):
    assert client.get(f"/store/{merchant.slug}/").status_code == 404
    assert client.get("/store/nobody/").status_code == 404


def test_result_pages_show_only_this_merchants_checkout(client, merchant):
    page = client.get(f"/store/{merchant.slug}/failure?checkout=co_nope&reason=Card+declined").content.decode()
    assert "Card declined" in page and "co_nope" not in page
    assert "confirming" in client.get(f"/store/{merchant.slug}/success?checkout=co_nope").content.decode()


def test_reconcile_checkouts_command_reports(db):
    out = StringIO()
    call_command("reconcile_checkouts", stdout=out)
    assert out.getvalue().startswith("checked 0: completed 0, expired 0")


def test_cors_allows_listed_origins_on_browser_endpoints_only(client, settings):
    settings.CORS_ALLOWED_ORIGINS = ["https://shop.example.com"]

    def preflight(path: str, origin: str) -> str | None:
        response = client.options(
            path, HTTP_ORIGIN=origin, HTTP_ACCESS_CONTROL_REQUEST_METHOD="POST",
            HTTP_ACCESS_CONTROL_REQUEST_HEADERS="authorization,content-type,idempotency-key",
        )  # fmt: skip
        return response.headers.get("Access-Control-Allow-Origin")

    assert preflight("/api/v1/checkout/razorpay/orders", "https://shop.example.com") == "https://shop.example.com"
    assert preflight("/api/v1/checkout/razorpay/orders", "https://evil.example.com") is None
    # The paths a customer session token reaches too, from a listed origin only; merchant-only paths never.
    assert preflight("/api/v1/payments", "https://shop.example.com") == "https://shop.example.com"
    for path in ("/api/v1/customers/cus_1/payment-methods/pm_1/default", "/api/v1/subscriptions/sub_1/cancel",
                 "/api/v1/payments/pay_1/refunds", "/api/v1/refunds/re_1"):  # fmt: skip
        assert preflight(path, "https://shop.example.com") == "https://shop.example.com", path
    assert preflight("/api/v1/payments", "https://evil.example.com") is None
    merchant_only = ("/api/v1/customers", "/api/v1/customer-sessions", "/api/v1/customers/cus_1", "/api/v1/plans",
                     "/api/v1/payments/pay_1/capture", "/api/v1/payments/pay_1/void",
                     "/api/v1/payments/pay_1/save-payment-method")  # fmt: skip
    for path in merchant_only:
        assert preflight(path, "https://shop.example.com") is None, path


def test_prices_in_a_stripe_accounts_currency_get_the_card_button_and_stripe_js(client, merchant, price, settings):
    from apps.gateways.services import gateway_account_create

    api_key_create(merchant=merchant, kind="publishable", actor=Actor.system("tests"))
    gateway_account_create(
        merchant=merchant, gateway="stripe", mode="test", currency="INR",
        credentials={"secret_key": "sk_test_x", "publishable_key": "pk_test_x"}, actor=Actor.system("tests"),
    )  # fmt: skip
    other = price_create(product=price.product, amount=900, currency="USD", actor=Actor.system("tests"))

    page = client.get(f"/store/{merchant.slug}/").content.decode()

    assert f'id="buy-stripe-{price.public_id}"' in page and f'id="buy-{price.public_id}"' not in page
    assert f'src="{settings.STRIPE_JS_URL}"' in page and "sk_test_x" not in page
    assert f'id="buy-{other.public_id}"' in page and f'id="buy-stripe-{other.public_id}"' not in page
