"""Changing a gateway-run (Authorize.Net ARB) subscription whose schedule is not confirmed (the
create's answer was lost, or the gateway was away: ours is open without the gateway's id), and a
change that nothing sends to the gateway (a paused one's) whose card is removed meanwhile.

Before: the plan or card was written on our side only, and the next create (the sweeper's, a
retry's or a cancel's) carried the new amount or card, which the gateway does not take for a
duplicate of the lost one: a second schedule, the lost one charging the old amount on. And a
paused one recorded a card removed between the change's check and its record."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import replace
from datetime import timedelta
from typing import Any

import pytest
from django.db import transaction
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.customers.models import PaymentMethod
from apps.customers.services import payment_method_add, payment_method_remove
from apps.sandbox.models import AnetSubscription
from apps.subscriptions.errors import PaymentMethodUnusable, SubscriptionScheduleUnconfirmed
from apps.subscriptions.models import Subscription
from apps.subscriptions.recurring import recurring_subscriptions_start_sweep
from apps.subscriptions.recurring_changes import recurring_subscription_change
from apps.subscriptions.services import _change_check, subscription_create, subscription_pause

from .conftest import ACTOR, MASTERCARD

pytestmark = pytest.mark.django_db(transaction=True)

SUBSCRIBE_KEY = "subscribe-unconfirmed"


def actions(subscription: Subscription) -> list[str]:
    return list(
        AuditEvent.objects.filter(target_id=subscription.public_id).order_by("id").values_list("action", flat=True)
    )


def subscribe_unconfirmed(api: Any, customer: Any, plan: Any) -> Subscription:
    body = {"customer": customer.public_id, "plan": plan.public_id}
    lost = api.post("/api/v1/subscriptions", body, format="json", HTTP_IDEMPOTENCY_KEY=SUBSCRIBE_KEY)
    assert (lost.status_code, lost.json()["error"]["code"]) == (503, "gateway_unavailable")
    ours = Subscription.objects.get()
    assert (ours.status, ours.gateway_subscription_id) == ("active", "")
    return ours


@pytest.mark.parametrize(
    ("fault", "change"),
    [
        ("drop_response", "plan"),  # the schedule was made, its answer lost
        ("drop_response", "card"),
        ("http_error", "plan"),  # the gateway was away: nothing made
    ],
)
def test_a_change_before_the_schedule_is_confirmed_leaves_one_schedule_charging_the_change(
    api, customer, card, make_plan, sandbox_fault, fault, change
):
    # given a subscription whose schedule create went unanswered
    plan = make_plan(billing_mode="gateway", amount=2000)
    gold = make_plan(name="Gold", billing_mode="gateway", amount=3500)
    second = payment_method_add(customer=customer, livemode=False, payment=MASTERCARD, actor=ACTOR)
    sandbox_fault(fault, 503 if fault == "http_error" else 0, match="ARBCreateSubscriptionRequest")
    ours = subscribe_unconfirmed(api, customer, plan)
    made_before = AnetSubscription.objects.count()

    # when the merchant changes its plan or card
    body = {"plan": gold.public_id} if change == "plan" else {"payment_method": second.public_id}
    changed = api.patch(f"/api/v1/subscriptions/{ours.public_id}", body, format="json", HTTP_IDEMPOTENCY_KEY="ch-1")

    # then the schedule's id is learned (or the schedule made) first, and the change made on it
    assert changed.status_code == 200, changed.json()
    schedule = AnetSubscription.objects.get()
    ours.refresh_from_db()
    assert ours.gateway_subscription_id == schedule.subscription_id
    assert made_before == (1 if fault == "drop_response" else 0)
    if change == "plan":
        assert (ours.plan_id, schedule.amount, schedule.name) == (gold.pk, 3500, "Gold")
        assert ours.pending_plan_id is None
    else:
        assert (ours.payment_method_id, schedule.payment_profile_id) == (second.pk, second.payment_token)
        assert ours.pending_payment_method_id is None
    audited = actions(ours)
    claimed = [f"subscription.{change}_change_started"]  # claimed while it was out at the gateway
    assert audited[audited.index("subscription.gateway_scheduled") :] == [
        "subscription.gateway_scheduled", *claimed, "subscription.changed",
    ]  # fmt: skip
    # and nothing makes a second schedule later: not the sweeper, not the create's retry
    Subscription.objects.filter(pk=ours.pk).update(created_at=timezone.now() - timedelta(minutes=10))
    assert recurring_subscriptions_start_sweep() == []
    body = {"customer": customer.public_id, "plan": plan.public_id}
    retried = api.post("/api/v1/subscriptions", body, format="json", HTTP_IDEMPOTENCY_KEY=SUBSCRIBE_KEY)
    assert (retried.status_code, retried.json()["id"]) == (201, ours.public_id)
    assert AnetSubscription.objects.count() == 1


def test_a_change_while_the_gateway_is_still_away_changes_nothing_and_its_retry_makes_it(
    api, customer, card, make_plan, sandbox_fault
):
    plan = make_plan(billing_mode="gateway", amount=2000)
    gold = make_plan(name="Gold", billing_mode="gateway", amount=3500)
    sandbox_fault("http_error", 503, match="ARBCreateSubscriptionRequest", remaining=2)
    ours = subscribe_unconfirmed(api, customer, plan)
    url, before = f"/api/v1/subscriptions/{ours.public_id}", actions(ours)

    away = api.patch(url, {"plan": gold.public_id}, format="json", HTTP_IDEMPOTENCY_KEY="ch-away")

    assert (away.status_code, away.json()["error"]["code"]) == (503, "gateway_unavailable")
    ours.refresh_from_db()
    assert (ours.plan_id, ours.gateway_subscription_id, ours.billing_claimed_until) == (plan.pk, "", None)
    assert actions(ours) == before and AnetSubscription.objects.count() == 0
    retried = api.patch(url, {"plan": gold.public_id}, format="json", HTTP_IDEMPOTENCY_KEY="ch-away")
    assert retried.status_code == 200, retried.json()
    schedule = AnetSubscription.objects.get()
    assert (schedule.amount, Subscription.objects.get(pk=ours.pk).gateway_subscription_id) == (
        3500, schedule.subscription_id,
    )  # fmt: skip


def removal_after_the_hold(
    check: Callable[[Subscription], None], card: PaymentMethod, outcome: dict[str, Any]
) -> Callable[[Subscription], None]:
    """The change's own check, which also removes the card as soon as the change's first
    transaction (the hold) commits: before its second one records the card."""

    def remove() -> None:
        outcome["removed"] = payment_method_remove(method=PaymentMethod.objects.get(pk=card.pk), actor=ACTOR)

    def checked(locked: Subscription) -> None:
        check(locked)
        if "armed" not in outcome:
            outcome["armed"] = True
            transaction.on_commit(remove)

    return checked


def test_a_paused_ones_card_removed_between_the_check_and_the_record_is_not_recorded(customer, card, make_plan):
    # given a paused gateway-run subscription (no schedule at the gateway: nothing is sent there)
    plan = make_plan(billing_mode="gateway", amount=2000)
    ours = subscription_create(
        merchant=customer.merchant, customer=customer, plan=plan, livemode=False, now=timezone.now(), actor=ACTOR
    )
    ours = subscription_pause(subscription=ours, actor=ACTOR)
    assert ours.status == "paused"
    second = payment_method_add(customer=customer, livemode=False, payment=MASTERCARD, actor=ACTOR)
    outcome: dict[str, Any] = {}
    before = actions(ours)

    # when the change to the second card is checked, and the card removed before it is recorded
    with pytest.raises(PaymentMethodUnusable):
        recurring_subscription_change(
            subscription=Subscription.objects.get(pk=ours.pk), plan=None, payment_method=second,
            check=removal_after_the_hold(_change_check(None, second), second, outcome), actor=ACTOR,
        )  # fmt: skip

    # then the removal went through, and ours still charges the first card, free to change again
    assert outcome["removed"].status == PaymentMethod.Status.REMOVED
    ours.refresh_from_db()
    assert (ours.payment_method_id, ours.pending_payment_method_id, ours.billing_claimed_until) == (
        card.pk, None, None,
    )  # fmt: skip
    assert actions(ours) == before
    third = payment_method_add(
        customer=customer, livemode=False, payment=replace(MASTERCARD, exp_year=2033), actor=ACTOR
    )
    changed = recurring_subscription_change(
        subscription=ours, plan=None, payment_method=third, check=_change_check(None, third), actor=ACTOR
    )
    assert changed.payment_method_id == third.pk


def test_a_change_that_finds_the_schedule_unconfirmed_under_the_lock_is_refused_and_changes_nothing(
    api, customer, card, make_plan, sandbox_fault
):
    """The caller's copy said paused (nothing to confirm), but the row says active without the
    gateway's id: the lock's check refuses (409) rather than write the change on our side only."""
    plan = make_plan(billing_mode="gateway", amount=2000)
    gold = make_plan(name="Gold", billing_mode="gateway", amount=3500)
    sandbox_fault("drop_response", match="ARBCreateSubscriptionRequest")
    ours = subscribe_unconfirmed(api, customer, plan)
    stale = Subscription.objects.get(pk=ours.pk)
    stale.status = "paused"
    before = actions(ours)

    with pytest.raises(SubscriptionScheduleUnconfirmed) as refused:
        recurring_subscription_change(
            subscription=stale, plan=gold, payment_method=None, check=_change_check(gold, None), actor=ACTOR
        )

    assert (refused.value.status_code, refused.value.code) == (409, "subscription_schedule_unconfirmed")
    ours.refresh_from_db()
    assert (ours.plan_id, ours.gateway_subscription_id, ours.billing_claimed_until) == (plan.pk, "", None)
    assert actions(ours) == before
    assert AnetSubscription.objects.get().amount == 2000
