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
from apps.gateways.registry import recurring_gateway_for
from apps.sandbox.authorizenet.arb import arb_run
from apps.sandbox.models import AnetSubscription, AnetTransaction
from apps.subscriptions.models import Invoice, Subscription
from apps.subscriptions.recurring import recurring_charge_record
from apps.subscriptions.recurring_claims import claims_refused, recurring_change_claims_settle
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


def test_a_card_change_while_a_plan_claim_is_open_leaves_the_plan_claim(arb_sub, customer, make_plan, sandbox_fault):
    """The card change sends no amount: the schedule may still charge the claimed plan's, so the
    plan claim stays for the settler (review finding: the change's record cleared it)."""
    gold = make_plan(name="Gold", billing_mode="gateway", amount=3500)
    second = payment_method_add(customer=customer, livemode=False, payment=MASTERCARD, actor=ACTOR)
    sandbox_fault("drop_response", match=UPDATE)
    with pytest.raises(ApplicationError):
        subscription_change(subscription=arb_sub, plan=gold, actor=ACTOR)

    changed = subscription_change(
        subscription=Subscription.objects.get(pk=arb_sub.pk), payment_method=second, actor=ACTOR
    )

    assert (changed.payment_method_id, changed.pending_payment_method_id) == (second.pk, None)
    assert changed.pending_plan_id == gold.pk
    age(arb_sub)
    assert recurring_change_claims_settle() == [f"{arb_sub.public_id}: plan {gold.public_id} confirmed"]


def test_a_late_refusal_leaves_the_claims_of_the_call_holding_it_now(arb_sub, make_plan):
    """A change's definite refusal that comes after its hold ran out and another call took one:
    the claims may be that call's own (its answer perhaps lost), so they are left to it."""
    gold = make_plan(name="Gold", billing_mode="gateway", amount=3500)
    late = Subscription.objects.get(pk=arb_sub.pk)
    late.billing_claimed_until = timezone.now() - timedelta(minutes=1)  # the refused change's hold, run out
    now_held = timezone.now() + timedelta(minutes=4)
    Subscription.objects.filter(pk=arb_sub.pk).update(pending_plan=gold, billing_claimed_until=now_held)

    claims_refused(late, card=None, plan=gold, replaced={"plan": None}, actor=ACTOR)

    arb_sub.refresh_from_db()
    assert (arb_sub.pending_plan_id, arb_sub.billing_claimed_until) == (gold.pk, now_held)
    assert "subscription.plan_change_refused" not in actions(arb_sub)


def test_an_arb_charge_of_the_claimed_plans_amount_is_invoiced_on_that_plan(arb_sub, make_plan, sandbox_fault):
    gold = make_plan(name="Gold", billing_mode="gateway", amount=3500)
    sandbox_fault("drop_response", match=UPDATE)
    with pytest.raises(ApplicationError):
        subscription_change(subscription=arb_sub, plan=gold, actor=ACTOR)
    arb_run(as_of=timezone.now() + timedelta(days=1))  # the schedule's payments since: Gold's amount
    charge = AnetTransaction.objects.filter(subscription_id=arb_sub.gateway_subscription_id).order_by("pk").first()
    assert charge is not None
    details = recurring_gateway_for(arb_sub.gateway_account).fetch_transaction(charge.trans_id)

    recurring_charge_record(subscription=Subscription.objects.get(pk=arb_sub.pk), details=details, actor=ACTOR)

    invoice = Invoice.objects.get(subscription=arb_sub)
    assert (invoice.plan_id, invoice.amount, invoice.status) == (gold.pk, 3500, "paid")
    assert Subscription.objects.get(pk=arb_sub.pk).pending_plan_id == gold.pk  # the settler settles it
