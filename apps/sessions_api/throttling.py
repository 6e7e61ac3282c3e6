"""Per-customer rate limit for customer session tokens (CUSTOMER_SESSION_THROTTLE_RATE): a fixed
window counted in Redis in the round trip that verified the token (apps.sessions_api.verification),
so a throttled customer costs nothing more; without Redis, in the default cache."""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from apps.api.customer_scope import customer_scope_of
from apps.merchants.throttling import parse_rate

from .verification import Counted, count_in_cache


class CustomerSessionRateThrottle(BaseThrottle):
    def __init__(self) -> None:
        self._wait: float | None = None

    def allow_request(self, request: Request, view: Any) -> bool:
        scope = customer_scope_of(request)
        if scope is None:
            return True
        limit, period = parse_rate(settings.CUSTOMER_SESSION_THROTTLE_RATE)
        counted: Counted | None = getattr(request, "customer_throttle_counted", None)
        if counted is None:
            window = int(time.time() // period)
            key = f"throttle:customer:{scope.merchant.pk}:{scope.customer}:{period}:{window}"
            counted = Counted(key, period, window, count_in_cache(key, period))
        if counted.count > limit:
            self._wait = (counted.window + 1) * counted.period - time.time()
            return False
        return True

    def wait(self) -> float | None:
        return self._wait
