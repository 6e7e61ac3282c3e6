from __future__ import annotations

import time
from typing import Any

import redis
from django.conf import settings
from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from apps.core.redis_client import redis_client
from apps.core.stamp_watch import stamp_version
from apps.core.stamps import stamp_key, stamps_from

from .errors import ApiKeyInvalid
from .key_cache import API_KEYS, fresh_copy, keep_key, kept_key
from .keys import hash_secret
from .models import ApiKey, Merchant
from .services import api_key_authenticate, api_key_touch
from .throttling import count_request, lease_take


class ApiKeyPrincipal:
    """request.user for API calls: the merchant acting through one of its keys."""

    is_authenticated = True
    is_anonymous = False
    is_active = True

    def __init__(self, api_key: ApiKey) -> None:
        self.api_key = api_key
        self.merchant: Merchant = api_key.merchant
        self.pk = api_key.pk

    def __str__(self) -> str:
        return self.api_key.display


def _authenticate(request: Request, secret: str) -> ApiKey:
    """The key for `secret` (ApiKeyInvalid when there is no active one). A key this process kept
    (apps.merchants.key_cache) is used while the `api_keys` stamp has not moved: as this process's
    subscription to stamp changes knows it (apps.core.stamp_watch: no round trip), or, while that
    is down, as read from Redis, in the round trip that takes the throttle's next lease when this
    process has none left (the request counted is kept on the request for the throttle). Any
    other key is read from the database and kept under the version or stamp read before it."""
    digest = hash_secret(secret)
    read_at = time.monotonic()
    kept = kept_key(digest)
    stamp = stamp_version(API_KEYS)
    if stamp is None and settings.REDIS_URL:
        counted = lease_take(kept.api_key.pk) if kept is not None else None
        request.throttle_counted = counted  # type: ignore[attr-defined]
        try:
            if kept is not None and counted is None:  # counted with the stamp read, a new lease
                counted, values = count_request(kept.api_key.pk, [stamp_key(API_KEYS)])
                request.throttle_counted = counted  # type: ignore[attr-defined]
            else:
                values = [redis_client(settings.REDIS_URL).get(stamp_key(API_KEYS))]
            stamp = stamps_from([API_KEYS], values)[API_KEYS]
        except redis.RedisError:
            kept = None  # the database decides; the throttle fails open on its own
    if kept is not None and stamp is not None and kept.stamp == stamp:
        api_key_touch(kept.api_key)
        return fresh_copy(kept.api_key)
    api_key = api_key_authenticate(secret=secret)
    if stamp is not None:
        keep_key(digest, stamp, api_key, read_at)
        return fresh_copy(api_key)
    return api_key


AUTHORIZATION_MALFORMED = (
    "Malformed Authorization header: expected `Authorization: Bearer sk_…` (your secret key; the checkout "
    "and catalogue endpoints also take a publishable key, `Bearer pk_…`)."
)


class ApiKeyAuthentication(BaseAuthentication):
    """`Authorization: Bearer sk_test_…`. No Authorization header at all: not authenticated (401
    `authentication_required`); one that is not `Bearer <key>` (Basic, Token, a bare key ...):
    401 `authorization_malformed`, saying what is expected."""

    keyword = b"bearer"

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        parts = get_authorization_header(request).split()
        if len(parts) != 2 or parts[0].lower() != self.keyword:
            if not parts and "HTTP_AUTHORIZATION" not in request.META:
                return None
            raise AuthenticationFailed(AUTHORIZATION_MALFORMED, code="authorization_malformed")
        try:
            api_key = _authenticate(request, parts[1].decode("ascii"))
        except UnicodeDecodeError as exc:
            raise AuthenticationFailed(ApiKeyInvalid.default_message, code=ApiKeyInvalid.code) from exc
        except ApiKeyInvalid as exc:
            # DRF's own class, so DRF marks the request unauthenticated and sends WWW-Authenticate.
            raise AuthenticationFailed(exc.message, code=exc.code) from exc
        return ApiKeyPrincipal(api_key), api_key

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'
