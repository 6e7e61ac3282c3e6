"""Renewals follow risk's policy for them (RISK_RENEWALS): only the allow and block lists decide.
A renewal of a customer the merchant blocked is never sent to the gateway and goes to dunning
like a decline; the rules (made for customers at a checkout) do not run on billing runs."""

from __future__ import annotations

from datetime import timedelta

import pytest

from apps.risk.services import list_entry_add, rule_create
from apps.sandbox.models import AnetTransaction
from apps.subscriptions.billing import billing_run
from apps.subscriptions.services import subscription_create

from .conftest import ACTOR, T0

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.sqlite]


def charges() -> int:
    return AnetTransaction.objects.filter(transaction_type="authCaptureTransaction").count()


def test_a_blocked_customer_is_not_renewed_and_goes_to_dunning(merchant, customer, card, make_plan):
    sub = subscription_create(
        merchant=merchant, customer=customer, plan=make_plan(trial_days=14), livemode=False, now=T0, actor=ACTOR
    )
    list_entry_add(
        kind="email", action="block", value=customer.email, reason="chargeback", merchant=merchant, actor=ACTOR
    )

    billing_run(as_of=T0 + timedelta(days=14))

    sub.refresh_from_db()
    invoice = sub.invoices.get()
    assert (sub.status, invoice.status) == ("past_due", "open")
    attempt = invoice.attempts.get()
    assert (attempt.status, attempt.failure_code, attempt.payment.status) == ("declined", "blocked_by_risk", "failed")
    assert "chargeback" in attempt.failure_message
    assert charges() == 0  # never sent to the gateway


def test_rules_do_not_run_on_renewals(merchant, customer, card, make_plan, settings):
    rule_create(name="Everything", expression="amount > 0", outcome="block", actor=ACTOR)
    sub = subscription_create(
        merchant=merchant, customer=customer, plan=make_plan(trial_days=14), livemode=False, now=T0, actor=ACTOR
    )

    billing_run(as_of=T0 + timedelta(days=14))

    sub.refresh_from_db()
    assert (sub.status, sub.invoices.get().status, charges()) == ("active", "paid", 1)
    settings.RISK_RENEWALS = "off"
    list_entry_add(kind="email", action="block", value=customer.email, merchant=merchant, actor=ACTOR)
    billing_run(as_of=sub.current_period_end)
    assert charges() == 2  # risk off for renewals: the list is not read either
