"""Billing with the test clock (bill_subscriptions --as-of): trial end, renewals, failures,
dunning to cancellation, plan and card changes at the next period, cancel at period end.
Every charge goes through the SDK to the sandbox's saved card."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.core.management import call_command

from apps.events.models import Event
from apps.sandbox.models import AnetTransaction
from apps.subscriptions.billing import billing_run
from apps.subscriptions.models import BillingAttempt, Invoice, Subscription
from apps.subscriptions.services import (
    subscription_cancel,
    subscription_change,
    subscription_create,
    subscription_pause,
    subscription_resume,
)

from .conftest import ACTOR, MASTERCARD, T0

# Also run on SQLite (the quickstart's database): see config/settings/test_sqlite.py.
pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.sqlite]


def subscribe(merchant, customer, plan, **kwargs):
    return subscription_create(
        merchant=merchant, customer=customer, plan=plan, livemode=False, now=kwargs.pop("now", T0), actor=ACTOR,
        **kwargs,
    )  # fmt: skip


def events(subscription):
    return list(Event.objects.filter(object_id=subscription.public_id).order_by("id").values_list("type", flat=True))


def charges():
    return AnetTransaction.objects.filter(transaction_type="authCaptureTransaction")


def test_without_a_trial_the_first_period_is_charged_at_once(merchant, customer, card, make_plan):
    plan = make_plan(amount=1500)

    sub = subscribe(merchant, customer, plan)

    invoice = sub.invoices.get()
    assert (sub.status, sub.current_period_start, sub.current_period_end) == ("active", T0, T0.replace(month=2, day=28))
    assert sub.next_billing_at == sub.current_period_end
    assert (invoice.status, invoice.amount, invoice.period_start, invoice.attempt_count) == ("paid", 1500, T0, 1)
    assert (invoice.payment.status, invoice.payment.amount_captured) == ("captured", 1500)
    charge = charges().get()
    assert charge.invoice_number == f"in{invoice.pk}a1"  # the reference derived from the invoice
    assert events(sub) == ["subscription.created", "subscription.renewed"]


def test_trial_end_then_monthly_renewals_on_the_anchor_day(merchant, customer, card, make_plan):
    plan = make_plan(trial_days=14)
    sub = subscribe(merchant, customer, plan)
    trial_end = T0 + timedelta(days=14)
    assert (sub.status, sub.trial_end, sub.next_billing_at, charges().count()) == ("trialing", trial_end, trial_end, 0)

    billing_run(as_of=trial_end - timedelta(seconds=1))
    assert charges().count() == 0
    billing_run(as_of=trial_end)
    billing_run(as_of=trial_end)  # twice: nothing more

    sub.refresh_from_db()
    assert (sub.status, sub.current_period_start) == ("active", trial_end)
    assert sub.current_period_end == trial_end.replace(month=3, day=14)
    billing_run(as_of=trial_end + timedelta(days=70))  # catches up: two more periods

    periods = list(
        sub.invoices.order_by("period_start").values_list("period_start__month", "period_end__month", "status")
    )
    assert periods == [(2, 3, "paid"), (3, 4, "paid"), (4, 5, "paid")]
    assert charges().count() == 3


def test_dunning_retries_after_one_three_and_five_days_then_cancels(merchant, customer, card, make_plan, decline_card):
    sub = subscribe(merchant, customer, make_plan())
    renewal = sub.current_period_end
    decline_card(card)

    billing_run(as_of=renewal)

    sub.refresh_from_db()
    invoice = sub.invoices.get(period_start=renewal)
    assert (sub.status, invoice.status, invoice.attempt_count) == ("past_due", "open", 1)
    assert sub.next_billing_at == invoice.next_attempt_at == renewal + timedelta(days=1)
    for day, expected_next in [(1, 3), (3, 5)]:
        billing_run(as_of=renewal + timedelta(days=day) - timedelta(minutes=1))  # not yet
        billing_run(as_of=renewal + timedelta(days=day))
        sub.refresh_from_db()
        assert (sub.status, sub.next_billing_at) == ("past_due", renewal + timedelta(days=expected_next))
    billing_run(as_of=renewal + timedelta(days=5))

    sub.refresh_from_db()
    invoice.refresh_from_db()
    assert (sub.status, sub.cancellation_reason, sub.next_billing_at) == ("canceled", "payment_failed", None)
    assert (invoice.status, invoice.attempt_count) == ("uncollectible", 4)
    assert list(invoice.attempts.values_list("status", flat=True)) == ["declined"] * 4
    assert events(sub) == [
        "subscription.created", "subscription.renewed", "subscription.payment_failed", "subscription.past_due",
        "subscription.payment_failed", "subscription.payment_failed", "subscription.payment_failed",
        "subscription.canceled",
    ]  # fmt: skip
    failed = Event.objects.filter(type="invoice.payment_failed", object_id=invoice.public_id).order_by("id")
    assert failed.count() == 4
    # Each says what happens next: the next attempt and a link to pay while the invoice is open; the
    # last, that it is uncollectible (no link to a page that would refuse to take the money).
    nexts = [(e.data["status"], e.data["next_attempt_at"] is not None, e.data["hosted_payment_url"]) for e in failed]
    assert [(status, has_next, url is not None) for status, has_next, url in nexts] == [
        ("open", True, True), ("open", True, True), ("open", True, True), ("uncollectible", False, False),
    ]  # fmt: skip
    billing_run(as_of=renewal + timedelta(days=60))
    assert charges().count() == 5  # first period + four attempts, nothing after the cancellation


def test_dunning_recovers_when_the_card_works_again(merchant, customer, card, make_plan, decline_card):
    sub = subscribe(merchant, customer, make_plan())
    renewal = sub.current_period_end
    decline_card(card)
    billing_run(as_of=renewal)
    decline_card(card, False)

    billing_run(as_of=renewal + timedelta(days=1))

    sub.refresh_from_db()
    invoice = sub.invoices.get(period_start=renewal)
    assert (sub.status, invoice.status, invoice.attempt_count) == ("active", "paid", 2)
    assert sub.next_billing_at == sub.current_period_end  # the period was not shifted by the delay


def test_unpaid_instead_of_canceled_by_setting(merchant, customer, card, make_plan, decline_card, settings):
    settings.BILLING_FINAL_ACTION = "unpaid"
    settings.BILLING_RETRY_DAYS = [2]
    sub = subscribe(merchant, customer, make_plan())
    renewal = sub.current_period_end
    decline_card(card)

    billing_run(as_of=renewal)
    billing_run(as_of=renewal + timedelta(days=10))

    sub.refresh_from_db()
    assert (sub.status, sub.next_billing_at) == ("unpaid", None)
    assert sub.invoices.get(period_start=renewal).status == "uncollectible"


def test_first_charge_declined_cancels_at_once(merchant, customer, card, make_plan, decline_card):
    decline_card(card)

    sub = subscribe(merchant, customer, make_plan())

    assert (sub.status, sub.cancellation_reason) == ("canceled", "initial_payment_failed")
    assert sub.invoices.get().status == "void"


def test_a_plan_change_applies_from_the_next_period(merchant, customer, card, make_plan):
    sub = subscribe(merchant, customer, make_plan(amount=1500))
    bigger = make_plan(name="Team", amount=4900)

    sub = subscription_change(subscription=sub, plan=bigger, actor=ACTOR)

    assert (sub.plan.amount, sub.pending_plan_id) == (1500, bigger.pk)
    billing_run(as_of=sub.current_period_end)
    sub.refresh_from_db()
    assert (sub.plan_id, sub.pending_plan_id) == (bigger.pk, None)
    assert list(sub.invoices.order_by("period_start").values_list("amount", flat=True)) == [1500, 4900]


def test_a_card_change_applies_from_the_next_charge(merchant, customer, card, make_plan):
    from apps.customers.services import payment_method_add

    sub = subscribe(merchant, customer, make_plan())
    other = payment_method_add(customer=customer, livemode=False, payment=MASTERCARD, actor=ACTOR)

    sub = subscription_change(subscription=sub, payment_method=other, actor=ACTOR)
    billing_run(as_of=sub.current_period_end)

    sub.refresh_from_db()
    assert (sub.payment_method_id, sub.pending_payment_method_id) == (other.pk, None)
    assert list(charges().order_by("id").values_list("card_last4", flat=True)) == ["1111", "0015"]


def test_cancel_at_period_end_ends_it_then_without_a_charge(merchant, customer, card, make_plan):
    sub = subscribe(merchant, customer, make_plan())
    end = sub.current_period_end

    sub = subscription_cancel(subscription=sub, at_period_end=True, actor=ACTOR)
    billing_run(as_of=end - timedelta(seconds=1))
    assert Subscription.objects.get(pk=sub.pk).status == "active"
    billing_run(as_of=end)

    sub.refresh_from_db()
    assert (sub.status, sub.ended_at, sub.cancellation_reason) == ("ended", end, "canceled_at_period_end")
    assert charges().count() == 1
    assert events(sub)[-1] == "subscription.canceled"


def test_cancel_now_voids_what_is_owed_and_stops_dunning(merchant, customer, card, make_plan, decline_card):
    sub = subscribe(merchant, customer, make_plan())
    decline_card(card)
    billing_run(as_of=sub.current_period_end)

    sub = subscription_cancel(subscription=Subscription.objects.get(pk=sub.pk), actor=ACTOR)
    billing_run(as_of=sub.current_period_end + timedelta(days=30))

    assert (sub.status, sub.next_billing_at) == ("canceled", None)
    assert sorted(sub.invoices.values_list("status", flat=True)) == ["paid", "void"]
    assert charges().count() == 2


def test_pause_skips_billing_and_resume_starts_a_new_period(merchant, customer, card, make_plan):
    sub = subscribe(merchant, customer, make_plan())
    sub = subscription_pause(subscription=sub, actor=ACTOR)
    billing_run(as_of=sub.current_period_end + timedelta(days=40))
    assert charges().count() == 1

    resumed_at = sub.current_period_end + timedelta(days=45)
    sub = subscription_resume(subscription=sub, now=resumed_at, actor=ACTOR)
    billing_run(as_of=resumed_at)

    sub.refresh_from_db()
    assert (sub.status, sub.current_period_start) == ("active", resumed_at)
    assert charges().count() == 2


def test_bill_subscriptions_command_dry_run_changes_nothing_then_bills(merchant, customer, card, make_plan, capsys):
    sub = subscribe(merchant, customer, make_plan())
    as_of = sub.current_period_end.isoformat()

    call_command("bill_subscriptions", "--as-of", as_of, "--dry-run")
    dry = capsys.readouterr().out
    assert sub.public_id in dry and "renew" in dry and "15.00 USD" in dry
    assert (Invoice.objects.count(), BillingAttempt.objects.count()) == (1, 1)

    call_command("bill_subscriptions", "--as-of", as_of)

    assert "renewed 1" in capsys.readouterr().out
    assert Invoice.objects.count() == 2


def test_subscription_info_shows_invoices_and_attempts(merchant, customer, card, make_plan, decline_card, capsys):
    sub = subscribe(merchant, customer, make_plan())
    decline_card(card)
    billing_run(as_of=sub.current_period_end)

    call_command("subscription_info", customer.email)

    out = capsys.readouterr().out
    assert sub.public_id in out and "past_due" in out
    assert "attempt 1" in out and "declined" in out and "paid" in out
