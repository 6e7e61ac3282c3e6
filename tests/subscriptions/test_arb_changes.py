"""Changing a gateway-run (Authorize.Net ARB) subscription over the API: a new plan or card is made
at the gateway through the SDK (ARBUpdateSubscription), a pause cancels the gateway's schedule and
a resume makes a new one from the next period; the same audit events and webhooks as our own
subscriptions; refusals change nothing; retries after a lost answer make one schedule."""

from __future__ import annotations

from dataclasses import replace
from datetime import timedelta

import pytest
from django.utils import timezone

from apps.customers.models import PaymentMethod
from apps.customers.services import payment_method_add, payment_method_remove
from apps.events.models import Event
from apps.sandbox.authorizenet.arb import arb_run
from apps.sandbox.models import AnetSubscription
from apps.sandbox.notifications import anet_webhook_register
from apps.subscriptions.models import Invoice, Subscription
from apps.subscriptions.recurring import recurring_subscriptions_start_sweep
from apps.webhooks.models import IncomingWebhook
from tests.helpers import wait_for

from .conftest import ACTOR, MASTERCARD
from .conftest import audit_actions as actions

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def arb_sub(arb_sub_over_api):
    return arb_sub_over_api


def arb_of(subscription: Subscription) -> AnetSubscription:
    subscription.refresh_from_db()
    return AnetSubscription.objects.get(pk=AnetSubscription.pk_from_id(subscription.gateway_subscription_id) or 0)


def events(subscription: Subscription) -> list[str]:
    return list(Event.objects.filter(object_id=subscription.public_id).order_by("id").values_list("type", flat=True))


def test_a_plan_change_updates_the_gateways_schedule_once(api, arb_sub, make_plan):
    gold = make_plan(name="Gold", billing_mode="gateway", amount=3500, interval="month")
    url = f"/api/v1/subscriptions/{arb_sub.public_id}"

    first = api.patch(url, {"plan": gold.public_id}, format="json", HTTP_IDEMPOTENCY_KEY="change-1")
    again = api.patch(url, {"plan": gold.public_id}, format="json", HTTP_IDEMPOTENCY_KEY="change-1")

    assert first.status_code == 200, first.json()
    assert (first.json()["plan"], again.json()["plan"], again["Idempotent-Replayed"]) == (
        gold.public_id, gold.public_id, "true",
    )  # fmt: skip
    arb = arb_of(arb_sub)
    assert (arb.amount, arb.name, arb.status, arb.interval_length, arb.interval_unit) == (
        3500, "Gold", "active", 1, "months",
    )  # fmt: skip
    assert (arb_sub.plan_id, arb_sub.pending_plan_id) == (gold.pk, None)
    assert actions(arb_sub)[-1] == "subscription.changed" and events(arb_sub)[-1] == "subscription.updated"
    assert actions(arb_sub).count("subscription.changed") == 1


@pytest.mark.parametrize(
    ("plan_values", "code"),
    [
        ({"interval": "year"}, "plan_not_supported"),  # ARB cannot change a schedule's interval
        ({"interval": "month", "billing_mode": "clearhouse"}, "plan_not_supported"),
        ({"interval": "month", "currency": "EUR"}, "plan_not_supported"),
    ],
)
def test_a_plan_the_schedule_cannot_take_is_refused_and_nothing_changes(api, arb_sub, make_plan, plan_values, code):
    other = make_plan(name="Other", amount=9900, **{"billing_mode": "gateway", **plan_values})
    before = (arb_of(arb_sub).amount, arb_sub.plan_id, actions(arb_sub))

    response = api.patch(f"/api/v1/subscriptions/{arb_sub.public_id}", {"plan": other.public_id}, format="json")

    assert (response.status_code, response.json()["error"]["code"]) == (400, code)
    assert response.json()["error"]["param"] == "plan"
    assert (arb_of(arb_sub).amount, arb_sub.plan_id, actions(arb_sub)) == before
    assert arb_sub.billing_claimed_until is None


def test_a_card_change_moves_the_gateways_schedule_to_the_new_card(api, arb_sub, customer, card):
    second = payment_method_add(customer=customer, livemode=False, payment=MASTERCARD, actor=ACTOR)
    url = f"/api/v1/subscriptions/{arb_sub.public_id}"

    response = api.patch(url, {"payment_method": second.public_id}, format="json", HTTP_IDEMPOTENCY_KEY="card-1")

    assert response.status_code == 200, response.json()
    assert response.json()["payment_method"] == second.public_id
    arb = arb_of(arb_sub)
    assert (arb.customer_profile_id, arb.payment_profile_id) == (second.profile.customer_token, second.payment_token)
    assert (arb_sub.payment_method_id, arb_sub.pending_payment_method_id) == (second.pk, None)
    assert events(arb_sub)[-1] == "subscription.updated"
    # Back to the first card, and then a removed card: refused, nothing changes.
    assert api.patch(url, {"payment_method": card.public_id}, format="json").status_code == 200
    third = payment_method_add(customer=customer, livemode=False, payment=replace(MASTERCARD, exp_year=2032),
                               actor=ACTOR)  # fmt: skip
    payment_method_remove(method=third, actor=ACTOR)
    refused = api.patch(url, {"payment_method": third.public_id}, format="json")
    assert (refused.status_code, refused.json()["error"]["code"]) == (400, "payment_method_unusable")
    assert arb_of(arb_sub).payment_profile_id == card.payment_token
    assert api.patch(url, {"payment_method": "pm_nope"}, format="json").status_code == 404


def test_pause_cancels_the_schedule_and_resume_makes_one_from_the_next_period(
    api, arb_sub, anet_sandbox, anet_account, live_server, celery_worker
):
    anet_webhook_register(account=anet_sandbox, url=f"{live_server.url}/webhooks/authorizenet/{anet_account.public_id}")
    arb_run(as_of=timezone.now())  # the first payment
    wait_for(lambda: Invoice.objects.filter(subscription=arb_sub, status="paid").count() == 1, timeout=60)
    arb_sub.refresh_from_db()
    period_end, first_arb = arb_sub.current_period_end, arb_of(arb_sub)
    base = f"/api/v1/subscriptions/{arb_sub.public_id}"

    paused = api.post(f"{base}/pause", HTTP_IDEMPOTENCY_KEY="pause-1")
    replay = api.post(f"{base}/pause", HTTP_IDEMPOTENCY_KEY="pause-1")

    assert (paused.status_code, paused.json()["status"], replay["Idempotent-Replayed"]) == (200, "paused", "true")
    first_arb.refresh_from_db()
    assert first_arb.status == "canceled"
    # The gateway's "cancelled" webhook is our own pause: the subscription stays paused.
    cancelled = IncomingWebhook.objects.filter(event_type="net.authorize.customer.subscription.cancelled")
    wait_for(lambda: cancelled.filter(status="processed").exists(), timeout=60)
    assert "paused" in cancelled.get().result
    assert Subscription.objects.get(pk=arb_sub.pk).status == "paused"
    assert api.post(f"{base}/pause").json()["status"] == "paused"  # again: fine

    resumed = api.post(f"{base}/resume", HTTP_IDEMPOTENCY_KEY="resume-1")

    assert (resumed.status_code, resumed.json()["status"]) == (200, "active")
    second_arb = arb_of(arb_sub)
    assert second_arb.pk != first_arb.pk and AnetSubscription.objects.count() == 2
    assert (second_arb.status, second_arb.start_date, second_arb.amount) == ("active", period_end.date(), 2000)
    assert arb_sub.billing_anchor == period_end
    assert actions(arb_sub)[-1] == "subscription.resumed" and "subscription.paused" in actions(arb_sub)
    assert [e for e in events(arb_sub) if e in {"subscription.paused", "subscription.resumed"}] == [
        "subscription.paused", "subscription.resumed",
    ]  # fmt: skip
    # The new schedule's first payment is the next period's invoice.
    arb_run(as_of=period_end + timedelta(hours=1))
    wait_for(lambda: Invoice.objects.filter(subscription=arb_sub, status="paid").count() == 2, timeout=60)
    latest = Invoice.objects.filter(subscription=arb_sub).latest("period_start")
    assert latest.period_start == period_end
    assert latest.payment is not None and latest.payment.amount == 2000
    # Every notification matched. The new schedule's "created" can outrun the resume storing the
    # schedule's id (RabbitMQ hands it to the worker at once): it is then tried again shortly.
    settled = [IncomingWebhook.Status.PROCESSED, IncomingWebhook.Status.IGNORED]
    wait_for(lambda: not IncomingWebhook.objects.exclude(status__in=settled).exists(), timeout=60)
    assert Subscription.objects.get(pk=arb_sub.pk).status == "active"


def test_a_resume_whose_answer_was_lost_makes_one_schedule_on_retry(api, arb_sub, sandbox_fault):
    base = f"/api/v1/subscriptions/{arb_sub.public_id}"
    assert api.post(f"{base}/pause").status_code == 200
    sandbox_fault("drop_response", match="ARBCreateSubscriptionRequest")

    lost = api.post(f"{base}/resume", HTTP_IDEMPOTENCY_KEY="resume-lost")

    assert (lost.status_code, lost.json()["error"]["code"]) == (503, "gateway_unavailable")
    assert Subscription.objects.get(pk=arb_sub.pk).status == "paused"
    assert AnetSubscription.objects.filter(status="active").count() == 1  # made, but we did not hear it
    retried = api.post(f"{base}/resume", HTTP_IDEMPOTENCY_KEY="resume-lost")
    assert (retried.status_code, retried.json()["status"]) == (200, "active")
    assert AnetSubscription.objects.filter(status="active").count() == 1
    assert arb_of(arb_sub).status == "active"


def test_a_pause_whose_answer_was_lost_is_finished_by_the_retry(api, arb_sub, sandbox_fault):
    base = f"/api/v1/subscriptions/{arb_sub.public_id}"
    sandbox_fault("drop_response", match="ARBCancelSubscriptionRequest")

    lost = api.post(f"{base}/pause", HTTP_IDEMPOTENCY_KEY="pause-lost")

    assert lost.status_code == 503
    assert Subscription.objects.get(pk=arb_sub.pk).status == "paused"  # ours first, so no webhook can end it
    retried = api.post(f"{base}/pause", HTTP_IDEMPOTENCY_KEY="pause-lost")
    assert (retried.status_code, retried.json()["status"]) == (200, "paused")
    assert arb_of(arb_sub).status == "canceled"
    assert actions(arb_sub).count("subscription.paused") == 1
    # Cancelling a paused one: its gateway schedule is cancelled already, which is fine.
    canceled = api.post(f"{base}/cancel", {}, format="json")
    assert (canceled.status_code, canceled.json()["status"]) == (200, "canceled")


def test_pause_and_resume_refusals_change_nothing(api, arb_sub):
    base = f"/api/v1/subscriptions/{arb_sub.public_id}"
    not_paused = api.post(f"{base}/resume")
    Subscription.objects.filter(pk=arb_sub.pk).update(status="past_due")
    past_due = api.post(f"{base}/pause")

    assert (not_paused.status_code, not_paused.json()["error"]["code"]) == (409, "subscription_state_invalid")
    assert (past_due.status_code, past_due.json()["error"]["code"]) == (409, "subscription_state_invalid")
    assert "new card" in past_due.json()["error"]["message"]
    assert (arb_of(arb_sub).status, arb_sub.status, arb_sub.billing_claimed_until) == ("active", "past_due", None)
    assert AnetSubscription.objects.count() == 1
    assert "subscription.paused" not in actions(arb_sub)
    # A change while another one is out at the gateway: 409, not a race at the gateway.
    held_until = timezone.now() + timedelta(minutes=1)
    Subscription.objects.filter(pk=arb_sub.pk).update(status="active", billing_claimed_until=held_until)
    held = api.post(f"{base}/pause")
    assert (held.status_code, held.json()["error"]["code"]) == (409, "subscription_change_in_progress")
    assert "in progress" in held.json()["error"]["message"]
    assert (arb_of(arb_sub).status, arb_sub.status) == ("active", "active")


@pytest.mark.parametrize(
    ("fault", "made_before_the_retry"),
    [("drop_response", 1), ("http_error", 0)],  # the answer lost (outcome unknown); the gateway unavailable
)
def test_a_subscribe_whose_schedule_answer_was_lost_stays_open_and_the_retry_finds_the_one_schedule(
    api, customer, card, make_plan, sandbox_fault, fault, made_before_the_retry
):
    plan = make_plan(billing_mode="gateway", amount=2000)
    sandbox_fault(fault, 503 if fault == "http_error" else 0, match="ARBCreateSubscriptionRequest")
    body = {"customer": customer.public_id, "plan": plan.public_id}

    lost = api.post("/api/v1/subscriptions", body, format="json", HTTP_IDEMPOTENCY_KEY="subscribe-lost")

    assert (lost.status_code, lost.json()["error"]["code"]) == (503, "gateway_unavailable")
    ours = Subscription.objects.get()
    # Not a refusal: ours stays open without the gateway's id, and nothing was canceled.
    assert (ours.status, ours.gateway_subscription_id, ours.cancellation_reason) == ("active", "", "")
    assert "subscription.canceled" not in actions(ours)
    assert AnetSubscription.objects.count() == made_before_the_retry
    retried = api.post("/api/v1/subscriptions", body, format="json", HTTP_IDEMPOTENCY_KEY="subscribe-lost")
    assert (retried.status_code, retried.json()["id"], retried.json()["status"]) == (201, ours.public_id, "active")
    schedule = AnetSubscription.objects.get()  # the gateway answered the repeat with the same schedule
    assert (arb_of(ours).subscription_id, schedule.status) == (schedule.subscription_id, "active")
    assert Subscription.objects.count() == 1


def test_a_subscribe_the_gateway_refuses_ends_ours(api, customer, card, make_plan, sandbox_fault):
    plan = make_plan(billing_mode="gateway", amount=2000)
    # The card's profile is gone at the gateway: a definite refusal (E00040), nothing made there.
    PaymentMethod.objects.filter(pk=card.pk).update(payment_token="999999999")

    refused = api.post("/api/v1/subscriptions", {"customer": customer.public_id, "plan": plan.public_id}, format="json")

    assert (refused.status_code, refused.json()["error"]["code"]) == (502, "gateway_misconfigured")
    ours = Subscription.objects.get()
    assert (ours.status, ours.cancellation_reason) == ("canceled", "gateway_refused")
    assert AnetSubscription.objects.count() == 0


@pytest.mark.parametrize(("fault", "made_before_the_sweep"), [("drop_response", 1), ("http_error", 0)])
def test_a_lost_schedule_create_nobody_retries_is_finished_by_the_sweeper(
    api, customer, card, make_plan, sandbox_fault, fault, made_before_the_sweep
):
    """The client never retries: before, the schedule made at the gateway (answer lost) charged the
    customer with nothing of ours to match; the sweeper now learns its id (a repeat is answered as a
    duplicate with it), or makes it when the gateway was unreachable."""
    plan = make_plan(billing_mode="gateway", amount=2000)
    sandbox_fault(fault, 503 if fault == "http_error" else 0, match="ARBCreateSubscriptionRequest")
    body = {"customer": customer.public_id, "plan": plan.public_id}
    assert api.post("/api/v1/subscriptions", body, format="json").status_code == 503
    ours = Subscription.objects.get()
    assert (ours.gateway_subscription_id, AnetSubscription.objects.count()) == ("", made_before_the_sweep)

    assert recurring_subscriptions_start_sweep() == []  # too young: its client may still retry
    Subscription.objects.filter(pk=ours.pk).update(created_at=timezone.now() - timedelta(minutes=10))
    swept = recurring_subscriptions_start_sweep()

    schedule = AnetSubscription.objects.get()
    ours.refresh_from_db()
    assert swept == [f"{ours.public_id}: {schedule.subscription_id}"]
    assert (ours.status, ours.gateway_subscription_id) == ("active", schedule.subscription_id)
    assert recurring_subscriptions_start_sweep() == []  # done: nothing to sweep again


def test_canceling_one_whose_schedule_create_was_lost_cancels_the_schedule_too(
    api, customer, card, make_plan, sandbox_fault
):
    """Before: without the gateway's id the cancel skipped the gateway, and the schedule made there
    (its answer lost) went on charging the customer of a subscription we showed as canceled."""
    plan = make_plan(billing_mode="gateway", amount=2000)
    sandbox_fault("drop_response", match="ARBCreateSubscriptionRequest")
    assert (
        api.post(
            "/api/v1/subscriptions", {"customer": customer.public_id, "plan": plan.public_id}, format="json"
        ).status_code
        == 503
    )
    ours = Subscription.objects.get()

    canceled = api.post(f"/api/v1/subscriptions/{ours.public_id}/cancel", {}, format="json")

    assert (canceled.status_code, canceled.json()["status"]) == (200, "canceled"), canceled.content
    schedule = AnetSubscription.objects.get()
    assert schedule.status == "canceled"
    ours.refresh_from_db()
    assert ours.gateway_subscription_id == schedule.subscription_id
