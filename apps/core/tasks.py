from __future__ import annotations

import time
from typing import Any

from celery import Task, shared_task

from .metrics import WORKER_HEARTBEAT
from .services import worker_heartbeat_record


@shared_task(bind=True, ignore_result=True, time_limit=30, soft_time_limit=20)
def worker_heartbeat(self: Task[Any, Any]) -> None:
    """Proves, end to end, that the broker delivers and a worker runs tasks."""
    worker_heartbeat_record(hostname=self.request.hostname or "unknown")
    WORKER_HEARTBEAT.set(time.time())
