"""A task for tests/core/test_dev_processes.py, loaded only into the worker that test starts
(`celery worker --include tests.core.dev_tasks`): it takes a while, and says when it started and
when it finished."""

from __future__ import annotations

import time
from pathlib import Path

from celery import shared_task

SLOW_TASK = "tests.core.dev_tasks.slow_task"


@shared_task(name=SLOW_TASK)
def slow_task(folder: str, seconds: float) -> None:
    Path(folder, "started").touch()
    time.sleep(seconds)
    Path(folder, "finished").touch()
