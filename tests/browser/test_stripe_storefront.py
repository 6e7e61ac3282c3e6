"""The demo storefront paying through Stripe in a real browser: our page, the sandbox's Stripe.js
stand-in (card element, confirmCardPayment, the 3-D Secure challenge in a modal), our API."""

from __future__ import annotations

from typing import Any

import pytest

from apps.catalog.models import Entitlement
from apps.catalog.services import price_create, product_create
from apps.payments.models import Payment, PaymentStatus
from tests.stripe.conftest import ACTOR, stripe_account  # noqa: F401 (fixture)

pytestmark = [pytest.mark.browser, pytest.mark.django_db(transaction=True)]


@pytest.fixture
def usd_price(merchant: Any) -> Any:
    product = product_create(merchant=merchant, name="Workshop", description="One seat", actor=ACTOR)
    return price_create(product=product, amount=4_500, currency="USD", actor=ACTOR)


@pytest.fixture
def store(live_server, merchant, publishable, usd_price, stripe_account) -> str:  # noqa: F811
    return f"{live_server.url}/store/{merchant.slug}/"


def pay(page: Any, store: str, price: Any, card: str) -> None:
    page.goto(store)
    page.fill("#customer-name", "Lea Martin")
    page.fill("#customer-email", "lea@example.com")
    page.click(f"#buy-stripe-{price.public_id}")
    page.fill("#stripe-card-number", card)
    page.fill("#stripe-card-expiry", "12 / 34")
    page.fill("#stripe-card-cvc", "123")
    page.click("#stripe-pay")


def challenge(page: Any, button: str) -> None:
    frame = page.frame_locator("#stripe-challenge-frame")
    frame.locator(f"#{button}").click()


def test_a_card_without_3d_secure_is_captured_and_entitled(page, store, usd_price):
    pay(page, store, usd_price, "4242 4242 4242 4242")

    page.wait_for_selector("#result[data-status=completed]")
    payment = Payment.objects.get()
    assert payment.status == PaymentStatus.CAPTURED and payment.amount_captured == 4_500
    assert Entitlement.objects.get().customer.email == "lea@example.com"


def test_completed_3d_secure_captures_and_grants_the_entitlement_once(page, store, usd_price):
    pay(page, store, usd_price, "4000 0000 0000 3220")
    challenge(page, "complete")

    page.wait_for_selector("#result[data-status=completed]")
    assert "45.00" in page.inner_text("main")
    payment = Payment.objects.get()
    assert payment.status == PaymentStatus.CAPTURED and payment.amount_captured == 4_500
    assert Entitlement.objects.count() == 1


def test_failed_3d_secure_fails_and_grants_nothing(page, store, usd_price):
    pay(page, store, usd_price, "4000 0000 0000 3220")
    challenge(page, "fail")

    page.wait_for_selector("#result[data-status=failed]")
    assert page.inner_text("#reason")
    payment = Payment.objects.get()
    assert payment.amount_captured == 0 and payment.status != PaymentStatus.CAPTURED and payment.failure_code
    assert not Entitlement.objects.exists()


def test_a_declined_card_says_so_and_grants_nothing(page, store, usd_price):
    pay(page, store, usd_price, "4000 0000 0000 0002")

    page.wait_for_selector("#result[data-status=failed]")
    assert "declined" in page.inner_text("#reason").lower()
    assert not Entitlement.objects.exists()
