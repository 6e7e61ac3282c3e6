"""The test broker, whichever it is (Redis by default, RabbitMQ under `make test-rabbitmq`): how
many messages wait in a queue, and emptying every queue a task can wait in."""

from __future__ import annotations

from typing import Any

from celery.contrib.testing.worker import TestWorkController
from celery.worker import state
from django.conf import settings
from kombu import Queue
from kombu.transport.native_delayed_delivery import (
    MAX_LEVEL,
    declare_native_delayed_delivery_exchanges_and_queues,
    level_name,
)

from config.broker import is_amqp
from config.celery import app as celery_app


def on_rabbitmq() -> bool:
    return is_amqp(settings.CELERY_BROKER_URL)


def queue_length(name: str) -> int:
    """Messages ready in the queue `name` (which is declared, as the app declares it, if need be)."""
    with celery_app.connection_for_write() as connection:
        declared: Any = celery_app.amqp.queues[name](connection.default_channel).queue_declare()
        return int(declared.message_count)


def broker_purge() -> None:
    """Empty our queues and, on RabbitMQ, the delayed-delivery queues, where a countdown from an
    earlier test could still be waiting. Also declares the delayed-delivery exchanges, as a
    worker does when it starts, so a countdown can be published before any worker ran."""
    celery_app.control.purge()
    if not on_rabbitmq():
        return
    with celery_app.connection_for_write() as connection:
        declare_native_delayed_delivery_exchanges_and_queues(
            connection, celery_app.conf.broker_native_delayed_delivery_queue_type
        )
        for level in range(MAX_LEVEL + 1):
            Queue(level_name(level)).bind(connection.default_channel).purge()


def embedded_worker_stop() -> None:
    """Tell the worker of celery.contrib.testing.start_worker to stop, and wake it. start_worker
    only sets the flag, which the worker reads between broker reads (each up to 1 s on Redis, 2 s
    on RabbitMQ) and gives up after its shutdown timeout. A broadcast nobody answers wakes it."""
    state.should_terminate = 0  # type: ignore[assignment]  # what start_worker sets
    celery_app.control.broadcast("ping", reply=False)


class _BlockingReadWorkController(TestWorkController):
    def should_use_eventloop(self) -> bool:
        return False


def embedded_worker_class() -> type[TestWorkController]:
    """The worker class for start_worker. On RabbitMQ, one that reads the broker with blocking
    reads (Celery's synloop) rather than its event loop: in a thread of the publishing process,
    the event loop at times sees a delivered message only at its next wake-up, 10 s later."""
    return _BlockingReadWorkController if on_rabbitmq() else TestWorkController
