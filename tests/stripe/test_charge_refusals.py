"""A charge Stripe refuses as a request (an amount under its minimum) is refused to the caller with
the failed payment named, never answered 201 as if it had been sent; the refusal is replayed."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from apps.payments.models import GatewayTransaction, Payment, PaymentStatus

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_charge_under_stripes_minimum_is_a_422_and_its_replay_too(api, stripe_account):
    card = {"type": "card", "number": "4242424242424242", "exp_month": 12, "exp_year": datetime.now(UTC).year + 1}
    body = {"amount": 10, "currency": "USD", "payment_method": card}

    first = api.post("/api/v1/payments", body, format="json", HTTP_IDEMPOTENCY_KEY="tiny-charge")

    assert first.status_code == 422, first.json()
    error = first.json()["error"]
    assert error["code"] == "gateway_request_refused" and "Amount must be at least 0.50 usd" in error["message"]
    payment = Payment.objects.get()
    assert error["payment"] == payment.public_id and payment.status == PaymentStatus.FAILED
    assert GatewayTransaction.objects.get().status == GatewayTransaction.Status.FAILED

    again = api.post("/api/v1/payments", body, format="json", HTTP_IDEMPOTENCY_KEY="tiny-charge")

    assert again.status_code == 422 and again.content == first.content
    assert Payment.objects.count() == 1
