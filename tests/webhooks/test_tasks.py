"""The thin task layer: retries wait in the broker only when short; long waits are the sweepers'."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.utils import timezone

from apps.events import deliveries as event_deliveries
from apps.events import services as event_services
from apps.events import tasks as event_tasks
from apps.events.models import WebhookDelivery
from apps.webhooks import services, tasks
from apps.webhooks.models import IncomingWebhook

pytestmark = pytest.mark.django_db


def test_countdowns_beyond_the_broker_limit_are_left_to_the_sweepers(settings):
    settings.CELERY_MAX_COUNTDOWN_SECONDS = 900
    now = timezone.now()

    assert tasks._countdown(None) is None
    assert tasks._countdown(now - timedelta(seconds=5)) == 0
    assert 115 <= tasks._countdown(now + timedelta(seconds=120)) <= 120
    assert tasks._countdown(now + timedelta(hours=2)) is None


def test_a_failed_processing_is_queued_again_with_its_backoff(monkeypatch):
    sent: list[Any] = []
    failed = IncomingWebhook(
        pk=7, status=IncomingWebhook.Status.FAILED, next_attempt_at=timezone.now() + timedelta(seconds=30)
    )
    monkeypatch.setattr(services, "incoming_webhook_process", lambda webhook_id: failed)
    monkeypatch.setattr(
        tasks.incoming_webhook_process, "apply_async", lambda args, countdown: sent.append((args, countdown))
    )

    tasks.incoming_webhook_process.run(7)

    assert len(sent) == 1 and sent[0][0] == (7,) and 25 <= sent[0][1] <= 30


def test_a_processed_or_dead_webhook_is_not_queued_again(monkeypatch):
    sent: list[Any] = []
    dead = IncomingWebhook(pk=8, status=IncomingWebhook.Status.DEAD)
    monkeypatch.setattr(services, "incoming_webhook_process", lambda webhook_id: dead)
    monkeypatch.setattr(tasks.incoming_webhook_process, "apply_async", lambda *a, **k: sent.append(a))

    tasks.incoming_webhook_process.run(8)

    assert sent == []


def test_a_failed_delivery_attempt_is_queued_for_its_next_try(monkeypatch):
    sent: list[Any] = []
    pending = WebhookDelivery(
        pk=3, status=WebhookDelivery.Status.PENDING, next_attempt_at=timezone.now() + timedelta(seconds=5)
    )
    monkeypatch.setattr(event_deliveries, "webhook_delivery_attempt", lambda delivery_id: pending)
    monkeypatch.setattr(
        event_tasks.webhook_delivery_attempt, "apply_async", lambda args, countdown: sent.append((args, countdown))
    )

    event_tasks.webhook_delivery_attempt.run(3)

    assert len(sent) == 1 and sent[0][0] == (3,)


def test_sweep_tasks_report_what_they_queued(monkeypatch):
    monkeypatch.setattr(services, "incoming_webhooks_sweep", lambda: [1, 2])
    monkeypatch.setattr(event_services, "events_sweep", lambda: {"events": 0, "deliveries": 1})
    monkeypatch.setattr(event_services, "event_relay", lambda event_id: [])

    assert tasks.incoming_webhooks_sweep.run() == 2
    assert event_tasks.events_sweep.run() == {"events": 0, "deliveries": 1}
    assert event_tasks.event_relay.run(5) is None
