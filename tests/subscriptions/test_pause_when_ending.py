"""A subscription set to cancel at its period's end cannot be paused: the API answers 409
subscription_state_invalid, the admin action reports the refusal, and nothing changes; its end
stands. Before, the pause was taken: the subscription never reached that end while paused, and a
resume later ended it at the very next billing run, which nobody asked for then."""

from __future__ import annotations

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME

from apps.accounts import roles
from apps.audit.models import AuditEvent
from apps.events.models import Event
from apps.subscriptions.billing import billing_run
from apps.subscriptions.models import Subscription
from apps.subscriptions.services import subscription_create
from tests.sessions_api.factories import SubscriptionFactory

from .conftest import ACTOR, T0

pytestmark = pytest.mark.django_db(transaction=True)
CHANGELIST = "/admin/subscriptions/subscription/"


def state(subscription: Subscription) -> tuple[str, bool, object, object]:
    subscription.refresh_from_db()
    return (
        subscription.status,
        subscription.cancel_at_period_end,
        subscription.paused_at,
        subscription.next_billing_at,
    )


def set_to_end(api, subscription: Subscription) -> None:
    response = api.post(
        f"/api/v1/subscriptions/{subscription.public_id}/cancel", {"at_period_end": True}, format="json"
    )
    assert response.status_code == 200, response.json()


@pytest.mark.parametrize("status", ["trialing", "active", "past_due"])
def test_pausing_a_subscription_set_to_cancel_at_period_end_is_a_409_and_changes_nothing(api, merchant, status):
    # Given a billed subscription set to cancel at its period's end
    sub = SubscriptionFactory(merchant=merchant, status=status, next_billing_at=T0)
    set_to_end(api, sub)
    before = state(sub)
    events_before = Event.objects.filter(object_id=sub.public_id).count()

    # When it is paused
    response = api.post(f"/api/v1/subscriptions/{sub.public_id}/pause")

    # Then the pause is refused in the error envelope, and nothing changed
    assert response.status_code == 409, response.json()
    error = response.json()["error"]
    assert error["code"] == "subscription_state_invalid"
    assert "cancel at the end of its period" in error["message"]
    assert state(sub) == before == (status, True, None, T0)
    assert not AuditEvent.objects.filter(target_id=sub.public_id, action="subscription.paused").exists()
    assert Event.objects.filter(object_id=sub.public_id).count() == events_before


def test_the_admin_pause_action_reports_the_refusal_and_changes_nothing(api, merchant, staff_client):
    sub = SubscriptionFactory(merchant=merchant, status="active", next_billing_at=T0)
    set_to_end(api, sub)
    before = state(sub)
    staff = staff_client(roles.FINANCE_OPERATOR)

    done = staff.post(CHANGELIST, {"action": "pause", ACTION_CHECKBOX_NAME: [sub.pk], "confirm": "yes"}, follow=True)

    assert done.status_code == 200
    shown = [(message.level_tag, message.message) for message in done.context["messages"]]
    assert len(shown) == 1 and shown[0][0] == "error", shown
    assert sub.public_id in shown[0][1] and "cannot be paused" in shown[0][1]
    assert state(sub) == before
    assert not AuditEvent.objects.filter(target_id=sub.public_id, action="subscription.paused").exists()


def test_the_refused_pause_leaves_the_scheduled_end_to_happen_at_the_period_end(
    api, merchant, customer, card, make_plan
):
    sub = subscription_create(
        merchant=merchant, customer=customer, plan=make_plan(), livemode=False, now=T0, actor=ACTOR
    )
    set_to_end(api, sub)
    assert api.post(f"/api/v1/subscriptions/{sub.public_id}/pause").status_code == 409

    billing_run(as_of=sub.current_period_end)

    sub.refresh_from_db()
    assert (sub.status, sub.paused_at) == ("ended", None)
    assert sub.invoices.count() == 1  # the first period's: nothing charged after the end


def test_a_subscription_not_set_to_end_is_still_paused(api, merchant):
    sub = SubscriptionFactory(merchant=merchant, status="active", next_billing_at=T0)

    response = api.post(f"/api/v1/subscriptions/{sub.public_id}/pause")

    assert (response.status_code, response.json()["status"]) == (200, "paused")
