"""A pause of a gateway-run (Authorize.Net ARB) subscription whose schedule cancel failed owes
that cancel durably: the schedule is recorded in the pause's transaction, and a beat sweep queues
its cancel again while it is open. Before, the cancel was only a task queued on commit: with the
broker down at that moment it was lost, and nothing queued it again, so the schedule kept
charging a paused subscription.

The broker is really unreachable here (a Celery app on a closed port, as in
tests/core/test_faults_on_our_side.py); the gateway is the in-repo sandbox over HTTP."""

from __future__ import annotations

from datetime import timedelta

import pytest
from celery import Celery
from django.conf import settings as django_settings
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.core.metrics import TASKS_NOT_QUEUED
from apps.sandbox.models import AnetSubscription
from apps.subscriptions.models import GatewayScheduleCancel, Subscription
from apps.subscriptions.recurring import (
    RECANCEL_TASK,
    recurring_schedule_cancel,
    recurring_schedule_cancels_sweep,
)
from config.celery import app as celery_app
from tests.helpers import wait_for

from .conftest import ACTOR
from .conftest import audit_actions as actions

pytestmark = pytest.mark.django_db(transaction=True)

SWEEP_TASK = "apps.subscriptions.tasks.recurring_schedule_cancels_sweep"
CANCEL_CALL = "ARBCancelSubscriptionRequest"

# A Celery app whose broker is a closed port: every send to it fails as with the broker down.
UNREACHABLE = Celery("unreachable-broker", broker="redis://127.0.0.1:1/0", set_as_current=False)
UNREACHABLE.conf.broker_connection_timeout = 1


@pytest.fixture
def arb_sub(arb_sub_over_api):
    return arb_sub_over_api


def paused_with_its_cancel_lost(api, arb_sub, sandbox_fault, monkeypatch) -> AnetSubscription:
    """The pause's cancel answered 503 by the gateway, and the broker down when the pause committed."""
    schedule = AnetSubscription.objects.get()
    sandbox_fault("http_error", value=503, match=CANCEL_CALL)
    not_queued = TASKS_NOT_QUEUED.labels(task=RECANCEL_TASK)
    lost_before = not_queued._value.get()
    with monkeypatch.context() as patch:
        patch.setattr(celery_app, "send_task", UNREACHABLE.send_task)
        failed = api.post(f"/api/v1/subscriptions/{arb_sub.public_id}/pause")
    assert failed.status_code == 503, failed.json()
    assert not_queued._value.get() == lost_before + 1  # the re-cancel never reached a broker
    assert Subscription.objects.get(pk=arb_sub.pk).status == "paused"
    schedule.refresh_from_db()
    assert schedule.status == "active"  # still charging
    return schedule


def ten_minutes_pass() -> None:
    GatewayScheduleCancel.objects.update(queued_at=timezone.now() - timedelta(minutes=11))


def test_a_pause_whose_recancel_was_lost_with_the_broker_is_cancelled_by_the_beat_sweep(
    api, arb_sub, sandbox_fault, monkeypatch, celery_worker
):
    # Given a pause whose schedule cancel failed, and whose re-cancel task was lost with the broker
    schedule = paused_with_its_cancel_lost(api, arb_sub, sandbox_fault, monkeypatch)
    ten_minutes_pass()
    sweeps = [entry for entry in django_settings.CELERY_BEAT_SCHEDULE.values() if entry["task"] == SWEEP_TASK]
    assert sweeps, "no beat entry sweeps the owed schedule cancels"

    # When beat sends the sweep (the broker is back) and the worker runs what it queues
    celery_app.send_task(SWEEP_TASK)

    # Then the schedule is cancelled at the gateway, and the owed cancel is recorded done, audited
    wait_for(lambda: AnetSubscription.objects.get(pk=schedule.pk).status == "canceled", timeout=30)
    wait_for(lambda: not GatewayScheduleCancel.objects.filter(done_at__isnull=True).exists(), timeout=10)
    owed = GatewayScheduleCancel.objects.get()
    assert (owed.subscription_id, owed.schedule_id, owed.outcome) == (arb_sub.pk, schedule.subscription_id, "cancelled")
    sub = Subscription.objects.get(pk=arb_sub.pk)
    assert (sub.status, sub.gateway_subscription_id) == ("paused", schedule.subscription_id)
    assert actions(sub)[-2:] == [
        "subscription.gateway_schedule_cancel_queued",
        "subscription.gateway_schedule_canceled",
    ]
    canceled = AuditEvent.objects.get(target_id=sub.public_id, action="subscription.gateway_schedule_canceled")
    assert canceled.after["gateway_schedule"] == schedule.subscription_id
    # And a later sweep finds nothing owed
    ten_minutes_pass()
    assert recurring_schedule_cancels_sweep() == []


def test_the_sweep_leaves_a_young_owed_cancel_to_its_own_task_and_retries_while_the_broker_is_down(
    api, arb_sub, sandbox_fault, monkeypatch, sent_tasks
):
    schedule = paused_with_its_cancel_lost(api, arb_sub, sandbox_fault, monkeypatch)

    assert recurring_schedule_cancels_sweep() == []  # just queued: its own task may still come
    ten_minutes_pass()
    with monkeypatch.context() as patch:  # the broker still down at the sweep
        patch.setattr(celery_app, "send_task", UNREACHABLE.send_task)
        assert recurring_schedule_cancels_sweep() == []
    swept = recurring_schedule_cancels_sweep()  # back up

    assert swept == [f"{arb_sub.public_id}: {schedule.subscription_id}"]
    assert [(task.name, task.args) for task in sent_tasks] == [(RECANCEL_TASK, (arb_sub.pk, schedule.subscription_id))]
    assert recurring_schedule_cancels_sweep() == []  # queued now: not again until it is old


def test_the_owed_cancel_run_twice_cancels_once_and_is_audited_once(api, arb_sub, sandbox_fault, monkeypatch):
    schedule = paused_with_its_cancel_lost(api, arb_sub, sandbox_fault, monkeypatch)

    first = recurring_schedule_cancel(subscription_id=arb_sub.pk, schedule_id=schedule.subscription_id, actor=ACTOR)
    probe = sandbox_fault("http_error", value=503, match=CANCEL_CALL)  # taken by any cancel that reaches it
    second = recurring_schedule_cancel(subscription_id=arb_sub.pk, schedule_id=schedule.subscription_id, actor=ACTOR)

    assert "cancelled" in first and "already cancelled" in second
    probe.refresh_from_db()
    assert probe.remaining == 1  # the second copy never reached the gateway
    assert AnetSubscription.objects.get(pk=schedule.pk).status == "canceled"
    assert actions(arb_sub).count("subscription.gateway_schedule_canceled") == 1
    ten_minutes_pass()
    assert recurring_schedule_cancels_sweep() == []


def test_a_retry_of_the_pause_that_cancels_the_schedule_settles_what_was_owed(
    api, arb_sub, sandbox_fault, monkeypatch, sent_tasks
):
    schedule = paused_with_its_cancel_lost(api, arb_sub, sandbox_fault, monkeypatch)

    retried = api.post(f"/api/v1/subscriptions/{arb_sub.public_id}/pause")

    assert (retried.status_code, retried.json()["status"]) == (200, "paused")
    assert AnetSubscription.objects.get(pk=schedule.pk).status == "canceled"
    assert GatewayScheduleCancel.objects.get().outcome == "cancelled by the pause"
    ten_minutes_pass()
    assert recurring_schedule_cancels_sweep() == []
    assert RECANCEL_TASK not in [task.name for task in sent_tasks]
