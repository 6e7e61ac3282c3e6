"""Per-API-key rate limit: a fixed window counted atomically in Redis, taken in leases.

DRF's SimpleRateThrottle keeps a list of every request time per key and rewrites it on each
request, which is neither atomic nor cheap at hundreds of requests per second. Here a process
takes a lease of several requests of a key's window at once (one command to Redis: a script
that adds the lease to the window's counter) and counts them off locally: a busy key costs a
round trip every `lease` requests, not on every one.

Every ask adds a whole lease to the window's counter, and what is granted is only what was left
of the limit before it (a refused ask gets nothing), so all processes together never let a key
past its limit in a window. What a process leased and did not use in a window is lost with it:
a key spread over P processes may be refused up to (P - 1) * (lease - 1) requests before its
limit. The lease is a fiftieth of the limit, at
most API_THROTTLE_LEASE_MAX (1 at a limit under 100 per window: every request counted in Redis).

Redis is reached through a shared client; Django's RedisCache is avoided because it builds a new
redis-py client per call. Without Redis (the SQLite quickstart) every request is counted in the
default cache.
"""

from __future__ import annotations

import logging
import threading
import time
from collections.abc import Sequence
from dataclasses import dataclass
from functools import lru_cache
from typing import Any

import redis
from django.conf import settings
from django.core.cache import cache
from redis.commands.core import Script
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from apps.core.redis_client import redis_client

from .models import ApiKey

logger = logging.getLogger(__name__)

_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(rate: str) -> tuple[int, int]:
    count, _, period = rate.partition("/")
    return int(count), _PERIODS[period.strip()[0].lower()]


def _count_in_cache(key: str, period: int) -> int:
    if cache.add(key, 1, timeout=period + 1):
        return 1
    try:
        return int(cache.incr(key))
    except ValueError:  # the window expired between add and incr
        cache.add(key, 1, timeout=period + 1)
        return 1


def _prefixed(key: str) -> str:
    return f"{settings.CACHES['default'].get('KEY_PREFIX', '')}:{key}"


LEASE_SHARE = 50  # a lease is this fraction of the limit (at most API_THROTTLE_LEASE_MAX)


@dataclass(frozen=True)
class Counted:
    """One request counted in its key's current window: `allowed` unless the limit is spent."""

    api_key_id: int
    period: int
    window: int
    allowed: bool

    def wait(self) -> float:
        """Seconds until the window ends."""
        return (self.window + 1) * self.period - time.time()


@dataclass
class _Lease:
    period: int
    window: int
    left: int


_leases: dict[int, _Lease] = {}  # by API key id: what this process may still let through
_leases_lock = threading.Lock()


def lease_size(limit: int) -> int:
    most: int = settings.API_THROTTLE_LEASE_MAX
    return max(1, min(most, limit // LEASE_SHARE))


def lease_take(api_key_id: int) -> Counted | None:
    """The request counted off this process's lease for the key's current window; None when
    there is none left (count_request takes the next)."""
    _, period = parse_rate(settings.API_THROTTLE_RATE)
    window = int(time.time() // period)
    with _leases_lock:
        lease = _leases.get(api_key_id)
        if lease is None or (lease.period, lease.window) != (period, window) or lease.left <= 0:
            return None
        lease.left -= 1
    return Counted(api_key_id, period, window, True)


def forget_leases() -> None:
    with _leases_lock:
        _leases.clear()


def count_request(api_key_id: int, reads: Sequence[str] = ()) -> tuple[Counted, list[Any]]:
    """Count a request of the key `api_key_id` in its window, taking a new lease for this process,
    and read the values of `reads` (plain string keys: stamps, apps.core.stamps) in the same
    round trip to Redis. Without Redis the request alone is counted in the default cache and the
    reads are None. Raises redis.RedisError when Redis cannot be reached."""
    limit, period = parse_rate(settings.API_THROTTLE_RATE)
    window = int(time.time() // period)
    key = f"throttle:api_key:{api_key_id}:{period}:{window}"
    if not settings.REDIS_URL:
        count = _count_in_cache(key, period)
        return Counted(api_key_id, period, window, count <= limit), [None] * len(reads)
    size = lease_size(limit)
    total, values = _count_script(settings.REDIS_URL)(keys=[_prefixed(key), *reads], args=[period + 1, size])
    granted = max(0, min(size, limit - (int(total) - size)))  # what was left of the limit, up to the lease
    if granted > 1:
        with _leases_lock:
            if len(_leases) >= 4096:  # distinct keys leased in one process; beyond that start again
                _leases.clear()
            _leases[api_key_id] = _Lease(period, window, granted - 1)  # this request takes one
    return Counted(api_key_id, period, window, granted > 0), list(values)


# KEYS[1]: the window's counter; KEYS[2..]: values to read; ARGV: the counter's lifetime, the
# lease. One command, so one parse each way (redis-py sends EVALSHA, and the script itself once
# if the server does not have it yet).
_COUNT_AND_READ = """
local count = redis.call('INCRBY', KEYS[1], ARGV[2])
redis.call('EXPIRE', KEYS[1], ARGV[1], 'NX')
local values = {}
for i = 2, #KEYS do values[i - 1] = redis.call('GET', KEYS[i]) end
return {count, values}
"""


@lru_cache(maxsize=4)
def _count_script(url: str) -> Script:
    script: Script = redis_client(url).register_script(_COUNT_AND_READ)
    return script


class ApiKeyRateThrottle(BaseThrottle):
    """API_THROTTLE_RATE per key. Authentication may have counted the request already, in the
    round trip it made to check its cached key (`request.throttle_counted`); otherwise it is
    counted off this process's lease, or takes a new one."""

    def __init__(self) -> None:
        self._wait: float | None = None

    def allow_request(self, request: Request, view: Any) -> bool:
        api_key = request.auth
        if not isinstance(api_key, ApiKey):  # none, or a customer session (counted per customer)
            return True
        counted: Counted | None = getattr(request, "throttle_counted", None)
        if counted is None or counted.api_key_id != api_key.pk:
            counted = lease_take(api_key.pk)
        if counted is None:
            try:
                counted, _ = count_request(api_key.pk)
            except redis.RedisError as exc:
                # The limiter protects us; it must not take payments down with Redis: fail open.
                logger.warning("throttle_unavailable", extra={"error": f"{type(exc).__name__}: {exc}"[:200]})
                return True
        if not counted.allowed:
            self._wait = counted.wait()
            return False
        return True

    def wait(self) -> float | None:
        return self._wait
