from __future__ import annotations

import random
from typing import Any

from celery import Task, shared_task

from apps.gateways.errors import GatewayOutcomeUnknown, GatewayRetryable

from . import services

# Backoff for asking the gateway again: 5 s doubling to 10 minutes, with jitter (a quarter either
# way; services.refunds.DEFERRED_SEND_GRACE waits out the longest).
_BASE_DELAY, _MAX_DELAY = 5, 600


def _backoff(retries: int) -> int:
    delay = min(_MAX_DELAY, _BASE_DELAY * 2**retries)
    return int(delay * random.uniform(0.75, 1.25))  # noqa: S311 - jitter, not security


@shared_task(bind=True, max_retries=200, time_limit=120, soft_time_limit=100, ignore_result=True)
def gateway_transaction_resolve(self: Task[Any, Any], gateway_transaction_id: int) -> None:
    """Find out what became of a gateway call whose answer was lost. Safe to run twice: a call
    already resolved is left alone, and the resolution itself happens under row locks."""
    try:
        done = services.gateway_transaction_resolve(gateway_transaction_id=gateway_transaction_id)
    except (GatewayRetryable, GatewayOutcomeUnknown) as exc:
        raise self.retry(exc=exc, countdown=_backoff(self.request.retries)) from exc
    if not done:
        raise self.retry(countdown=_backoff(self.request.retries))


@shared_task(bind=True, max_retries=12, ignore_result=True, time_limit=120, soft_time_limit=100)
def refund_send(self: Task[Any, Any], gateway_transaction_id: int) -> str:
    """An approved refund's gateway call, queued when its approval committed (bulk approvals).
    Safe to run twice: the call is claimed as sent before it goes out, and a claimed call is left
    alone. A run killed mid-call leaves it pending, for the sweeper and the resolver. A call the
    gateway never received is queued again and tried later (the service fails it once its window
    is over; past the retries, the sweeper queues it again)."""
    try:
        return services.refund_send(gateway_transaction_id=gateway_transaction_id)
    except services.RefundSendDeferred as exc:
        raise self.retry(exc=exc, countdown=_backoff(self.request.retries)) from exc


@shared_task(ignore_result=True, time_limit=300, soft_time_limit=240)
def gateway_transactions_sweep() -> int:
    """Periodic: calls left pending by a dead process become unknown, and every unknown call is
    queued for resolution again (duplicates are harmless)."""
    return len(services.gateway_transactions_sweep())


@shared_task(ignore_result=True, time_limit=600, soft_time_limit=540)
def payments_authentication_sweep() -> int:
    """Periodic: payments waiting for 3-D Secure are asked about at the gateway (no webhook came)
    and given up (the intent cancelled, the payment failed) once too old."""
    return len(services.payments_authentication_sweep())


@shared_task(ignore_result=True, time_limit=600, soft_time_limit=540)
def payments_review_expire() -> int:
    """Periodic: payments held for risk review too long are voided; decisions whose capture or
    void did not reach the gateway are carried again (safe to run twice)."""
    return len(services.payments_review_expire())
