"""Per-API-key rate limit: a fixed window counted atomically in the cache.

DRF's SimpleRateThrottle keeps a list of every request time per key and rewrites it on each
request, which is neither atomic nor cheap at hundreds of requests per second; a counter per
window (cache.add + cache.incr, atomic in Redis) is both.
"""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from django.core.cache import cache
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

_PERIODS = {"s": 1, "m": 60, "h": 3600, "d": 86400}


def parse_rate(rate: str) -> tuple[int, int]:
    count, _, period = rate.partition("/")
    return int(count), _PERIODS[period.strip()[0].lower()]


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
        key = f"throttle:api_key:{api_key.pk}:{period}:{window}"
        if cache.add(key, 1, timeout=period + 1):
            count = 1
        else:
            try:
                count = cache.incr(key)
            except ValueError:  # the window expired between add and incr
                cache.add(key, 1, timeout=period + 1)
                count = 1
        if count > limit:
            self._wait = (window + 1) * period - now
            return False
        return True

    def wait(self) -> float | None:
        return self._wait
