"""Fault injection in the Stripe sandbox (SandboxFault gateway "stripe", matched on the operation)."""

from __future__ import annotations

import time

import pytest
import stripe
from django.conf import settings

from apps.sandbox.models import SandboxCall, StripePaymentIntent

pytestmark = pytest.mark.django_db(transaction=True)

CREATE = {
    "amount": 1000,
    "currency": "usd",
    "payment_method": "pm_card_visa",
    "confirm": True,
    "payment_method_types": ["card"],
}


@pytest.fixture
def client(stripe_sandbox):
    return stripe.StripeClient(
        stripe_sandbox.secret_key, base_addresses={"api": settings.STRIPE_TEST_API_BASE}, max_network_retries=0
    )


@pytest.fixture
def fault(sandbox_fault):
    def queue(kind, value=0, match="payment_intents.create"):
        return sandbox_fault(kind, value=value, match=match, gateway="stripe")

    return queue


def test_an_http_error_answers_stripes_api_error_without_doing_anything(client, fault):
    fault("http_error", 500)

    with pytest.raises(stripe.APIError) as raised:
        client.v1.payment_intents.create(params=CREATE)

    assert raised.value.http_status == 500 and raised.value.error.type == "api_error"
    assert not StripePaymentIntent.objects.exists() and not SandboxCall.objects.exists()
    assert client.v1.payment_intents.create(params=CREATE).status == "succeeded"  # the fault is used up


def test_429_is_a_rate_limit_the_sdk_may_retry(client, fault):
    fault("http_error", 429)

    with pytest.raises(stripe.RateLimitError) as raised:
        client.v1.payment_intents.create(params=CREATE)

    assert raised.value.error.code == "rate_limit" and raised.value.headers["Stripe-Should-Retry"] == "true"


def test_the_sdk_retries_past_a_rate_limit_with_the_same_key(stripe_sandbox, fault):
    fault("http_error", 429)
    retrying = stripe.StripeClient(
        stripe_sandbox.secret_key, base_addresses={"api": settings.STRIPE_TEST_API_BASE}, max_network_retries=1
    )

    intent = retrying.v1.payment_intents.create(params=CREATE)

    assert intent.status == "succeeded" and StripePaymentIntent.objects.count() == 1


def test_a_reset_loses_the_request(client, fault):
    fault("reset")

    with pytest.raises(stripe.APIConnectionError):
        client.v1.payment_intents.create(params=CREATE)

    assert not StripePaymentIntent.objects.exists()


def test_a_dropped_answer_is_found_again_by_retrying_with_the_same_key(client, fault):
    fault("drop_response")

    with pytest.raises(stripe.APIConnectionError):
        client.v1.payment_intents.create(params=CREATE, options={"idempotency_key": "lost-1"})
    replayed = client.v1.payment_intents.create(params=CREATE, options={"idempotency_key": "lost-1"})

    assert StripePaymentIntent.objects.get().stripe_id == replayed.id
    assert replayed.status == "succeeded" and replayed.last_response.headers["Idempotent-Replayed"] == "true"


def test_misreport_declined_answers_a_decline_for_work_that_went_through(client, fault):
    intent = client.v1.payment_intents.create(params={**CREATE, "capture_method": "manual"})
    fault("misreport_declined", match="payment_intents.capture")

    with pytest.raises(stripe.CardError) as raised:
        client.v1.payment_intents.capture(intent.id, options={"idempotency_key": "capture-1"})
    replayed = client.v1.payment_intents.capture(intent.id, options={"idempotency_key": "capture-1"})

    assert raised.value.code == "card_declined"
    assert client.v1.payment_intents.retrieve(intent.id).status == "succeeded"
    assert replayed.status == "succeeded"  # the key replays the truth


@pytest.mark.parametrize("kind", ["latency", "hang_after"])
def test_latency_and_hang_after_slow_the_answer_down(client, fault, kind):
    fault(kind, 400)

    started = time.monotonic()
    intent = client.v1.payment_intents.create(params=CREATE)

    assert intent.status == "succeeded" and time.monotonic() - started >= 0.4
    assert SandboxCall.objects.filter(operation="payment_intents.create").count() == 1
