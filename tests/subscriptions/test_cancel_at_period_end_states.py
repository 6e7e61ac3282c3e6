"""Cancel at period end is taken only while a subscription is billed (trialing, active, past due):
the billing run ends it when it next falls due. A paused or unpaid one is refused (409), and
nothing changes; cancel it now instead. Before, it was accepted and the subscription, never
billed, never ended."""

from __future__ import annotations

from datetime import timedelta

import pytest

from apps.audit.models import AuditEvent
from apps.subscriptions.billing import billing_run
from apps.subscriptions.models import Subscription
from apps.subscriptions.services import subscription_cancel, subscription_create
from tests.sessions_api.factories import SubscriptionFactory

from .conftest import ACTOR, T0

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.mark.parametrize("status", ["paused", "unpaid"])
def test_cancel_at_period_end_of_a_subscription_not_billed_is_a_409_and_changes_nothing(api, merchant, status):
    sub = SubscriptionFactory(merchant=merchant, status=status)

    response = api.post(f"/api/v1/subscriptions/{sub.public_id}/cancel", {"at_period_end": True}, format="json")

    assert response.status_code == 409, response.json()
    assert response.json()["error"]["code"] == "subscription_state_invalid"
    sub.refresh_from_db()
    assert (sub.status, sub.cancel_at_period_end) == (status, False)
    assert not AuditEvent.objects.filter(action="subscription.cancel_scheduled").exists()


@pytest.mark.parametrize("status", ["paused", "unpaid"])
def test_a_subscription_not_billed_can_still_be_canceled_now(api, merchant, status):
    sub = SubscriptionFactory(merchant=merchant, status=status)

    response = api.post(f"/api/v1/subscriptions/{sub.public_id}/cancel", {}, format="json")

    assert (response.status_code, response.json()["status"]) == (200, "canceled")


@pytest.mark.parametrize("status", ["trialing", "active", "past_due"])
def test_a_billed_subscription_takes_cancel_at_period_end(api, merchant, status):
    sub = SubscriptionFactory(merchant=merchant, status=status)

    response = api.post(f"/api/v1/subscriptions/{sub.public_id}/cancel", {"at_period_end": True}, format="json")

    assert response.status_code == 200, response.json()
    assert Subscription.objects.get(pk=sub.pk).cancel_at_period_end


def test_dunning_running_out_on_a_subscription_set_to_cancel_at_period_end_ends_it(
    merchant, customer, card, make_plan, decline_card, settings
):
    """With BILLING_FINAL_ACTION=unpaid, a past-due subscription set to cancel at the period's end
    is canceled when dunning runs out, not kept unpaid (before, it stayed unpaid for good)."""
    settings.BILLING_FINAL_ACTION = "unpaid"
    settings.BILLING_RETRY_DAYS = [2]
    sub = subscription_create(
        merchant=merchant, customer=customer, plan=make_plan(), livemode=False, now=T0, actor=ACTOR
    )
    renewal = sub.current_period_end
    decline_card(card)
    billing_run(as_of=renewal)
    subscription_cancel(subscription=sub, at_period_end=True, actor=ACTOR)

    billing_run(as_of=renewal + timedelta(days=2))

    sub.refresh_from_db()
    assert (sub.status, sub.cancellation_reason, sub.next_billing_at) == ("canceled", "payment_failed", None)
    assert sub.invoices.get(period_start=renewal).status == "uncollectible"
