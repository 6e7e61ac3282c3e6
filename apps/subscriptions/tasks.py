"""Thin Celery entry points; every task is safe to run twice (claims are exclusive and every
charge's gateway reference is derived from its invoice)."""

from __future__ import annotations

from datetime import datetime

from celery import shared_task
from django.conf import settings

from apps.audit.actors import Actor
from apps.gateways.errors import GatewayOutcomeUnknown, GatewayRetryable

from . import billing, dunning, recurring, recurring_claims

# A batch task stops claiming after this long and hands the rest to a fresh task, so it stays
# well inside its time limit.
BATCH_SECONDS = 200


@shared_task(ignore_result=True, time_limit=60, soft_time_limit=50)
def billing_run() -> int:
    """Beat: when something is due, start one billing task per worker process; they share the
    due subscriptions through SKIP LOCKED claims."""
    if not billing.billing_due_exists():
        return 0
    for _ in range(settings.BILLING_PARALLEL_TASKS):
        billing_batch.delay()
    return settings.BILLING_PARALLEL_TASKS


@shared_task(ignore_result=True, time_limit=BATCH_SECONDS + 100, soft_time_limit=BATCH_SECONDS + 60)
def billing_batch(as_of: str | None = None) -> dict[str, int]:
    moment = datetime.fromisoformat(as_of) if as_of else None
    summary = billing.billing_run(as_of=moment, max_seconds=BATCH_SECONDS)
    if summary.timed_out:
        billing_batch.delay(as_of)
    return summary.outcomes


@shared_task(ignore_result=True, time_limit=300, soft_time_limit=240)
def recurring_subscriptions_start_sweep() -> int:
    """Beat: gateway-run subscriptions whose schedule create went unanswered are created again
    (the gateway answers a repeat with the schedule it made). Safe to run twice."""
    return len(recurring.recurring_subscriptions_start_sweep())


@shared_task(ignore_result=True, time_limit=300, soft_time_limit=240)
def stopped_attempts_settle() -> int:
    """Beat: renewal charges of unknown outcome whose subscription was stopped meanwhile are
    asked about and recorded on their invoice. Safe to run twice."""
    return len(dunning.stopped_attempts_settle())


@shared_task(
    ignore_result=True,
    time_limit=60,
    soft_time_limit=50,
    autoretry_for=(GatewayRetryable, GatewayOutcomeUnknown),
    retry_backoff=30,
    retry_backoff_max=3600,
    retry_jitter=True,
    max_retries=12,
)
def recurring_schedule_cancel(subscription_id: int, schedule_id: str) -> str:
    """A gateway schedule that should not run (a paused subscription's, whose cancel failed) is
    cancelled. Safe to run twice; gateway errors are retried with backoff."""
    return recurring.recurring_schedule_cancel(
        subscription_id=subscription_id, schedule_id=schedule_id, actor=Actor.system("recurring schedule cancel")
    )


@shared_task(ignore_result=True, time_limit=300, soft_time_limit=240)
def recurring_schedule_cancels_sweep() -> int:
    """Beat: gateway schedules still owed a cancel a while after it was queued (the task lost with
    the broker, or its retries run out) are queued again. Safe to run twice."""
    return len(recurring.recurring_schedule_cancels_sweep())


@shared_task(ignore_result=True, time_limit=300, soft_time_limit=240)
def recurring_card_claims_settle() -> int:
    """Beat: gateway-run subscriptions whose card or plan change went unanswered (the new card or
    plan still claimed) record the card and plan the gateway's schedule charges (the task keeps its
    first name, which the beat schedule and queued messages use). Safe to run twice."""
    return len(recurring_claims.recurring_change_claims_settle())
