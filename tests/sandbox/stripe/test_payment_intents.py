"""The Stripe sandbox's PaymentIntents, driven by the official SDK over real HTTP."""

from __future__ import annotations

import json

import pytest
import stripe
from django.conf import settings

from apps.sandbox.models import (
    SandboxCall,
    StripeCharge,
    StripeEvent,
    StripeIdempotencyKey,
    StripePaymentIntent,
    StripePaymentMethod,
)

pytestmark = pytest.mark.django_db(transaction=True)

CARDS_ONLY = {"payment_method_types": ["card"]}


def sdk(account, key=None):
    return stripe.StripeClient(
        key or account.secret_key, base_addresses={"api": settings.STRIPE_TEST_API_BASE}, max_network_retries=0
    )


@pytest.fixture
def client(stripe_sandbox):
    return sdk(stripe_sandbox)


def pay(client, payment_method="pm_card_visa", amount=1000, **extra):
    params = {"amount": amount, "currency": "usd", "payment_method": payment_method, "confirm": True, **CARDS_ONLY}
    return client.v1.payment_intents.create(params={**params, **extra})


def event_types(intent_id):
    return [
        event.type
        for event in StripeEvent.objects.order_by("pk")
        if event.data["object"].get("id") == intent_id or event.data["object"].get("payment_intent") == intent_id
    ]


# --- creating and confirming ----------------------------------------------------------------------


def test_a_confirmed_test_card_succeeds_with_a_captured_charge_and_its_balance_transaction(client, stripe_sandbox):
    intent = pay(client, metadata={"reference": "pay_1"}, description="Order 1", expand=["latest_charge"])

    assert intent.object == "payment_intent" and intent.id.startswith("pi_")
    assert intent.client_secret.startswith(f"{intent.id}_secret_")
    assert (intent.status, intent.amount_received, intent.amount_capturable) == ("succeeded", 1000, 0)
    assert intent.livemode is False and isinstance(intent.created, int)
    assert intent.metadata.to_dict() == {"reference": "pay_1"}
    assert intent.last_response.request_id.startswith("req_")
    charge = intent.latest_charge
    assert charge.object == "charge" and charge.id.startswith("ch_")
    assert (charge.status, charge.captured, charge.paid, charge.amount_captured) == ("succeeded", True, True, 1000)
    assert charge.payment_method_details.card.brand == "visa"
    assert charge.payment_method_details.card.last4 == "4242"
    assert charge.balance_transaction.startswith("txn_")
    assert charge.outcome.type == "authorized"
    assert event_types(intent.id) == ["payment_intent.created", "charge.succeeded", "payment_intent.succeeded"]
    assert list(SandboxCall.objects.values_list("gateway", "operation", "account")) == [
        ("stripe", "payment_intents.create", stripe_sandbox.stripe_id)
    ]


def test_a_raw_card_in_payment_method_data_is_kept_as_brand_last4_expiry_and_fingerprint_only(client):
    intent = client.v1.payment_intents.create(
        params={
            "amount": 2000,
            "currency": "usd",
            "confirm": True,
            "payment_method_data": {
                "type": "card",
                "card": {"number": "5555555555554444", "exp_month": 12, "exp_year": 2034, "cvc": "123"},
            },
            **CARDS_ONLY,
        }
    )

    assert intent.status == "succeeded"
    method = StripePaymentMethod.objects.get()
    assert (method.brand, method.last4, method.exp_month, method.exp_year) == ("mastercard", "4444", 12, 2034)
    assert len(method.fingerprint) == 16
    stored = json.dumps(list(StripeEvent.objects.values_list("data", flat=True)))
    stored += b"".join(bytes(body) for body in StripeIdempotencyKey.objects.values_list("body", flat=True)).decode()
    assert "5555555555554444" not in stored and '"123"' not in stored


@pytest.mark.parametrize(
    ("payment_method", "code", "decline_code"),
    [
        ("pm_card_chargeDeclined", "card_declined", "generic_decline"),
        ("pm_card_chargeDeclinedInsufficientFunds", "card_declined", "insufficient_funds"),
        ("pm_card_chargeDeclinedExpiredCard", "expired_card", "expired_card"),
        ("pm_card_chargeDeclinedIncorrectCvc", "incorrect_cvc", "incorrect_cvc"),
        ("pm_card_chargeDeclinedProcessingError", "processing_error", "processing_error"),
    ],
)
def test_declined_test_cards_answer_402_and_leave_the_intent_awaiting_a_new_card(
    client, payment_method, code, decline_code
):
    with pytest.raises(stripe.CardError) as raised:
        pay(client, payment_method)

    error = raised.value
    assert error.http_status == 402 and error.code == code
    assert error.error.decline_code == decline_code and error.error.type == "card_error"
    embedded = error.error.payment_intent
    intent = client.v1.payment_intents.retrieve(embedded.id)
    assert intent.status == "requires_payment_method" and intent.payment_method is None
    assert intent.last_payment_error.code == code and intent.last_payment_error.decline_code == decline_code
    charge = client.v1.charges.retrieve(intent.latest_charge)
    assert (charge.status, charge.paid, charge.captured, charge.failure_code) == ("failed", False, False, code)
    assert charge.balance_transaction is None
    assert event_types(intent.id)[-2:] == ["charge.failed", "payment_intent.payment_failed"]


@pytest.mark.parametrize(
    ("number", "code"),
    [
        ("4000000000000002", "card_declined"),
        ("4000000000000119", "processing_error"),
        ("4000000000000069", "expired_card"),
        ("4000000000000127", "incorrect_cvc"),
    ],
)
def test_declining_raw_card_numbers_decline_as_their_pm_card_twins(client, number, code):
    card = {"number": number, "exp_month": 1, "exp_year": 2040, "cvc": "314"}
    with pytest.raises(stripe.CardError) as raised:
        pay(client, payment_method=None, payment_method_data={"type": "card", "card": card})

    assert raised.value.code == code
    assert StripeCharge.objects.get().status == "failed"


@pytest.mark.parametrize(
    ("card", "code", "param"),
    [
        ({"number": "4242424242424241", "exp_month": 1, "exp_year": 2040}, "incorrect_number", "number"),
        ({"number": "4242424242424242", "exp_month": 1, "exp_year": 2020}, "invalid_expiry_year", "exp_year"),
        ({"number": "4242424242424242", "exp_month": 13, "exp_year": 2040}, "invalid_expiry_month", "exp_month"),
        ({"number": "4242424242424242", "exp_month": 1, "exp_year": 2040, "cvc": "12a"}, "invalid_cvc", "cvc"),
    ],
)
def test_invalid_cards_are_refused_before_any_intent_exists(client, card, code, param):
    with pytest.raises(stripe.CardError) as raised:
        pay(client, payment_method=None, payment_method_data={"type": "card", "card": card})

    assert (raised.value.code, raised.value.param) == (code, param)
    assert not StripePaymentIntent.objects.exists() and not StripePaymentMethod.objects.exists()


def test_an_intent_created_without_confirm_is_confirmed_later(client):
    intent = client.v1.payment_intents.create(params={"amount": 1500, "currency": "eur", **CARDS_ONLY})
    assert (intent.status, intent.payment_method, intent.latest_charge) == ("requires_payment_method", None, None)

    confirmed = client.v1.payment_intents.confirm(intent.id, params={"payment_method": "pm_card_amex"})

    assert confirmed.status == "succeeded" and confirmed.payment_method.startswith("pm_")
    assert client.v1.charges.retrieve(confirmed.latest_charge).payment_method_details.card.brand == "amex"


def test_automatic_payment_methods_are_the_default_and_need_a_return_url_to_confirm(client):
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.payment_intents.create(
            params={"amount": 1000, "currency": "usd", "payment_method": "pm_card_visa", "confirm": True}
        )
    assert raised.value.param == "return_url" and "return_url" in str(raised.value)
    assert not StripePaymentIntent.objects.exists()

    intent = client.v1.payment_intents.create(
        params={
            "amount": 1000,
            "currency": "usd",
            "payment_method": "pm_card_visa",
            "confirm": True,
            "automatic_payment_methods": {"enabled": True, "allow_redirects": "never"},
        }
    )
    assert intent.status == "succeeded"
    assert intent.automatic_payment_methods.to_dict() == {"allow_redirects": "never", "enabled": True}


# --- manual capture, cancel, update ---------------------------------------------------------------


def test_manual_capture_authorizes_then_a_partial_capture_releases_the_rest(client):
    intent = pay(client, amount=1000, capture_method="manual")
    assert (intent.status, intent.amount_capturable, intent.amount_received) == ("requires_capture", 1000, 0)
    charge = client.v1.charges.retrieve(intent.latest_charge)
    assert (charge.captured, charge.status, charge.balance_transaction) == (False, "succeeded", None)

    with pytest.raises(stripe.InvalidRequestError) as too_much:
        client.v1.payment_intents.capture(intent.id, params={"amount_to_capture": 1001})
    captured = client.v1.payment_intents.capture(intent.id, params={"amount_to_capture": 600})

    assert too_much.value.param == "amount_to_capture"
    assert (captured.status, captured.amount_received, captured.amount_capturable) == ("succeeded", 600, 0)
    charge = client.v1.charges.retrieve(intent.latest_charge, params={"expand": ["balance_transaction"]})
    assert (charge.captured, charge.amount_captured, charge.amount_refunded) == (True, 600, 400)
    assert charge.balance_transaction.amount == 600
    with pytest.raises(stripe.InvalidRequestError) as again:
        client.v1.payment_intents.capture(intent.id)
    assert again.value.code == "payment_intent_unexpected_state"
    assert again.value.error.payment_intent.status == "succeeded"
    assert event_types(intent.id)[-3:] == [
        "payment_intent.amount_capturable_updated",
        "charge.captured",
        "payment_intent.succeeded",
    ]


def test_canceling_an_uncaptured_intent_is_the_void(client):
    intent = pay(client, capture_method="manual")

    canceled = client.v1.payment_intents.cancel(intent.id, params={"cancellation_reason": "requested_by_customer"})

    assert (canceled.status, canceled.cancellation_reason, canceled.amount_capturable) == (
        "canceled",
        "requested_by_customer",
        0,
    )
    assert isinstance(canceled.canceled_at, int)
    charge = client.v1.charges.retrieve(intent.latest_charge)
    assert (charge.refunded, charge.amount_refunded, charge.captured) == (True, 1000, False)
    assert event_types(intent.id)[-2:] == ["charge.refunded", "payment_intent.canceled"]
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.payment_intents.cancel(intent.id)
    assert raised.value.code == "payment_intent_unexpected_state"


def test_a_succeeded_intent_cannot_be_canceled_or_confirmed_again(client):
    intent = pay(client)

    for action in (client.v1.payment_intents.cancel, client.v1.payment_intents.confirm):
        with pytest.raises(stripe.InvalidRequestError) as raised:
            action(intent.id)
        assert raised.value.code == "payment_intent_unexpected_state"


def test_update_changes_metadata_and_description_and_an_empty_value_removes_a_key(client):
    intent = client.v1.payment_intents.create(
        params={"amount": 1000, "currency": "usd", "metadata": {"a": "1", "b": "2"}, **CARDS_ONLY}
    )

    updated = client.v1.payment_intents.update(
        intent.id, params={"metadata": {"a": "", "c": "3"}, "description": "Renamed", "amount": 1200}
    )

    assert updated.metadata.to_dict() == {"b": "2", "c": "3"}
    assert (updated.description, updated.amount) == ("Renamed", 1200)
    assert client.v1.payment_intents.retrieve(intent.id).metadata.to_dict() == {"b": "2", "c": "3"}


# --- lists, search, expand ------------------------------------------------------------------------


def test_lists_are_newest_first_with_cursors_and_has_more(client):
    ids = [client.v1.payment_intents.create(params={"amount": 100 + i, "currency": "usd"}).id for i in range(5)]
    newest_first = ids[::-1]

    first = client.v1.payment_intents.list(params={"limit": 2})
    second = client.v1.payment_intents.list(params={"limit": 2, "starting_after": first.data[-1].id})
    last = client.v1.payment_intents.list(params={"limit": 2, "starting_after": second.data[-1].id})
    back = client.v1.payment_intents.list(params={"limit": 2, "ending_before": last.data[0].id})

    assert (first.object, first.url) == ("list", "/v1/payment_intents")
    assert [i.id for i in first.data] == newest_first[:2] and first.has_more is True
    assert [i.id for i in second.data] == newest_first[2:4] and second.has_more is True
    assert [i.id for i in last.data] == newest_first[4:] and last.has_more is False
    assert [i.id for i in back.data] == newest_first[2:4]
    assert len(client.v1.payment_intents.list().data) == 5  # default limit 10
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.payment_intents.list(params={"limit": 101})
    assert raised.value.param == "limit"


def test_the_list_filters_by_customer(client):
    customer = client.v1.customers.create(params={"email": "a@example.com"})
    mine = client.v1.payment_intents.create(params={"amount": 500, "currency": "usd", "customer": customer.id})
    client.v1.payment_intents.create(params={"amount": 500, "currency": "usd"})

    listed = client.v1.payment_intents.list(params={"customer": customer.id})

    assert [intent.id for intent in listed.data] == [mine.id]


def test_search_finds_intents_by_metadata_clauses_joined_with_and(client):
    wanted = client.v1.payment_intents.create(
        params={"amount": 700, "currency": "usd", "metadata": {"reference": "X1", "shop": "north"}}
    )
    client.v1.payment_intents.create(params={"amount": 700, "currency": "usd", "metadata": {"reference": "X1"}})
    client.v1.payment_intents.create(params={"amount": 700, "currency": "usd", "metadata": {"reference": "X2"}})

    one = client.v1.payment_intents.search(params={"query": "metadata['reference']:'X1' AND metadata['shop']:'north'"})
    both = client.v1.payment_intents.search(params={"query": "metadata['reference']:'X1'", "limit": 1})
    rest = client.v1.payment_intents.search(
        params={"query": "metadata['reference']:'X1'", "limit": 1, "page": both.next_page}
    )

    assert (one.object, one.url) == ("search_result", "/v1/payment_intents/search")
    assert [intent.id for intent in one.data] == [wanted.id] and one.has_more is False and one.next_page is None
    assert both.has_more is True and both.next_page
    assert [intent.id for intent in rest.data] == [wanted.id] and rest.has_more is False
    with pytest.raises(stripe.InvalidRequestError):
        client.v1.payment_intents.search(params={"query": "metadata['reference']:'X1' AND"})


def test_expand_replaces_ids_with_objects_even_nested(client):
    customer = client.v1.customers.create(params={"name": "Ada"})
    intent = pay(client, customer=customer.id)

    expanded = client.v1.payment_intents.retrieve(
        intent.id, params={"expand": ["customer", "payment_method", "latest_charge.balance_transaction"]}
    )
    listed = client.v1.payment_intents.list(params={"expand": ["data.latest_charge"]})

    assert expanded.customer.object == "customer" and expanded.customer.name == "Ada"
    assert expanded.payment_method.object == "payment_method"
    assert expanded.latest_charge.balance_transaction.object == "balance_transaction"
    assert listed.data[0].latest_charge.object == "charge"
    with pytest.raises(stripe.InvalidRequestError) as raised:
        client.v1.payment_intents.retrieve(intent.id, params={"expand": ["amount"]})
    assert raised.value.param == "expand"


# --- errors ---------------------------------------------------------------------------------------


def test_validation_errors_name_the_param(client):
    with pytest.raises(stripe.InvalidRequestError) as missing:
        client.v1.payment_intents.create(params={"currency": "usd"})
    with pytest.raises(stripe.InvalidRequestError) as unknown:
        client.v1.payment_intents.create(params={"amount": 1000, "currency": "usd", "colour": "blue"})
    with pytest.raises(stripe.InvalidRequestError) as small:
        client.v1.payment_intents.create(params={"amount": 10, "currency": "usd"})
    with pytest.raises(stripe.InvalidRequestError) as not_found:
        client.v1.payment_intents.retrieve("pi_nothing")

    assert (missing.value.http_status, missing.value.param, missing.value.code) == (400, "amount", "parameter_missing")
    assert (unknown.value.param, unknown.value.code) == ("colour", "parameter_unknown")
    assert (small.value.param, small.value.code) == ("amount", "amount_too_small")
    assert (not_found.value.http_status, not_found.value.code) == (404, "resource_missing")
    assert not_found.value.user_message == "No such payment_intent: 'pi_nothing'"
    assert not StripePaymentIntent.objects.exists()
