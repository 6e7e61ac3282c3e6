"""Stripe's saved cards changed through PATCH …/payment-methods/{pm} (PaymentMethod update of the
card's expiry and billing details), and the card of a past Stripe payment, which Stripe's adapter
cannot save: a clear 409."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from apps.audit.models import AuditEvent
from apps.customers.models import PaymentMethod
from apps.sandbox.models import StripePaymentMethod

pytestmark = pytest.mark.django_db(transaction=True)

NEXT_YEAR = datetime.now(UTC).year + 1


def saved(api: Any) -> tuple[str, dict[str, Any]]:
    customer = api.post("/api/v1/customers", {"email": "ada@example.com"}, format="json").json()["id"]
    card = {"type": "card", "number": "4242424242424242", "exp_month": 12, "exp_year": NEXT_YEAR, "cvc": "123"}
    method = api.post(f"/api/v1/customers/{customer}/payment-methods", card, format="json").json()
    assert method["status"] == "active", method
    return f"/api/v1/customers/{customer}/payment-methods/{method['id']}", method


def test_a_stripe_card_gets_a_new_expiry_and_billing_details(api, stripe_account):
    url, method = saved(api)
    body = {"exp_month": 4, "exp_year": NEXT_YEAR + 3, "billing_address": {"name": "Ada King", "postal_code": "10001"}}

    response = api.patch(url, body, format="json", HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex)

    assert response.status_code == 200, response.json()
    assert (response.json()["card"]["exp_month"], response.json()["card"]["exp_year"]) == (4, NEXT_YEAR + 3)
    at_stripe = StripePaymentMethod.objects.get(stripe_id=PaymentMethod.objects.get().payment_token)
    assert (at_stripe.exp_month, at_stripe.exp_year) == (4, NEXT_YEAR + 3)
    assert at_stripe.billing_details["name"] == "Ada King"
    assert at_stripe.billing_details["address"]["postal_code"] == "10001"
    assert AuditEvent.objects.filter(action="payment_method.updated", target_id=method["id"]).count() == 1


def test_the_card_of_a_stripe_payment_cannot_be_saved_from_the_payment(api, stripe_account):
    customer = api.post("/api/v1/customers", {"email": "ada@example.com"}, format="json").json()["id"]
    card = {"type": "card", "number": "4242424242424242", "exp_month": 12, "exp_year": NEXT_YEAR, "cvc": "123"}
    payment = api.post(
        "/api/v1/payments",
        {"amount": 1000, "currency": "USD", "payment_method": card, "customer": customer},
        format="json",
    ).json()
    assert payment["status"] == "captured", payment

    response = api.post(f"/api/v1/payments/{payment['id']}/save-payment-method", {}, format="json")

    assert (response.status_code, response.json()["error"]["code"]) == (409, "card_save_not_supported")
    assert PaymentMethod.objects.count() == 0
