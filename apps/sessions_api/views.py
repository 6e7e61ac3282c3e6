"""GET /.well-known/jwks.json: the public keys that verify customer session tokens."""

from __future__ import annotations

from django.http import HttpRequest, JsonResponse
from django.views.decorators.http import require_GET

from .keys import public_jwk
from .selectors import public_signing_keys


@require_GET
def jwks(request: HttpRequest) -> JsonResponse:
    """Every asymmetric (ES256) key that still verifies tokens, by kid; HS256 secrets never. Empty
    `keys` when every key is HS256."""
    response = JsonResponse({"keys": [public_jwk(key) for key in public_signing_keys()]})
    response["Cache-Control"] = "public, max-age=300"
    return response
