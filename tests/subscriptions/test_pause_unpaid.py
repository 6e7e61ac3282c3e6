"""Pausing an unpaid subscription (dunning exhausted, BILLING_FINAL_ACTION=unpaid) and resuming
it keeps what it owes: the uncollectible invoice is opened again and retried, as "retry now"
does, never forgiven by a new period."""

from __future__ import annotations

from datetime import timedelta

import pytest

from apps.audit.models import AuditEvent
from apps.sandbox.models import AnetTransaction
from apps.subscriptions.billing import billing_run
from apps.subscriptions.models import Subscription
from apps.subscriptions.services import subscription_create, subscription_pause, subscription_resume

from .conftest import ACTOR, T0

pytestmark = pytest.mark.django_db(transaction=True)


def test_resuming_a_subscription_paused_while_unpaid_collects_what_it_owes(
    merchant, customer, card, make_plan, decline_card, settings
):
    settings.BILLING_FINAL_ACTION = "unpaid"
    settings.BILLING_RETRY_DAYS = [2]
    sub = subscription_create(
        merchant=merchant, customer=customer, plan=make_plan(), livemode=False, now=T0, actor=ACTOR
    )
    renewal = sub.current_period_end
    decline_card(card)
    billing_run(as_of=renewal)
    billing_run(as_of=renewal + timedelta(days=2))
    assert Subscription.objects.get(pk=sub.pk).status == "unpaid"
    owed = sub.invoices.get(period_start=renewal)
    subscription_pause(subscription=sub, actor=ACTOR)
    decline_card(card, False)
    resumed_at = renewal + timedelta(days=10)

    sub = subscription_resume(subscription=sub, now=resumed_at, actor=ACTOR)

    owed.refresh_from_db()
    assert (sub.status, sub.next_billing_at, owed.status) == ("past_due", resumed_at, "open")
    assert AuditEvent.objects.filter(action="invoice.reopened", target_id=owed.public_id).exists()
    billing_run(as_of=resumed_at)
    owed.refresh_from_db()
    sub.refresh_from_db()
    assert (sub.status, owed.status, owed.payment.amount_captured) == ("active", "paid", 1500)
    assert sub.invoices.count() == 2  # the debt paid, no new period skipped over it
    assert AnetTransaction.objects.filter(transaction_type="authCaptureTransaction", response_code="1").count() == 2
