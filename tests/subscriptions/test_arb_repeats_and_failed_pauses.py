"""Gateway-run (Authorize.Net ARB) subscriptions against the sandbox: a schedule's charge recorded
a second time (an ops replay, a redelivery, a second webhook, a late copy) has no second effect,
a late decline of an older period leaves a later paid period alone, and a pause whose gateway
cancel failed never leaves the schedule charging beside a resumed one: the resume cancels it
first, and a charge (or a status sync) that finds it still running on a paused subscription
cancels it again."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.db import transaction
from django.utils import timezone

from apps.customers.services import payment_method_add
from apps.events.models import Event
from apps.gateways.registry import recurring_gateway_for
from apps.payments.models import Payment
from apps.sandbox.authorizenet.arb import arb_run
from apps.sandbox.models import AnetNotification, AnetSubscription, AnetTransaction
from apps.sandbox.notifications import anet_webhook_register, deliver
from apps.subscriptions.lifecycle import subscription_lock
from apps.subscriptions.models import Invoice, Subscription
from apps.subscriptions.recurring import recurring_charge_record, recurring_subscription_sync
from apps.webhooks.models import IncomingWebhook
from apps.webhooks.services import incoming_webhook_process
from tests.helpers import in_a_thread, wait_for, wait_for_a_lock_wait

from .conftest import ACTOR, MASTERCARD
from .conftest import audit_actions as actions

pytestmark = pytest.mark.django_db(transaction=True)

CHARGE_EVENT = "net.authorize.payment.authcapture.created"


@pytest.fixture
def arb_sub(arb_sub_over_api):
    return arb_sub_over_api


def events(subscription: Subscription) -> list[str]:
    return list(Event.objects.filter(object_id=subscription.public_id).order_by("id").values_list("type", flat=True))


def declined_then_paid_on_a_new_card(api, sub, customer, card, decline_card) -> tuple[Invoice, Invoice]:
    """Payment 1 declined (the schedule suspended), a new card (it reactivates), payment 2 captured."""
    decline_card(card)
    arb_run(as_of=timezone.now())
    second = payment_method_add(customer=customer, livemode=False, payment=MASTERCARD, actor=ACTOR)
    changed = api.patch(f"/api/v1/subscriptions/{sub.public_id}", {"payment_method": second.public_id}, format="json")
    assert changed.status_code == 200, changed.json()
    arb_run(as_of=timezone.now() + timedelta(days=32))
    return tuple(AnetTransaction.objects.filter(subscription_id=sub.gateway_subscription_id).order_by("pk"))  # type: ignore[return-value]


# --- 1. a charge recorded twice has one effect ------------------------------------------------------


def test_two_notifications_of_one_declined_charge_processed_at_once_have_one_effect(
    arb_sub, card, anet_sandbox, anet_account, live_server, decline_card
):
    """Two webhooks registered at the gateway: two notifications (two notificationIds) of one
    declined charge. The second's processing finds no payment of ours yet (the first has not
    committed), so it reaches the recording too, and waits for the subscription's lock."""
    url = f"{live_server.url}/webhooks/authorizenet/{anet_account.public_id}"
    anet_webhook_register(account=anet_sandbox, url=url)
    anet_webhook_register(account=anet_sandbox, url=url)
    decline_card(card)
    arb_run(as_of=timezone.now())
    for notification in AnetNotification.objects.filter(event_type=CHARGE_EVENT).order_by("pk"):
        assert deliver(notification) == 200
    first, second = IncomingWebhook.objects.filter(event_type=CHARGE_EVENT).order_by("pk")

    with transaction.atomic():
        subscription_lock(arb_sub)  # the first copy's recording is under way
        racer = in_a_thread(lambda: incoming_webhook_process(webhook_id=second.pk))
        wait_for_a_lock_wait("the second copy's recording")
        incoming_webhook_process(webhook_id=first.pk)
    racer.join(timeout=30)

    invoice = Invoice.objects.get(subscription=arb_sub)
    assert (invoice.status, invoice.attempt_count) == ("open", 1)
    assert events(arb_sub).count("subscription.payment_failed") == 1
    assert actions(arb_sub).count("subscription.payment_failed") == 1
    assert Payment.objects.filter(metadata__subscription=arb_sub.public_id).count() == 1
    assert "already recorded" in IncomingWebhook.objects.get(pk=second.pk).result


def test_a_late_decline_of_an_older_period_leaves_the_later_paid_one_active_and_counts_once(
    api, arb_sub, customer, card, decline_card
):
    declined_tx, paid_tx = declined_then_paid_on_a_new_card(api, arb_sub, customer, card, decline_card)
    gateway = recurring_gateway_for(arb_sub.gateway_account)
    declined, paid = gateway.fetch_transaction(declined_tx.trans_id), gateway.fetch_transaction(paid_tx.trans_id)
    recurring_charge_record(subscription=arb_sub, details=paid, actor=ACTOR)

    recurring_charge_record(subscription=arb_sub, details=declined, actor=ACTOR)  # late
    again = recurring_charge_record(subscription=arb_sub, details=declined, actor=ACTOR)  # and once more

    assert Subscription.objects.get(pk=arb_sub.pk).status == "active"
    first, later = Invoice.objects.filter(subscription=arb_sub).order_by("period_start")
    assert (first.status, first.attempt_count, later.status) == ("open", 1, "paid")
    assert events(arb_sub).count("subscription.payment_failed") == 1
    assert "already recorded" in again


# --- 2. a pause whose gateway cancel failed -----------------------------------------------------------


@pytest.mark.parametrize("fault", ["http_error", "reset"])
def test_a_resume_after_a_failed_pause_cancels_the_old_schedule_so_only_one_charges(api, arb_sub, sandbox_fault, fault):
    base = f"/api/v1/subscriptions/{arb_sub.public_id}"
    old = AnetSubscription.objects.get()
    sandbox_fault(fault, value=503, match="ARBCancelSubscriptionRequest")

    failed = api.post(f"{base}/pause")

    assert failed.status_code == 503
    old.refresh_from_db()
    assert (Subscription.objects.get(pk=arb_sub.pk).status, old.status) == ("paused", "active")

    resumed = api.post(f"{base}/resume")

    assert (resumed.status_code, resumed.json()["status"]) == (200, "active")
    old.refresh_from_db()
    assert old.status == "canceled"
    assert AnetSubscription.objects.filter(status="active").count() == 1
    assert Subscription.objects.get(pk=arb_sub.pk).gateway_subscription_id != old.subscription_id
    assert "subscription.gateway_schedule_cancel_queued" in actions(arb_sub)  # and a task would have


def test_a_resume_whose_old_schedule_cannot_be_cancelled_is_503_and_makes_nothing(api, arb_sub, sandbox_fault):
    base = f"/api/v1/subscriptions/{arb_sub.public_id}"
    sandbox_fault("http_error", value=503, match="ARBCancelSubscriptionRequest", remaining=2)
    assert api.post(f"{base}/pause").status_code == 503

    refused = api.post(f"{base}/resume")

    assert (refused.status_code, refused.json()["error"]["code"]) == (503, "gateway_unavailable")
    assert Subscription.objects.get(pk=arb_sub.pk).status == "paused"
    assert list(AnetSubscription.objects.values_list("status", flat=True)) == ["active"]  # none made
    assert api.post(f"{base}/resume").status_code == 200
    assert list(AnetSubscription.objects.order_by("pk").values_list("status", flat=True)) == ["canceled", "active"]


def test_a_charge_on_a_paused_subscription_cancels_the_schedule_again_and_moves_its_period(
    api, arb_sub, anet_sandbox, anet_account, live_server, celery_worker, sandbox_fault
):
    anet_webhook_register(account=anet_sandbox, url=f"{live_server.url}/webhooks/authorizenet/{anet_account.public_id}")
    arb_run(as_of=timezone.now())  # the first payment
    wait_for(lambda: Invoice.objects.filter(subscription=arb_sub, status="paid").count() == 1, timeout=60)
    schedule = AnetSubscription.objects.get()
    base = f"/api/v1/subscriptions/{arb_sub.public_id}"
    sandbox_fault("http_error", value=503, match="ARBCancelSubscriptionRequest")
    assert api.post(f"{base}/pause").status_code == 503  # its own re-cancel waits a minute

    arb_run(as_of=timezone.now() + timedelta(days=32))  # the schedule still runs: payment 2

    wait_for(lambda: "subscription.gateway_schedule_canceled" in actions(arb_sub), timeout=30)  # after the cancel
    assert AnetSubscription.objects.get(pk=schedule.pk).status == "canceled"
    sub = Subscription.objects.get(pk=arb_sub.pk)
    second = Invoice.objects.filter(subscription=sub, status="paid").latest("period_start")
    assert sub.status == "paused"
    assert (sub.current_period_start, sub.current_period_end) == (second.period_start, second.period_end)
    assert actions(sub).count("subscription.gateway_schedule_cancel_queued") == 2  # the pause's, the charge's
    # The resume starts after the period the charge paid for, on one schedule.
    assert api.post(f"{base}/resume").status_code == 200
    new = AnetSubscription.objects.get(status="active")
    assert new.start_date == second.period_end.date()


def test_a_sync_that_finds_a_paused_subscriptions_schedule_running_cancels_it_again(
    api, arb_sub, celery_worker, sandbox_fault
):
    sandbox_fault("http_error", value=503, match="ARBCancelSubscriptionRequest")
    assert api.post(f"/api/v1/subscriptions/{arb_sub.public_id}/pause").status_code == 503

    result = recurring_subscription_sync(subscription=Subscription.objects.get(pk=arb_sub.pk), actor=ACTOR)

    assert "cancel queued" in result
    wait_for(lambda: AnetSubscription.objects.get().status == "canceled", timeout=30)
    assert Subscription.objects.get(pk=arb_sub.pk).status == "paused"
