"""The portal's browser session: the customer session token (apps.sessions_api) in a signed,
HttpOnly, SameSite=Lax cookie on /portal/ (Secure wherever the session cookie is: production).
Each request verifies the token as the API does (signature, expiry, revocation: no database
query) and counts it against the customer's rate limit."""

from __future__ import annotations

from django.conf import settings
from django.core import signing
from django.http import HttpRequest, HttpResponse

from apps.api.customer_scope import CustomerScope
from apps.merchants.throttling import parse_rate
from apps.sessions_api.errors import SessionTokenInvalid
from apps.sessions_api.verification import session_token_verify

COOKIE = "ch_portal"
SALT = "apps.portal.session"
PATH = "/portal/"


class PortalSignedOut(Exception):
    """No portal session in this browser, or one that ended (expired, revoked, tampered with)."""


class PortalThrottled(Exception):
    pass


def portal_cookie_set(response: HttpResponse, token: str, max_age: int) -> None:
    response.set_signed_cookie(
        COOKIE,
        token,
        salt=SALT,
        max_age=max_age,
        path=PATH,
        secure=settings.SESSION_COOKIE_SECURE,
        httponly=True,
        samesite="Lax",
    )


def portal_cookie_clear(response: HttpResponse) -> None:
    response.delete_cookie(COOKIE, path=PATH, samesite="Lax")


def portal_scope(request: HttpRequest) -> CustomerScope:
    """The customer this browser's portal session is for. PortalSignedOut without a valid one;
    PortalThrottled over the customer's rate; SessionsUnavailable (503) without Redis."""
    try:
        token = request.get_signed_cookie(COOKIE, salt=SALT)
    except (KeyError, signing.BadSignature) as exc:
        raise PortalSignedOut() from exc
    try:
        verified = session_token_verify(str(token))
    except SessionTokenInvalid as exc:
        raise PortalSignedOut() from exc
    limit, _ = parse_rate(settings.CUSTOMER_SESSION_THROTTLE_RATE)
    counted = verified.counted
    if counted is not None and (counted.count > limit or counted.merchant_wait is not None):
        raise PortalThrottled()
    return verified.scope
