from __future__ import annotations

import hashlib
import hmac
import uuid
from typing import Any

from rest_framework.test import APIClient

SUCCESS_CARD = "4100280000001007"
DECLINED_CARD = "4100280000040005"  # card_declined


def start(client: APIClient, price: Any, quantity: int = 1, **extra: Any) -> Any:
    body = {"price": price.public_id, "quantity": quantity,
            "customer": {"name": "Asha Rao", "email": "asha@example.com", "contact": "+919900000000"}, **extra}  # fmt: skip
    return client.post("/api/v1/checkout/razorpay/orders", body, format="json", HTTP_IDEMPOTENCY_KEY=str(uuid.uuid4()))


def pay(order: dict[str, Any], card: str = SUCCESS_CARD) -> Any:
    """What the customer does in the Checkout page (the sandbox's service behind checkout.js)."""
    from apps.sandbox.razorpay.services import rzp_checkout_pay

    return rzp_checkout_pay(
        key_id=order["razorpay"]["key"], order_id=order["razorpay"]["order_id"], card_number=card,
        exp_month=12, exp_year=2031, cvv="123", email="asha@example.com", contact="+919900000000",
    )  # fmt: skip


def handler_response(result: Any) -> dict[str, str]:
    return {
        "razorpay_order_id": result.order_id,
        "razorpay_payment_id": result.payment_id,
        "razorpay_signature": result.signature,
    }


def sign(secret: str, order_id: str, payment_id: str) -> str:
    return hmac.new(secret.encode(), f"{order_id}|{payment_id}".encode(), hashlib.sha256).hexdigest()


def verify(client: APIClient, response: dict[str, str]) -> Any:
    return client.post("/api/v1/checkout/razorpay/verify", response, format="json")
