"""Per-API-key rate limit: a fixed window counted atomically in Redis.

DRF's SimpleRateThrottle keeps a list of every request time per key and rewrites it on each
request, which is neither atomic nor cheap at hundreds of requests per second. Here each
request is one pipelined round trip (INCR + EXPIRE) on a shared Redis client; Django's
RedisCache is avoided because it builds a new redis-py client per call. Without Redis (the
SQLite quickstart) the counter lives in the default cache.
"""

from __future__ import annotations

import logging
import time
from typing import Any

import redis
from django.conf import settings
from django.core.cache import cache
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from apps.core.redis_client import redis_client

logger = logging.getLogger(__name__)

_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(rate: str) -> tuple[int, int]:
    count, _, period = rate.partition("/")
    return int(count), _PERIODS[period.strip()[0].lower()]


def _count_in_redis(url: str, key: str, period: int) -> int:
    pipeline = redis_client(url).pipeline(transaction=False)
    pipeline.incr(key)
    pipeline.expire(key, period + 1, nx=True)
    count, _ = pipeline.execute()
    return int(count)


def _count_in_cache(key: str, period: int) -> int:
    if cache.add(key, 1, timeout=period + 1):
        return 1
    try:
        return int(cache.incr(key))
    except ValueError:  # the window expired between add and incr
        cache.add(key, 1, timeout=period + 1)
        return 1


def hit(key: str, period: int) -> int:
    """Count one request in the window `key`; returns the count so far."""
    if settings.REDIS_URL:
        return _count_in_redis(settings.REDIS_URL, f"{settings.CACHES['default'].get('KEY_PREFIX', '')}:{key}", period)
    return _count_in_cache(key, period)


class ApiKeyRateThrottle(BaseThrottle):
    def __init__(self) -> None:
        self._wait: float | None = None

    def allow_request(self, request: Request, view: Any) -> bool:
        api_key = request.auth
        if api_key is None:
            return True
        limit, period = parse_rate(settings.API_THROTTLE_RATE)
        now = time.time()
        window = int(now // period)
        try:
            count = hit(f"throttle:api_key:{api_key.pk}:{period}:{window}", period)
        except redis.RedisError as exc:
            # The limiter protects us; it must not take payments down with Redis: fail open.
            logger.warning("throttle_unavailable", extra={"error": f"{type(exc).__name__}: {exc}"[:200]})
            return True
        if count > limit:
            self._wait = (window + 1) * period - now
            return False
        return True

    def wait(self) -> float | None:
        return self._wait
