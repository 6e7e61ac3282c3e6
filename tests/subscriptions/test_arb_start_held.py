"""The create of a gateway-run (Authorize.Net ARB) schedule (the start sweeper's, the create's
retry, a cancel's) racing a plan change of the same subscription.

Before: the create was sent without holding the subscription, and its answer overwrote the
gateway's id. A change made while a create for the old amount was out (its own create learned the
lost schedule's id, then raised the schedule's amount) left the late create unmatched at the gateway
(another amount: no duplicate), so the gateway made a second schedule, which ours then named,
the first charging the new amount unseen. Now the create holds the subscription (the change waits:
409), and an answer naming another schedule than the one ours already has is a stray: its cancel
is owed and queued, ours keeps its schedule."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from apps.sandbox.authorizenet.arb import arb_run
from apps.sandbox.models import AnetSubscription, AnetTransaction, SandboxFault
from apps.subscriptions.models import GatewayScheduleCancel, Subscription
from apps.subscriptions.recurring import recurring_subscriptions_start_sweep
from tests.helpers import in_a_thread, wait_for

pytestmark = pytest.mark.django_db(transaction=True)

CREATE = "ARBCreateSubscriptionRequest"


def unconfirmed_for_the_sweeper(api: Any, customer: Any, plan: Any, sandbox_fault: Any) -> Subscription:
    """A subscription whose schedule the gateway made but whose answer was lost, old enough for
    the start sweeper."""
    sandbox_fault("drop_response", match=CREATE)
    body = {"customer": customer.public_id, "plan": plan.public_id}
    lost = api.post("/api/v1/subscriptions", body, format="json", HTTP_IDEMPOTENCY_KEY="subscribe-held")
    assert lost.status_code == 503
    ours = Subscription.objects.get()
    assert ours.gateway_subscription_id == ""
    Subscription.objects.filter(pk=ours.pk).update(created_at=timezone.now() - timedelta(minutes=10))
    return ours


def sweep_with_its_create_held(sandbox_fault: Any, milliseconds: int) -> Any:
    """The sweeper's create reaches the gateway and waits there `milliseconds` before it is run."""
    held = sandbox_fault("latency", milliseconds, match=CREATE)
    sweeper = in_a_thread(recurring_subscriptions_start_sweep)
    wait_for(lambda: SandboxFault.objects.get(pk=held.pk).remaining == 0, timeout=10)
    return sweeper


def held_now(subscription: Subscription) -> bool:
    claimed = Subscription.objects.get(pk=subscription.pk).billing_claimed_until
    return claimed is not None and claimed > timezone.now()


def test_a_change_while_the_sweepers_create_is_out_waits_and_one_schedule_charges_the_change(
    api, customer, card, make_plan, sandbox_fault, settings
):
    settings.AUTHORIZENET_TIMEOUT_SECONDS = 5.0
    plan = make_plan(billing_mode="gateway", amount=2000)
    gold = make_plan(name="Gold", billing_mode="gateway", amount=3500)
    ours = unconfirmed_for_the_sweeper(api, customer, plan, sandbox_fault)
    url = f"/api/v1/subscriptions/{ours.public_id}"

    # given the sweeper's create for the old amount out at the gateway
    sweeper = sweep_with_its_create_held(sandbox_fault, 3000)  # margin for a loaded CI machine

    # when the merchant changes the plan meanwhile
    during = api.patch(url, {"plan": gold.public_id}, format="json", HTTP_IDEMPOTENCY_KEY="gold-1")

    sweeper.join(timeout=30)

    # then one schedule: the change waited for the create (409, nothing changed)
    assert AnetSubscription.objects.count() == 1, "the late create made a second schedule"
    assert (during.status_code, during.json()["error"]["code"]) == (409, "subscription_change_in_progress")
    assert AnetSubscription.objects.get().amount == 2000
    # and once the create is answered, the change's retry (the same key: the 409 was not stored)
    # changes the one schedule
    retried = api.patch(url, {"plan": gold.public_id}, format="json", HTTP_IDEMPOTENCY_KEY="gold-1")
    assert retried.status_code == 200, retried.json()
    assert "Idempotent-Replayed" not in retried.headers
    schedule = AnetSubscription.objects.get()
    ours.refresh_from_db()
    assert (ours.gateway_subscription_id, ours.plan_id, ours.billing_claimed_until) == (
        schedule.subscription_id, gold.pk, None,
    )  # fmt: skip
    assert (schedule.status, schedule.amount) == (AnetSubscription.Status.ACTIVE, 3500)


def test_a_create_answered_after_the_id_was_learned_does_not_replace_it_and_its_second_schedule_is_cancelled(
    api, customer, card, make_plan, sandbox_fault, settings, celery_worker
):
    """The sweeper's hold ran out while its create was out, so a change learned the id and raised
    the amount first; the late create (the old amount, no duplicate now) made a second schedule."""
    settings.AUTHORIZENET_TIMEOUT_SECONDS = 12.0
    settings.BILLING_CLAIM_SECONDS = 1
    plan = make_plan(billing_mode="gateway", amount=2000)
    gold = make_plan(name="Gold", billing_mode="gateway", amount=3500)
    ours = unconfirmed_for_the_sweeper(api, customer, plan, sandbox_fault)
    first = AnetSubscription.objects.get()

    # given the sweeper's create out at the gateway past its hold
    sweeper = sweep_with_its_create_held(sandbox_fault, 7000)  # margin for a loaded CI machine
    wait_for(lambda: not held_now(ours), timeout=5)

    # when a change learns the schedule's id and changes it before that create is run
    changed = api.patch(f"/api/v1/subscriptions/{ours.public_id}", {"plan": gold.public_id}, format="json")
    made_meanwhile = AnetSubscription.objects.count()
    sweeper.join(timeout=30)
    assert changed.status_code == 200, changed.json()
    assert made_meanwhile == 1  # the late create still waited at the gateway

    # then ours keeps the schedule it changed, and the second one the late create made is cancelled
    second = AnetSubscription.objects.exclude(pk=first.pk).get()
    assert second.amount == 2000
    ours.refresh_from_db()
    assert (ours.gateway_subscription_id, ours.plan_id) == (first.subscription_id, gold.pk)
    assert GatewayScheduleCancel.objects.filter(subscription=ours, schedule_id=second.subscription_id).exists()
    wait_for(lambda: AnetSubscription.objects.get(pk=second.pk).status == AnetSubscription.Status.CANCELED, timeout=30)
    first.refresh_from_db()
    assert (first.status, first.amount) == (AnetSubscription.Status.ACTIVE, 3500)
    # and the gateway's run charges the new amount once, on ours
    arb_run(as_of=timezone.now())
    charges = AnetTransaction.objects.filter(subscription_id__in=[first.subscription_id, second.subscription_id])
    assert list(charges.values_list("subscription_id", flat=True)) == [first.subscription_id]
