"""Every object the Stripe sandbox answers conforms to Stripe's OpenAPI schema (API version
2023-08-16): no field missing that Stripe always has, none that Stripe does not have."""

from __future__ import annotations

import pytest
import requests
from django.conf import settings

from apps.sandbox.models import StripeCharge
from apps.sandbox.stripe.services import stripe_dispute_create, stripe_refund_advance
from tests.sandbox.stripe.openapi import assert_conforms

pytestmark = pytest.mark.django_db(transaction=True)


class Raw:
    def __init__(self, key: str) -> None:
        self.headers = {"Authorization": f"Bearer {key}"}

    def call(self, method: str, path: str, data: dict | None = None, status: int = 200) -> dict:
        url = f"{settings.STRIPE_TEST_API_BASE}/v1/{path}"
        where = {"params": data} if method in ("GET", "DELETE") else {"data": data}
        response = requests.request(method, url, headers=self.headers, timeout=10, **where)
        assert response.status_code == status, response.text
        body = response.json()
        assert_conforms(body)
        return body


@pytest.fixture
def api(stripe_sandbox):
    return Raw(stripe_sandbox.secret_key)


def intent(api, card="pm_card_visa", status=200, **extra):
    data = {
        "amount": 1000,
        "currency": "usd",
        "payment_method": card,
        "confirm": "true",
        "payment_method_types[0]": "card",
        **extra,
    }
    return api.call("POST", "payment_intents", data, status=status)


def test_payment_intents_charges_and_their_errors_conform(api):
    succeeded = intent(api, **{"expand[0]": "latest_charge", "expand[1]": "payment_method"})
    intent(api, capture_method="manual")
    action = intent(api, "pm_card_threeDSecure2Required", return_url="https://shop.example/r")
    declined = intent(api, "pm_card_chargeDeclined", status=402)
    refused = intent(api, "pm_card_authenticationRequired", off_session="true", status=402)
    canceled = api.call("POST", f"payment_intents/{action['id']}/cancel", {"cancellation_reason": "abandoned"})

    assert succeeded["latest_charge"]["object"] == "charge"
    assert declined["error"]["payment_intent"]["last_payment_error"]["decline_code"] == "generic_decline"
    assert refused["error"]["code"] == "authentication_required" and canceled["status"] == "canceled"
    api.call("GET", "payment_intents", {"expand[0]": "data.customer"})
    api.call("GET", "payment_intents/search", {"query": "status:'succeeded'"})
    api.call("GET", "charges")
    api.call("GET", "payment_intents/pi_missing", status=404)
    api.call("POST", "payment_intents", {"currency": "usd"}, status=400)
    api.call("POST", f"payment_intents/{succeeded['id']}/capture", status=400)


def test_customers_methods_setup_intents_refunds_balance_and_disputes_conform(api):
    customer = api.call("POST", "customers", {"email": "x@example.com", "metadata[a]": "b"})
    method = api.call(
        "POST",
        "payment_methods",
        {"type": "card", "card[number]": "4242424242424242", "card[exp_month]": "5", "card[exp_year]": "2041"},
    )
    api.call("POST", f"payment_methods/{method['id']}/attach", {"customer": customer["id"]})
    api.call(
        "POST",
        "setup_intents",
        {
            "customer": customer["id"],
            "payment_method": "pm_card_visa",
            "confirm": "true",
            "payment_method_types[0]": "card",
        },
    )
    api.call(
        "POST",
        "setup_intents",
        {
            "customer": customer["id"],
            "payment_method": "pm_card_chargeDeclined",
            "confirm": "true",
            "payment_method_types[0]": "card",
        },
        status=402,
    )
    api.call("GET", f"customers/{customer['id']}/payment_methods")
    paid = intent(api, "pm_card_refundFail")
    refund = api.call("POST", "refunds", {"payment_intent": paid["id"], "amount": "300"})
    stripe_refund_advance(refund["id"])
    api.call("GET", f"refunds/{refund['id']}", {"expand[0]": "charge", "expand[1]": "balance_transaction"})
    dispute = stripe_dispute_create(StripeCharge.objects.get(stripe_id=paid["latest_charge"]))
    api.call("GET", f"disputes/{dispute.stripe_id}")
    api.call("GET", "balance_transactions", {"expand[0]": "data.source"})
    api.call("POST", "webhook_endpoints", {"url": "https://shop.example/h", "enabled_events[0]": "*"})
    api.call("GET", "webhook_endpoints")
    events = api.call("GET", "events", {"limit": "100"})
    assert {event["type"] for event in events["data"]} >= {
        "refund.failed",
        "charge.dispute.created",
        "setup_intent.setup_failed",
    }
    api.call("DELETE", f"customers/{customer['id']}")
    api.call("GET", f"customers/{customer['id']}")
