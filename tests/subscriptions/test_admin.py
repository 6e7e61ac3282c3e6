"""Finance staff in the subscriptions admin: list, detail with invoices and attempts, the dunning
view, and cancel / pause / resume / retry-now through a confirmation, by role."""

from __future__ import annotations

import pytest
from django.contrib.admin.helpers import ACTION_CHECKBOX_NAME

from apps.accounts import roles
from apps.audit.models import AuditEvent
from apps.subscriptions.billing import billing_run
from apps.subscriptions.models import Subscription
from apps.subscriptions.services import subscription_create

from .conftest import ACTOR, T0

pytestmark = pytest.mark.django_db(transaction=True)
CHANGELIST = "/admin/subscriptions/subscription/"
DUNNING = "/admin/subscriptions/pastduesubscription/"


@pytest.fixture
def past_due(merchant, customer, card, make_plan, decline_card):
    sub = subscription_create(
        merchant=merchant, customer=customer, plan=make_plan(), livemode=False, now=T0, actor=ACTOR
    )
    decline_card(card)
    billing_run(as_of=sub.current_period_end)
    sub.refresh_from_db()
    assert sub.status == "past_due"
    return sub


def act(staff, url, action, sub, confirm):
    data = {"action": action, ACTION_CHECKBOX_NAME: [sub.pk]}
    if confirm:
        data["confirm"] = "yes"
    return staff.post(url, data, follow=confirm)


def test_list_detail_and_dunning_views_show_the_billing_story(past_due, staff_client):
    staff = staff_client(roles.FINANCE_VIEWER)

    listing = staff.get(CHANGELIST)
    detail = staff.get(f"{CHANGELIST}{past_due.pk}/change/")
    dunning = staff.get(DUNNING)

    assert listing.status_code == 200 and past_due.public_id.encode() in listing.content
    assert detail.status_code == 200
    for text in (b"Billing attempts", b"Declined", b"Succeeded", past_due.invoices.first().public_id.encode()):
        assert text in detail.content
    assert dunning.status_code == 200 and past_due.public_id.encode() in dunning.content
    assert b"15.00" in dunning.content  # what is owed
    assert b"Retry payment now" not in listing.content  # a viewer gets no actions


def test_retry_now_after_the_card_works_again(past_due, card, staff_client, decline_card):
    staff = staff_client(roles.FINANCE_OPERATOR)
    decline_card(card, False)

    confirm = act(staff, DUNNING, "retry_payment_now", past_due, confirm=False)
    assert b"Charge what is owed now?" in confirm.content
    assert Subscription.objects.get(pk=past_due.pk).status == "past_due"
    done = act(staff, DUNNING, "retry_payment_now", past_due, confirm=True)

    assert b"renewed" in done.content
    assert Subscription.objects.get(pk=past_due.pk).status == "active"
    retry = AuditEvent.objects.get(action="subscription.retry_requested", target_id=past_due.public_id)
    assert retry.actor_label == staff.user.username


def test_pause_resume_and_cancel_from_the_admin(past_due, staff_client):
    staff = staff_client(roles.FINANCE_OPERATOR)

    act(staff, CHANGELIST, "pause", past_due, confirm=True)
    assert Subscription.objects.get(pk=past_due.pk).status == "paused"
    act(staff, CHANGELIST, "cancel_now", past_due, confirm=True)

    sub = Subscription.objects.get(pk=past_due.pk)
    assert (sub.status, sub.cancellation_reason) == ("canceled", "canceled_by_staff")
    skipped = act(staff, CHANGELIST, "resume", past_due, confirm=False)
    assert b"None of the selected subscriptions" in skipped.content


def test_actions_need_their_permission(past_due, staff_client):
    staff = staff_client(roles.FINANCE_VIEWER)

    response = act(staff, CHANGELIST, "cancel_now", past_due, confirm=True)

    assert response.status_code == 200
    assert Subscription.objects.get(pk=past_due.pk).status == "past_due"
