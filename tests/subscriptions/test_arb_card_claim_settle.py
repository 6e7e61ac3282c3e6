"""A gateway-run (Authorize.Net ARB) card change whose answer was lost leaves the new card claimed
(pending) on ours; nobody retrying, the beat settler asks the gateway (ARBGetSubscription) which
card the schedule charges and records it. Before, only a new change cleared the claim: the card
stayed unremovable and ours kept naming the old card while the gateway charged the new one."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.core.errors import ApplicationError
from apps.customers.models import PaymentMethod
from apps.customers.services import payment_method_add, payment_method_remove
from apps.subscriptions.models import Subscription
from apps.subscriptions.recurring_claims import recurring_change_claims_settle
from apps.subscriptions.services import subscription_change

from .conftest import ACTOR, MASTERCARD, schedule_of
from .conftest import audit_actions as actions

pytestmark = pytest.mark.django_db(transaction=True)


def age(sub: Subscription) -> None:
    Subscription.objects.filter(pk=sub.pk).update(updated_at=timezone.now() - timedelta(minutes=30))


@pytest.mark.parametrize(
    ("fault", "reached_the_gateway"),
    [("drop_response", True), ("http_error", False)],  # the update made, its answer lost; never made
)
def test_a_card_claim_left_by_a_lost_answer_is_settled_from_the_gateways_schedule(
    arb_sub, customer, card, sandbox_fault, fault, reached_the_gateway
):
    # given a card change whose answer was lost: the second card claimed, nobody retrying
    second = payment_method_add(customer=customer, livemode=False, payment=MASTERCARD, actor=ACTOR)
    sandbox_fault(fault, 503 if fault == "http_error" else 0, match="ARBUpdateSubscriptionRequest")
    with pytest.raises(ApplicationError):
        subscription_change(subscription=arb_sub, payment_method=second, actor=ACTOR)
    arb_sub.refresh_from_db()
    assert (arb_sub.payment_method_id, arb_sub.pending_payment_method_id) == (card.pk, second.pk)
    charged = second if reached_the_gateway else card
    assert schedule_of(arb_sub).payment_profile_id == charged.payment_token
    assert recurring_change_claims_settle() == []  # too young: the client's retry comes first

    # when the settler runs once the claim is old
    age(arb_sub)
    settled = recurring_change_claims_settle()

    # then ours records the card the gateway's schedule charges, and the claim is gone (audited)
    verdict = "confirmed" if reached_the_gateway else "dropped"
    assert settled == [f"{arb_sub.public_id}: card {second.public_id} {verdict}"]
    arb_sub.refresh_from_db()
    assert (arb_sub.payment_method_id, arb_sub.pending_payment_method_id) == (charged.pk, None)
    assert arb_sub.billing_claimed_until is None
    assert actions(arb_sub)[-1] == f"subscription.card_change_{verdict}"
    # the card the schedule does not charge is free to remove; the one it charges is not
    other = card if reached_the_gateway else second
    assert payment_method_remove(method=other, actor=ACTOR).status == PaymentMethod.Status.REMOVED
    age(arb_sub)
    assert recurring_change_claims_settle() == []  # settled: nothing to do again


def test_the_settler_leaves_a_claim_alone_while_a_change_holds_the_subscription(arb_sub, customer, card, sandbox_fault):
    second = payment_method_add(customer=customer, livemode=False, payment=MASTERCARD, actor=ACTOR)
    sandbox_fault("drop_response", match="ARBUpdateSubscriptionRequest")
    with pytest.raises(ApplicationError):
        subscription_change(subscription=arb_sub, payment_method=second, actor=ACTOR)
    age(arb_sub)
    held_until = timezone.now() + timedelta(minutes=5)
    Subscription.objects.filter(pk=arb_sub.pk).update(billing_claimed_until=held_until)

    assert recurring_change_claims_settle() == []

    arb_sub.refresh_from_db()
    assert (arb_sub.payment_method_id, arb_sub.pending_payment_method_id) == (card.pk, second.pk)
    assert arb_sub.billing_claimed_until == held_until
