"""Per-API-key rate limit: a fixed window counted atomically in Redis.

DRF's SimpleRateThrottle keeps a list of every request time per key and rewrites it on each
request, which is neither atomic nor cheap at hundreds of requests per second. Here each
request is one command to Redis (a script: INCR, EXPIRE NX, and the stamps authentication checks)
on a shared Redis client; Django's RedisCache is avoided because it builds a new redis-py client
per call. Without Redis (the SQLite quickstart) the counter lives in the default cache.
"""

from __future__ import annotations

import logging
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


@dataclass(frozen=True)
class Counted:
    """One request counted in its key's current window."""

    api_key_id: int
    period: int
    window: int
    count: int


def count_request(api_key_id: int, reads: Sequence[str] = ()) -> tuple[Counted, list[Any]]:
    """Count a request of the key `api_key_id` in its window and read the values of `reads`
    (plain string keys: the stamps authentication checks, apps.core.stamps) in the same round
    trip to Redis. Without Redis the count is kept in the default cache and the reads are None.
    Raises redis.RedisError when Redis cannot be reached."""
    _, period = parse_rate(settings.API_THROTTLE_RATE)
    window = int(time.time() // period)
    key = f"throttle:api_key:{api_key_id}:{period}:{window}"
    if not settings.REDIS_URL:
        return Counted(api_key_id, period, window, _count_in_cache(key, period)), [None] * len(reads)
    count, values = _count_script(settings.REDIS_URL)(keys=[_prefixed(key), *reads], args=[period + 1])
    return Counted(api_key_id, period, window, int(count)), list(values)


# KEYS[1]: the window's counter; KEYS[2..]: values to read. One command, so one parse each way
# (redis-py sends EVALSHA, and the script itself once if the server does not have it yet).
_COUNT_AND_READ = """
local count = redis.call('INCR', KEYS[1])
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
    round trip it made to check its cached key (`request.throttle_counted`)."""

    def __init__(self) -> None:
        self._wait: float | None = None

    def allow_request(self, request: Request, view: Any) -> bool:
        api_key = request.auth
        if not isinstance(api_key, ApiKey):  # none, or a customer session (counted per customer)
            return True
        limit, _ = parse_rate(settings.API_THROTTLE_RATE)
        counted: Counted | None = getattr(request, "throttle_counted", None)
        if counted is None or counted.api_key_id != api_key.pk:
            try:
                counted, _ = count_request(api_key.pk)
            except redis.RedisError as exc:
                # The limiter protects us; it must not take payments down with Redis: fail open.
                logger.warning("throttle_unavailable", extra={"error": f"{type(exc).__name__}: {exc}"[:200]})
                return True
        if counted.count > limit:
            self._wait = (counted.window + 1) * counted.period - time.time()
            return False
        return True

    def wait(self) -> float | None:
        return self._wait
