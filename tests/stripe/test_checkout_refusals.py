"""A Stripe checkout whose PaymentIntent Stripe refuses (an amount outside its limits) is refused
to the caller, never answered 201 without an intent; the refusal is final and replayed as such."""

from __future__ import annotations

from typing import Any

import pytest

from apps.catalog.models import CheckoutOrder, Entitlement
from apps.catalog.services import price_create, product_create
from apps.payments.models import GatewayTransaction, Payment, PaymentStatus

from .conftest import ACTOR

pytestmark = pytest.mark.django_db(transaction=True)


def start(publishable: Any, price: Any, *, quantity: int, key: str) -> Any:
    body = {"price": price.public_id, "quantity": quantity, "customer": {"email": "lea@example.com"}}
    return publishable.post("/api/v1/checkout/stripe/payment-intents", body, format="json", HTTP_IDEMPOTENCY_KEY=key)


@pytest.mark.parametrize(
    ("unit_amount", "quantity", "stripe_says"),
    [
        (49, 1, "Amount must be at least 0.50 usd"),  # Stripe's USD minimum is 50 cents
        (1_000_000, 100, "Amount must be no more than 99999999 usd"),  # its maximum: 99,999,999
    ],
)
def test_an_intent_stripe_refuses_is_a_422_nothing_payable_and_replayed_so(
    publishable, merchant, stripe_account, unit_amount, quantity, stripe_says
):
    product = product_create(merchant=merchant, name="Course", description="", actor=ACTOR)
    price = price_create(product=product, amount=unit_amount, currency="USD", actor=ACTOR)

    first = start(publishable, price, quantity=quantity, key="refused-1")

    assert first.status_code == 422, first.json()
    error = first.json()["error"]
    assert error["code"] == "gateway_request_refused" and stripe_says in error["message"]
    payment = Payment.objects.get()
    assert error["payment"] == payment.public_id
    assert (payment.status, payment.gateway_order_id) == (PaymentStatus.FAILED, "")
    assert GatewayTransaction.objects.get().status == GatewayTransaction.Status.FAILED
    assert CheckoutOrder.objects.get().completed_at is None and not Entitlement.objects.exists()

    again = start(publishable, price, quantity=quantity, key="refused-1")

    assert again.status_code == 422 and again["Idempotent-Replayed"] == "true"
    assert again.content == first.content
    assert (Payment.objects.count(), GatewayTransaction.objects.count()) == (1, 1)
