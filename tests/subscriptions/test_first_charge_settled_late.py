"""A first charge whose answer was lost and that the gateway then reports declined is still the
first charge: the subscription is canceled (the keyed retry of the create answers 402), never put
into dunning. Before, whoever settled it later (the keyed retry, a billing run) applied it as a
renewal: the retry answered 201 past_due and dunning kept charging a card the shopper was told
had not started a subscription."""

from __future__ import annotations

import pytest

from apps.sandbox.models import AnetTransaction
from apps.subscriptions.billing import billing_run
from apps.subscriptions.models import Invoice, Subscription

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def plan(api):
    body = {"name": "Pro", "amount": 2500, "currency": "USD", "interval": "month"}
    return api.post("/api/v1/plans", body, format="json").json()


def _first_charge_answer_lost(api, plan, customer, card, decline_card, sandbox_fault):
    decline_card(card)
    sandbox_fault("drop_response", match="createTransactionRequest")
    body = {"customer": customer.public_id, "plan": plan["id"]}
    api.post("/api/v1/subscriptions", body, format="json", HTTP_IDEMPOTENCY_KEY="sub-lost")
    sub = Subscription.objects.get()
    attempt = sub.invoices.get().attempts.get()
    assert (attempt.status, attempt.payment.status) == ("pending", "unknown")
    return body, sub


def test_the_keyed_retry_of_a_first_charge_declined_behind_a_lost_answer_is_a_402_and_canceled(
    api, plan, customer, card, decline_card, sandbox_fault, settings
):
    body, sub = _first_charge_answer_lost(api, plan, customer, card, decline_card, sandbox_fault)
    settings.GATEWAY_STALE_CALL_SECONDS = 0

    retried = api.post("/api/v1/subscriptions", body, format="json", HTTP_IDEMPOTENCY_KEY="sub-lost")

    assert retried.status_code == 402, retried.json()
    assert retried.json()["error"]["type"] == "card_error"
    sub.refresh_from_db()
    assert (sub.status, sub.cancellation_reason, sub.next_billing_at) == ("canceled", "initial_payment_failed", None)
    invoice = Invoice.objects.get()
    assert (invoice.status, invoice.next_attempt_at, invoice.attempts.get().status) == ("void", None, "declined")
    billing_run(as_of=sub.current_period_end)
    assert AnetTransaction.objects.filter(transaction_type="authCaptureTransaction").count() == 1


def test_a_billing_run_settling_a_first_charge_declined_behind_a_lost_answer_cancels(
    api, plan, customer, card, decline_card, sandbox_fault, settings
):
    _, sub = _first_charge_answer_lost(api, plan, customer, card, decline_card, sandbox_fault)
    settings.GATEWAY_STALE_CALL_SECONDS = 0
    sub.refresh_from_db()

    billing_run(as_of=sub.next_billing_at)

    sub.refresh_from_db()
    assert (sub.status, sub.cancellation_reason) == ("canceled", "initial_payment_failed")
    assert Invoice.objects.get().status == "void"
    assert AnetTransaction.objects.filter(transaction_type="authCaptureTransaction").count() == 1
