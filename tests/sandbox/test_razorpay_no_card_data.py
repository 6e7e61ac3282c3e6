"""The Razorpay sandbox keeps no card number or CVV: not in the database, not in the logs."""

from __future__ import annotations

import pytest
import requests
from django.conf import settings

from apps.sandbox.razorpay.cards import TEST_CARDS
from tests.helpers import suite_logs
from tests.sandbox.razorpay_helpers import sdk_client
from tests.test_zz_no_card_data import CVV_IN_CONTEXT, database_dump

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.last, pytest.mark.slow]


def test_checkout_keeps_only_network_and_last_four(rzp_sandbox):
    client = sdk_client(rzp_sandbox)
    for number in sorted(TEST_CARDS):
        order = client.order.create({"amount": 1234, "currency": "INR"})
        requests.post(
            f"{settings.RAZORPAY_TEST_API_BASE}/checkout/v1/payments",
            json={"key_id": rzp_sandbox.key_id, "order_id": order["id"],
                  "card": {"number": number, "expiry_month": 12, "expiry_year": 2035, "cvv": "7319"[: 4 if len(number) == 15 else 3]}},
            timeout=10,
        )  # fmt: skip

    dump = database_dump()
    logs = suite_logs()

    assert "sandbox_rzppayment" in dump
    for number in TEST_CARDS:
        assert number not in dump, f"card {number} found in the database"
        assert number not in logs, f"card {number} found in the logs"
    assert not CVV_IN_CONTEXT.search(dump)
    assert not CVV_IN_CONTEXT.search(logs)
