"""Verifying a customer session token, without a database query on the hot path.

1. The header's `kid` names one of our signing keys (a token without one is refused). The key comes
   from this process's copy (apps.sessions_api.key_cache), else from the database.
2. PyJWT checks the signature with that key and only its algorithm (`algorithms=[key's]`, taken
   from our record, never from the token: `alg: none`, or an HS256 token "signed" with an ES256
   key's public PEM, is refused), and the registered claims: `exp`, `nbf`, `iat` (not in the
   future), `aud`, `iss`, all required, with LEEWAY_SECONDS of clock skew.
3. Our own claims (`livemode`, the minting key's mode, among them): `mch` is the key's merchant
   (one merchant's key never vouches for another's token), the merchant is active, the key still
   verifies (a retired key only for the tokens it signed before its retirement, until they
   expire), the lifetime is within the maximum, and the abilities are ours.
4. One round trip to Redis: the request counted for the customer's rate limit, the stamps of the
   kept key, the session's revocation and the customer's "not before". A changed stamp reads the
   key again; Redis unreachable refuses the token (503: fail closed), as a revocation could not be
   seen.

Without Redis at all (REDIS_URL empty: the SQLite quickstart) the database decides each time.
"""

from __future__ import annotations

import copy
import re
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from functools import lru_cache
from typing import Any

import jwt
import redis
from django.conf import settings
from django.core.cache import cache
from django.utils import timezone
from redis.commands.core import Script

from apps.api.customer_scope import Ability, CustomerScope
from apps.core.redis_client import redis_client
from apps.core.stamps import stamp_key, stamps_from
from apps.merchants.throttling import parse_rate

from .errors import SESSIONS_UNAVAILABLE_CODE, SessionsUnavailable, SessionTokenInvalid
from .key_cache import STAMPS, keep_key, kept_key
from .keys import (
    AUDIENCE,
    LEEWAY_SECONDS,
    MAX_LIFETIME_SECONDS,
    VerificationKey,
    issuer,
    verification_key,
    verifies_until,
)
from .models import CustomerSession
from .revocations import loaded_key, not_before_key, prefixed, revocations_reload, revoked_key
from .selectors import signing_key_by_kid

# Three base64url parts (the signature may be empty: `alg: none`, refused below). API keys
# (`sk_test_…`, `pk_live_…`) have no dots.
JWT_SHAPE = re.compile(rb"^[A-Za-z0-9_-]+\.[A-Za-z0-9_-]+\.[A-Za-z0-9_-]*$")
KID_SHAPE = re.compile(r"^csk_[A-Za-z0-9]{20}$")  # apps.sessions_api.models.new_kid
REQUIRED_CLAIMS = ["exp", "iat", "nbf", "iss", "aud", "sub", "jti", "sid", "mch", "scope", "livemode"]
KNOWN_ABILITIES = frozenset(Ability)


def looks_like_jwt(credential: bytes) -> bool:
    return JWT_SHAPE.match(credential) is not None


@dataclass(frozen=True)
class Counted:
    """The request counted in its customer's current window (apps.sessions_api.throttling), and in
    its merchant's: `merchant_wait`, the seconds to wait when all the merchant's customers together
    went over CUSTOMER_SESSION_MERCHANT_THROTTLE_RATE."""

    key: str
    period: int
    window: int
    count: int
    merchant_wait: float | None = None


@dataclass(frozen=True)
class Verified:
    scope: CustomerScope
    counted: Counted | None


def _load_key(kid: str) -> VerificationKey | None:
    signing_key = signing_key_by_kid(kid=kid)
    return verification_key(signing_key) if signing_key is not None else None


def _decode(token: str, key: VerificationKey) -> dict[str, Any]:
    try:
        claims: dict[str, Any] = jwt.decode(
            token,
            key.material,
            algorithms=[key.algorithm],
            audience=AUDIENCE,
            issuer=issuer(),
            leeway=LEEWAY_SECONDS,
            options={"require": REQUIRED_CLAIMS},
        )
    except jwt.ExpiredSignatureError as exc:
        raise SessionTokenInvalid("This customer session token has expired.", code="session_token_expired") from exc
    except jwt.ImmatureSignatureError as exc:
        raise SessionTokenInvalid("This customer session token is not valid yet.") from exc
    except jwt.InvalidAudienceError as exc:
        raise SessionTokenInvalid("This token is not a customer session token (audience).") from exc
    except jwt.InvalidIssuerError as exc:
        raise SessionTokenInvalid("This customer session token was issued elsewhere (issuer).") from exc
    except jwt.MissingRequiredClaimError as exc:
        raise SessionTokenInvalid(f"This customer session token has no {exc.claim!r} claim.") from exc
    except jwt.InvalidTokenError as exc:  # signature, algorithm, encoding
        raise SessionTokenInvalid() from exc
    return claims


def _scope(claims: dict[str, Any], key: VerificationKey) -> CustomerScope:
    merchant = key.merchant
    if claims["mch"] != merchant.public_id:
        raise SessionTokenInvalid()  # signed with another merchant's key
    if not merchant.is_active:
        raise SessionTokenInvalid("This merchant account is deactivated.", code="merchant_inactive")
    issued_at, expires = claims["iat"], claims["exp"]
    if not isinstance(issued_at, int) or not isinstance(expires, int):
        raise SessionTokenInvalid()
    if expires - issued_at > MAX_LIFETIME_SECONDS:
        raise SessionTokenInvalid()
    if key.compromised:
        raise SessionTokenInvalid("This customer session token's signing key was withdrawn.")
    retired_until = verifies_until(key.retired_at)
    if key.retired_at is not None and (
        issued_at > key.retired_at.timestamp() + LEEWAY_SECONDS or timezone.now() >= (retired_until or key.retired_at)
    ):
        raise SessionTokenInvalid("This customer session token's signing key was retired.")
    scope, customer = claims["scope"], claims["sub"]
    abilities = frozenset(scope.split()) if isinstance(scope, str) else frozenset()
    if not abilities or not abilities <= KNOWN_ABILITIES or not isinstance(customer, str):
        raise SessionTokenInvalid()
    if not isinstance(claims["jti"], str) or not isinstance(claims["sid"], str):
        raise SessionTokenInvalid()
    if not isinstance(claims["livemode"], bool):
        raise SessionTokenInvalid()
    return CustomerScope(
        merchant=copy.copy(merchant),  # a request's own copy: nothing it sets reaches the next
        customer=customer,
        abilities=abilities,
        session=claims["sid"],
        jti=claims["jti"],
        expires_at=datetime.fromtimestamp(expires, UTC),
        livemode=claims["livemode"],
    )


def customer_throttle(merchant_id: int, customer: str) -> tuple[str, int, int, int]:
    """The key counting the customer's requests, its limit, period and window."""
    limit, period = parse_rate(settings.CUSTOMER_SESSION_THROTTLE_RATE)
    window = int(time.time() // period)
    return f"throttle:customer:{{{merchant_id}}}:{customer}:{period}:{window}", limit, period, window


def merchant_throttle(merchant_id: int) -> tuple[str, int, int, int]:
    """The key counting every customer token request of the merchant, its limit, period, window
    (one hash tag with its customers' keys: one script counts both on a Redis Cluster)."""
    limit, period = parse_rate(settings.CUSTOMER_SESSION_MERCHANT_THROTTLE_RATE)
    window = int(time.time() // period)
    return f"throttle:customers_of:{{{merchant_id}}}:{period}:{window}", limit, period, window


# The customer's request counted; the merchant's count goes up only for a request within the
# customer's own limit, so one customer far over it never uses up its merchant's cap.
# KEYS: customer's window, merchant's window; ARGV: customer limit, customer ttl, merchant ttl.
_COUNT_LUA = """
local count = redis.call('INCR', KEYS[1])
if count == 1 then redis.call('EXPIRE', KEYS[1], ARGV[2]) end
local merchant
if count <= tonumber(ARGV[1]) then
  merchant = redis.call('INCR', KEYS[2])
  if merchant == 1 then redis.call('EXPIRE', KEYS[2], ARGV[3]) end
else
  merchant = tonumber(redis.call('GET', KEYS[2]) or '0')
end
return {count, merchant}
"""


@lru_cache(maxsize=4)
def _count_script(url: str) -> Script:
    return redis_client(url).register_script(_COUNT_LUA)


def merchant_wait(count: int, limit: int, period: int, window: int) -> float | None:
    return (window + 1) * period - time.time() if count > limit else None


@dataclass(frozen=True)
class _FastPath:
    counted: Counted
    stamps: tuple[str | None, ...]
    revoked: bool
    not_before: int | None
    loaded: bool


def _fast_path(scope: CustomerScope) -> _FastPath:
    """The one round trip of a verification. Raises redis.RedisError."""
    throttle, limit, period, window = customer_throttle(scope.merchant.pk, scope.customer)
    merchant_key, merchant_limit, merchant_period, merchant_window = merchant_throttle(scope.merchant.pk)
    pipeline = redis_client(settings.REDIS_URL).pipeline(transaction=False)
    _count_script(settings.REDIS_URL)(
        keys=[prefixed(throttle), prefixed(merchant_key)],
        args=[limit, period + 1, merchant_period + 1],
        client=pipeline,
    )
    # The stamps share one hash tag and are read together; the other keys one by one (a single
    # MGET across them would be refused by a Redis Cluster: CROSSSLOT).
    pipeline.mget([stamp_key(name) for name in STAMPS])
    pipeline.get(revoked_key(scope.jti))
    pipeline.get(not_before_key(scope.merchant.pk, scope.customer))
    pipeline.get(loaded_key())
    (count, merchant_count), stamp_values, revoked, not_before, loaded = pipeline.execute()
    stamps = stamps_from(STAMPS, stamp_values)
    waits = merchant_wait(int(merchant_count), merchant_limit, merchant_period, merchant_window)
    return _FastPath(
        counted=Counted(throttle, period, window, int(count), waits),
        stamps=tuple(stamps[name] for name in STAMPS),
        revoked=revoked is not None,
        not_before=int(not_before) if not_before is not None else None,
        loaded=loaded is not None,
    )


def _verify_without_redis(token: str, kid: str) -> Verified:
    key = _load_key(kid)
    if key is None:
        raise SessionTokenInvalid()
    scope = _scope(_decode(token, key), key)
    if CustomerSession.objects.filter(jti=scope.jti, revoked_at__isnull=False).exists():
        raise SessionTokenInvalid("This customer session was revoked.", code="session_revoked")
    return Verified(scope, None)


def session_token_verify(token: str) -> Verified:
    """The customer scope of a valid token; SessionTokenInvalid (401) when it is not,
    SessionsUnavailable (503) when Redis cannot say whether it was revoked."""
    try:
        header = jwt.get_unverified_header(token)
    except jwt.InvalidTokenError as exc:
        raise SessionTokenInvalid() from exc
    kid = header.get("kid")
    if not isinstance(kid, str) or not kid:
        raise SessionTokenInvalid("This customer session token names no key (kid).")
    if not KID_SHAPE.match(kid):  # not one of ours: refused before any lookup
        raise SessionTokenInvalid()
    if not settings.REDIS_URL:
        return _verify_without_redis(token, kid)
    try:
        kept = kept_key(kid)
        if kept is None:
            read_at = time.monotonic()
            values = redis_client(settings.REDIS_URL).mget([stamp_key(name) for name in STAMPS])
            stamps = stamps_from(STAMPS, values)
            kept_stamps = tuple(stamps[name] for name in STAMPS)
            key = _load_key(kid)
            keep_key(kid, kept_stamps, key, read_at)
        else:
            key, kept_stamps = kept.key, kept.stamps
        if key is None:
            raise SessionTokenInvalid()
        claims = _decode(token, key)
        scope = _scope(claims, key)
        fast = _fast_path(scope)
        if fast.stamps != kept_stamps:  # a key or merchant changed since: decide with what is current
            read_at = time.monotonic()
            key = _load_key(kid)
            keep_key(kid, fast.stamps, key, read_at)
            if key is None:
                raise SessionTokenInvalid()
            claims = _decode(token, key)
            scope = _scope(claims, key)
        revoked = fast.revoked
        if not fast.loaded:
            revoked = revoked or scope.jti in revocations_reload()
    except redis.RedisError as exc:
        raise SessionsUnavailable(code=SESSIONS_UNAVAILABLE_CODE) from exc
    if revoked or (fast.not_before is not None and claims["iat"] < fast.not_before):
        raise SessionTokenInvalid("This customer session was revoked.", code="session_revoked")
    return Verified(scope, fast.counted)


def count_in_cache(key: str, period: int) -> int:
    """Without Redis: the customer's count in the default cache (the SQLite quickstart)."""
    if cache.add(key, 1, timeout=period + 1):
        return 1
    try:
        return int(cache.incr(key))
    except ValueError:
        cache.add(key, 1, timeout=period + 1)
        return 1
