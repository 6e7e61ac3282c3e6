"""`manage.py check --deploy`: the Redis at REDIS_URL must never evict a key on its own. It holds
what cannot be lost quietly: revoked customer sessions (a key evicted is a revoked token accepted
again), rate-limit windows, stamps, and on Redis the Celery queues. A Redis that may evict
(maxmemory set and maxmemory-policy other than noeviction) is an error; one that does not let us
read its configuration (CONFIG disabled, as on some managed services) a warning to check by hand."""

from __future__ import annotations

from typing import Any

import redis
from django.conf import settings
from django.core import checks

from .redis_client import redis_client

HINT = "Set maxmemory-policy noeviction on this Redis (docs/operations.md, 'Redis')."


def check_redis_eviction(app_configs: Any = None, **kwargs: Any) -> list[checks.CheckMessage]:
    if not settings.REDIS_URL:
        return []
    client = redis_client(settings.REDIS_URL)
    try:
        policy = client.config_get("maxmemory-policy").get("maxmemory-policy")
        limit = client.config_get("maxmemory").get("maxmemory")
    except redis.ResponseError:
        refused = "Could not read this Redis's maxmemory-policy (CONFIG refused)."
        return [checks.Warning(refused, hint=HINT, id="core.W002")]
    except redis.RedisError as exc:
        unreachable = f"Could not reach Redis at REDIS_URL to check its eviction policy: {exc}."
        return [checks.Warning(unreachable, id="core.W003")]
    if policy in (None, "noeviction", b"noeviction") or limit in ("0", b"0", 0):
        return []
    policy = policy.decode() if isinstance(policy, bytes) else policy
    return [
        checks.Error(
            f"Redis may evict keys under memory pressure (maxmemory-policy {policy}): a revoked customer session "
            "would be accepted again, and queued tasks lost.",
            hint=HINT,
            id="core.E003",
        )
    ]
