"""The Celery app of the beats that tests/core/test_beat.py starts (`celery -A tests.core.beat_app
beat`): the project's app and settings (the scheduler, its lock, its Redis), with the schedule
replaced by one short entry sent to a queue nobody consumes. Each message the broker accepted is
recorded in Redis with the time and the sending process, for the test to count."""

from __future__ import annotations

import os
import time
from typing import Any

import redis
from celery.signals import after_task_publish

from config.celery import app

TICK_TASK = "tests.core.beat_app.tick"

app.conf.beat_schedule = {
    "beat-test-tick": {
        "task": TICK_TASK,
        "schedule": float(os.environ["BEAT_TEST_INTERVAL"]),
        "options": {"queue": os.environ["BEAT_TEST_QUEUE"]},
    }
}
_record = redis.Redis.from_url(os.environ["REDIS_URL"])


@after_task_publish.connect
def _record_sent(sender: str | None = None, **kwargs: Any) -> None:
    if sender == TICK_TASK:
        _record.rpush(os.environ["BEAT_TEST_RECORD_KEY"], f"{time.time()} {os.getpid()}")
