"""The broker settings (config/broker.py): on RabbitMQ, quorum queues behind topic exchanges and
publisher confirms, asked of RabbitMQ itself; on Redis, what we had. And a countdown, on either
broker, runs when it is due (on RabbitMQ it waits in the broker's delayed-delivery queues)."""

from __future__ import annotations

import subprocess
import time
from typing import Any
from urllib.parse import unquote, urlsplit

import pytest
from amqp.exceptions import MessageNacked
from celery import shared_task
from django.conf import settings
from kombu import Queue

from config.broker import default_exchange_type, task_queues
from config.celery import app as celery_app
from config.settings.base import celery_broker_settings
from tests.brokers import broker_purge, on_rabbitmq
from tests.helpers import wait_for

NAMES = ["default", "webhooks"]
on_rabbitmq_only = pytest.mark.skipif(
    not on_rabbitmq(), reason="TEST_CELERY_BROKER_URL is not amqp:// (make test-rabbitmq)"
)
ran_at: list[float] = []


@shared_task(name="tests.record_when_run")
def record_when_run() -> None:
    ran_at.append(time.monotonic())


@pytest.mark.parametrize("url", ["amqp://guest:guest@rabbit:5672/clearhouse", "pyamqp://rabbit//", "amqps://rabbit/v"])
def test_on_rabbitmq_the_queues_are_quorum_queues_behind_topic_exchanges_and_publishes_are_confirmed(url, monkeypatch):
    monkeypatch.setenv("CELERY_BROKER_URL", url)

    broker_url, options = celery_broker_settings("redis://cache:6379/0")
    queues = task_queues(NAMES, broker_url)

    assert (broker_url, options) == (url, {"confirm_publish": True})
    assert [(q.name, q.exchange.name, q.exchange.type, q.routing_key) for q in queues] == [
        ("default", "default", "topic", "default"),
        ("webhooks", "webhooks", "topic", "webhooks"),
    ]
    assert all(q.queue_arguments == {"x-queue-type": "quorum"} for q in queues)
    assert default_exchange_type(broker_url) == "topic"


@pytest.mark.parametrize("redis_url", ["redis://cache:6379/0", ""])
def test_on_redis_and_the_filesystem_broker_nothing_changes(redis_url, monkeypatch):
    monkeypatch.delenv("CELERY_BROKER_URL", raising=False)

    broker_url, options = celery_broker_settings(redis_url)
    queues = task_queues(NAMES, broker_url)

    assert "confirm_publish" not in options
    assert queues == [Queue("default"), Queue("webhooks")]  # Celery's defaults: classic, direct
    assert all(q.queue_arguments is None for q in queues)
    assert default_exchange_type(broker_url) == "direct"


def rabbitmq_queue_types() -> dict[str, str]:
    vhost = unquote(urlsplit(settings.CELERY_BROKER_URL).path[1:]) or "/"
    listing = subprocess.run(
        ["rabbitmqctl", "list_queues", "-p", vhost, "--quiet", "--no-table-headers", "name", "type"],
        check=True,
        capture_output=True,
        text=True,
        timeout=60,
    ).stdout
    return dict(line.split("\t")[:2] for line in listing.splitlines() if "\t" in line)


@pytest.mark.celery
@on_rabbitmq_only
def test_rabbitmq_holds_our_queues_as_quorum_queues():
    broker_purge()  # declares the app's queues and the delayed-delivery ones, as a worker does

    types = rabbitmq_queue_types()

    assert {name: types.get(name) for name in settings.CELERY_QUEUE_NAMES} == dict.fromkeys(
        settings.CELERY_QUEUE_NAMES, "quorum"
    )
    assert types.get("celery_delayed_0") == "quorum"


@pytest.mark.celery
@on_rabbitmq_only
def test_a_message_rabbitmq_refuses_raises_in_the_publisher():
    """With confirms, publishing waits for RabbitMQ's answer; a full queue that rejects publishes
    answers no, and the publisher hears it (without confirms the message would just be lost)."""
    full = Queue("test-confirms-full", queue_arguments={"x-max-length": 1, "x-overflow": "reject-publish"})
    with celery_app.connection_for_write() as connection:
        channel: Any = connection.default_channel
        bound = full.bind(channel)
        bound.declare()
        try:
            producer = connection.Producer(channel)
            producer.publish({"n": 1}, routing_key=full.name, exchange="")

            with pytest.raises(MessageNacked):
                producer.publish({"n": 2}, routing_key=full.name, exchange="")
        finally:
            bound.delete()


def test_a_countdown_runs_when_it_is_due_not_before(celery_worker):
    ran_at.clear()
    sent_at = time.monotonic()

    record_when_run.apply_async(countdown=2)
    if on_rabbitmq():  # waiting in the broker (2 s: the second delay level), not in the worker
        with celery_app.connection_for_write() as connection:
            channel: Any = connection.default_channel
            assert channel.queue_declare(queue="celery_delayed_1", passive=True).message_count == 1

    wait_for(lambda: ran_at, timeout=15)
    assert 2 <= ran_at[0] - sent_at < 8
