"""Exactly once under real faults on our side for the gateway-run (Authorize.Net ARB) subscription
paths: the create of its schedule, the pause that cancels it and the resume that makes a new one.
The fault (broker stopped, database connections terminated, the worker killed) strikes while the
gateway holds its answer, after it did the work; the client retries with the same key until it has
a final answer. Always: one schedule running, ours on it, no key left in progress. See test_payments
for the faults.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import requests

from apps.audit.actors import Actor
from apps.customers.services import customer_create, payment_method_add
from apps.gateways.base import Card
from apps.sandbox.models import AnetSubscription
from apps.subscriptions.models import Subscription
from apps.subscriptions.services import plan_create
from tests.exactly_once.helpers import FAULTS, assert_key_completed, retry_until_final, send_under_fault
from tests.faultlab import Client

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

ACTOR = Actor.system("tests")
ACTIVE, CANCELED = AnetSubscription.Status.ACTIVE, AnetSubscription.Status.CANCELED


@pytest.fixture(scope="module")
def app_env() -> dict[str, str]:
    # A killed worker's hold on the subscription runs out as its key's lease does (4 s here): then
    # the retry takes the subscription over and the gateway answers its create with the schedule.
    return {"BILLING_CLAIM_SECONDS": "6"}


@pytest.fixture
def customer(merchant: Any, anet_account: Any) -> Any:
    customer = customer_create(merchant=merchant, email="ada@example.com", name="Ada Lovelace", actor=ACTOR)
    payment_method_add(
        customer=customer, livemode=False, payment=Card("4111111111111111", 12, 2030, "123"), actor=ACTOR
    )
    return customer


@pytest.fixture
def plan(merchant: Any) -> Any:
    return plan_create(
        merchant=merchant, name="Pro", amount=2000, currency="USD", interval="month", billing_mode="gateway",
        actor=ACTOR,
    )  # fmt: skip


def running() -> list[str]:
    return [schedule.subscription_id for schedule in AnetSubscription.objects.filter(status=ACTIVE)]


def subscribed(http: Client, customer: Any, plan: Any) -> Subscription:
    body = {"customer": customer.public_id, "plan": plan.public_id}
    response = http.post("/api/v1/subscriptions", body, key=f"setup-{uuid.uuid4()}")
    assert response.status_code == 201, response.text
    return Subscription.objects.get(public_id=response.json()["id"])


@pytest.mark.parametrize("fault", FAULTS)
def test_subscription_create(fault, http: Client, customer, plan, sandbox_fault, listening, app_server, app_redis):
    key = f"subscribe-{uuid.uuid4()}"
    sandbox_fault("hang_after", 3000, match="ARBCreateSubscriptionRequest")

    def send() -> requests.Response:
        return http.post("/api/v1/subscriptions", {"customer": customer.public_id, "plan": plan.public_id}, key=key)

    first = send_under_fault(
        send, operation="ARBCreateSubscription", fault=fault, app_server=app_server, app_redis=app_redis,
        done=AnetSubscription.objects.exists,
    )  # fmt: skip
    final = retry_until_final(send)

    assert final.status_code == 201, (first if isinstance(first, Exception) else first.text, final.text)
    assert final.json()["status"] == "active", final.text
    subscription = Subscription.objects.get()
    assert final.json()["id"] == subscription.public_id
    if fault != "kill":
        assert (first.status_code, first.json()["id"]) == (201, subscription.public_id), first.text
    assert running() == [subscription.gateway_subscription_id]
    assert AnetSubscription.objects.count() == 1
    assert_key_completed(key)


@pytest.mark.parametrize("fault", FAULTS)
def test_pause(fault, http: Client, customer, plan, sandbox_fault, listening, app_server, app_redis):
    subscription = subscribed(http, customer, plan)
    key = f"pause-{uuid.uuid4()}"
    sandbox_fault("hang_after", 3000, match="ARBCancelSubscriptionRequest")

    def send() -> requests.Response:
        return http.post(f"/api/v1/subscriptions/{subscription.public_id}/pause", {}, key=key)

    first = send_under_fault(
        send, operation="ARBCancelSubscription", fault=fault, app_server=app_server, app_redis=app_redis,
        done=lambda: not running(),
    )  # fmt: skip
    final = retry_until_final(send)

    assert (final.status_code, final.json()["status"]) == (200, "paused"), final.text
    if fault != "kill":
        assert (first.status_code, first.json()["status"]) == (200, "paused"), first.text
    subscription.refresh_from_db()
    assert (subscription.status, subscription.billing_claimed_until) == ("paused", None)
    assert (running(), AnetSubscription.objects.count()) == ([], 1)
    assert_key_completed(key)


@pytest.mark.parametrize("fault", FAULTS)
def test_resume(fault, http: Client, customer, plan, sandbox_fault, listening, app_server, app_redis):
    subscription = subscribed(http, customer, plan)
    paused = http.post(f"/api/v1/subscriptions/{subscription.public_id}/pause", {}, key=f"pause-{uuid.uuid4()}")
    assert paused.status_code == 200, paused.text
    key = f"resume-{uuid.uuid4()}"
    sandbox_fault("hang_after", 3000, match="ARBCreateSubscriptionRequest")

    def send() -> requests.Response:
        return http.post(f"/api/v1/subscriptions/{subscription.public_id}/resume", {}, key=key)

    first = send_under_fault(
        send, operation="ARBCreateSubscription", fault=fault, app_server=app_server, app_redis=app_redis,
        done=lambda: len(running()) == 1,
    )  # fmt: skip
    final = retry_until_final(send)

    assert (final.status_code, final.json()["status"]) == (200, "active"), final.text
    if fault != "kill":
        assert (first.status_code, first.json()["status"]) == (200, "active"), first.text
    subscription.refresh_from_db()
    assert (subscription.status, subscription.billing_claimed_until) == ("active", None)
    assert running() == [subscription.gateway_subscription_id]
    assert AnetSubscription.objects.count() == 2  # the paused one, cancelled, and the resume's
    assert_key_completed(key)
