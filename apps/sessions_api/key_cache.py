"""Signing keys, with their merchants, as this process last read them, by kid: verifying a token
whose key was seen before asks the database nothing.

The mechanism of API keys (apps.merchants.key_cache, apps.core.stamps): a copy is used only under
the stamps it was read under, `session_keys` (any signing key saved: a rotation) and `api_keys`
(any merchant saved: a deactivation), which verification reads in the round trip it makes anyway
for the revocations and the throttle. A kid no key has is kept too (as None), so a stream of
made-up kids costs one query each, not one per request. A copy is read again at least every
API_KEY_CACHE_SECONDS, and never kept without Redis."""

from __future__ import annotations

import time
from dataclasses import dataclass

from django.conf import settings

from apps.merchants.key_cache import API_KEYS

from .keys import VerificationKey

SESSION_KEYS = "session_keys"
STAMPS = (SESSION_KEYS, API_KEYS)
MAX_KEYS = 4096  # distinct kids a process keeps; beyond that it starts again


@dataclass(frozen=True)
class Kept:
    stamps: tuple[str | None, ...]
    read_at: float
    key: VerificationKey | None


_kept: dict[str, Kept] = {}


def kept_key(kid: str) -> Kept | None:
    kept = _kept.get(kid)
    if kept is None or time.monotonic() - kept.read_at >= settings.API_KEY_CACHE_SECONDS:
        return None
    return kept


def keep_key(kid: str, stamps: tuple[str | None, ...], key: VerificationKey | None, read_at: float) -> None:
    """Keep what was read for `kid` after `stamps` were read (none of them missing)."""
    if None in stamps:
        _kept.pop(kid, None)
        return
    if len(_kept) >= MAX_KEYS:
        _kept.clear()
    _kept[kid] = Kept(stamps, read_at, key)


def forget_keys() -> None:
    _kept.clear()
