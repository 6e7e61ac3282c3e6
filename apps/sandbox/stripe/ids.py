"""Public ids as Stripe writes them: a prefix and 24 base62 characters (`pi_3NqXkL2eZvKYlo2C0Xf8aJ1b`)."""

from __future__ import annotations

import secrets
import string

BASE62 = string.digits + string.ascii_letters


def new_id(prefix: str, length: int = 24) -> str:
    return prefix + "".join(secrets.choice(BASE62) for _ in range(length))


def client_secret(intent_id: str) -> str:
    """`pi_…_secret_…` / `seti_…_secret_…`: what the browser gets to confirm the intent."""
    return f"{intent_id}_secret_{new_id('', 25)}"


def request_id() -> str:
    return new_id("req_", 14)
