"""Cancelling or pausing while a renewal charge is at the gateway: the charge's result, when it
comes back, is recorded (a payment taken is on its invoice, to be refunded) but never revives,
reschedules or sends into dunning a subscription that was stopped meanwhile. Real threads, the
sandbox over HTTP holding its answer while the cancel or pause commits."""

from __future__ import annotations

import threading
from datetime import timedelta

import pytest
from django.db import connection

from apps.audit.models import AuditEvent
from apps.sandbox.models import AnetTransaction, SandboxFault
from apps.subscriptions.billing import billing_run
from apps.subscriptions.dunning import stopped_attempts_settle
from apps.subscriptions.models import Subscription
from apps.subscriptions.services import subscription_cancel, subscription_create, subscription_pause
from tests.helpers import wait_for

from .conftest import ACTOR, T0

pytestmark = pytest.mark.django_db(transaction=True)

STOPS = {
    "canceled": lambda sub: subscription_cancel(subscription=sub, actor=ACTOR),
    "paused": lambda sub: subscription_pause(subscription=sub, actor=ACTOR),
}


def _stop_while_the_renewal_is_at_the_gateway(sub, stop, sandbox_fault):
    renewal = sub.current_period_end
    held = sandbox_fault("latency", 1200, match="createTransactionRequest")

    def run() -> None:
        try:
            billing_run(as_of=renewal)
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    try:
        wait_for(lambda: not SandboxFault.objects.filter(pk=held.pk, remaining__gt=0).exists(), timeout=30)
        STOPS[stop](Subscription.objects.get(pk=sub.pk))
    finally:
        thread.join(timeout=60)
    return renewal


@pytest.mark.parametrize("stop", ["canceled", "paused"])
def test_a_renewal_paid_after_a_stop_is_recorded_on_its_invoice_and_the_subscription_stays_stopped(
    merchant, customer, card, make_plan, sandbox_fault, stop
):
    sub = subscription_create(
        merchant=merchant, customer=customer, plan=make_plan(), livemode=False, now=T0, actor=ACTOR
    )

    renewal = _stop_while_the_renewal_is_at_the_gateway(sub, stop, sandbox_fault)

    sub.refresh_from_db()
    assert (sub.status, sub.next_billing_at, sub.billing_claimed_until) == (stop, None, None)
    invoice = sub.invoices.get(period_start=renewal)
    # The money was taken: it is on the invoice, so finance can see and refund it.
    assert (invoice.status, invoice.payment.status, invoice.payment.amount_captured) == ("paid", "captured", 1500)
    assert invoice.attempts.get().status == "succeeded"
    assert AuditEvent.objects.filter(action="invoice.paid_while_stopped", target_id=invoice.public_id).exists()
    assert (
        AuditEvent.objects.filter(action="subscription.renewed", target_id=sub.public_id).count() == 1
    )  # the first period only
    billing_run(as_of=renewal + timedelta(days=90))
    assert AnetTransaction.objects.filter(transaction_type="authCaptureTransaction").count() == 2


@pytest.mark.parametrize("stop", ["canceled", "paused"])
def test_a_renewal_declined_after_a_stop_does_not_start_dunning(
    merchant, customer, card, make_plan, sandbox_fault, decline_card, stop
):
    sub = subscription_create(
        merchant=merchant, customer=customer, plan=make_plan(), livemode=False, now=T0, actor=ACTOR
    )
    decline_card(card)

    renewal = _stop_while_the_renewal_is_at_the_gateway(sub, stop, sandbox_fault)

    sub.refresh_from_db()
    assert (sub.status, sub.next_billing_at, sub.billing_claimed_until) == (stop, None, None)
    invoice = sub.invoices.get(period_start=renewal)
    assert (invoice.status, invoice.next_attempt_at) == ("void" if stop == "canceled" else "open", None)
    assert invoice.attempts.get().status == "declined"
    assert AuditEvent.objects.filter(
        action="invoice.payment_failed_while_stopped", target_id=invoice.public_id
    ).exists()
    billing_run(as_of=renewal + timedelta(days=90))
    assert AnetTransaction.objects.filter(transaction_type="authCaptureTransaction").count() == 2


def test_a_renewal_of_unknown_outcome_on_a_canceled_subscription_is_settled_by_the_sweep(
    merchant, customer, card, make_plan, sandbox_fault, settings
):
    """The renewal's answer is lost (the charge went through), then the customer cancels. Before,
    nothing came back to its attempt (the billing run only claims billable subscriptions): the
    money taken was on no invoice and its attempt stayed pending for good."""
    sub = subscription_create(
        merchant=merchant, customer=customer, plan=make_plan(), livemode=False, now=T0, actor=ACTOR
    )
    renewal = sub.current_period_end
    sandbox_fault("drop_response", match="createTransactionRequest")
    billing_run(as_of=renewal)
    invoice = sub.invoices.get(period_start=renewal)
    attempt = invoice.attempts.get()
    assert (attempt.status, attempt.payment.status) == ("pending", "unknown")
    subscription_cancel(subscription=Subscription.objects.get(pk=sub.pk), actor=ACTOR)
    settings.GATEWAY_STALE_CALL_SECONDS = 0

    swept = stopped_attempts_settle()

    invoice.refresh_from_db()
    assert swept == [f"{invoice.public_id}: paid_while_canceled"]
    assert (invoice.status, invoice.payment.status, invoice.attempts.get().status) == ("paid", "captured", "succeeded")
    assert AuditEvent.objects.filter(action="invoice.paid_while_stopped", target_id=invoice.public_id).exists()
    sub.refresh_from_db()
    assert (sub.status, sub.next_billing_at) == ("canceled", None)
    assert stopped_attempts_settle() == []
    assert AnetTransaction.objects.filter(transaction_type="authCaptureTransaction").count() == 2
