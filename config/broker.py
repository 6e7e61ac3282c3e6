"""What each Celery broker needs from the settings: Redis (the default), RabbitMQ, or the
quickstart's filesystem transport. docs/operations.md says when to pick which.

On RabbitMQ (an amqp://, amqps:// or pyamqp:// URL) our queues are quorum queues (replicated,
durable, a message survives a broker restart) and every publish waits for the broker's
confirmation, so a task the web process was told it queued is really queued. Acks late stays on,
as on Redis. Celery notices the quorum queues by itself: workers use per-consumer QoS (quorum
queues refuse global QoS) and countdowns use RabbitMQ's native delayed delivery, which routes
through topic exchanges only (a countdown on a direct exchange would be held by the worker
instead). Workers declare the delayed-delivery exchanges when they start.
"""

from __future__ import annotations

from typing import Any
from urllib.parse import urlsplit

from kombu import Exchange, Queue

AMQP_SCHEMES = frozenset({"amqp", "amqps", "pyamqp"})


def is_amqp(broker_url: str) -> bool:
    return urlsplit(broker_url).scheme in AMQP_SCHEMES


def amqp_transport_options() -> dict[str, Any]:
    # Publisher confirms: a publish returns once RabbitMQ has the message (on a quorum queue:
    # on a majority of its replicas), and raises when it refused it.
    return {"confirm_publish": True}


def task_queues(names: list[str], broker_url: str) -> list[Queue]:
    """The queue declarations: quorum queues behind topic exchanges on RabbitMQ, Celery's
    defaults (classic, direct) elsewhere."""
    if not is_amqp(broker_url):
        return [Queue(name) for name in names]
    return [
        Queue(name, Exchange(name, type="topic"), routing_key=name, queue_arguments={"x-queue-type": "quorum"})
        for name in names
    ]


def default_exchange_type(broker_url: str) -> str:
    """Topic on RabbitMQ, so Celery's default exchange agrees with the one our default queue
    declares (and a countdown through it is delayed by the broker, not held by a worker)."""
    return "topic" if is_amqp(broker_url) else "direct"
