"""One Redis client per URL and process, for the counters that live in Redis (the API throttle,
risk velocity): short timeouts, so a Redis outage is an error the caller handles, not a hang."""

from __future__ import annotations

from functools import lru_cache

import redis


@lru_cache(maxsize=4)
def redis_client(url: str) -> redis.Redis:
    return redis.Redis.from_url(url, socket_timeout=1, socket_connect_timeout=1)
