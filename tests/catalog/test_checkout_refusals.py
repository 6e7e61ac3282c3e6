"""A Razorpay checkout whose order Razorpay refuses (an amount under ₹1.00) is refused to the caller,
never answered 201 without an order; the refusal is final and replayed as such."""

from __future__ import annotations

from typing import Any

from apps.catalog.models import CheckoutOrder, Entitlement
from apps.catalog.services import price_create, product_create
from apps.payments.models import GatewayTransaction, Payment, PaymentStatus
from tests.conftest import CATALOG_ACTOR

ORDERS = "/api/v1/checkout/razorpay/orders"


def start(publishable: Any, price: Any, *, key: str, email: str = "asha@example.com") -> Any:
    body = {"price": price.public_id, "quantity": 1, "customer": {"name": "Asha Rao", "email": email}}
    return publishable.post(ORDERS, body, format="json", HTTP_IDEMPOTENCY_KEY=key)


def test_an_order_razorpay_refuses_is_a_422_nothing_payable_and_replayed_so(publishable, merchant, rzp_account):
    product = product_create(merchant=merchant, name="Sticker", description="", actor=CATALOG_ACTOR)
    price = price_create(product=product, amount=50, currency="INR", actor=CATALOG_ACTOR)  # ₹0.50

    first = start(publishable, price, key="tiny-1")

    assert first.status_code == 422, first.json()
    error = first.json()["error"]
    assert error["code"] == "gateway_request_refused" and "at least INR 1.00" in error["message"]
    payment = Payment.objects.get()
    assert error["payment"] == payment.public_id
    assert (payment.status, payment.gateway_order_id) == (PaymentStatus.FAILED, "")
    assert GatewayTransaction.objects.get().status == GatewayTransaction.Status.FAILED
    assert CheckoutOrder.objects.get().completed_at is None and not Entitlement.objects.exists()

    again = start(publishable, price, key="tiny-1")

    assert again.status_code == 422 and again["Idempotent-Replayed"] == "true"
    assert again.content == first.content
    assert (Payment.objects.count(), GatewayTransaction.objects.count()) == (1, 1)
