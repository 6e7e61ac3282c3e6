"""A gateway-run (Authorize.Net ARB) subscription's card change while its call is out at the
gateway: the card being put on the gateway's schedule is claimed by the change (under the
subscription's lock, before the call), so removing it meanwhile is refused, and the card ours
records is the one the gateway charges. Real threads on PostgreSQL, the sandbox over HTTP
holding its answer (after making the change) while the competing operation runs."""

from __future__ import annotations

import threading
from dataclasses import replace
from typing import Any

import pytest
from django.db import connection

from apps.core.errors import ApplicationError
from apps.customers.errors import PaymentMethodInUse
from apps.customers.models import PaymentMethod
from apps.customers.services import payment_method_add, payment_method_remove
from apps.sandbox.models import AnetSubscription, SandboxFault
from apps.subscriptions.errors import SubscriptionStateError
from apps.subscriptions.models import Subscription
from apps.subscriptions.services import subscription_cancel, subscription_change
from tests.helpers import wait_for

from .conftest import ACTOR, MASTERCARD, schedule_of
from .conftest import audit_actions as actions

pytestmark = pytest.mark.django_db(transaction=True)


def change_in_thread(sub: Subscription, card: PaymentMethod, outcome: dict[str, Any]) -> threading.Thread:
    def run() -> None:
        try:
            outcome["subscription"] = subscription_change(
                subscription=Subscription.objects.get(pk=sub.pk),
                payment_method=PaymentMethod.objects.select_related("profile").get(pk=card.pk),
                actor=ACTOR,
            )
        except Exception as exc:  # the test reads it
            outcome["error"] = exc
        finally:
            connection.close()

    return threading.Thread(target=run)


def while_the_update_is_out(sub, card, sandbox_fault, competing) -> dict[str, Any]:
    """Run `competing` while the gateway holds its answer to the schedule's update (made already)."""
    held = sandbox_fault("hang_after", 1200, match="ARBUpdateSubscriptionRequest")
    outcome: dict[str, Any] = {}
    thread = change_in_thread(sub, card, outcome)
    thread.start()
    try:
        wait_for(lambda: not SandboxFault.objects.filter(pk=held.pk, remaining__gt=0).exists(), timeout=30)
        outcome["competing"] = competing()
    finally:
        thread.join(timeout=60)
    assert not thread.is_alive()
    return outcome


def test_the_card_going_onto_the_schedule_cannot_be_removed_meanwhile(arb_sub, customer, card, sandbox_fault):
    # given a second card, on its way onto the gateway's schedule
    second = payment_method_add(customer=customer, livemode=False, payment=MASTERCARD, actor=ACTOR)

    # when the customer removes it while the gateway holds its answer
    def remove() -> Exception | None:
        try:
            payment_method_remove(method=PaymentMethod.objects.get(pk=second.pk), actor=ACTOR)
        except PaymentMethodInUse as exc:
            return exc
        return None

    outcome = while_the_update_is_out(arb_sub, second, sandbox_fault, remove)

    # then the removal is refused, and ours and the gateway's schedule both charge the second card
    assert "error" not in outcome, outcome.get("error")
    assert isinstance(outcome["competing"], PaymentMethodInUse)
    second.refresh_from_db()
    assert second.status == PaymentMethod.Status.ACTIVE
    arb_sub.refresh_from_db()
    assert (arb_sub.payment_method_id, arb_sub.pending_payment_method_id) == (second.pk, None)
    assert arb_sub.billing_claimed_until is None
    assert schedule_of(arb_sub).payment_profile_id == second.payment_token
    assert actions(arb_sub)[-2:] == ["subscription.card_change_started", "subscription.changed"]
    # the first card is free now: nothing charges it
    payment_method_remove(method=card, actor=ACTOR)


def test_a_cancel_while_the_card_goes_onto_the_schedule_leaves_both_stopped(arb_sub, customer, sandbox_fault):
    second = payment_method_add(customer=customer, livemode=False, payment=MASTERCARD, actor=ACTOR)

    outcome = while_the_update_is_out(
        arb_sub, second, sandbox_fault, lambda: subscription_cancel(subscription=arb_sub, actor=ACTOR)
    )

    assert "error" not in outcome, outcome.get("error")
    arb_sub.refresh_from_db()
    schedule = schedule_of(arb_sub)
    assert (arb_sub.status, schedule.status) == ("canceled", "canceled")
    # ours records the card the gateway's (cancelled) schedule holds, and no claim is left
    assert arb_sub.payment_method_id == second.pk and schedule.payment_profile_id == second.payment_token
    assert (arb_sub.pending_payment_method_id, arb_sub.billing_claimed_until) == (None, None)
    payment_method_remove(method=second, actor=ACTOR)  # a canceled subscription charges nothing


def test_a_second_change_while_the_first_is_out_is_refused_and_the_first_card_is_on_both(
    arb_sub, customer, sandbox_fault
):
    second = payment_method_add(customer=customer, livemode=False, payment=MASTERCARD, actor=ACTOR)
    third = payment_method_add(customer=customer, livemode=False, payment=replace(MASTERCARD, exp_year=2033),
                               actor=ACTOR)  # fmt: skip

    def change_again() -> Exception | None:
        try:
            subscription_change(subscription=Subscription.objects.get(pk=arb_sub.pk), payment_method=third,
                                actor=ACTOR)  # fmt: skip
        except SubscriptionStateError as exc:
            return exc
        return None

    outcome = while_the_update_is_out(arb_sub, second, sandbox_fault, change_again)

    assert "error" not in outcome, outcome.get("error")
    assert isinstance(outcome["competing"], SubscriptionStateError)
    arb_sub.refresh_from_db()
    assert (arb_sub.payment_method_id, schedule_of(arb_sub).payment_profile_id) == (second.pk, second.payment_token)
    payment_method_remove(method=third, actor=ACTOR)  # never claimed: free


def test_a_card_change_whose_answer_was_lost_keeps_the_card_claimed_until_the_retry(
    arb_sub, customer, card, make_plan, sandbox_fault
):
    second = payment_method_add(customer=customer, livemode=False, payment=MASTERCARD, actor=ACTOR)
    sandbox_fault("drop_response", match="ARBUpdateSubscriptionRequest")

    with pytest.raises(ApplicationError) as lost:
        subscription_change(subscription=arb_sub, payment_method=second, actor=ACTOR)

    assert lost.value.code == "gateway_unavailable"
    # The gateway took the card, we did not hear it: the card may be charged, so it stays claimed.
    assert schedule_of(arb_sub).payment_profile_id == second.payment_token
    arb_sub.refresh_from_db()
    assert (arb_sub.payment_method_id, arb_sub.pending_payment_method_id) == (card.pk, second.pk)
    assert arb_sub.billing_claimed_until is None
    with pytest.raises(PaymentMethodInUse):
        payment_method_remove(method=second, actor=ACTOR)
    # A plan change meanwhile says nothing of the card: the claim stays.
    gold = make_plan(name="Gold", billing_mode="gateway", amount=3500)
    assert subscription_change(subscription=arb_sub, plan=gold, actor=ACTOR).pending_payment_method_id == second.pk
    retried = subscription_change(subscription=arb_sub, payment_method=second, actor=ACTOR)
    assert (retried.payment_method_id, retried.pending_payment_method_id) == (second.pk, None)
    assert schedule_of(arb_sub).payment_profile_id == second.payment_token


def test_back_to_the_current_card_after_a_lost_answer_puts_it_on_the_schedule(arb_sub, customer, card, sandbox_fault):
    second = payment_method_add(customer=customer, livemode=False, payment=MASTERCARD, actor=ACTOR)
    sandbox_fault("drop_response", match="ARBUpdateSubscriptionRequest")
    with pytest.raises(ApplicationError):
        subscription_change(subscription=arb_sub, payment_method=second, actor=ACTOR)
    assert schedule_of(arb_sub).payment_profile_id == second.payment_token  # the gateway has the second

    # the customer goes back to the card ours has: the gateway must be told, not skipped
    back = subscription_change(subscription=Subscription.objects.get(pk=arb_sub.pk), payment_method=card, actor=ACTOR)

    assert (back.payment_method_id, back.pending_payment_method_id) == (card.pk, None)
    assert schedule_of(arb_sub).payment_profile_id == card.payment_token
    payment_method_remove(method=second, actor=ACTOR)  # off the schedule, so free


def test_a_card_change_the_gateway_refuses_drops_the_claim(arb_sub, customer, card):
    second = payment_method_add(customer=customer, livemode=False, payment=MASTERCARD, actor=ACTOR)
    AnetSubscription.objects.filter(pk=schedule_of(arb_sub).pk).update(status="canceled")  # E00037 at the gateway

    with pytest.raises(ApplicationError) as refused:
        subscription_change(subscription=arb_sub, payment_method=second, actor=ACTOR)

    assert refused.value.code == "gateway_misconfigured"
    arb_sub.refresh_from_db()
    assert (arb_sub.payment_method_id, arb_sub.pending_payment_method_id) == (card.pk, None)
    assert arb_sub.billing_claimed_until is None
    assert schedule_of(arb_sub).payment_profile_id == card.payment_token
    assert actions(arb_sub)[-2:] == ["subscription.card_change_started", "subscription.card_change_refused"]
    payment_method_remove(method=second, actor=ACTOR)
