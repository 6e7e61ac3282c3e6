"""A new card for a subscription against the card's removal: a change made with a card loaded
before its removal committed is refused, and a card chosen for the next charge that is no longer
saved when that charge comes is dropped (the current card is charged), never charged."""

from __future__ import annotations

import pytest

from apps.audit.models import AuditEvent
from apps.customers.models import PaymentMethod
from apps.customers.services import payment_method_add, payment_method_remove
from apps.sandbox.models import AnetTransaction
from apps.subscriptions.billing import billing_run
from apps.subscriptions.errors import PaymentMethodUnusable
from apps.subscriptions.models import Subscription
from apps.subscriptions.services import subscription_change, subscription_create

from .conftest import ACTOR, MASTERCARD, T0

pytestmark = pytest.mark.django_db(transaction=True)


def test_a_change_to_a_card_removed_after_it_was_loaded_is_refused(merchant, customer, card, make_plan):
    sub = subscription_create(
        merchant=merchant, customer=customer, plan=make_plan(), livemode=False, now=T0, actor=ACTOR
    )
    other = payment_method_add(customer=customer, livemode=False, payment=MASTERCARD, actor=ACTOR)
    loaded = PaymentMethod.objects.select_related("gateway_account").get(pk=other.pk)  # as the API view loads it
    payment_method_remove(method=other, actor=ACTOR)  # commits before the change's transaction

    with pytest.raises(PaymentMethodUnusable):
        subscription_change(subscription=sub, payment_method=loaded, actor=ACTOR)

    sub.refresh_from_db()
    assert (sub.payment_method_id, sub.pending_payment_method_id) == (card.pk, None)
    assert not AuditEvent.objects.filter(action="subscription.changed", target_id=sub.public_id).exists()


def test_a_next_charge_card_no_longer_saved_is_dropped_and_the_current_card_charged(
    merchant, customer, card, make_plan
):
    sub = subscription_create(
        merchant=merchant, customer=customer, plan=make_plan(), livemode=False, now=T0, actor=ACTOR
    )
    other = payment_method_add(customer=customer, livemode=False, payment=MASTERCARD, actor=ACTOR)
    subscription_change(subscription=sub, payment_method=other, actor=ACTOR)
    # Removed anyway (what the race above used to let through): it must not be charged.
    PaymentMethod.objects.filter(pk=other.pk).update(status=PaymentMethod.Status.REMOVED)

    billing_run(as_of=sub.current_period_end)

    sub = Subscription.objects.get(pk=sub.pk)
    assert (sub.status, sub.payment_method_id, sub.pending_payment_method_id) == ("active", card.pk, None)
    charged = AnetTransaction.objects.filter(transaction_type="authCaptureTransaction").order_by("id")
    assert list(charged.values_list("card_last4", flat=True)) == ["1111", "1111"]
    assert AuditEvent.objects.filter(action="subscription.pending_card_dropped", target_id=sub.public_id).exists()
