"""The Stripe adapter through the official SDK against the sandbox: every call it makes, its error
paths, and what our taxonomy makes of them."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any

import pytest

from apps.gateways.base import (
    CaptureRequest,
    Card,
    ChargeRequest,
    OpaqueToken,
    Outcome,
    RefundRequest,
    TransactionState,
    VoidRequest,
)
from apps.gateways.errors import (
    GatewayDeclined,
    GatewayMisconfigured,
    GatewayNotFound,
    GatewayOutcomeUnknown,
    GatewayRetryable,
)
from apps.gateways.registry import gateway_for
from apps.gateways.services import gateway_account_create
from apps.gateways.stripe import PAYMENT_METHOD_DESCRIPTOR
from apps.sandbox.models import SandboxCall

from .conftest import ACTOR

pytestmark = pytest.mark.django_db(transaction=True)

NEXT_YEAR = datetime.now(UTC).year + 1


def ref() -> str:
    return f"ch{uuid.uuid4().hex[:16]}"


def card(number: str = "4242424242424242") -> Card:
    return Card(number, 12, NEXT_YEAR, "123")


def charge(reference: str, payment: Any, *, amount: int = 2_000, **kwargs: Any) -> ChargeRequest:
    return ChargeRequest(reference=reference, amount=amount, currency="USD", payment=payment, **kwargs)


def writes(operation: str) -> int:
    return SandboxCall.objects.filter(gateway="stripe", operation=operation).count()


def test_sale_confirms_a_payment_intent_with_our_reference(stripe_gateway: Any) -> None:
    reference = ref()
    result = stripe_gateway.sale(charge(reference, card()))
    assert result.outcome is Outcome.APPROVED
    assert result.transaction_id.startswith("pi_")
    assert (result.card_brand, result.card_last4) == ("visa", "4242")
    details = stripe_gateway.fetch_transaction(result.transaction_id)
    assert details.state is TransactionState.CAPTURED
    assert (details.settled_amount, details.currency, details.reference) == (2_000, "USD", reference)
    assert writes("payment_intents.create") == 1


def test_test_payment_method_ids_are_charged_like_cards(stripe_gateway: Any) -> None:
    result = stripe_gateway.sale(charge(ref(), OpaqueToken(PAYMENT_METHOD_DESCRIPTOR, "pm_card_mastercard")))
    assert (result.outcome, result.card_brand) == (Outcome.APPROVED, "mastercard")
    with pytest.raises(GatewayDeclined) as refused:
        stripe_gateway.sale(charge(ref(), OpaqueToken("COMMON.ACCEPT.INAPP.PAYMENT", "x")))
    assert refused.value.result.decline_code == "invalid_payment_method"


def test_authorize_then_partial_capture(stripe_gateway: Any) -> None:
    authorized = stripe_gateway.authorize(charge(ref(), card(), amount=5_000))
    assert authorized.outcome is Outcome.APPROVED
    assert stripe_gateway.fetch_transaction(authorized.transaction_id).state is TransactionState.AUTHORIZED
    captured = stripe_gateway.capture(CaptureRequest(ref(), authorized.transaction_id, 3_000, "USD"))
    assert captured.outcome is Outcome.APPROVED
    details = stripe_gateway.fetch_transaction(authorized.transaction_id)
    assert (details.state, details.settled_amount) == (TransactionState.CAPTURED, 3_000)


def test_a_capture_repeated_after_it_happened_is_confirmed_not_refused(stripe_gateway: Any) -> None:
    authorized = stripe_gateway.authorize(charge(ref(), card()))
    stripe_gateway.capture(CaptureRequest(ref(), authorized.transaction_id, 2_000, "USD"))
    again = stripe_gateway.capture(CaptureRequest(ref(), authorized.transaction_id, 2_000, "USD"))
    assert again.outcome is Outcome.APPROVED


def test_void_cancels_the_intent(stripe_gateway: Any) -> None:
    authorized = stripe_gateway.authorize(charge(ref(), card()))
    assert stripe_gateway.void(VoidRequest(ref(), authorized.transaction_id)).outcome is Outcome.APPROVED
    assert stripe_gateway.fetch_transaction(authorized.transaction_id).state is TransactionState.VOIDED
    # Voided already: a repeat is confirmed.
    assert stripe_gateway.void(VoidRequest(ref(), authorized.transaction_id)).outcome is Outcome.APPROVED
    captured = stripe_gateway.sale(charge(ref(), card()))
    with pytest.raises(GatewayDeclined) as refused:
        stripe_gateway.void(VoidRequest(ref(), captured.transaction_id))
    assert refused.value.result.decline_code == "void_refused"


def test_refunds_full_partial_several_and_too_much(stripe_gateway: Any) -> None:
    sale = stripe_gateway.sale(charge(ref(), card(), amount=10_000))
    first_reference = ref()
    first = stripe_gateway.refund(RefundRequest(first_reference, sale.transaction_id, 4_000, "USD"))
    assert first.outcome is Outcome.APPROVED and first.transaction_id.startswith("re_")
    stripe_gateway.refund(RefundRequest(ref(), sale.transaction_id, 5_000, "USD"))
    with pytest.raises(GatewayDeclined) as refused:
        stripe_gateway.refund(RefundRequest(ref(), sale.transaction_id, 2_000, "USD"))
    assert refused.value.result.decline_code == "refund_exceeds_charge"
    stripe_gateway.refund(RefundRequest(ref(), sale.transaction_id, 1_000, "USD"))
    details = stripe_gateway.fetch_transaction(first.transaction_id)
    assert (details.state, details.settled_amount) == (TransactionState.REFUND_SETTLED, 4_000)
    assert details.original_transaction_id == sale.transaction_id
    found = stripe_gateway.find_transaction(first_reference, sale.transaction_id)
    assert found is not None and found.transaction_id == first.transaction_id
    assert stripe_gateway.find_transaction(ref(), sale.transaction_id) is None


@pytest.mark.parametrize(
    ("number", "decline_code"),
    [
        ("4000000000000002", "card_declined"),
        ("4000000000009995", "insufficient_funds"),
        ("4000000000000069", "expired_card"),
        ("4000000000000127", "cvv_mismatch"),
        ("4000000000000119", "processing_error"),
    ],
)
def test_declines_in_our_words(stripe_gateway: Any, number: str, decline_code: str) -> None:
    with pytest.raises(GatewayDeclined) as declined:
        stripe_gateway.sale(charge(ref(), card(number)))
    result = declined.value.result
    assert result.decline_code == decline_code
    assert result.transaction_id.startswith("pi_")  # the intent the decline left behind
    assert stripe_gateway.fetch_transaction(result.transaction_id).state is TransactionState.DECLINED


def test_a_card_asking_for_3d_secure_requires_action(stripe_gateway: Any) -> None:
    result = stripe_gateway.sale(charge(ref(), card("4000000000003220"), return_url="https://shop.example/back"))
    assert result.outcome is Outcome.REQUIRES_ACTION
    assert result.action_url.startswith("http")
    details = stripe_gateway.fetch_transaction(result.transaction_id)
    assert (details.state, details.action_url) == (TransactionState.REQUIRES_ACTION, result.action_url)


def test_off_session_a_card_that_always_authenticates_is_refused(stripe_gateway: Any) -> None:
    with pytest.raises(GatewayDeclined) as declined:
        stripe_gateway.sale(charge(ref(), card("4000002760003184"), off_session=True))
    assert declined.value.result.decline_code == "authentication_required"


def test_a_repeat_with_our_reference_is_the_same_intent(stripe_gateway: Any) -> None:
    reference = ref()
    first = stripe_gateway.sale(charge(reference, card()))
    again = stripe_gateway.sale(charge(reference, card()))
    assert again.transaction_id == first.transaction_id
    with pytest.raises(GatewayMisconfigured, match="idempotency"):  # same key, other parameters
        stripe_gateway.sale(charge(reference, card(), amount=2_001))


def test_a_lost_answer_is_unknown_and_found_by_our_reference(stripe_gateway: Any, sandbox_fault: Any) -> None:
    sandbox_fault("drop_response", match="payment_intents.create", gateway="stripe")
    reference = ref()
    with pytest.raises(GatewayOutcomeUnknown):
        stripe_gateway.sale(charge(reference, card()))
    found = stripe_gateway.find_transaction(reference)
    assert found is not None and found.state is TransactionState.CAPTURED
    assert found.reference == reference
    assert stripe_gateway.find_transaction(ref()) is None


@pytest.mark.parametrize(
    ("status", "write_error", "read_error"),
    [(500, GatewayOutcomeUnknown, GatewayRetryable), (429, GatewayRetryable, GatewayRetryable)],
)
def test_server_errors_and_rate_limits(
    stripe_gateway: Any, sandbox_fault: Any, status: int, write_error: type, read_error: type
) -> None:
    sandbox_fault("http_error", value=status, match="payment_intents.create", gateway="stripe")
    with pytest.raises(write_error):
        stripe_gateway.sale(charge(ref(), card()))
    sale = stripe_gateway.sale(charge(ref(), card()))
    sandbox_fault("http_error", value=status, match="payment_intents.retrieve", gateway="stripe")
    with pytest.raises(read_error):
        stripe_gateway.fetch_transaction(sale.transaction_id)


def test_unknown_objects_and_bad_keys(stripe_gateway: Any, merchant: Any, stripe_sandbox: Any) -> None:
    with pytest.raises(GatewayNotFound):
        stripe_gateway.fetch_transaction("pi_doesnotexist")
    account = gateway_account_create(
        merchant=merchant, gateway="stripe", mode="live", credentials={"secret_key": "sk_test_wrong"}, actor=ACTOR
    )
    account.mode = "test"  # a test account with a key the sandbox does not know
    with pytest.raises(GatewayMisconfigured, match="credentials"):
        gateway_for(account).sale(charge(ref(), card()))


def test_unreachable_stripe_is_retryable(stripe_account: Any, settings: Any) -> None:
    settings.STRIPE_TEST_API_BASE = "http://127.0.0.1:9"  # nothing listens: connection refused
    with pytest.raises(GatewayRetryable):
        gateway_for(stripe_account).sale(charge(ref(), card()))


def test_a_lost_create_is_found_while_search_lags_behind(stripe_gateway: Any, sandbox_fault: Any) -> None:
    sandbox_fault("drop_response", match="payment_intents.create", gateway="stripe")
    reference, made_at = ref(), datetime.now(UTC)
    with pytest.raises(GatewayOutcomeUnknown):
        stripe_gateway.sale(charge(reference, card()))
    sandbox_fault("search_lag", value=3600, match="payment_intents.search", gateway="stripe", remaining=9)

    assert stripe_gateway.find_transaction(reference) is None  # Stripe's search has not indexed it yet
    found = stripe_gateway.find_transaction(reference, made_at=made_at)  # a list reads what was written

    assert found is not None and found.state is TransactionState.CAPTURED
    assert found.reference == reference
    assert stripe_gateway.find_transaction(ref(), made_at=made_at) is None


def test_a_keyed_retry_after_a_lost_create_charges_once_while_search_lags(
    api: Any, stripe_account: Any, sandbox_fault: Any, settings: Any
) -> None:
    from apps.payments.models import GatewayTransaction, Payment
    from apps.payments.services import gateway_transaction_resolve
    from apps.sandbox.models import StripePaymentIntent

    settings.GATEWAY_NOT_FOUND_GRACE_SECONDS = 0  # "not found" would be final at once
    sandbox_fault("drop_response", match="payment_intents.create", gateway="stripe")
    sandbox_fault("search_lag", value=3600, match="payment_intents.search", gateway="stripe", remaining=9)
    body = {
        "amount": 2_000,
        "currency": "USD",
        "payment_method": {"type": "card", "number": "4242424242424242", "exp_month": 12, "exp_year": 2030},
    }

    first = api.post("/api/v1/payments", body, format="json", HTTP_IDEMPOTENCY_KEY="lost-create-1")
    assert first.status_code == 202, first.json()
    assert gateway_transaction_resolve(gateway_transaction_id=GatewayTransaction.objects.get().pk)
    retry = api.post("/api/v1/payments", body, format="json", HTTP_IDEMPOTENCY_KEY="lost-create-1")

    assert (retry.json()["id"], retry.json()["status"]) == (first.json()["id"], "captured")
    assert StripePaymentIntent.objects.count() == 1
    assert Payment.objects.get().amount_captured == 2_000
