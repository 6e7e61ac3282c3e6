from __future__ import annotations

from typing import Any

from rest_framework.authentication import BaseAuthentication, get_authorization_header
from rest_framework.exceptions import AuthenticationFailed
from rest_framework.request import Request

from .errors import ApiKeyInvalid
from .models import ApiKey, Merchant
from .services import api_key_authenticate


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


class ApiKeyAuthentication(BaseAuthentication):
    """`Authorization: Bearer sk_test_…`."""

    keyword = b"bearer"

    def authenticate(self, request: Request) -> tuple[Any, Any] | None:
        parts = get_authorization_header(request).split()
        if not parts or parts[0].lower() != self.keyword:
            return None
        if len(parts) != 2:
            raise AuthenticationFailed(
                "Malformed Authorization header; expected 'Bearer <secret key>'.", code="authorization_malformed"
            )
        try:
            api_key = api_key_authenticate(secret=parts[1].decode("ascii"))
        except UnicodeDecodeError as exc:
            raise AuthenticationFailed(ApiKeyInvalid.default_message, code=ApiKeyInvalid.code) from exc
        except ApiKeyInvalid as exc:
            # DRF's own class, so DRF marks the request unauthenticated and sends WWW-Authenticate.
            raise AuthenticationFailed(exc.message, code=exc.code) from exc
        return ApiKeyPrincipal(api_key), api_key

    def authenticate_header(self, request: Request) -> str:
        return 'Bearer realm="api"'
