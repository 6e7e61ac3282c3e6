"""Pausing a gateway-run (Authorize.Net ARB) subscription whose schedule is not confirmed (the
create's answer was lost: ours is open without the gateway's id).

Before: the pause skipped the gateway's cancel (no id to cancel), so the lost schedule, which the
gateway runs under our reference, charged on while ours showed paused. Now the pause learns the id
first (the create again: the gateway answers "duplicate" with it) and cancels that schedule; the
gateway still away: 503 and nothing changed."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.sandbox.authorizenet.arb import arb_run
from apps.sandbox.models import AnetSubscription, AnetTransaction
from apps.subscriptions.models import Subscription

pytestmark = pytest.mark.django_db(transaction=True)


def actions(subscription: Subscription) -> list[str]:
    return list(
        AuditEvent.objects.filter(target_id=subscription.public_id).order_by("id").values_list("action", flat=True)
    )


def subscribe_unconfirmed(api: Any, customer: Any, plan: Any) -> Subscription:
    body = {"customer": customer.public_id, "plan": plan.public_id}
    lost = api.post("/api/v1/subscriptions", body, format="json", HTTP_IDEMPOTENCY_KEY="subscribe-then-pause")
    assert (lost.status_code, lost.json()["error"]["code"]) == (503, "gateway_unavailable")
    ours = Subscription.objects.get()
    assert (ours.status, ours.gateway_subscription_id) == ("active", "")
    return ours


def test_pausing_one_whose_create_answer_was_lost_cancels_the_lost_schedule_and_nothing_is_charged(
    api, customer, card, make_plan, sandbox_fault
):
    # given a subscription whose schedule the gateway made but whose answer was lost
    plan = make_plan(billing_mode="gateway", amount=2000)
    sandbox_fault("drop_response", match="ARBCreateSubscriptionRequest")
    ours = subscribe_unconfirmed(api, customer, plan)
    lost = AnetSubscription.objects.get()
    assert lost.status == AnetSubscription.Status.ACTIVE

    # when the merchant pauses it
    paused = api.post(f"/api/v1/subscriptions/{ours.public_id}/pause")

    # then ours is paused on the schedule the gateway runs, and that schedule is cancelled
    assert paused.status_code == 200, paused.json()
    ours.refresh_from_db()
    assert (ours.status, ours.gateway_subscription_id, ours.billing_claimed_until) == (
        "paused", lost.subscription_id, None,
    )  # fmt: skip
    lost.refresh_from_db()
    assert lost.status == AnetSubscription.Status.CANCELED
    assert AnetSubscription.objects.count() == 1
    audited = actions(ours)
    assert audited[audited.index("subscription.gateway_scheduled") :] == [
        "subscription.gateway_scheduled", "subscription.paused",
    ]  # fmt: skip
    # and the gateway's runs over the paused period charge nothing
    assert arb_run(as_of=timezone.now()) == 0
    assert arb_run(as_of=timezone.now() + timedelta(days=40)) == 0
    assert AnetTransaction.objects.filter(subscription_id=lost.subscription_id).count() == 0


def test_pausing_one_unconfirmed_while_the_gateway_is_away_changes_nothing_and_its_retry_pauses_it(
    api, customer, card, make_plan, sandbox_fault
):
    # given a subscription whose schedule the gateway made but whose answer was lost
    plan = make_plan(billing_mode="gateway", amount=2000)
    sandbox_fault("drop_response", match="ARBCreateSubscriptionRequest")
    ours = subscribe_unconfirmed(api, customer, plan)
    url, before = f"/api/v1/subscriptions/{ours.public_id}/pause", actions(ours)

    # when it is paused while the gateway cannot be reached
    sandbox_fault("http_error", 503, match="ARBCreateSubscriptionRequest")
    away = api.post(url)

    # then 503 and nothing changed: ours active, not held, its schedule still running
    assert (away.status_code, away.json()["error"]["code"]) == (503, "gateway_unavailable")
    ours.refresh_from_db()
    assert (ours.status, ours.gateway_subscription_id, ours.billing_claimed_until) == ("active", "", None)
    assert actions(ours) == before
    assert AnetSubscription.objects.get().status == AnetSubscription.Status.ACTIVE
    # and the retry pauses it, the lost schedule cancelled
    retried = api.post(url)
    assert retried.status_code == 200, retried.json()
    schedule = AnetSubscription.objects.get()
    assert schedule.status == AnetSubscription.Status.CANCELED
    ours.refresh_from_db()
    assert (ours.status, ours.gateway_subscription_id) == ("paused", schedule.subscription_id)
    assert arb_run(as_of=timezone.now() + timedelta(days=40)) == 0
