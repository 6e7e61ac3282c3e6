"""API keys, with their merchants, as this process last read them: a request with a key seen
before asks the database nothing, nor Redis. Each copy is used only under the version of the
`api_keys` stamp it was read under: as this process's subscription to stamp changes keeps it
(apps.core.stamp_watch), or, while that is down, the stamp itself, read from Redis (with the
throttle's next lease when one is taken). A key revoked, a merchant deactivated (any saved or
deleted key or merchant) is refused by every process at the next request. A copy is read again
at least every API_KEY_CACHE_SECONDS (what a stamp cannot see), and never without Redis."""

from __future__ import annotations

import copy
import time
from dataclasses import dataclass
from typing import TypeVar

from django.conf import settings
from django.db import models

from .models import ApiKey

M = TypeVar("M", bound=models.Model)

API_KEYS = "api_keys"
MAX_KEYS = 4096  # distinct keys a process keeps; beyond that it starts again


@dataclass
class Kept:
    stamp: str
    read_at: float
    api_key: ApiKey


_kept: dict[str, Kept] = {}


def kept_key(secret_hash: str) -> Kept | None:
    """The copy of the key with this secret hash, unless it is older than its refresh age."""
    kept = _kept.get(secret_hash)
    if kept is None or time.monotonic() - kept.read_at >= settings.API_KEY_CACHE_SECONDS:
        return None
    return kept


def keep_key(secret_hash: str, stamp: str, api_key: ApiKey, read_at: float) -> None:
    """Keep `api_key` (read from the database after `stamp` was read, at `read_at`)."""
    if len(_kept) >= MAX_KEYS:
        _kept.clear()
    _kept[secret_hash] = Kept(stamp, read_at, api_key)


def _shallow_copy(instance: M) -> M:
    """copy.copy() of a model instance as Model.__getstate__ makes it (its own attribute dict, its
    own ModelState and related-object cache), without the pickling round trip copy.copy takes."""
    duplicate = instance.__class__.__new__(instance.__class__)
    state = instance.__dict__.copy()
    state["_state"] = copy.copy(state["_state"])
    state["_state"].fields_cache = state["_state"].fields_cache.copy()
    duplicate.__dict__ = state
    return duplicate


def fresh_copy(api_key: ApiKey) -> ApiKey:
    """What one request gets: its own copies of the kept key and merchant, so nothing a request
    sets on them reaches the next request."""
    request_key = _shallow_copy(api_key)
    request_key.merchant = _shallow_copy(api_key.merchant)
    return request_key


def forget_keys() -> None:
    _kept.clear()
