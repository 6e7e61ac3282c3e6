"""Stamp changes pushed to each process (Redis pub/sub), so a copy kept under a stamp is checked
without a round trip to Redis per request.

`stamp_bump` (apps.core.stamps) sets a stamp and publishes its name in one MULTI. Each process
keeps one subscription to that channel. Before using a copy a request drains what has arrived on
it (a non-blocking read of a socket, no command sent): every stamp named there gets a new
version, and a copy kept under an older version is read again.

A change is published when its transaction commits, before the call that made it returns: the
message is in every subscriber's socket by the time the Redis server answered the publisher, so a
request that comes after the change (a revoked key used again) finds it there.

The subscription is trusted only from Redis's confirmation of it on. When it breaks (Redis
restarted, the connection killed) every version moves on, so nothing kept before is used, and
`version` answers None until a new subscription is confirmed (tried at most once a second): the
caller then reads the stamp in a round trip as before. Messages a broken subscription missed do
not matter: nothing kept under it is used again.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import threading
import time
from collections import defaultdict
from functools import lru_cache

import redis
from django.conf import settings
from redis.backoff import NoBackoff
from redis.client import PubSub
from redis.retry import Retry

from .redis_client import redis_client

logger = logging.getLogger(__name__)

RETRY_SECONDS = 1.0  # after a failed subscription, requests read stamps by round trips this long
CONFIRM_SECONDS = 1.0  # how long a (re)subscription waits for Redis to confirm it


def stamp_channel() -> str:
    """The channel stamp changes are published on: one per Redis database and key prefix, so two
    deployments (or test workers) on one Redis server do not see each other's changes."""
    db = redis_client(settings.REDIS_URL).connection_pool.connection_kwargs.get("db", 0)
    prefix = settings.CACHES["default"].get("KEY_PREFIX", "")
    return f"stamps:{db}:{prefix}"


class StampWatch:
    """This process's subscription to stamp changes, and a version per stamp name."""

    def __init__(self, url: str) -> None:
        self._url = url
        self._lock = threading.Lock()
        self._pid = 0
        self._pubsub: PubSub | None = None
        self._poller: select.poll | None = None
        self._retry_at = 0.0
        self._generation = 0  # moves on with every new subscription
        self._changes: defaultdict[str, int] = defaultdict(int)

    def version(self, name: str) -> str | None:
        """The version of stamp `name` with every change published so far applied; None when no
        confirmed subscription is open (read the stamp from Redis instead). Versions look nothing
        like stamps (random hex), so a copy kept under one is never taken for the other."""
        with self._lock:
            if not self._live():
                return None
            return f"watch:{self._generation}:{self._changes[name]}"

    def changed_here(self, name: str) -> None:
        """This process is changing what stamp `name` guards: its copies are read again from now
        on, not only once the change is published at commit (a copy read in between is kept
        under this version, which the published change moves on again)."""
        with self._lock:
            self._changes[name] += 1

    def _live(self) -> bool:
        if self._pid != os.getpid():  # forked: the parent's subscription is not ours
            self._pid, self._pubsub, self._poller, self._retry_at = os.getpid(), None, None, 0.0
            self._generation += 1
        pubsub = self._pubsub
        if pubsub is None:
            pubsub = self._subscribe()  # its first drain takes what came in with the confirmation
            if pubsub is None:
                return False
        elif self._poller is not None and not self._poller.poll(0):
            return True  # nothing arrived since the last drain (which left no whole message unread)
        try:
            while (message := pubsub.get_message(timeout=0.0)) is not None:
                self._apply(message)
        except (redis.RedisError, OSError) as exc:
            self._lost(exc)
            return False
        return True

    def _apply(self, message: dict[str, object]) -> None:
        if message.get("type") != "message":
            return
        data = message.get("data")
        name = data.decode() if isinstance(data, bytes) else str(data)
        self._changes[name] += 1

    def _subscribe(self) -> PubSub | None:
        if time.monotonic() < self._retry_at:
            return None
        pubsub: PubSub = _subscriber(self._url).pubsub()
        try:
            pubsub.subscribe(stamp_channel())
            deadline = time.monotonic() + CONFIRM_SECONDS
            while (left := deadline - time.monotonic()) > 0:
                message = pubsub.get_message(timeout=left)
                if message is not None and message.get("type") == "subscribe":
                    break
            else:
                raise redis.TimeoutError("the subscription to stamp changes was not confirmed")
        except (redis.RedisError, OSError) as exc:
            pubsub.reset()
            self._lost(exc)
            return None
        self._pubsub = pubsub
        self._poller = _poller_for(pubsub)
        self._generation += 1  # whatever was kept before this subscription is read again
        return pubsub

    def _lost(self, exc: BaseException) -> None:
        if self._pubsub is not None:
            with contextlib.suppress(redis.RedisError, OSError):
                self._pubsub.reset()
        self._pubsub, self._poller = None, None
        self._generation += 1
        self._retry_at = time.monotonic() + RETRY_SECONDS
        logger.warning("stamp_watch_lost", extra={"error": f"{type(exc).__name__}: {exc}"[:200]})


def _poller_for(pubsub: PubSub) -> select.poll | None:
    """A poll of the subscription's socket: one system call tells whether anything arrived, where
    redis-py's get_message costs a request a tenth of a millisecond. A closed connection is
    readable too (its end of file), so a broken subscription is still found at once. None when
    the socket is not to be had (redis-py keeps it in a private attribute): get_message always."""
    sock = getattr(pubsub.connection, "_sock", None)
    if sock is None:
        return None
    poller = select.poll()
    poller.register(sock, select.POLLIN | select.POLLPRI | select.POLLERR | select.POLLHUP)
    return poller


@lru_cache(maxsize=4)
def _subscriber(url: str) -> redis.Redis:
    """A client of its own for the subscription, that never reconnects by itself: redis-py's
    retries would subscribe again silently, and what was published meanwhile would be missed
    with nobody knowing. A broken subscription raises, and `_lost` handles it."""
    return redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1, retry=Retry(NoBackoff(), 0))


@lru_cache(maxsize=4)
def _watch(url: str) -> StampWatch:
    return StampWatch(url)


def stamp_changed_here(name: str) -> None:
    if settings.REDIS_URL:
        _watch(settings.REDIS_URL).changed_here(name)


def stamp_version(name: str) -> str | None:
    """The version of stamp `name` this process knows, or None: no Redis, or no confirmed
    subscription (the caller reads the stamp itself)."""
    if not settings.REDIS_URL:
        return None
    return _watch(settings.REDIS_URL).version(name)
