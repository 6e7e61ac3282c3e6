"""/api/v1/subscriptions: the lifecycle over HTTP, idempotent creation, refusals that change nothing."""

from __future__ import annotations

import pytest

from apps.sandbox.models import AnetTransaction
from apps.subscriptions.models import Invoice, Subscription

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def plan(api):
    body = {"name": "Pro", "amount": 2500, "currency": "USD", "interval": "month"}
    return api.post("/api/v1/plans", body, format="json").json()


@pytest.fixture
def customer_id(customer, card):
    return customer.public_id


def test_subscribe_is_idempotent_and_charges_once(api, plan, customer_id, card):
    body = {"customer": customer_id, "plan": plan["id"], "metadata": {"seat": "7"}}

    first = api.post("/api/v1/subscriptions", body, format="json", HTTP_IDEMPOTENCY_KEY="sub-1")
    again = api.post("/api/v1/subscriptions", body, format="json", HTTP_IDEMPOTENCY_KEY="sub-1")

    sub = first.json()
    assert first.status_code == 201, sub
    assert (sub["status"], sub["plan"], sub["payment_method"], sub["metadata"]) == (
        "active", plan["id"], card.public_id, {"seat": "7"},
    )  # fmt: skip
    assert again.json()["id"] == sub["id"] and again["Idempotent-Replayed"] == "true"
    assert (Subscription.objects.count(), AnetTransaction.objects.count()) == (1, 1)
    invoices = api.get(f"/api/v1/subscriptions/{sub['id']}/invoices").json()["data"]
    assert [(i["status"], i["amount"], len(i["attempts"])) for i in invoices] == [("paid", 2500, 1)]
    assert invoices[0]["attempts"][0]["status"] == "succeeded"


def test_a_declined_first_charge_answers_402_and_the_subscription_is_canceled(
    api, plan, customer_id, card, decline_card
):
    decline_card(card)

    response = api.post("/api/v1/subscriptions", {"customer": customer_id, "plan": plan["id"]}, format="json")

    error = response.json()["error"]
    assert (response.status_code, error["type"]) == (402, "card_error")
    assert Subscription.objects.get().status == "canceled"


def test_change_cancel_pause_and_resume_over_http(api, plan, customer_id, merchant):
    sub = api.post("/api/v1/subscriptions", {"customer": customer_id, "plan": plan["id"]}, format="json").json()
    base = f"/api/v1/subscriptions/{sub['id']}"
    other = api.post(
        "/api/v1/plans", {"name": "Team", "amount": 9900, "currency": "USD", "interval": "year"}, format="json"
    ).json()

    changed = api.patch(base, {"plan": other["id"]}, format="json").json()
    assert (changed["plan"], changed["pending_plan"]) == (plan["id"], other["id"])
    paused = api.post(f"{base}/pause").json()
    assert (paused["status"], paused["next_billing_at"]) == ("paused", None)
    resumed = api.post(f"{base}/resume").json()
    assert (resumed["status"], resumed["next_billing_at"]) == ("active", resumed["current_period_end"])
    at_end = api.post(f"{base}/cancel", {"at_period_end": True}, format="json").json()
    assert (at_end["status"], at_end["cancel_at_period_end"]) == ("active", True)
    ending = api.post(f"{base}/pause")  # it ends at the period's end: no pause before that
    assert (ending.status_code, ending.json()["error"]["code"]) == (409, "subscription_state_invalid")
    canceled = api.post(f"{base}/cancel", {}, format="json").json()
    assert (canceled["status"], canceled["next_billing_at"]) == ("canceled", None)
    refused = api.post(f"{base}/pause")
    assert (refused.status_code, refused.json()["error"]["code"]) == (409, "subscription_state_invalid")
    listed = api.get("/api/v1/subscriptions", {"status": "canceled", "customer": customer_id}).json()["data"]
    assert [s["id"] for s in listed] == [sub["id"]]
    assert api.get("/api/v1/subscriptions", {"status": "active"}).json()["data"] == []


@pytest.mark.parametrize(
    ("change", "status", "code"),
    [
        ({"plan": "plan_doesnotexist"}, 404, "resource_missing"),
        ({"customer": "not-a-customer"}, 400, "parameter_invalid"),
        ({"payment_method": "pm_nope"}, 404, "resource_missing"),
        ({"trial_days": -1}, 400, "parameter_invalid"),
    ],
)
def test_bad_subscriptions_are_refused_and_nothing_is_created(api, plan, customer_id, change, status, code):
    response = api.post("/api/v1/subscriptions", {"customer": customer_id, "plan": plan["id"], **change}, format="json")

    assert response.status_code == status, response.json()
    assert response.json()["error"]["code"] == code
    assert (Subscription.objects.count(), Invoice.objects.count()) == (0, 0)


def test_a_retired_plan_takes_no_new_subscribers(api, plan, customer_id):
    api.patch(f"/api/v1/plans/{plan['id']}", {"active": False}, format="json")

    response = api.post("/api/v1/subscriptions", {"customer": customer_id, "plan": plan["id"]}, format="json")

    assert (response.status_code, response.json()["error"]["code"]) == (409, "plan_inactive")
    assert Subscription.objects.count() == 0


def test_a_trial_subscription_starts_without_a_charge(api, plan, customer_id):
    response = api.post(
        "/api/v1/subscriptions", {"customer": customer_id, "plan": plan["id"], "trial_days": 7}, format="json"
    )

    sub = response.json()
    assert (response.status_code, sub["status"]) == (201, "trialing")
    assert sub["trial_end"] == sub["next_billing_at"] == sub["current_period_end"]
    assert AnetTransaction.objects.count() == 0
