"""Prometheus metrics of our own, and the access-controlled /metrics view.

With several processes (gunicorn workers, Celery prefork children) set PROMETHEUS_MULTIPROC_DIR
to a directory shared by all of them; django-prometheus's exporter then aggregates them.
"""

from __future__ import annotations

import hmac

from django.conf import settings
from django.http import Http404, HttpRequest, HttpResponse
from django.views.decorators.csrf import csrf_exempt
from django_prometheus.exports import ExportToDjangoView
from prometheus_client import Counter, Gauge, Histogram

from .net import client_ip, ip_in_networks

CELERY_TASKS = Counter(
    "clearhouse_celery_tasks_total", "Celery tasks finished, by task and final state", ["task", "state"]
)
CELERY_TASKS_PUBLISHED = Counter("clearhouse_celery_tasks_published_total", "Celery tasks sent", ["task"])
TASKS_NOT_QUEUED = Counter(
    "clearhouse_celery_tasks_not_queued_total",
    "Tasks the broker would not take after a commit (the sweepers queue their work again)",
    ["task"],
)
CELERY_TASK_DURATION = Histogram(
    "clearhouse_celery_task_duration_seconds",
    "Celery task run time",
    ["task"],
    buckets=(0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 300),
)

WORKER_HEARTBEAT = Gauge(
    "clearhouse_worker_last_heartbeat_timestamp_seconds",
    "When a Celery worker last ran the heartbeat task (alert on time() minus this)",
    multiprocess_mode="max",
)

WEBHOOKS_RECEIVED = Counter(
    "clearhouse_webhooks_received_total",
    "Gateway webhooks received, by outcome (stored, duplicate, bad_signature, malformed)",
    ["gateway", "outcome"],
)
WEBHOOK_DELIVERIES = Counter(
    "clearhouse_webhook_deliveries_total", "Merchant webhook delivery attempts, by outcome", ["outcome"]
)


def metrics_access_allowed_for(*, authorization: str, ip: str | None) -> bool:
    """The rule of every metrics endpoint (this view, apps.core.worker_metrics): the bearer
    METRICS_TOKEN, or a client address in METRICS_ALLOWED_IPS."""
    token = settings.METRICS_TOKEN
    if (
        token
        and authorization.startswith("Bearer ")
        and hmac.compare_digest(authorization[7:].encode(), token.encode())
    ):
        return True
    return ip_in_networks(ip, settings.METRICS_ALLOWED_IPS)


def metrics_access_allowed(request: HttpRequest) -> bool:
    return metrics_access_allowed_for(authorization=request.headers.get("Authorization", ""), ip=client_ip(request))


@csrf_exempt
def metrics_view(request: HttpRequest) -> HttpResponse:
    if not metrics_access_allowed(request):
        # Not found rather than forbidden: do not advertise the endpoint.
        raise Http404
    response: HttpResponse = ExportToDjangoView(request)
    return response


CHECKOUT_SIGNATURE_FAILURES = Counter(
    "clearhouse_checkout_signature_failures_total", "Checkout verify calls refused for a bad signature", ["gateway"]
)
