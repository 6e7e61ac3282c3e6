"""Thin Celery entry points. Safe to run twice: a batch is imported once (unique per gateway
account), matching only touches open lines and discrepancies are unique per line or entry."""

from __future__ import annotations

from datetime import date, timedelta

from celery import shared_task
from django.utils import timezone

from apps.audit.actors import Actor
from apps.core.queueing import enqueue
from apps.gateways.errors import GatewayRetryable
from apps.gateways.models import GatewayAccount

from .runs import EXECUTE_TASK, reconciliation_run_perform, reconciliation_runs_to_requeue
from .services import reconcile


@shared_task(ignore_result=True, time_limit=60, soft_time_limit=50)
def reconcile_all(day: str | None = None) -> int:
    """Beat, daily: one task per active gateway account for yesterday (UTC) by default."""
    target = day or (timezone.now().date() - timedelta(days=1)).isoformat()
    accounts = list(GatewayAccount.objects.filter(is_active=True).values_list("pk", flat=True))
    for pk in accounts:
        reconcile_account.delay(pk, target)
    return len(accounts)


@shared_task(
    ignore_result=True,
    autoretry_for=(GatewayRetryable,),
    retry_backoff=60,
    retry_backoff_max=3600,
    retry_jitter=True,
    max_retries=8,
    time_limit=3600,
    soft_time_limit=3500,
)
def reconcile_account(account_id: int, day: str) -> str:
    account = GatewayAccount.objects.get(pk=account_id)
    report = reconcile(account=account, day=date.fromisoformat(day), actor=Actor.system("reconciliation"))
    return report.summary()


# A run covers up to 31 days of every account: hours at worst. Redis redelivers a message unacked
# after its visibility timeout (an hour); the copy finds the run claimed and exits.
@shared_task(ignore_result=True, time_limit=6 * 3600, soft_time_limit=6 * 3600 - 60)
def reconciliation_run_execute(run_id: int) -> str:
    """A reconciliation run asked for in the admin. Safe to run twice: the run is claimed once."""
    run = reconciliation_run_perform(run_id=run_id)
    return run.status if run is not None else "not claimed"


@shared_task(ignore_result=True, time_limit=60, soft_time_limit=50)
def reconciliation_runs_sweep() -> int:
    """Beat: queue again the runs whose task was lost (never claimed, or a worker that died)."""
    lost = reconciliation_runs_to_requeue()
    for pk in lost:
        enqueue(EXECUTE_TASK, pk)
    return len(lost)
