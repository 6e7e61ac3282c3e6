"""Exactly once under real faults on our side for saving a card at Authorize.Net (the customer's
profile and its payment profile made by createCustomerProfile, a second card by
createCustomerPaymentProfile), and for changing a gateway-run (ARB) subscription's plan. The fault
strikes while the gateway holds its answer, after it did the work; the client retries with the
same key. Always: one profile and one payment profile per card at the gateway, one saved card of
ours, the schedule changed once, no key left in progress. See test_payments for the faults.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import requests

from apps.audit.actors import Actor
from apps.customers.models import PaymentMethod
from apps.customers.services import customer_create, payment_method_add
from apps.gateways.base import Card
from apps.sandbox.models import AnetCustomerProfile, AnetPaymentProfile, AnetSubscription
from apps.subscriptions.models import Subscription
from apps.subscriptions.services import plan_create
from tests.exactly_once.helpers import FAULTS, assert_key_completed, retry_until_final, send_under_fault
from tests.faultlab import Client

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

ACTOR = Actor.system("tests")
VISA = {"type": "card", "number": "4111111111111111", "exp_month": 12, "exp_year": 2030, "cvc": "123"}
MASTERCARD = {"type": "card", "number": "5424000000000015", "exp_month": 11, "exp_year": 2031, "cvc": "456"}


@pytest.fixture(scope="module")
def app_env() -> dict[str, str]:
    return {"BILLING_CLAIM_SECONDS": "6"}  # a killed worker's hold runs out as its key's lease does


@pytest.fixture
def customer(merchant: Any, anet_account: Any) -> Any:
    return customer_create(merchant=merchant, email="ada@example.com", name="Ada Lovelace", actor=ACTOR)


def save_card(http: Client, customer: Any, card: dict[str, Any], key: str) -> requests.Response:
    return http.post(f"/api/v1/customers/{customer.public_id}/payment-methods", card, key=key)


@pytest.mark.parametrize("fault", FAULTS)
def test_first_card_saved(fault, http: Client, customer, sandbox_fault, listening, app_server, app_redis):
    key = f"card-{uuid.uuid4()}"
    sandbox_fault("hang_after", 3000, match="createCustomerProfileRequest")

    def send() -> requests.Response:
        return save_card(http, customer, VISA, key)

    first = send_under_fault(
        send, operation="createCustomerProfile", fault=fault, app_server=app_server, app_redis=app_redis,
        done=AnetPaymentProfile.objects.exists,
    )  # fmt: skip
    final = retry_until_final(send)

    assert final.status_code == 201, final.text
    saved = PaymentMethod.objects.get()
    assert (final.json()["id"], saved.status) == (saved.public_id, "active")
    if fault != "kill":
        assert (first.status_code, first.json()["id"]) == (201, saved.public_id), first.text
    assert (AnetCustomerProfile.objects.count(), AnetPaymentProfile.objects.count()) == (1, 1)
    assert_key_completed(key)


@pytest.mark.parametrize("fault", FAULTS)
def test_second_card_saved(fault, http: Client, customer, sandbox_fault, listening, app_server, app_redis):
    saved = save_card(http, customer, VISA, f"setup-{uuid.uuid4()}")
    assert saved.status_code == 201, saved.text
    key = f"card-{uuid.uuid4()}"
    sandbox_fault("hang_after", 3000, match="createCustomerPaymentProfileRequest")

    def send() -> requests.Response:
        return save_card(http, customer, MASTERCARD, key)

    first = send_under_fault(
        send, operation="createCustomerPaymentProfile", fault=fault, app_server=app_server, app_redis=app_redis,
        done=lambda: AnetPaymentProfile.objects.count() == 2,
    )  # fmt: skip
    final = retry_until_final(send)

    assert final.status_code == 201, final.text
    if fault != "kill":
        assert (first.status_code, first.json()["id"]) == (201, final.json()["id"]), first.text
    assert (AnetCustomerProfile.objects.count(), AnetPaymentProfile.objects.count()) == (1, 2)
    assert PaymentMethod.objects.count() == 2
    assert_key_completed(key)


@pytest.mark.parametrize("fault", FAULTS)
def test_arb_plan_change(fault, http: Client, merchant, customer, sandbox_fault, listening, app_server, app_redis):
    payment_method_add(
        customer=customer, livemode=False, payment=Card("4111111111111111", 12, 2030, "123"), actor=ACTOR
    )
    plans = [
        plan_create(merchant=merchant, name=name, amount=amount, currency="USD", interval="month",
                    billing_mode="gateway", actor=ACTOR)
        for name, amount in (("Pro", 2000), ("Gold", 3500))
    ]  # fmt: skip
    subscribed = http.post(
        "/api/v1/subscriptions", {"customer": customer.public_id, "plan": plans[0].public_id}, key=f"s-{uuid.uuid4()}"
    )
    assert subscribed.status_code == 201, subscribed.text
    subscription = Subscription.objects.get()
    key = f"change-{uuid.uuid4()}"
    sandbox_fault("hang_after", 3000, match="ARBUpdateSubscriptionRequest")

    def send() -> requests.Response:
        return http.patch(f"/api/v1/subscriptions/{subscription.public_id}", {"plan": plans[1].public_id}, key=key)

    first = send_under_fault(
        send, operation="ARBUpdateSubscription", fault=fault, app_server=app_server, app_redis=app_redis,
        done=lambda: AnetSubscription.objects.get().amount == 3500,
    )  # fmt: skip
    final = retry_until_final(send)

    assert final.status_code == 200, final.text
    if fault != "kill":
        assert first.status_code == 200, first.text
    subscription.refresh_from_db()
    assert (subscription.plan_id, subscription.pending_plan_id, subscription.billing_claimed_until) == (
        plans[1].pk, None, None,
    )  # fmt: skip
    schedule = AnetSubscription.objects.get()
    assert (schedule.status, schedule.amount, schedule.subscription_id) == (
        "active", 3500, subscription.gateway_subscription_id,
    )  # fmt: skip
    assert_key_completed(key)
