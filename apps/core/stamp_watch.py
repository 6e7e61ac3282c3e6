"""Stamp changes pushed to each process (Redis pub/sub), so a copy kept under a stamp is checked
without a round trip to Redis per request.

`stamp_bump` (apps.core.stamps) sets a stamp and publishes its name in one MULTI. Each process
keeps one subscription to that channel. Before using a copy a request drains what has arrived on
it (a poll of its socket, no command sent): every stamp named there gets a new version, and a
copy kept under an older version is read again. A process that changes a guarded row moves its
own version at once (`stamp_changed_here`).

A change is published when its transaction commits, before the call that made it returns. Redis
writes the message to every subscriber as it answers the publisher, so another process sees it
within the time it takes to travel there: on one host or one network, well under a millisecond
(the stamp read per request it replaces had the same window between a commit and its stamp).

The subscription is trusted only from Redis's confirmation of it on. When it breaks (Redis
restarted, the connection closed or failing, a resubscription we did not ask for, more changes
at once than one request drains) every version moves on, so nothing kept before is used, and
`version` answers None until a new subscription is confirmed (made again at once, then at most
once every RETRY_SECONDS while that fails): the caller reads the stamp in a round trip as
before. A subscription gone silent with no end of file (a dropped NAT entry, a partition) is
pinged after HEALTH_SECONDS and given up when the ping goes unanswered as long: a change is
missed by that process for at most twice HEALTH_SECONDS.
"""

from __future__ import annotations

import contextlib
import logging
import os
import select
import socket
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
HEALTH_SECONDS = 5.0  # a subscription silent this long is pinged, and given up if still silent
MAX_DRAIN = 512  # changes read at one request; beyond, everything kept is read again instead


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
        self._lock = threading.Lock()  # the subscription
        self._changes_lock = threading.Lock()  # the versions: never held across a network call
        self._pid = 0
        self._pubsub: PubSub | None = None
        self._sock: socket.socket | None = None
        self._poller: select.poll | None = None
        self._retry_at = 0.0
        self._heard_at = 0.0  # when the subscription last answered (a message, a pong)
        self._pinged_at: float | None = None  # a ping not answered yet
        self._generation = 0  # moves on with every new subscription
        self._changes: defaultdict[str, int] = defaultdict(int)

    def version(self, name: str) -> str | None:
        """The version of stamp `name` with every change published so far applied; None when no
        confirmed subscription is open (read the stamp from Redis instead). Versions look nothing
        like stamps (random hex), so a copy kept under one is never taken for the other."""
        with self._lock:
            if not self._live():
                return None
            with self._changes_lock:
                return f"watch:{self._generation}:{self._changes[name]}"

    def changed_here(self, name: str) -> None:
        """This process is changing what stamp `name` guards: its copies are read again from now
        on, not only once the change is published at commit (a copy read in between is kept
        under this version, which the published change moves on again)."""
        with self._changes_lock:
            self._changes[name] += 1

    def _live(self) -> bool:
        if self._pid != os.getpid():  # forked: the parent's subscription is not ours
            self._pid, self._pubsub, self._sock, self._poller, self._retry_at = os.getpid(), None, None, None, 0.0
            self._new_generation()
        pubsub = self._pubsub
        fresh = pubsub is None
        if pubsub is None:
            pubsub = self._subscribe()  # its first drain takes what came in with the confirmation
            if pubsub is None:
                return False
        try:
            if not fresh and not self._arrived(pubsub):
                return self._healthy(pubsub)
            for _ in range(MAX_DRAIN):
                message = pubsub.get_message(timeout=0.0)
                if message is None:
                    return self._healthy(pubsub)
                self._apply(message)
            raise _Lost(f"over {MAX_DRAIN} changes at once: read everything again")
        except (redis.RedisError, OSError, _Lost) as exc:
            self._lost(exc)
            return False

    def _arrived(self, pubsub: PubSub) -> bool:
        """Whether anything may have arrived since the last drain (which leaves no whole message
        unread). An end of file is not left to get_message (redis-py would connect again first,
        waiting on a server that may be gone): it raises _Lost."""
        sock, poller = self._sock, self._poller
        if sock is None or poller is None:
            return True  # no socket to poll: ask redis-py
        if getattr(pubsub.connection, "_sock", None) is not self._sock:
            return True  # not the socket polled: ask redis-py
        if not poller.poll(0):
            return False
        try:
            if sock.recv(1, socket.MSG_PEEK | socket.MSG_DONTWAIT) == b"":
                raise _Lost("the server closed the subscription")
        except BlockingIOError:
            return False
        except OSError as exc:
            raise _Lost(f"the subscription's connection failed: {exc}") from exc
        return True

    def _healthy(self, pubsub: PubSub) -> bool:
        """A subscription that went silent (a connection dropped with no end of file reaching
        us) is noticed: after HEALTH_SECONDS without a word it is pinged, and given up when the
        ping goes unanswered as long."""
        now = time.monotonic()
        try:
            if self._pinged_at is not None and now - self._pinged_at > HEALTH_SECONDS:
                raise _Lost(f"no answer to a ping in {HEALTH_SECONDS} s")
            if self._pinged_at is None and now - self._heard_at > HEALTH_SECONDS:
                pubsub.ping()
                self._pinged_at = now
        except (redis.RedisError, OSError, _Lost) as exc:
            self._lost(exc)
            return False
        return True

    def _apply(self, message: dict[str, object]) -> None:
        self._heard_at, self._pinged_at = time.monotonic(), None
        kind = message.get("type")
        if kind == "subscribe":  # subscribed again behind our back: what came in between is lost
            raise _Lost("resubscribed without us")
        if kind != "message":
            return  # a pong
        data = message.get("data")
        name = data.decode() if isinstance(data, bytes) else str(data)
        with self._changes_lock:
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
        self._pubsub, self._sock, self._poller = pubsub, *_poller_for(pubsub)
        self._heard_at, self._pinged_at = time.monotonic(), None
        self._new_generation()  # whatever was kept before this subscription is read again
        return pubsub

    def _new_generation(self) -> None:
        with self._changes_lock:
            self._generation += 1

    def _lost(self, exc: BaseException) -> None:
        if self._pubsub is not None:
            with contextlib.suppress(redis.RedisError, OSError):
                self._pubsub.reset()
        self._pubsub, self._sock, self._poller = None, None, None
        self._new_generation()
        # Too many changes at once: subscribe again at the next request. A failure: in a while.
        self._retry_at = 0.0 if isinstance(exc, _Lost) else time.monotonic() + RETRY_SECONDS
        logger.warning("stamp_watch_lost", extra={"error": f"{type(exc).__name__}: {exc}"[:200]})


class _Lost(Exception):
    """The subscription can no longer be trusted to have brought every change."""


def _poller_for(pubsub: PubSub) -> tuple[socket.socket | None, select.poll | None]:
    """The subscription's socket and a poll of it: one system call tells whether anything
    arrived, where redis-py's get_message costs a request a tenth of a millisecond. An end of
    file or an error makes it readable too. (None, None) when the socket is not to be had
    (redis-py keeps it in a private attribute): get_message every time."""
    sock = getattr(pubsub.connection, "_sock", None)
    if not isinstance(sock, socket.socket):
        return None, None
    poller = select.poll()
    poller.register(sock, select.POLLIN | select.POLLPRI | select.POLLERR | select.POLLHUP)
    return sock, poller


@lru_cache(maxsize=4)
def _subscriber(url: str) -> redis.Redis:
    """A client of its own for the subscription, that never retries: a failed read raises (after
    redis-py's own reconnect, which `_lost` undoes), and `_lost` gives the subscription up. RESP2:
    RESP3's maintenance notifications would move it to another connection without a word."""
    return redis.Redis.from_url(
        url, socket_timeout=1, socket_connect_timeout=1, socket_keepalive=True, retry=Retry(NoBackoff(), 0), protocol=2
    )


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
