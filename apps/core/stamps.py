"""Stamps in Redis: how every process knows, without a database query per request, that what it
keeps in memory (the risk rules and lists, API keys) is still current.

Whatever saves or deletes a row of a kept table sets its stamp to a new random token once the
transaction commits (`stamp_bump`, usually from a post_save / post_delete receiver). A request
reads the stamps it needs in a round trip to Redis it makes anyway (the risk velocity counters)
and uses a copy only under the stamp it was read under; API keys are checked against the
versions this process's subscription to stamp changes keeps (apps.core.stamp_watch), with no
round trip at all. What a stamp cannot see (a bulk `QuerySet.update`, a commit whose stamp never
reached Redis because Redis was down or the process was killed between the commit and the write)
is seen when the copy is read again at its refresh age. A missing stamp (Redis restarted) is set
anew; without Redis every request asks the database.
"""

from __future__ import annotations

import contextlib
import logging
import secrets
from collections.abc import Sequence
from typing import Any

import redis
from django.conf import settings
from django.db import transaction
from django.db.models.signals import post_delete, post_save

from apps.core.redis_client import redis_client
from apps.core.stamp_watch import stamp_changed_here, stamp_channel

logger = logging.getLogger(__name__)


def stamp_key(name: str) -> str:
    return f"stamp:{{stamps}}:{name}"  # one hash tag for every stamp: read together in one MGET


def stamp_set(name: str) -> None:
    """A new stamp `name` now, and its name published to every process's watch
    (apps.core.stamp_watch), in one MULTI: no process sees the one without the other."""
    pipeline = redis_client(settings.REDIS_URL).pipeline(transaction=True)
    pipeline.set(stamp_key(name), secrets.token_hex(8))
    pipeline.publish(stamp_channel(), name)
    pipeline.execute()


def stamp_bump(name: str) -> None:
    """A new stamp `name` once the current transaction commits (at once outside one). A failure
    is logged: copies are read again at their refresh age."""

    def bump() -> None:
        if not settings.REDIS_URL:
            return
        try:
            stamp_set(name)
        except redis.RedisError as exc:
            logger.warning("stamp_not_set", extra={"stamp": name, "error": f"{type(exc).__name__}: {exc}"})

    stamp_changed_here(name)
    transaction.on_commit(bump)


def stamp_on_change(name: str, *models: type[Any]) -> None:
    """Bump the stamp `name` whenever a row of `models` is saved or deleted (from an AppConfig's
    ready)."""

    def receiver(**_: Any) -> None:
        stamp_bump(name)

    for model in models:
        for signal, what in ((post_save, "save"), (post_delete, "delete")):
            signal.connect(receiver, sender=model, weak=False, dispatch_uid=f"stamp_{name}_{what}_{model.__name__}")


def stamps_from(names: Sequence[str], values: Sequence[Any]) -> dict[str, str | None]:
    """The stamps `names` from their keys' values as Redis answered them (bytes or None); a
    missing one is set anew (a Redis that lost its data) and is None this time."""
    stamps: dict[str, str | None] = {}
    for name, value in zip(names, values, strict=True):
        if value is None:
            with contextlib.suppress(redis.RedisError):  # the next request tries again
                redis_client(settings.REDIS_URL).set(stamp_key(name), secrets.token_hex(8), nx=True)
            stamps[name] = None
        else:
            stamps[name] = value.decode() if isinstance(value, bytes) else str(value)
    return stamps
