"""Rate limits for customer session tokens, each customer's (CUSTOMER_SESSION_THROTTLE_RATE) and all
of a merchant's customers together (CUSTOMER_SESSION_MERCHANT_THROTTLE_RATE: many customers at once
cannot crowd out the merchant's other traffic): fixed windows counted in Redis in the round trip
that verified the token (apps.sessions_api.verification), so a throttled customer costs nothing
more; without Redis, in the default cache."""

from __future__ import annotations

import time
from typing import Any

from django.conf import settings
from rest_framework.request import Request
from rest_framework.throttling import BaseThrottle

from apps.api.customer_scope import customer_scope_of
from apps.merchants.throttling import parse_rate

from .verification import Counted, count_in_cache, customer_throttle, merchant_throttle, merchant_wait


class CustomerSessionRateThrottle(BaseThrottle):
    def __init__(self) -> None:
        self._wait: float | None = None

    def allow_request(self, request: Request, view: Any) -> bool:
        scope = customer_scope_of(request)
        if scope is None:
            return True
        limit, _ = parse_rate(settings.CUSTOMER_SESSION_THROTTLE_RATE)
        counted: Counted | None = getattr(request, "customer_throttle_counted", None)
        if counted is None:
            key, limit, period, window = customer_throttle(scope.merchant.pk, scope.customer)
            count = count_in_cache(key, period)
            merchant_key, merchant_limit, merchant_period, merchant_window = merchant_throttle(scope.merchant.pk)
            # As in Redis: only requests within the customer's own limit count for its merchant.
            merchant_count = count_in_cache(merchant_key, merchant_period) if count <= limit else 0
            waits = merchant_wait(merchant_count, merchant_limit, merchant_period, merchant_window)
            counted = Counted(key, period, window, count, waits)
        if counted.merchant_wait is not None:
            self._wait = counted.merchant_wait
            return False
        if counted.count > limit:
            self._wait = (counted.window + 1) * counted.period - time.time()
            return False
        return True

    def wait(self) -> float | None:
        return self._wait
