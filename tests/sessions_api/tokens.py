"""Tokens made by hand for the tests: signed with a key's real material (as only Clearhouse can,
with claims it would never sign), or put together as an attacker would."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import time
from typing import Any

import jwt

from apps.audit.actors import Actor
from apps.customers.models import Customer
from apps.sessions_api.keys import AUDIENCE, issuer, signing_material
from apps.sessions_api.models import SigningKey

ACTOR = Actor.system("tests")
ALL_READS = ["payments.read", "invoices.read", "subscriptions.read", "payment_methods.manage"]


def claims_for(customer: Customer, **overrides: Any) -> dict[str, Any]:
    """The claims the service would sign now for `customer` (overridden as told)."""
    now = int(time.time())
    claims = {
        "iss": issuer(),
        "aud": AUDIENCE,
        "sub": customer.public_id,
        "mch": customer.merchant.public_id,
        "sid": "cs_forged",
        "jti": f"jti-{now}-{customer.pk}",
        "iat": now,
        "nbf": now,
        "exp": now + 600,
        "scope": "payments.read",
        "livemode": False,
    }
    claims.update(overrides)
    return {name: value for name, value in claims.items() if value is not None}


def sign(claims: dict[str, Any], key: SigningKey, **headers: Any) -> str:
    """Signed with `key`'s real material, as only Clearhouse can."""
    headers = {"kid": key.kid, **headers}
    return jwt.encode(claims, signing_material(key), algorithm=key.algorithm, headers=headers)


def _b64(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


def hand_made(header: dict[str, Any], claims: dict[str, Any], secret: bytes | None) -> str:
    """A token put together by hand (an attacker's): HMAC-SHA256 with `secret`, or no signature."""
    signing_input = f"{_b64(json.dumps(header).encode())}.{_b64(json.dumps(claims).encode())}"
    if secret is None:
        return f"{signing_input}."
    signature = hmac.new(secret, signing_input.encode(), hashlib.sha256).digest()
    return f"{signing_input}.{_b64(signature)}"


def error_code(response: Any) -> str:
    code: str = response.json()["error"]["code"]
    return code
