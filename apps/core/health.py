"""Liveness and readiness probes of the web process, and the workers' own health.

Readiness says whether this process can serve: database, migrations, broker. It does not wait
for a Celery worker: a load balancer would otherwise take every web process out of service while
the workers are down, stopping payments that need none. Workers have their own endpoint
(/health/workers) and metric (clearhouse_worker_last_heartbeat_timestamp_seconds)."""

from __future__ import annotations

import time
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.db import DEFAULT_DB_ALIAS, connections
from django.db.migrations.executor import MigrationExecutor
from django.http import HttpRequest, JsonResponse
from django.utils import timezone
from django.views.decorators.cache import never_cache

from config.celery import app

from .models import WorkerHeartbeat

# Migrations are never un-applied under a running process, so once the plan is empty it
# stays empty; remember that and skip the (costly) migration graph on later probes.
_migrations_known_applied = False


def _timed(check: Any) -> dict[str, Any]:
    started = time.perf_counter()
    try:
        result: dict[str, Any] = check()
    except Exception as exc:  # a probe reports failures, it does not raise them
        result = {"ok": False, "error": f"{type(exc).__name__}: {exc}"}
    result["duration_ms"] = round((time.perf_counter() - started) * 1000, 1)
    return result


def check_database() -> dict[str, Any]:
    with connections[DEFAULT_DB_ALIAS].cursor() as cursor:
        cursor.execute("SELECT 1")
        cursor.fetchone()
    return {"ok": True}


def check_migrations() -> dict[str, Any]:
    global _migrations_known_applied
    if _migrations_known_applied:
        return {"ok": True, "pending": 0}
    connection = connections[DEFAULT_DB_ALIAS]
    executor = MigrationExecutor(connection)
    plan = executor.migration_plan(executor.loader.graph.leaf_nodes())
    if not plan:
        _migrations_known_applied = True
    return {"ok": not plan, "pending": len(plan)}


def check_broker() -> dict[str, Any]:
    with app.connection_for_write() as connection:
        connection.ensure_connection(max_retries=1, timeout=2)
        transport = connection.transport_cls
    return {"ok": True, "transport": str(transport)}


def check_worker() -> dict[str, Any]:
    max_age = timedelta(seconds=settings.HEALTH_WORKER_MAX_AGE_SECONDS)
    latest = WorkerHeartbeat.objects.order_by("-last_seen").first()
    if latest is None:
        return {"ok": False, "error": "no Celery worker has answered yet"}
    age = timezone.now() - latest.last_seen
    return {
        "ok": age <= max_age,
        "worker": latest.hostname,
        "last_seen": latest.last_seen.isoformat(),
        "age_seconds": round(age.total_seconds(), 1),
    }


@never_cache
def live(request: HttpRequest) -> JsonResponse:
    return JsonResponse({"status": "ok"})


def _report(checks: dict[str, dict[str, Any]]) -> JsonResponse:
    healthy = all(check["ok"] for check in checks.values())
    return JsonResponse({"status": "ok" if healthy else "degraded", "checks": checks}, status=200 if healthy else 503)


@never_cache
def ready(request: HttpRequest) -> JsonResponse:
    return _report(
        {"database": _timed(check_database), "migrations": _timed(check_migrations), "broker": _timed(check_broker)}
    )


@never_cache
def workers(request: HttpRequest) -> JsonResponse:
    """200 while a Celery worker ran the heartbeat task within HEALTH_WORKER_MAX_AGE_SECONDS."""
    return _report({"worker": _timed(check_worker)})
