"""Gateway-run plans (Authorize.Net ARB): the schedule is created at the gateway through the SDK,
the sandbox's own schedule charges it and tells us by signed webhook, and our subscription, its
invoices and payments follow; cancelling cancels at the gateway. Real Celery worker, real HTTP."""

from __future__ import annotations

from datetime import timedelta

import pytest

from apps.sandbox.authorizenet.arb import arb_run
from apps.sandbox.models import AnetSubscription
from apps.sandbox.notifications import anet_webhook_register
from apps.subscriptions.models import Invoice, Subscription
from apps.subscriptions.services import subscription_cancel, subscription_create
from apps.webhooks.models import IncomingWebhook
from tests.helpers import wait_for

from .conftest import ACTOR, T0

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


def test_arb_charges_become_invoices_a_decline_makes_it_past_due_and_cancel_reaches_the_gateway(
    merchant, customer, card, make_plan, anet_account, anet_sandbox, live_server, celery_worker, decline_card
):
    anet_webhook_register(account=anet_sandbox, url=f"{live_server.url}/webhooks/authorizenet/{anet_account.public_id}")
    plan = make_plan(billing_mode="gateway", amount=2000)

    sub = subscription_create(merchant=merchant, customer=customer, plan=plan, livemode=False, now=T0, actor=ACTOR)

    arb = AnetSubscription.objects.get()
    assert sub.gateway_subscription_id == arb.subscription_id
    assert (arb.amount, arb.start_date, arb.interval_unit, arb.interval_length) == (2000, T0.date(), "months", 1)
    assert (arb.customer_profile_id, arb.payment_profile_id) == (card.profile.customer_token, card.payment_token)
    assert sub.next_billing_at is None  # the gateway bills, not our beat
    arb_run(as_of=T0 + timedelta(days=35))  # Jan 31 and Feb 28
    arb_run(as_of=T0 + timedelta(days=35))

    wait_for(lambda: Invoice.objects.filter(subscription=sub, status="paid").count() == 2, timeout=60)
    invoices = list(Invoice.objects.filter(subscription=sub).order_by("period_start"))
    assert [(i.period_start.date().isoformat(), i.period_end.date().isoformat()) for i in invoices] == [
        ("2026-01-31", "2026-02-28"), ("2026-02-28", "2026-03-31"),
    ]  # fmt: skip
    assert all(i.payment.status == "captured" and i.payment.amount == 2000 for i in invoices)
    sub.refresh_from_db()
    assert (sub.status, sub.current_period_end.date().isoformat()) == ("active", "2026-03-31")

    decline_card(card)
    arb_run(as_of=T0 + timedelta(days=65))
    wait_for(lambda: Subscription.objects.get(pk=sub.pk).status == "past_due", timeout=60)
    wait_for(lambda: not IncomingWebhook.objects.exclude(status__in=["processed", "ignored"]).exists(), timeout=60)
    assert AnetSubscription.objects.get().status == "suspended"
    third = Invoice.objects.get(subscription=sub, period_start__month=3)
    assert (third.status, third.attempt_count) == ("open", 1)

    sub = subscription_cancel(subscription=Subscription.objects.get(pk=sub.pk), actor=ACTOR)

    assert sub.status == "canceled"
    assert AnetSubscription.objects.get().status == "canceled"
    assert Invoice.objects.get(pk=third.pk).status == "void"
