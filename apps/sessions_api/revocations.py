"""Revocations in Redis: the fast path that lets a token be checked without the database.

- a revoked session: `customer_session:revoked:<jti>`, kept until its token expires;
- "every session of this customer so far" (revoke all): `customer_session:not_before:<merchant
  id>:<customer>`, the time before which a token's `iat` is refused, kept for a token's longest
  life; the sessions it covered are also revoked one by one (the database records them), so a
  token minted in the same second just before it is refused too, and one minted just after is not.

Both are written before the revoking transaction begins: if Redis cannot take them the revocation
fails (503) and the database records nothing (what Redis did take is refused: over-revoked, never
under), so a revocation the API confirmed is in force at once in every process. The database is
the record: a Redis that lost its data (the marker `customer_session:revocations_loaded` is gone)
is filled again from it by the next verification.
Keys carry CACHE_KEY_PREFIX, as the cache's do: deployments sharing a Redis do not meet.

The marker cannot see a Redis that drops single keys: one evicting under memory pressure
(maxmemory-policy other than noeviction: the `core.E003` deploy check, docs/operations.md),
or a replica promoted before it had every write.
"""

from __future__ import annotations

import math
import secrets
import time
from collections.abc import Iterable

from django.conf import settings

from apps.core.redis_client import redis_client

from .keys import LEEWAY_SECONDS, MAX_LIFETIME_SECONDS
from .selectors import revoked_sessions_unexpired


def prefixed(key: str) -> str:
    return f"{settings.CACHES['default'].get('KEY_PREFIX', '')}:{key}"


def loaded_key() -> str:
    return prefixed("customer_session:revocations_loaded")


def revoked_key(jti: str) -> str:
    return prefixed(f"customer_session:revoked:{jti}")


def not_before_key(merchant_id: int, customer: str) -> str:
    return prefixed(f"customer_session:not_before:{merchant_id}:{customer}")


def revocations_record(sessions: Iterable[tuple[str, float]]) -> None:
    """Mark these sessions (jti, expiry timestamp) revoked until their tokens expire. Raises
    redis.RedisError when Redis cannot be reached."""
    now = time.time()
    pipeline = redis_client(settings.REDIS_URL).pipeline(transaction=False)
    for jti, expires_at in sessions:
        pipeline.set(revoked_key(jti), "1", ex=max(1, math.ceil(expires_at - now) + LEEWAY_SECONDS))
    pipeline.execute()


# Only ever forward: two revocations of one customer may reach Redis in either order, and the
# later "not before" must win (an earlier one landing last would accept what the later refused).
_NOT_BEFORE_LUA = """
local current = tonumber(redis.call('GET', KEYS[1]) or '0')
if tonumber(ARGV[1]) > current then
  redis.call('SET', KEYS[1], ARGV[1], 'EX', ARGV[2])
else
  redis.call('EXPIRE', KEYS[1], ARGV[2])
end
return 1
"""


def not_before_record(*, merchant_id: int, customer: str, at: float) -> None:
    """Refuse the customer's tokens issued before `at` (whole seconds, as `iat` is), unless a
    later time is already recorded."""
    client = redis_client(settings.REDIS_URL)
    client.eval(
        _NOT_BEFORE_LUA, 1, not_before_key(merchant_id, customer), int(at), MAX_LIFETIME_SECONDS + 2 * LEEWAY_SECONDS
    )


def revocations_reload() -> set[str]:
    """Fill Redis again from the database (after it lost its data); returns the revoked jtis."""
    revoked = revoked_sessions_unexpired()
    revocations_record(revoked)
    redis_client(settings.REDIS_URL).set(loaded_key(), secrets.token_hex(8))
    return {jti for jti, _ in revoked}
