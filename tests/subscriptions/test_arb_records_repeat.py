"""The records made after an ARB call run on a fresh connection when ours was cut
(atomic_with_reconnect), so they may run twice: the first run's COMMIT went through and only its
acknowledgement was lost. Run twice here, each in a transaction that commits, the second records
nothing again: one audit row and one event per change, one owed cancel."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from django.db import transaction

from apps.audit.models import AuditEvent
from apps.events.models import Event
from apps.subscriptions import recurring, recurring_changes
from apps.subscriptions.models import GatewayScheduleCancel, Subscription

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def records_twice(monkeypatch) -> dict[str, Callable[[], Any]]:
    """Each record runs twice, committed each time; `between` (set by the test) runs in the gap,
    as another request's commit could."""
    gap: dict[str, Callable[[], Any]] = {"between": lambda: None}

    def committed_twice(work: Callable[[], Any], *, what: str) -> Any:
        with transaction.atomic():
            work()
        gap["between"]()
        with transaction.atomic():
            return work()

    monkeypatch.setattr(recurring, "atomic_with_reconnect", committed_twice)
    monkeypatch.setattr(recurring_changes, "atomic_with_reconnect", committed_twice)
    return gap


def audited(subscription: Subscription, action: str) -> int:
    return AuditEvent.objects.filter(target_id=subscription.public_id, action=action).count()


def test_a_plan_change_recorded_twice_is_audited_and_published_once(api, arb_sub_over_api, make_plan, records_twice):
    sub = arb_sub_over_api
    gold = make_plan(billing_mode="gateway", amount=3500)

    changed = api.patch(f"/api/v1/subscriptions/{sub.public_id}", {"plan": gold.public_id}, format="json")

    assert changed.status_code == 200, changed.json()
    sub.refresh_from_db()
    assert (sub.plan_id, sub.billing_claimed_until) == (gold.pk, None)
    assert audited(sub, "subscription.changed") == 1
    assert Event.objects.filter(type="subscription.updated", object_id=sub.public_id).count() == 1


def test_a_resume_recorded_twice_is_audited_and_published_once(api, arb_sub_over_api, records_twice):
    sub = arb_sub_over_api
    assert api.post(f"/api/v1/subscriptions/{sub.public_id}/pause").status_code == 200
    # a pause of the resumed subscription commits between the two runs
    records_twice["between"] = lambda: Subscription.objects.filter(pk=sub.pk).update(status="paused")

    resumed = api.post(f"/api/v1/subscriptions/{sub.public_id}/resume")

    assert resumed.status_code == 200, resumed.json()
    sub.refresh_from_db()
    assert (sub.status, sub.billing_claimed_until) == ("paused", None)  # the pause's, not resumed again
    assert audited(sub, "subscription.resumed") == 1
    assert Event.objects.filter(type="subscription.resumed", object_id=sub.public_id).count() == 1


def test_a_pause_whose_cancel_failed_owes_the_cancel_once_when_recorded_twice(
    api, arb_sub_over_api, sandbox_fault, records_twice
):
    sub = arb_sub_over_api
    sandbox_fault("http_error", 503, match="ARBCancelSubscriptionRequest")

    paused = api.post(f"/api/v1/subscriptions/{sub.public_id}/pause")

    assert paused.status_code == 503, paused.json()
    assert GatewayScheduleCancel.objects.filter(subscription=sub, done_at__isnull=True).count() == 1
    assert audited(sub, "subscription.gateway_schedule_cancel_queued") == 1
