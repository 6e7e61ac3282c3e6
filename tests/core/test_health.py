from __future__ import annotations

import time
from datetime import timedelta

import pytest
from django.utils import timezone
from prometheus_client import REGISTRY

from apps.core import health
from apps.core.models import WorkerHeartbeat
from apps.core.tasks import worker_heartbeat
from config.celery import app as celery_app

pytestmark = pytest.mark.django_db


def test_live_answers_while_the_process_is_up(client):
    response = client.get("/health/live")

    assert response.status_code == 200
    assert response.json() == {"status": "ok"}


def test_ready_does_not_wait_for_a_worker_and_workers_have_their_own_probe(client):
    response = client.get("/health/ready")

    body = response.json()
    assert response.status_code == 200, body
    assert body["status"] == "ok"
    assert body["checks"]["database"]["ok"] is True
    assert body["checks"]["migrations"] == {**body["checks"]["migrations"], "ok": True, "pending": 0}
    assert body["checks"]["broker"]["ok"] is True
    assert "worker" not in body["checks"]
    workers = client.get("/health/workers")
    assert workers.status_code == 503
    assert workers.json()["checks"]["worker"] == {**workers.json()["checks"]["worker"], "ok": False}


def test_workers_are_degraded_when_the_last_heartbeat_is_too_old(client, settings):
    WorkerHeartbeat.objects.create(hostname="w1", last_seen=timezone.now() - timedelta(minutes=10))
    settings.HEALTH_WORKER_MAX_AGE_SECONDS = 60

    response = client.get("/health/workers")

    assert response.status_code == 503
    assert response.json()["checks"]["worker"]["ok"] is False
    assert response.json()["checks"]["worker"]["worker"] == "w1"
    assert client.get("/health/ready").status_code == 200


def test_ready_is_degraded_when_the_broker_is_unreachable(client, monkeypatch):
    WorkerHeartbeat.objects.create(hostname="w1", last_seen=timezone.now())
    monkeypatch.setattr(celery_app.conf, "broker_url", "redis://127.0.0.1:1/0")

    response = client.get("/health/ready")

    assert response.status_code == 503
    assert response.json()["checks"]["broker"]["ok"] is False
    assert "error" in response.json()["checks"]["broker"]


def test_ready_reports_pending_migrations(client, monkeypatch):
    monkeypatch.setattr(health, "_migrations_known_applied", False)

    class PendingPlan:
        def __init__(self, connection):
            self.loader = type("L", (), {"graph": type("G", (), {"leaf_nodes": lambda self: []})()})()

        def migration_plan(self, targets):
            return [("app", "0002_pending")]

    monkeypatch.setattr(health, "MigrationExecutor", PendingPlan)

    check = client.get("/health/ready").json()["checks"]["migrations"]

    assert check["ok"] is False
    assert check["pending"] == 1


@pytest.mark.slow
def test_workers_are_healthy_once_a_real_worker_runs_the_heartbeat(client, celery_worker):
    before = time.time()
    worker_heartbeat.delay()
    deadline = time.monotonic() + 10
    while not WorkerHeartbeat.objects.exists() and time.monotonic() < deadline:
        time.sleep(0.05)

    response = client.get("/health/workers")

    assert response.status_code == 200, response.json()
    assert response.json()["status"] == "ok"
    assert response.json()["checks"]["worker"]["age_seconds"] < 10
    assert REGISTRY.get_sample_value("clearhouse_worker_last_heartbeat_timestamp_seconds") >= before
