"""Billing again after a long stop with a debt (paused while past due or unpaid, then resumed;
unpaid, then "retry now"): the debt is collected and exactly one new period opens from that day.
Before, the period was restarted only when nothing was owed: once the debt was paid the next
billing date was the old period's end, months back, and the billing run charged every period
the stop had spanned."""

from __future__ import annotations

from datetime import timedelta

import pytest

from apps.sandbox.models import AnetTransaction
from apps.subscriptions.billing import billing_run
from apps.subscriptions.invoice_payments import subscription_retry_now
from apps.subscriptions.models import Subscription
from apps.subscriptions.periods import add_months
from apps.subscriptions.services import subscription_create, subscription_pause, subscription_resume

from .conftest import ACTOR, T0

pytestmark = pytest.mark.django_db(transaction=True)


def _charges() -> int:
    return AnetTransaction.objects.filter(transaction_type="authCaptureTransaction", response_code="1").count()


def _in_debt(merchant, customer, card, make_plan, decline_card, settings, *, unpaid: bool):
    """Subscribed at T0 (Jan 31); the Feb 28 renewal declined: past due, or unpaid once dunning ran out."""
    settings.BILLING_FINAL_ACTION = "unpaid"
    settings.BILLING_RETRY_DAYS = [2]
    sub = subscription_create(
        merchant=merchant, customer=customer, plan=make_plan(), livemode=False, now=T0, actor=ACTOR
    )
    renewal = sub.current_period_end
    decline_card(card)
    billing_run(as_of=renewal)
    if unpaid:
        billing_run(as_of=renewal + timedelta(days=2))
    sub.refresh_from_db()
    assert sub.status == ("unpaid" if unpaid else "past_due")
    decline_card(card, False)
    return sub, sub.invoices.get(period_start=renewal)


def _back_from_pause(sub, at):
    subscription_pause(subscription=sub, actor=ACTOR)
    subscription_resume(subscription=sub, now=at, actor=ACTOR)


def _retried_now(sub, at):
    subscription_retry_now(subscription=sub, now=at, actor=ACTOR)


@pytest.mark.parametrize(
    ("unpaid", "back"),
    [(False, _back_from_pause), (True, _back_from_pause), (True, _retried_now)],
    ids=["paused_past_due_resumed", "paused_unpaid_resumed", "unpaid_retried_now"],
)
def test_the_debt_is_paid_and_one_period_opens_from_the_day_billing_resumes(
    merchant, customer, card, make_plan, decline_card, settings, unpaid, back
):
    sub, owed = _in_debt(merchant, customer, card, make_plan, decline_card, settings, unpaid=unpaid)
    back_at = owed.period_start + timedelta(days=102)  # June 10: three periods ran out meanwhile
    charged_before = _charges()

    back(sub, back_at)
    billing_run(as_of=back_at)
    billing_run(as_of=back_at + timedelta(days=20))

    owed.refresh_from_db()
    sub = Subscription.objects.get(pk=sub.pk)
    assert owed.status == "paid"
    assert _charges() - charged_before == 2  # the debt, and the period starting on the day of return
    newest = sub.invoices.order_by("-id").first()
    assert (newest.period_start, newest.period_end) == (back_at, add_months(back_at, 1, anchor_day=back_at.day))
    assert sub.invoices.count() == 3
    assert (sub.status, sub.next_billing_at) == ("active", newest.period_end)
