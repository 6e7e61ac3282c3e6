"""Reconciliation runs asked for in the back office: a range of days for one gateway account or
all of them, fetched and matched in the background by the same code as the daily task.

A request is validated, stored with its audit row and queued after commit; requests are
serialised (an advisory lock on PostgreSQL, the write lock on SQLite), so two overlapping runs
of one account are never both queued. The task claims its run with a guarded UPDATE and a token
of its own, reconciles one account-day at a time with no transaction open across the gateway
calls, and writes its progress after each; every write is guarded by the token, so a second
delivery of the task does nothing and a worker whose run was taken over (it stopped beating)
stops writing."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any

from django.db import connection, transaction
from django.db.models import Q
from django.utils import timezone

from apps.audit.actors import Actor
from apps.audit.services import audit_record
from apps.core.ids import random_token
from apps.core.queueing import enqueue_on_commit
from apps.gateways.errors import GatewayError
from apps.gateways.models import GatewayAccount

from .errors import RunInProgress, RunRequestInvalid
from .models_runs import MAX_RUN_DAYS, ReconciliationRun
from .services import ReconcileReport, reconcile

logger = logging.getLogger(__name__)

EXECUTE_TASK = "apps.reconciliation.tasks.reconciliation_run_execute"
# pg_advisory_xact_lock key that serialises run requests ("RCRN").
RUN_REQUEST_LOCK_ID = 0x5243524E
# A running run whose heartbeat is older than this is taken over: one account-day is reconciled
# well within an hour (the daily task's time limit), and each one beats.
STALE_AFTER = timedelta(minutes=65)
# A queued run no worker claimed after this long is queued again (its message was lost).
REQUEUE_AFTER = timedelta(minutes=5)

Status = ReconciliationRun.Status


@dataclass
class RunResult:
    """What a run did so far, summed over its account-days (stored as the run's `result`)."""

    batches: list[dict[str, str]] = field(default_factory=list)  # {"account", "batch"} imported
    matched: int = 0
    opened: dict[str, int] = field(default_factory=dict)
    settled_late: int = 0
    synced: int = 0
    webhooks_replayed: int = 0

    @classmethod
    def from_json(cls, data: dict[str, Any]) -> RunResult:
        known = {name: data[name] for name in cls.__dataclass_fields__ if name in data}
        return cls(**known)

    def to_json(self) -> dict[str, Any]:
        return {name: getattr(self, name) for name in self.__dataclass_fields__}

    def add(self, report: ReconcileReport) -> None:
        self.batches.extend({"account": report.account, "batch": batch} for batch in report.imported)
        self.matched += report.matched
        for kind, count in report.opened.items():
            self.opened[kind] = self.opened.get(kind, 0) + count
        self.settled_late += report.settled_late
        self.synced += len(report.synced)
        self.webhooks_replayed += report.webhooks_replayed


# --- the request -------------------------------------------------------------------------------


def _validate(*, account: GatewayAccount | None, first_day: date, last_day: date) -> list[int]:
    """The accounts the run will cover, or RunRequestInvalid naming the input at fault."""
    if last_day < first_day:
        raise RunRequestInvalid("The last day is before the first day.", param="last_day")
    if (last_day - first_day).days + 1 > MAX_RUN_DAYS:
        raise RunRequestInvalid(f"A run covers at most {MAX_RUN_DAYS} days.", param="last_day")
    if last_day > timezone.now().date():
        raise RunRequestInvalid("Days in the future have no settlements yet (days are UTC).", param="last_day")
    if account is not None:
        if not account.is_active:
            raise RunRequestInvalid("That gateway account is not active.", param="gateway_account")
        return [account.pk]
    accounts = list(GatewayAccount.objects.filter(is_active=True).order_by("pk").values_list("pk", flat=True))
    if not accounts:
        raise RunRequestInvalid("There is no active gateway account.", param="gateway_account")
    return accounts


def _serialise_requests() -> None:
    """Held until the transaction ends. SQLite's transactions take the write lock at BEGIN."""
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s)", [RUN_REQUEST_LOCK_ID])


def reconciliation_run_request(
    *, account: GatewayAccount | None, first_day: date, last_day: date, actor: Actor, user: Any
) -> ReconciliationRun:
    """Queue a run fetching and matching `first_day`..`last_day` (UTC, inclusive) for `account`
    (None: every active account). Refused while a queued or running run covers any of these days
    for the same account (a run of all accounts covers every account)."""
    account_ids = _validate(account=account, first_day=first_day, last_day=last_day)
    with transaction.atomic():
        _serialise_requests()
        overlapping = ReconciliationRun.objects.filter(
            status__in=ReconciliationRun.ACTIVE, first_day__lte=last_day, last_day__gte=first_day
        )
        if account is not None:
            overlapping = overlapping.filter(Q(gateway_account__isnull=True) | Q(gateway_account=account))
        if (other := overlapping.order_by("created_at").first()) is not None:
            raise RunInProgress(
                f"Run {other.public_id} ({other.first_day} to {other.last_day}) is {other.status} and covers "
                "some of these days: wait for it to finish.",
                extra={"run": other.public_id},
            )
        days = (last_day - first_day).days + 1
        run = ReconciliationRun.objects.create(
            gateway_account=account,
            account_ids=account_ids,
            first_day=first_day,
            last_day=last_day,
            requested_by=user,
            days_total=days * len(account_ids),
        )
        audit_record(
            actor=actor,
            action="reconciliation_run.requested",
            target=run,
            merchant_id=account.merchant_id if account is not None else None,
            after={
                "account": account.public_id if account is not None else "all",
                "first_day": first_day.isoformat(),
                "last_day": last_day.isoformat(),
                "account_days": run.days_total,
            },
        )
        enqueue_on_commit(EXECUTE_TASK, run.pk)
    return run


# --- the execution -----------------------------------------------------------------------------


def _steps(run: ReconciliationRun) -> list[tuple[int, date]]:
    """Every (account, day) of the run, day by day, each day's accounts in order."""
    days = (run.last_day - run.first_day).days + 1
    return [(pk, run.first_day + timedelta(days=offset)) for offset in range(days) for pk in run.account_ids]


def _claim(run_id: int, actor: Actor) -> str | None:
    """Queued → running, or a stale running run taken over, by a guarded UPDATE that sets a new
    token; None if a live worker has the run or it is finished."""
    token = random_token(24)
    now = timezone.now()
    claim = {"status": Status.RUNNING, "claim_token": token, "heartbeat_at": now}
    runs = ReconciliationRun.objects.filter(pk=run_id)
    with transaction.atomic():
        if runs.filter(status=Status.QUEUED).update(**claim, started_at=now):
            action = "reconciliation_run.started"
        elif runs.filter(status=Status.RUNNING, heartbeat_at__lt=now - STALE_AFTER).update(**claim):
            action = "reconciliation_run.taken_over"
        else:
            return None
        run = runs.get()
        audit_record(
            actor=actor,
            action=action,
            target=run,
            before={"status": Status.QUEUED if action.endswith("started") else Status.RUNNING},
            after={"status": Status.RUNNING, "days_done": run.days_done},
        )
    return token


def _beat(run_id: int, token: str, **changes: Any) -> bool:
    """Write progress, if the run is still ours."""
    owned = ReconciliationRun.objects.filter(pk=run_id, status=Status.RUNNING, claim_token=token)
    return owned.update(heartbeat_at=timezone.now(), **changes) == 1


def _finish(run_id: int, token: str, *, actor: Actor, status: str, result: RunResult, error: str = "") -> None:
    with transaction.atomic():
        finished = ReconciliationRun.objects.filter(pk=run_id, status=Status.RUNNING, claim_token=token).update(
            status=status,
            result=result.to_json(),
            error=error,
            current_account="",
            current_day=None,
            finished_at=timezone.now(),
        )
        if not finished:
            return  # taken over meanwhile: the new owner finishes it
        run = ReconciliationRun.objects.get(pk=run_id)
        audit_record(
            actor=actor,
            action=f"reconciliation_run.{status}",
            target=run,
            before={"status": Status.RUNNING},
            after={"status": status, "days_done": run.days_done, "result": run.result, "error": error},
        )


def reconciliation_run_perform(*, run_id: int) -> ReconciliationRun | None:
    """Do a queued run, one account-day after another (resuming after the last one done when
    taken over). None when another worker has it or it is finished: safe to run twice. A
    gateway error fails the run with its reason; what the days before it did is kept."""
    run = ReconciliationRun.objects.select_related("requested_by").filter(pk=run_id).first()
    if run is None:
        return None
    actor = Actor.staff(run.requested_by)
    token = _claim(run_id, actor)
    if token is None:
        return None
    run.refresh_from_db()
    result = RunResult.from_json(run.result)
    accounts = GatewayAccount.objects.in_bulk(run.account_ids)
    steps = _steps(run)
    for done in range(run.days_done, len(steps)):
        account_id, day = steps[done]
        account = accounts[account_id]
        if not _beat(run_id, token, current_account=account.public_id, current_day=day):
            return None
        try:
            report = reconcile(account=account, day=day, actor=actor)
        except GatewayError as exc:
            error = f"{account.public_id}, {day}: the gateway could not be asked: {exc.message}"
            _finish(run_id, token, actor=actor, status=Status.FAILED, result=result, error=error)
            return ReconciliationRun.objects.get(pk=run_id)
        except Exception as exc:
            logger.exception("reconciliation_run_crashed", extra={"run": run.public_id})
            error = f"{account.public_id}, {day}: an internal error ({type(exc).__name__}); see the logs."
            _finish(run_id, token, actor=actor, status=Status.FAILED, result=result, error=error)
            raise
        result.add(report)
        if not _beat(run_id, token, days_done=done + 1, result=result.to_json()):
            return None
    _finish(run_id, token, actor=actor, status=Status.SUCCEEDED, result=result)
    return ReconciliationRun.objects.get(pk=run_id)


def reconciliation_runs_to_requeue() -> list[int]:
    """Runs whose task was lost: queued and never claimed, or running with a stale heartbeat."""
    now = timezone.now()
    lost = Q(status=Status.QUEUED, created_at__lt=now - REQUEUE_AFTER) | Q(
        status=Status.RUNNING, heartbeat_at__lt=now - STALE_AFTER
    )
    return list(ReconciliationRun.objects.filter(lost).order_by("pk").values_list("pk", flat=True)[:100])
