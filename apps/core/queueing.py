"""Sending Celery tasks without ever failing the work that asked for them.

Work is queued after its transaction commits (`enqueue_on_commit`). By then the change is
durable: if the broker is down or refuses the message, the request or task that made the change
must still answer with what it did. So a failed send is logged and counted, never raised; every
task queued this way has a sweeper (beat) that finds its work in the database and queues it
again: events and deliveries (events_sweep), incoming webhooks (incoming_webhooks_sweep),
unknown gateway outcomes (gateway_transactions_sweep), removed cards (payment_methods_purge_sweep).
"""

from __future__ import annotations

import logging
from typing import Any

from celery import Task, current_app
from django.db import transaction

from .metrics import TASKS_NOT_QUEUED

logger = logging.getLogger(__name__)


def enqueue(task: Task[Any, Any] | str, *args: Any, countdown: float | None = None, **kwargs: Any) -> bool:
    """Send `task(*args, **kwargs)` now. False (logged, counted) when the broker would not take it.

    `task` may be given by name ("apps.payments.tasks.gateway_transaction_resolve"): services
    queue their own app's tasks by name, since the tasks module imports the services."""
    name = task if isinstance(task, str) else task.name
    try:
        if isinstance(task, str):
            current_app.send_task(task, args=args, kwargs=kwargs, countdown=countdown)
        elif countdown is None:
            task.apply_async(args, kwargs)
        else:
            task.apply_async(args, kwargs, countdown=countdown)
    except Exception as exc:
        TASKS_NOT_QUEUED.labels(task=name).inc()
        logger.warning("task_not_queued", extra={"task": name, "error": f"{type(exc).__name__}: {exc}"[:300]})
        return False
    return True


def enqueue_on_commit(task: Task[Any, Any] | str, *args: Any, countdown: float | None = None, **kwargs: Any) -> None:
    """Send the task once the current transaction commits (nothing if it rolls back)."""
    transaction.on_commit(lambda: enqueue(task, *args, countdown=countdown, **kwargs))


def enqueue_many_on_commit(task: Task[Any, Any] | str, ids: list[int]) -> None:
    """One task per id, each sent once the transaction commits."""
    if ids:
        transaction.on_commit(lambda: [enqueue(task, pk) for pk in ids])
