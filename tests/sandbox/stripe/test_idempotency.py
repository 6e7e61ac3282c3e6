"""The Stripe sandbox's idempotency (Stripe's semantics), request ids and authentication."""

from __future__ import annotations

import threading
import time

import pytest
import requests
import stripe
from django.conf import settings

from apps.sandbox.models import SandboxCall, StripeCharge, StripeIdempotencyKey, StripePaymentIntent
from apps.sandbox.stripe.services import stripe_account_create

pytestmark = pytest.mark.django_db(transaction=True)

CREATE = {
    "amount": 1000,
    "currency": "usd",
    "payment_method": "pm_card_visa",
    "confirm": True,
    "payment_method_types": ["card"],
}


def sdk(key):
    return stripe.StripeClient(key, base_addresses={"api": settings.STRIPE_TEST_API_BASE}, max_network_retries=0)


@pytest.fixture
def client(stripe_sandbox):
    return sdk(stripe_sandbox.secret_key)


def raw(account, method, path, **kwargs):
    headers = {"Authorization": f"Bearer {account.secret_key}", **kwargs.pop("headers", {})}
    return requests.request(method, f"{settings.STRIPE_TEST_API_BASE}/v1/{path}", headers=headers, timeout=10, **kwargs)


def test_a_repeat_with_the_same_key_and_params_replays_the_first_answer(client, stripe_sandbox):
    first = client.v1.payment_intents.create(params=CREATE, options={"idempotency_key": "order-1"})
    again = client.v1.payment_intents.create(params=CREATE, options={"idempotency_key": "order-1"})

    assert again.id == first.id and again.latest_charge == first.latest_charge
    assert again.last_response.headers["Idempotent-Replayed"] == "true"
    assert "Idempotent-Replayed" not in first.last_response.headers
    assert again.last_response.request_id != first.last_response.request_id
    assert StripePaymentIntent.objects.count() == 1 and StripeCharge.objects.count() == 1
    assert SandboxCall.objects.filter(operation="payment_intents.create").count() == 1


def test_a_decline_is_replayed_as_the_same_402(client):
    params = {**CREATE, "payment_method": "pm_card_chargeDeclinedInsufficientFunds"}
    errors = []
    for _ in range(2):
        with pytest.raises(stripe.CardError) as raised:
            client.v1.payment_intents.create(params=params, options={"idempotency_key": "declined-1"})
        errors.append(raised.value)

    assert errors[0].json_body == errors[1].json_body
    assert errors[1].headers["Idempotent-Replayed"] == "true"
    assert StripeCharge.objects.count() == 1


def test_the_same_key_with_other_params_is_an_idempotency_error(client):
    client.v1.payment_intents.create(params=CREATE, options={"idempotency_key": "order-2"})

    with pytest.raises(stripe.IdempotencyError) as raised:
        client.v1.payment_intents.create(params={**CREATE, "amount": 2000}, options={"idempotency_key": "order-2"})

    assert raised.value.http_status == 400
    assert raised.value.error.type == "idempotency_error"
    assert raised.value.user_message.startswith(
        "Keys for idempotent requests can only be used with the same parameters they were first used with."
    )
    assert StripePaymentIntent.objects.count() == 1


def test_a_validation_error_is_not_stored_so_the_key_can_be_used_again(client):
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.payment_intents.create(params={"currency": "usd"}, options={"idempotency_key": "order-3"})

    created = client.v1.payment_intents.create(params=CREATE, options={"idempotency_key": "order-3"})

    assert created.status == "succeeded"
    assert StripeIdempotencyKey.objects.get(key="order-3").status_code == 200


def test_a_repeat_while_the_first_is_still_running_gets_409(client, sandbox_fault):
    sandbox_fault("latency", value=1500, match="payment_intents.create", gateway="stripe")
    results = {}

    def first():
        results["first"] = client.v1.payment_intents.create(params=CREATE, options={"idempotency_key": "slow-1"})

    thread = threading.Thread(target=first)
    thread.start()
    time.sleep(0.5)
    with pytest.raises(stripe.APIError) as raised:
        client.v1.payment_intents.create(params=CREATE, options={"idempotency_key": "slow-1"})
    thread.join(10)

    assert raised.value.http_status == 409 and raised.value.error.code == "idempotency_key_in_use"
    assert raised.value.headers["Stripe-Should-Retry"] == "true"
    assert results["first"].status == "succeeded"
    replayed = client.v1.payment_intents.create(params=CREATE, options={"idempotency_key": "slow-1"})
    assert replayed.id == results["first"].id
    assert StripePaymentIntent.objects.count() == 1


def test_keys_belong_to_their_account(client):
    other = sdk(stripe_account_create().secret_key)

    mine = client.v1.payment_intents.create(params=CREATE, options={"idempotency_key": "shared"})
    theirs = other.v1.payment_intents.create(params=CREATE, options={"idempotency_key": "shared"})

    assert mine.id != theirs.id
    with pytest.raises(stripe.InvalidRequestError):
        other.v1.payment_intents.retrieve(mine.id)


def test_every_answer_has_a_request_id_and_the_version_of_its_shapes(stripe_sandbox):
    ok = raw(stripe_sandbox, "GET", "payment_intents")
    not_found = raw(stripe_sandbox, "GET", "nothing/here")
    unauthorized = requests.get(f"{settings.STRIPE_TEST_API_BASE}/v1/payment_intents", timeout=10)

    for response in (ok, not_found, unauthorized):
        assert response.headers["Request-Id"].startswith("req_")
        assert response.headers["Stripe-Version"] == "2023-08-16"
    assert not_found.status_code == 404
    assert not_found.json()["error"]["message"].startswith("Unrecognized request URL (GET: /v1/nothing/here)")


def test_a_bad_or_missing_key_is_401_and_the_sdk_raises_authentication_error(stripe_sandbox):
    with pytest.raises(stripe.AuthenticationError):
        sdk("sk_test_wrongwrongwrongwrong").v1.payment_intents.list()
    bad = requests.get(
        f"{settings.STRIPE_TEST_API_BASE}/v1/customers",
        timeout=10,
        headers={"Authorization": "Bearer sk_test_wrongwrongwrongwrong"},
    )
    missing = requests.get(f"{settings.STRIPE_TEST_API_BASE}/v1/customers", timeout=10)
    basic = requests.get(
        f"{settings.STRIPE_TEST_API_BASE}/v1/customers", timeout=10, auth=(stripe_sandbox.secret_key, "")
    )

    assert bad.status_code == 401 and bad.json()["error"]["type"] == "invalid_request_error"
    assert bad.json()["error"]["message"].startswith("Invalid API Key provided: sk_test_")
    assert "wrongwrongwrong" not in bad.json()["error"]["message"]
    assert missing.status_code == 401 and missing.json()["error"]["message"].startswith("You did not provide")
    assert basic.status_code == 200


def test_bracket_params_in_a_raw_form_body_and_query_string(stripe_sandbox):
    created = raw(
        stripe_sandbox,
        "POST",
        "payment_intents",
        data="amount=1500&currency=usd&metadata[order]=o-1&payment_method_types[]=card&confirm=false",
        headers={"Content-Type": "application/x-www-form-urlencoded"},
    )
    listed = raw(stripe_sandbox, "GET", "payment_intents?limit=1&expand[]=data.customer")

    assert created.status_code == 200, created.text
    assert created.json()["metadata"] == {"order": "o-1"} and created.json()["payment_method_types"] == ["card"]
    assert listed.json()["data"][0]["id"] == created.json()["id"]
