"""The ARB card-claim settler (recurring_change_claims_settle) whose hold runs out while it asks the
gateway which card the schedule charges, and a change of the card is made meanwhile.

Before: the settler recorded its (now stale) answer whatever happened meanwhile, and cleared the
hold: it dropped the claim of a card the change had just put on the gateway's schedule, so ours
named the old card and the charged one was free to remove. Now the answer is recorded only while
the hold is still its own and the claimed card the one it asked about; otherwise it is left."""

from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.core.errors import ApplicationError
from apps.customers.services import payment_method_add
from apps.sandbox.models import SandboxFault
from apps.subscriptions.models import Subscription
from apps.subscriptions.recurring_claims import recurring_change_claims_settle
from apps.subscriptions.services import subscription_change
from tests.helpers import in_a_thread, wait_for

from .conftest import ACTOR, MASTERCARD, schedule_of
from .conftest import audit_actions as actions

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_settlers_answer_overtaken_by_a_change_is_left_and_the_claim_stays(
    arb_sub, customer, card, sandbox_fault, settings
):
    settings.AUTHORIZENET_TIMEOUT_SECONDS = 10.0
    # given a card change that never reached the gateway (its schedule charges the first card),
    # the second card left claimed and old enough for the settler
    second = payment_method_add(customer=customer, livemode=False, payment=MASTERCARD, actor=ACTOR)
    sandbox_fault("http_error", 503, match="ARBUpdateSubscriptionRequest")
    with pytest.raises(ApplicationError):
        subscription_change(subscription=arb_sub, payment_method=second, actor=ACTOR)
    Subscription.objects.filter(pk=arb_sub.pk).update(updated_at=timezone.now() - timedelta(minutes=30))
    assert schedule_of(arb_sub).payment_profile_id == card.payment_token

    # and the settler's question answered "the first card", the answer held back at the gateway
    asked = sandbox_fault("hang_after", 4000, match="ARBGetSubscriptionRequest")
    results: list[list[str]] = []
    settler = in_a_thread(lambda: results.append(recurring_change_claims_settle()))
    wait_for(lambda: SandboxFault.objects.get(pk=asked.pk).remaining == 0, timeout=10)
    time.sleep(0.5)  # the sandbox has read the schedule; its answer waits

    # when its hold runs out and the change's retry puts the second card on the schedule (its
    # answer lost again: the claim kept, the hold released)
    Subscription.objects.filter(pk=arb_sub.pk).update(billing_claimed_until=timezone.now() - timedelta(seconds=1))
    sandbox_fault("drop_response", match="ARBUpdateSubscriptionRequest")
    with pytest.raises(ApplicationError):
        subscription_change(subscription=arb_sub, payment_method=second, actor=ACTOR)
    assert schedule_of(arb_sub).payment_profile_id == second.payment_token
    settler.join(timeout=30)

    # then the settler's stale answer is not recorded: the second card stays claimed (the schedule
    # charges it), ours is not held, and no settle is audited
    assert results == [[]]
    arb_sub.refresh_from_db()
    assert (arb_sub.payment_method_id, arb_sub.pending_payment_method_id) == (card.pk, second.pk)
    assert arb_sub.billing_claimed_until is None
    assert "subscription.card_change_dropped" not in actions(arb_sub)
    # and the next settle records what the gateway charges now
    Subscription.objects.filter(pk=arb_sub.pk).update(updated_at=timezone.now() - timedelta(minutes=30))
    assert recurring_change_claims_settle() == [f"{arb_sub.public_id}: card {second.public_id} confirmed"]
    arb_sub.refresh_from_db()
    assert (arb_sub.payment_method_id, arb_sub.pending_payment_method_id) == (second.pk, None)


def test_a_settler_whose_claims_changed_under_its_own_hold_ends_that_hold(
    arb_sub, customer, card, sandbox_fault, settings
):
    """Its answer left unrecorded (the claims it asked about are gone: a change whose hold ran out
    earlier recorded its late success meanwhile), the settler still ends its own hold, so the
    next change is not refused 409 until the hold runs out."""
    settings.AUTHORIZENET_TIMEOUT_SECONDS = 10.0
    second = payment_method_add(customer=customer, livemode=False, payment=MASTERCARD, actor=ACTOR)
    sandbox_fault("drop_response", match="ARBUpdateSubscriptionRequest")
    with pytest.raises(ApplicationError):
        subscription_change(subscription=arb_sub, payment_method=second, actor=ACTOR)
    Subscription.objects.filter(pk=arb_sub.pk).update(updated_at=timezone.now() - timedelta(minutes=30))
    asked = sandbox_fault("hang_after", 3000, match="ARBGetSubscriptionRequest")
    results: list[list[str]] = []
    settler = in_a_thread(lambda: results.append(recurring_change_claims_settle()))
    wait_for(lambda: SandboxFault.objects.get(pk=asked.pk).remaining == 0, timeout=10)

    # the late success of the change is recorded while the settler's question is out
    Subscription.objects.filter(pk=arb_sub.pk).update(payment_method=second, pending_payment_method=None)
    settler.join(timeout=30)

    assert results == [[]]
    arb_sub.refresh_from_db()
    assert arb_sub.billing_claimed_until is None
    assert subscription_change(subscription=arb_sub, payment_method=card, actor=ACTOR).payment_method_id == card.pk
