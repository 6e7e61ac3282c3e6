"""Stripe cancels authorisations only: a captured PaymentIntent is refunded, never voided."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime

import pytest

from apps.gateways.registry import gateway_for
from apps.payments.models import GatewayTransaction, Payment
from apps.payments.selectors import payment_void_refusal


@pytest.mark.django_db(transaction=True)
def test_stripe_voids_authorisations_only(api, stripe_account):
    body = {
        "amount": 2500,
        "currency": "USD",
        "payment_method": {
            "type": "card",
            "number": "4242424242424242",
            "exp_month": 12,
            "exp_year": datetime.now(UTC).year + 1,
        },
    }
    answer = api.post("/api/v1/payments", body, format="json", HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex)
    payment = Payment.objects.select_related("gateway_account").get(public_id=answer.json()["id"])
    gateway = gateway_for(payment.gateway_account)

    assert payment_void_refusal(payment, gateway) == (
        "void_not_supported",
        "Stripe cannot void a captured payment: refund it instead.",
    )
    response = api.post(f"/api/v1/payments/{payment.public_id}/void")
    assert response.status_code == 409 and response.json()["error"]["code"] == "void_not_supported"
    assert not GatewayTransaction.objects.filter(payment=payment, kind="void").exists()
