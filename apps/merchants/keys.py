"""The shape of an API key secret: `sk_<mode>_<32 base62 characters>` (about 190 bits)."""

from __future__ import annotations

import hashlib

from apps.core.ids import random_token

SECRET_BODY_LENGTH = 32
VISIBLE_BODY_CHARS = 4


def generate_secret(mode: str, kind: str = "secret") -> str:
    return f"{'pk' if kind == 'publishable' else 'sk'}_{mode}_{random_token(SECRET_BODY_LENGTH)}"


def hash_secret(secret: str) -> str:
    # A fast hash is right here: the secret is long and random, so there is nothing to brute-force.
    return hashlib.sha256(secret.encode()).hexdigest()


def visible_prefix(secret: str) -> str:
    head, _, body = secret.rpartition("_")
    return f"{head}_{body[:VISIBLE_BODY_CHARS]}"
