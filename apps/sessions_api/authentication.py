from __future__ import annotations

from typing import Any

from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from .errors import SessionTokenInvalid
from .verification import looks_like_jwt, session_token_verify


class CustomerSessionAuthentication(BaseAuthentication):
    """`Authorization: Bearer <customer session token>` (a JWT: three dot-separated base64url
    parts). Anything else, an API key or a malformed header, is left to ApiKeyAuthentication
    (listed after this class), which answers it as before (401 `authorization_malformed` ...).
    request.user and request.auth are the token's apps.api.customer_scope.CustomerScope."""

    keyword = b"bearer"

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        parts = get_authorization_header(request).split()
        if len(parts) != 2 or parts[0].lower() != self.keyword or not looks_like_jwt(parts[1]):
            return None
        try:
            verified = session_token_verify(parts[1].decode("ascii"))
        except SessionTokenInvalid as exc:
            # DRF's own class, so DRF marks the request unauthenticated and sends WWW-Authenticate.
            raise AuthenticationFailed(exc.message, code=exc.code) from exc
        request.customer_throttle_counted = verified.counted  # type: ignore[attr-defined]
        return verified.scope, verified.scope

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'
