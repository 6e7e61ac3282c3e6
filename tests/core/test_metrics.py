from __future__ import annotations

import time

import pytest

from apps.core.tasks import worker_heartbeat

pytestmark = pytest.mark.django_db


def test_metrics_are_hidden_without_a_token_or_an_allowed_address(client, settings):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_IPS = []

    assert client.get("/metrics").status_code == 404


def test_metrics_with_the_bearer_token(client, settings):
    settings.METRICS_TOKEN = "s3cret-token"
    settings.METRICS_ALLOWED_IPS = []

    assert client.get("/metrics", HTTP_AUTHORIZATION="Bearer wrong").status_code == 404
    response = client.get("/metrics", HTTP_AUTHORIZATION="Bearer s3cret-token")

    assert response.status_code == 200
    assert b"django_http_responses_total_by_status_view_method_total" in response.content


def test_metrics_from_an_allowed_network(client, settings):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_IPS = ["10.0.0.0/8", "not-a-network"]

    assert client.get("/metrics", REMOTE_ADDR="10.1.2.3").status_code == 200
    assert client.get("/metrics", REMOTE_ADDR="192.168.1.1").status_code == 404


def test_forwarded_addresses_are_trusted_only_behind_configured_proxies(client, settings):
    settings.METRICS_TOKEN = ""
    settings.METRICS_ALLOWED_IPS = ["10.0.0.0/8"]
    spoofed = {"REMOTE_ADDR": "203.0.113.9", "HTTP_X_FORWARDED_FOR": "10.0.0.1"}

    assert client.get("/metrics", **spoofed).status_code == 404
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    assert client.get("/metrics", **spoofed).status_code == 200


@pytest.mark.slow
def test_celery_task_counters_and_durations_are_exported(client, settings, celery_worker):
    settings.METRICS_TOKEN = "t"
    worker_heartbeat.delay()
    metric = 'clearhouse_celery_tasks_total{state="success",task="apps.core.tasks.worker_heartbeat"}'
    deadline = time.monotonic() + 10
    body = ""
    while metric not in body and time.monotonic() < deadline:
        time.sleep(0.1)
        body = client.get("/metrics", HTTP_AUTHORIZATION="Bearer t").content.decode()

    assert metric in body
    assert 'clearhouse_celery_task_duration_seconds_count{task="apps.core.tasks.worker_heartbeat"}' in body
    assert 'clearhouse_celery_tasks_published_total{task="apps.core.tasks.worker_heartbeat"}' in body
