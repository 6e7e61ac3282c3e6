"""Celery hooks: carry the correlation id into tasks, count every task for Prometheus, and start
tracing in each pool process (after the fork: see apps.core.tracing)."""

from __future__ import annotations

import time
from contextlib import ExitStack
from typing import Any

from celery import signals

from .context import RequestContext, current_request_id, request_context
from .metrics import CELERY_TASK_DURATION, CELERY_TASKS, CELERY_TASKS_PUBLISHED
from .tracing import tracing_flush, tracing_start

REQUEST_ID_TASK_HEADER = "x_request_id"

_running: dict[str, tuple[float, ExitStack]] = {}


def _task_name(sender: Any) -> str:
    return getattr(sender, "name", None) or str(sender)


def on_before_publish(headers: dict[str, Any] | None = None, **_: Any) -> None:
    if headers is not None:
        request_id = current_request_id()
        if request_id and REQUEST_ID_TASK_HEADER not in headers:
            headers[REQUEST_ID_TASK_HEADER] = request_id


def on_after_publish(sender: Any = None, **_: Any) -> None:
    CELERY_TASKS_PUBLISHED.labels(task=str(sender)).inc()


def on_prerun(task_id: str, task: Any, **_: Any) -> None:
    request_id = getattr(task.request, REQUEST_ID_TASK_HEADER, None) or f"task_{task_id}"
    stack = ExitStack()
    stack.enter_context(request_context(RequestContext(request_id=request_id)))
    _running[task_id] = (time.perf_counter(), stack)


def on_postrun(task_id: str, task: Any, state: str | None = None, **_: Any) -> None:
    started, stack = _running.pop(task_id, (None, None))
    name = _task_name(task)
    if started is not None:
        CELERY_TASK_DURATION.labels(task=name).observe(time.perf_counter() - started)
    CELERY_TASKS.labels(task=name, state=(state or "unknown").lower()).inc()
    if stack is not None:
        stack.close()


def on_retry(sender: Any = None, **_: Any) -> None:
    CELERY_TASKS.labels(task=_task_name(sender), state="retry_scheduled").inc()


def on_worker_process_init(**_: Any) -> None:
    """In each prefork child (and the solo pool's worker): a no-op unless tracing is configured."""
    tracing_start(role="worker")


def on_worker_process_shutdown(**_: Any) -> None:
    tracing_flush()


def on_setup_logging(**_: Any) -> None:
    """Keep Django's LOGGING (structlog, masking) in workers instead of Celery's own setup."""


def connect() -> None:
    signals.before_task_publish.connect(on_before_publish, weak=False, dispatch_uid="ch_before_publish")
    signals.after_task_publish.connect(on_after_publish, weak=False, dispatch_uid="ch_after_publish")
    signals.task_prerun.connect(on_prerun, weak=False, dispatch_uid="ch_prerun")
    signals.task_postrun.connect(on_postrun, weak=False, dispatch_uid="ch_postrun")
    signals.task_retry.connect(on_retry, weak=False, dispatch_uid="ch_retry")
    signals.setup_logging.connect(on_setup_logging, weak=False, dispatch_uid="ch_setup_logging")
    signals.worker_process_init.connect(on_worker_process_init, weak=False, dispatch_uid="ch_tracing_start")
    signals.worker_process_shutdown.connect(on_worker_process_shutdown, weak=False, dispatch_uid="ch_tracing_flush")
