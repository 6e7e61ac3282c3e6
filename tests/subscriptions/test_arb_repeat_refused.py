"""A refused *repeat* of an ARB schedule create (Authorize.Net): the first create made the schedule
but its answer was lost, and the repeat (a pause's, a change's, a cancel's, the start sweeper's,
the client's retry) is refused, e.g. by an edge's HTTP 4xx or a start date now past (E00017).

Before: the refusal ended ours (canceled, gateway_refused) while the lost schedule charged on,
its webhooks matching nothing and no cancel owed. Now the refusal of a repeat proves nothing of
the first create: ours stays open and unconfirmed, the refusal is audited
(subscription.gateway_schedule_unconfirmed), the caller gets 503 subscription_schedule_unconfirmed (a keyed retry runs again),
and a later repeat the gateway takes confirms the lost schedule (no second one). The very first
create refused still ends ours."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from apps.sandbox.models import AnetSubscription
from apps.subscriptions.models import Subscription
from apps.subscriptions.recurring import recurring_subscriptions_start_sweep

from .conftest import audit_actions as actions

pytestmark = pytest.mark.django_db(transaction=True)

SUBSCRIBE_KEY = "subscribe-repeat-refused"
CREATE = "ARBCreateSubscriptionRequest"


def subscribe_answer_lost(
    api: Any, customer: Any, plan: Any, sandbox_fault: Any, key: str = SUBSCRIBE_KEY
) -> tuple[Subscription, Any]:
    """Ours open without the gateway's id; the sandbox made schedule X, its answer lost."""
    sandbox_fault("drop_response", match=CREATE)
    body = {"customer": customer.public_id, "plan": plan.public_id}
    lost = api.post("/api/v1/subscriptions", body, format="json", HTTP_IDEMPOTENCY_KEY=key)
    assert (lost.status_code, lost.json()["error"]["code"]) == (503, "gateway_unavailable")
    ours = Subscription.objects.latest("pk")
    assert (ours.status, ours.gateway_subscription_id) == ("active", "")
    lost_schedule = AnetSubscription.objects.latest("pk")
    assert lost_schedule.status == AnetSubscription.Status.ACTIVE
    return ours, lost_schedule


def assert_open_unconfirmed_and_audited(ours: Subscription, lost_schedule: Any) -> None:
    ours.refresh_from_db()
    assert (ours.status, ours.gateway_subscription_id, ours.cancellation_reason, ours.canceled_at) == (
        "active", "", "", None,
    )  # fmt: skip
    assert ours.billing_claimed_until is None  # the repeat's hold is released
    audited = actions(ours)
    assert "subscription.gateway_schedule_unconfirmed" in audited
    assert "subscription.canceled" not in audited
    lost_schedule.refresh_from_db()
    assert lost_schedule.status == AnetSubscription.Status.ACTIVE
    assert AnetSubscription.objects.count() == 1


def refuse_next_create(sandbox_fault: Any) -> None:
    sandbox_fault("http_error", 400, match=CREATE)  # an edge's 4xx: a definite refusal to our client


@pytest.mark.parametrize("trigger", ["pause", "plan_change", "cancel", "client_retry"])
def test_a_refused_repeat_of_a_lost_create_keeps_ours_open_and_a_later_repeat_confirms_the_lost_schedule(
    api, customer, card, make_plan, sandbox_fault, trigger
):
    # given a subscription whose schedule X was made at the gateway, the create's answer lost
    plan = make_plan(billing_mode="gateway", amount=2000)
    gold = make_plan(name="Gold", billing_mode="gateway", amount=3500)
    ours, lost_schedule = subscribe_answer_lost(api, customer, plan, sandbox_fault)
    base = f"/api/v1/subscriptions/{ours.public_id}"

    def send() -> Any:
        if trigger == "pause":
            return api.post(f"{base}/pause")
        if trigger == "plan_change":
            return api.patch(base, {"plan": gold.public_id}, format="json", HTTP_IDEMPOTENCY_KEY="gold")
        if trigger == "cancel":
            return api.post(f"{base}/cancel", {}, format="json")
        body = {"customer": customer.public_id, "plan": plan.public_id}
        return api.post("/api/v1/subscriptions", body, format="json", HTTP_IDEMPOTENCY_KEY=SUBSCRIBE_KEY)

    # when the repeat of the create (to learn X's id) is refused by the gateway
    refuse_next_create(sandbox_fault)
    refused = send()

    # then ours is not ended: open, unconfirmed, the refusal audited, and X still there
    assert (refused.status_code, refused.json()["error"]["code"]) == (503, "subscription_schedule_unconfirmed")
    assert "HTTP 400" in refused.json()["error"]["message"]
    assert_open_unconfirmed_and_audited(ours, lost_schedule)

    # and a later repeat the gateway takes confirms X's id, no second schedule made
    retried = send()
    assert retried.status_code in (200, 201), retried.json()
    ours.refresh_from_db()
    assert ours.gateway_subscription_id == lost_schedule.subscription_id
    assert AnetSubscription.objects.count() == 1
    lost_schedule.refresh_from_db()
    expected = {
        "pause": ("paused", AnetSubscription.Status.CANCELED),
        "plan_change": ("active", AnetSubscription.Status.ACTIVE),
        "cancel": ("canceled", AnetSubscription.Status.CANCELED),
        "client_retry": ("active", AnetSubscription.Status.ACTIVE),
    }[trigger]
    assert (ours.status, lost_schedule.status) == expected
    if trigger == "plan_change":
        assert (ours.plan_id, lost_schedule.amount) == (gold.pk, 3500)
    if trigger == "cancel":
        assert ours.cancellation_reason == "requested"


def test_the_start_sweepers_refused_repeat_keeps_ours_open_and_its_next_sweep_confirms_the_lost_schedule(
    api, customer, card, make_plan, sandbox_fault
):
    # given a subscription whose create's answer was lost, that no client retried
    plan = make_plan(billing_mode="gateway", amount=2000)
    ours, lost_schedule = subscribe_answer_lost(api, customer, plan, sandbox_fault)
    Subscription.objects.filter(pk=ours.pk).update(created_at=timezone.now() - timedelta(minutes=10))

    # when the sweeper's repeat is refused
    refuse_next_create(sandbox_fault)
    assert recurring_subscriptions_start_sweep() == []

    # then ours stays open and unconfirmed, audited, X still there
    assert_open_unconfirmed_and_audited(ours, lost_schedule)
    # and the next sweep after the wait confirms X, no second schedule
    later = timezone.now() + timedelta(minutes=6)
    assert recurring_subscriptions_start_sweep(now=later) == [f"{ours.public_id}: {lost_schedule.subscription_id}"]
    ours.refresh_from_db()
    assert (ours.status, ours.gateway_subscription_id) == ("active", lost_schedule.subscription_id)
    assert AnetSubscription.objects.count() == 1


def test_the_very_first_create_refused_still_ends_ours(api, customer, card, make_plan, sandbox_fault):
    # given the gateway refuses the first create (nothing can run there)
    plan = make_plan(billing_mode="gateway", amount=2000)
    refuse_next_create(sandbox_fault)

    # when the customer subscribes
    body = {"customer": customer.public_id, "plan": plan.public_id}
    refused = api.post("/api/v1/subscriptions", body, format="json", HTTP_IDEMPOTENCY_KEY=SUBSCRIBE_KEY)

    # then ours ends as refused, and no schedule exists
    assert (refused.status_code, refused.json()["error"]["code"]) == (502, "gateway_misconfigured")
    ours = Subscription.objects.get()
    assert (ours.status, ours.cancellation_reason) == ("canceled", "gateway_refused")
    assert "subscription.gateway_schedule_unconfirmed" not in actions(ours)
    assert AnetSubscription.objects.count() == 0


def test_the_start_sweeper_asks_again_less_often_after_each_refusal_of_the_repeat(
    api, customer, card, make_plan, sandbox_fault
):
    """A refusal that lasts (a start date now past) was asked again and audited every sweep (every
    5 minutes); now the wait doubles after each refusal, up to a day."""
    plan = make_plan(billing_mode="gateway", amount=2000)
    ours, lost_schedule = subscribe_answer_lost(api, customer, plan, sandbox_fault)
    Subscription.objects.filter(pk=ours.pk).update(created_at=timezone.now() - timedelta(minutes=10))
    sandbox_fault("http_error", 400, match=CREATE, remaining=100)
    start = timezone.now()

    def refusals() -> int:
        return actions(ours).count("subscription.gateway_schedule_unconfirmed")

    def sweep(after: timedelta) -> int:
        assert recurring_subscriptions_start_sweep(now=start + after) == []
        return refusals()

    # the first sweep is refused and audited; the next ones wait 5, then 10, then 20 minutes after
    # the last refusal (all audited at about `start`: the sweeps are told the time, the audit is not)
    # (less a minute's slack: a refusal is audited a moment after its sweep began)
    assert sweep(timedelta(0)) == 1
    assert sweep(timedelta(minutes=3)) == 1  # skipped: nothing sent, nothing audited
    assert sweep(timedelta(minutes=6)) == 2
    assert sweep(timedelta(minutes=8)) == 2
    assert sweep(timedelta(minutes=11)) == 3
    assert sweep(timedelta(minutes=18)) == 3
    assert sweep(timedelta(minutes=21)) == 4
    # the wait stops at a day
    assert recurring_subscriptions_start_sweep(now=start + timedelta(days=400)) == []
    assert refusals() == 5
    # and once the gateway takes the repeat, the lost schedule is confirmed
    from apps.sandbox.models import SandboxFault

    SandboxFault.objects.all().delete()
    later = timezone.now() + timedelta(days=2)
    assert recurring_subscriptions_start_sweep(now=later) == [f"{ours.public_id}: {lost_schedule.subscription_id}"]
    assert AnetSubscription.objects.count() == 1


def test_subscriptions_waiting_after_refusals_do_not_fill_the_sweep(api, customer, card, make_plan, sandbox_fault):
    """The backoff is applied before the sweep's limit: refused ones (the oldest) waiting out
    their time never keep a newer lost schedule from being confirmed."""
    plan = make_plan(billing_mode="gateway", amount=2000)
    refused_one, _ = subscribe_answer_lost(api, customer, plan, sandbox_fault)
    Subscription.objects.filter(pk=refused_one.pk).update(created_at=timezone.now() - timedelta(minutes=10))
    refuse_next_create(sandbox_fault)
    assert recurring_subscriptions_start_sweep(limit=1) == []  # refused: it waits now
    gold = make_plan(name="Gold", billing_mode="gateway", amount=3500)
    newer, newer_schedule = subscribe_answer_lost(api, customer, gold, sandbox_fault, key="subscribe-newer")
    Subscription.objects.filter(pk=newer.pk).update(created_at=timezone.now() - timedelta(minutes=10))

    assert recurring_subscriptions_start_sweep(limit=1) == [f"{newer.public_id}: {newer_schedule.subscription_id}"]
