"""Prefixed public ids (`mch_…`, `key_…`) and random secrets."""

from __future__ import annotations

import base64
import hashlib
import secrets
import string

_ALPHABET = string.digits + string.ascii_letters


def random_token(length: int) -> str:
    return "".join(secrets.choice(_ALPHABET) for _ in range(length))


def public_id(prefix: str) -> str:
    return f"{prefix}_{random_token(24)}"


def digest_token(*parts: str, length: int = 16) -> str:
    """`length` lowercase base32 characters of SHA-256 over the parts joined by "|": the same parts
    always give the same token (references derived from what a retry sends again)."""
    digest = hashlib.sha256("|".join(parts).encode()).digest()
    return base64.b32encode(digest).decode().lower()[:length]
