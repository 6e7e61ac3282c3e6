"""A gateway-run (Authorize.Net ARB) plan change claims the new plan (pending) before the gateway
call, as a card change claims its card.

Before: a plan change whose answer was lost left ours on the old plan with nothing pending, while
the gateway's schedule may have charged the new plan's amount from then on; the card-claim settler
compared cards only, so nothing ever noticed (a change of plan and card settled the card and left
the plan). Now the plan stays claimed through an unknown outcome, the settler reads the schedule's
amount and records the plan it charges, and a definite refusal drops the claim."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.core.errors import ApplicationError
from apps.customers.services import payment_method_add
from apps.sandbox.models import AnetSubscription
from apps.subscriptions.models import Subscription
from apps.subscriptions.recurring_claims import recurring_change_claims_settle
from apps.subscriptions.services import subscription_change

from .conftest import ACTOR, MASTERCARD, schedule_of
from .conftest import audit_actions as actions

pytestmark = pytest.mark.django_db(transaction=True)

UPDATE = "ARBUpdateSubscriptionRequest"


def age(sub: Subscription) -> None:
    Subscription.objects.filter(pk=sub.pk).update(updated_at=timezone.now() - timedelta(minutes=30))


@pytest.mark.parametrize(
    ("fault", "reached_the_gateway"),
    [("drop_response", True), ("http_error", False)],  # the update made, its answer lost; never made
)
def test_a_plan_claim_left_by_a_lost_answer_is_settled_from_the_schedules_amount(
    arb_sub, make_plan, sandbox_fault, fault, reached_the_gateway
):
    # given a plan change (2000 → 3500) whose answer was lost: the new plan claimed, nobody retrying
    pro = arb_sub.plan
    gold = make_plan(name="Gold", billing_mode="gateway", amount=3500)
    sandbox_fault(fault, 503 if fault == "http_error" else 0, match=UPDATE)
    with pytest.raises(ApplicationError):
        subscription_change(subscription=arb_sub, plan=gold, actor=ACTOR)
    arb_sub.refresh_from_db()
    assert (arb_sub.plan_id, arb_sub.pending_plan_id) == (pro.pk, gold.pk)
    assert actions(arb_sub)[-1] == "subscription.plan_change_started"
    assert schedule_of(arb_sub).amount == (3500 if reached_the_gateway else 2000)
    assert recurring_change_claims_settle() == []  # too young: the client's retry comes first

    # when the settler runs once the claim is old
    age(arb_sub)
    settled = recurring_change_claims_settle()

    # then ours is on the plan whose amount the schedule charges, the claim gone (audited)
    verdict = "confirmed" if reached_the_gateway else "dropped"
    assert settled == [f"{arb_sub.public_id}: plan {gold.public_id} {verdict}"]
    arb_sub.refresh_from_db()
    assert (arb_sub.plan_id, arb_sub.pending_plan_id) == ((gold if reached_the_gateway else pro).pk, None)
    assert arb_sub.billing_claimed_until is None
    assert actions(arb_sub)[-1] == f"subscription.plan_change_{verdict}"
    age(arb_sub)
    assert recurring_change_claims_settle() == []


def test_a_plan_and_card_change_whose_answer_was_lost_settles_both(arb_sub, customer, make_plan, sandbox_fault):
    gold = make_plan(name="Gold", billing_mode="gateway", amount=3500)
    second = payment_method_add(customer=customer, livemode=False, payment=MASTERCARD, actor=ACTOR)
    sandbox_fault("drop_response", match=UPDATE)
    with pytest.raises(ApplicationError):
        subscription_change(subscription=arb_sub, plan=gold, payment_method=second, actor=ACTOR)
    schedule = schedule_of(arb_sub)
    assert (schedule.amount, schedule.payment_profile_id) == (3500, second.payment_token)

    age(arb_sub)
    settled = recurring_change_claims_settle()

    assert settled == [f"{arb_sub.public_id}: card {second.public_id} confirmed; plan {gold.public_id} confirmed"]
    arb_sub.refresh_from_db()
    assert (arb_sub.plan_id, arb_sub.payment_method_id) == (gold.pk, second.pk)
    assert (arb_sub.pending_plan_id, arb_sub.pending_payment_method_id) == (None, None)


def test_a_schedule_on_a_third_amount_is_left_for_staff(arb_sub, make_plan, sandbox_fault, caplog):
    gold = make_plan(name="Gold", billing_mode="gateway", amount=3500)
    sandbox_fault("drop_response", match=UPDATE)
    with pytest.raises(ApplicationError):
        subscription_change(subscription=arb_sub, plan=gold, actor=ACTOR)
    AnetSubscription.objects.filter(pk=schedule_of(arb_sub).pk).update(amount=4200)  # changed at the gateway

    age(arb_sub)
    assert recurring_change_claims_settle() == []

    arb_sub.refresh_from_db()
    assert (arb_sub.plan_id, arb_sub.pending_plan_id) == (arb_sub.plan.pk, gold.pk)
    assert arb_sub.billing_claimed_until is None
    assert "recurring_plan_claim_unmatched" in caplog.text


def test_going_back_to_our_plan_while_a_claim_is_open_is_sent_to_the_gateway(arb_sub, make_plan, sandbox_fault):
    pro = arb_sub.plan
    gold = make_plan(name="Gold", billing_mode="gateway", amount=3500)
    sandbox_fault("drop_response", match=UPDATE)
    with pytest.raises(ApplicationError):
        subscription_change(subscription=arb_sub, plan=gold, actor=ACTOR)
    assert schedule_of(arb_sub).amount == 3500  # the gateway charges Gold

    back = subscription_change(subscription=Subscription.objects.get(pk=arb_sub.pk), plan=pro, actor=ACTOR)

    assert (back.plan_id, back.pending_plan_id) == (pro.pk, None)
    assert schedule_of(arb_sub).amount == 2000


def test_a_plan_change_the_gateway_refuses_drops_the_claim(arb_sub, make_plan):
    pro = arb_sub.plan
    gold = make_plan(name="Gold", billing_mode="gateway", amount=3500)
    AnetSubscription.objects.filter(pk=schedule_of(arb_sub).pk).update(status="canceled")  # E00037 at the gateway

    with pytest.raises(ApplicationError) as refused:
        subscription_change(subscription=arb_sub, plan=gold, actor=ACTOR)

    assert refused.value.code == "gateway_misconfigured"
    arb_sub.refresh_from_db()
    assert (arb_sub.plan_id, arb_sub.pending_plan_id) == (pro.pk, None)
    assert arb_sub.billing_claimed_until is None
    assert actions(arb_sub)[-2:] == ["subscription.plan_change_started", "subscription.plan_change_refused"]
