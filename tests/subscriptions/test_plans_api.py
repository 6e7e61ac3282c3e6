"""Plans through the API: created with integer money, read back, retired; bad input changes nothing."""

from __future__ import annotations

import pytest

from apps.audit.models import AuditEvent
from apps.subscriptions.models import Plan

pytestmark = pytest.mark.django_db


def test_create_list_retrieve_and_retire_a_plan(api):
    body = {"name": "Pro", "amount": 1500, "currency": "usd", "interval": "month", "trial_days": 14}
    created = api.post("/api/v1/plans", body, format="json", HTTP_IDEMPOTENCY_KEY="plan-1")
    plan = created.json()

    assert created.status_code == 201, plan
    assert plan["id"].startswith("plan_")
    assert (plan["amount"], plan["currency"], plan["interval"], plan["interval_count"], plan["trial_days"]) == (
        1500, "USD", "month", 1, 14,
    )  # fmt: skip
    assert plan["billing_mode"] == "clearhouse" and plan["active"] is True
    again = api.post("/api/v1/plans", body, format="json", HTTP_IDEMPOTENCY_KEY="plan-1")
    assert again.json()["id"] == plan["id"] and again["Idempotent-Replayed"] == "true"
    assert Plan.objects.count() == 1
    assert [p["id"] for p in api.get("/api/v1/plans").json()["data"]] == [plan["id"]]
    assert api.get(f"/api/v1/plans/{plan['id']}").json()["name"] == "Pro"

    retired = api.patch(f"/api/v1/plans/{plan['id']}", {"active": False, "name": "Pro (old)"}, format="json")

    assert retired.status_code == 200
    assert (retired.json()["active"], retired.json()["name"], retired.json()["amount"]) == (False, "Pro (old)", 1500)
    assert AuditEvent.objects.filter(target_id=plan["id"]).count() == 2


@pytest.mark.parametrize(
    ("change", "param"),
    [
        ({"amount": 15.5}, "amount"),
        ({"amount": "1500"}, "amount"),
        ({"amount": 0}, "amount"),
        ({"currency": "XXX"}, "currency"),
        ({"interval": "fortnight"}, "interval"),
        ({"interval": "month", "interval_count": 13}, "interval_count"),
        ({"billing_mode": "gateway", "interval": "day", "interval_count": 3}, "interval_count"),
    ],
)
def test_bad_plans_are_refused_in_the_error_envelope_and_nothing_is_created(api, change, param):
    body = {"name": "Pro", "amount": 1500, "currency": "USD", "interval": "month", **change}

    response = api.post("/api/v1/plans", body, format="json")

    error = response.json()["error"]
    assert response.status_code == 400, error
    assert error["param"] == param
    assert Plan.objects.count() == 0


def test_plans_of_another_merchant_are_invisible(api, other_merchant):
    from apps.audit.actors import Actor
    from apps.subscriptions.services import plan_create

    theirs = plan_create(
        merchant=other_merchant, name="X", amount=100, currency="USD", interval="week", actor=Actor.system("t")
    )

    assert api.get("/api/v1/plans").json()["data"] == []
    assert api.get(f"/api/v1/plans/{theirs.public_id}").status_code == 404
