"""Prefixed public ids (`mch_…`, `key_…`) and random secrets."""

from __future__ import annotations

import secrets
import string

_ALPHABET = string.digits + string.ascii_letters


def random_token(length: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def public_id(prefix: str) -> str:
    return f"{prefix}_{random_token(24)}"
