"""Shared by the Razorpay sandbox tests: an SDK client for the sandbox and a paid-order shortcut."""

from __future__ import annotations

from typing import Any

import razorpay
from django.conf import settings

from apps.sandbox.models import RzpAccount
from apps.sandbox.razorpay.services import CheckoutResult, rzp_checkout_pay

VISA_OK = "4100280000001007"


def sdk_client(account: RzpAccount, secret: str | None = None) -> razorpay.Client:
    return razorpay.Client(
        auth=(account.key_id, account.key_secret if secret is None else secret),
        base_url=settings.RAZORPAY_TEST_API_BASE,
    )


def pay(account: RzpAccount, order_id: str, number: str = VISA_OK, **extra: Any) -> CheckoutResult:
    card: dict[str, Any] = {
        "exp_month": 12,
        "exp_year": 2035,
        "cvv": "4" * (4 if number.startswith("3") and len(number) == 15 else 3),
    }
    card.update(extra)
    return rzp_checkout_pay(key_id=account.key_id, order_id=order_id, card_number=number, **card)
