"""Cancel at period end is taken only while a subscription is billed (trialing, active, past due):
the billing run ends it when it next falls due. A paused or unpaid one is refused (409), and
nothing changes; cancel it now instead. Before, it was accepted and the subscription, never
billed, never ended."""

from __future__ import annotations

import pytest

from apps.audit.models import AuditEvent
from apps.subscriptions.models import Subscription
from tests.sessions_api.factories import SubscriptionFactory

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
