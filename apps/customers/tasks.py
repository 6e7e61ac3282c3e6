from __future__ import annotations

from typing import Any

from celery import Task, shared_task

from apps.gateways.errors import GatewayOutcomeUnknown, GatewayRetryable

from . import services


@shared_task(bind=True, max_retries=20, time_limit=60, soft_time_limit=50, ignore_result=True)
def payment_method_purge(self: Task[Any, Any], payment_method_id: int) -> None:
    """Delete a removed card at the gateway. Safe to run twice: a done deletion is skipped and
    the gateway treats a missing card as deleted."""
    try:
        services.payment_method_purge(payment_method_id=payment_method_id)
    except (GatewayRetryable, GatewayOutcomeUnknown) as exc:
        raise self.retry(exc=exc, countdown=min(900, 30 * 2**self.request.retries)) from exc


@shared_task(ignore_result=True, time_limit=120, soft_time_limit=100)
def payment_methods_purge_sweep() -> int:
    """Safe to run twice: a card already deleted at the gateway is no longer selected."""
    return len(services.payment_methods_purge_sweep())
