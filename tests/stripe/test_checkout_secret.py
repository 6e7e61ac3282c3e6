"""The answer a Stripe checkout's start keeps for an Idempotency-Key replay holds no client secret
(whoever holds it can confirm the intent); the replay reads it from Stripe again."""

from __future__ import annotations

import json
from typing import Any

import pytest

from apps.api.models import IdempotencyRecord
from apps.catalog.models import CheckoutOrder
from apps.catalog.services import price_create, product_create
from apps.payments.models import Payment

from .conftest import ACTOR

pytestmark = pytest.mark.django_db(transaction=True)


def start(publishable: Any, price: Any, *, quantity: int, key: str) -> Any:
    body = {"price": price.public_id, "quantity": quantity, "customer": {"email": "lea@example.com"}}
    return publishable.post("/api/v1/checkout/stripe/payment-intents", body, format="json", HTTP_IDEMPOTENCY_KEY=key)


@pytest.fixture
def usd_price(merchant: Any) -> Any:
    product = product_create(merchant=merchant, name="Course", description="", actor=ACTOR)
    return price_create(product=product, amount=2_500, currency="USD", actor=ACTOR)


def test_the_stored_answer_holds_no_client_secret_and_its_replay_gives_it_back(
    publishable, usd_price, stripe_account, stripe_sdk
):
    first = start(publishable, usd_price, quantity=2, key="secret-1")
    assert first.status_code == 201, first.json()
    options = first.json()["stripe"]
    secret = options["client_secret"]
    assert secret.startswith(f"{options['payment_intent']}_secret_")

    record = IdempotencyRecord.objects.get(key="secret-1")
    assert record.response_status == 201
    assert secret not in bytes(record.response_content).decode()
    assert secret not in json.dumps(record.response_body)
    assert "client_secret" not in record.response_body["stripe"]
    assert record.response_body["stripe"]["payment_intent"] == options["payment_intent"]

    again = start(publishable, usd_price, quantity=2, key="secret-1")

    assert again.status_code == 201 and again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert list(again.json()["stripe"]) == list(options)  # the secret where it was first sent
    assert stripe_sdk.v1.payment_intents.retrieve(options["payment_intent"]).client_secret == secret
    assert CheckoutOrder.objects.count() == 1 and Payment.objects.count() == 1


def test_a_replay_while_stripe_is_unreachable_is_a_503_and_the_stored_answer_stays(
    publishable, usd_price, stripe_account, settings
):
    first = start(publishable, usd_price, quantity=2, key="secret-2")
    assert first.status_code == 201, first.json()
    reachable = settings.STRIPE_TEST_API_BASE
    settings.STRIPE_TEST_API_BASE = "http://127.0.0.1:9"  # nothing listens: connection refused

    unreachable = start(publishable, usd_price, quantity=2, key="secret-2")

    assert unreachable.status_code == 503, unreachable.json()
    assert unreachable.json()["error"]["code"] == "gateway_unavailable"
    settings.STRIPE_TEST_API_BASE = reachable
    again = start(publishable, usd_price, quantity=2, key="secret-2")
    assert again.status_code == 201 and again["Idempotent-Replayed"] == "true"
    assert again.json() == first.json()
    assert CheckoutOrder.objects.count() == 1 and Payment.objects.count() == 1


def test_records_stored_with_the_secret_before_lose_it_and_still_replay_it(
    publishable, usd_price, stripe_account, stripe_sdk
):
    """Migration api 0006: a record stored before secrets were held back (secret in its body and
    its bytes) is scrubbed; its replay then reads the secret from Stripe again."""
    from importlib import import_module

    from django.apps import apps

    first = start(publishable, usd_price, quantity=1, key="secret-old")
    assert first.status_code == 201, first.json()
    record = IdempotencyRecord.objects.get(key="secret-old")
    record.response_body, record.response_content = first.json(), first.content  # as stored before
    record.save(update_fields=["response_body", "response_content"])

    import_module("apps.api.migrations.0006_scrub_stripe_client_secrets").scrub(apps, None)

    record.refresh_from_db()
    secret = first.json()["stripe"]["client_secret"]
    assert secret not in json.dumps(record.response_body) and secret.encode() not in bytes(record.response_content)
    replay = start(publishable, usd_price, quantity=1, key="secret-old")
    assert (replay.status_code, replay.json()) == (201, first.json())
