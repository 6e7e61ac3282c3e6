"""A retried subscribe (same idempotency reference) returns the first run's subscription and
never charges twice, even when that run died before it could charge or record the charge."""

from __future__ import annotations

import pytest
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.sandbox.models import AnetTransaction
from apps.subscriptions.models import BillingAttempt, Subscription
from apps.subscriptions.services import subscription_create
from tests.subscriptions.conftest import ACTOR

pytestmark = pytest.mark.django_db(transaction=True)

REFERENCE = "ksubscribetestref"


def subscribe(merchant, customer, plan, card):
    return subscription_create(
        merchant=merchant, customer=customer, plan=plan, payment_method=card, livemode=False,
        idempotency_reference=REFERENCE, actor=ACTOR,
    )  # fmt: skip


def test_a_retried_subscribe_returns_the_first_subscription_and_charges_once(merchant, customer, card, make_plan):
    plan = make_plan()

    first = subscribe(merchant, customer, plan, card)
    again = subscribe(merchant, customer, plan, card)

    assert again.pk == first.pk and again.status == "active"
    assert (Subscription.objects.count(), AnetTransaction.objects.count()) == (1, 1)


def test_a_subscribe_that_died_before_its_first_charge_is_charged_once_by_the_retry(
    merchant, customer, card, make_plan
):
    plan = make_plan()
    now = timezone.now()
    # What the first run had committed when it died: the subscription, due now, not billed yet.
    died = Subscription.objects.create(
        merchant=merchant, customer=customer, plan=plan, payment_method=card, gateway_account=card.gateway_account,
        status="active", billing_anchor=now, current_period_start=now, current_period_end=now, next_billing_at=now,
        request_reference=REFERENCE,
    )  # fmt: skip

    retried = subscribe(merchant, customer, plan, card)
    again = subscribe(merchant, customer, plan, card)

    assert retried.pk == again.pk == died.pk
    assert retried.status == "active" and retried.current_period_end > now
    assert AnetTransaction.objects.count() == 1
    assert BillingAttempt.objects.get().status == "succeeded"


def test_the_database_refuses_a_second_subscription_for_one_request(merchant, customer, card, make_plan):
    first = subscribe(merchant, customer, make_plan(), card)

    with pytest.raises(IntegrityError), transaction.atomic():
        Subscription.objects.create(
            merchant=merchant, customer=customer, plan=first.plan, payment_method=card,
            gateway_account=first.gateway_account, status="active", billing_anchor=first.billing_anchor,
            current_period_start=first.current_period_start, current_period_end=first.current_period_end,
            request_reference=REFERENCE,
        )  # fmt: skip
