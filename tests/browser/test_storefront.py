"""The demo storefront in a real browser: our page, the sandbox's Checkout script, our API."""

from __future__ import annotations

import json
from typing import Any

import pytest

from apps.catalog.models import Entitlement
from apps.payments.models import Payment, PaymentStatus
from tests.catalog.helpers import DECLINED_CARD, SUCCESS_CARD

pytestmark = pytest.mark.browser


@pytest.fixture
def store(live_server, merchant, publishable, price, rzp_account) -> str:
    return f"{live_server.url}/store/{merchant.slug}/"


def checkout(page: Any, store: str, price: Any, card: str) -> None:
    page.goto(store)
    page.fill("#customer-name", "Asha Rao")
    page.fill("#customer-email", "asha@example.com")
    page.click(f"#buy-{price.public_id}")
    page.fill("#rzp-card-number", card)
    page.fill("#rzp-card-expiry", "12/31")
    page.fill("#rzp-card-cvv", "123")
    page.fill("#rzp-card-name", "Asha Rao")
    page.click("#rzp-pay")


def test_a_success_card_captures_and_grants_the_entitlement(page, store, price):
    checkout(page, store, price, SUCCESS_CARD)

    page.wait_for_selector("#result[data-status=completed]")
    assert "Thank you" in page.inner_text("h1")
    payment = Payment.objects.get()
    assert payment.status == PaymentStatus.CAPTURED and payment.amount_captured == price.amount
    entitlement = Entitlement.objects.get()
    assert entitlement.product == price.product and entitlement.customer.email == "asha@example.com"


def test_a_failure_card_shows_the_failure_and_grants_nothing(page, store, price):
    checkout(page, store, price, DECLINED_CARD)

    page.wait_for_selector("#result[data-status=failed]")
    assert page.inner_text("#reason")
    assert Payment.objects.get().status == PaymentStatus.PENDING
    assert not Entitlement.objects.exists()


def test_a_tampered_signature_is_refused(page, store, price):
    def tamper(route: Any) -> None:
        body = json.loads(route.request.post_data)
        body["razorpay_signature"] = "f" * 64
        route.continue_(post_data=json.dumps(body))

    page.route("**/api/v1/checkout/razorpay/verify", tamper)
    checkout(page, store, price, SUCCESS_CARD)

    page.wait_for_selector("#result[data-status=failed]")
    assert "signature" in page.inner_text("#reason").lower()
    assert Payment.objects.get().status == PaymentStatus.PENDING
    assert not Entitlement.objects.exists()
