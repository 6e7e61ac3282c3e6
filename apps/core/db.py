"""Database helpers for work that must survive a lost connection."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from typing import TypeVar

from django.conf import settings
from django.db import InterfaceError, OperationalError, connection, transaction

logger = logging.getLogger(__name__)

T = TypeVar("T")

# What Django raises when the server ended the connection or cannot be reached (and also for
# deadlocks and timeouts, told apart by _connection_lost). A lost
# connection leaves no work of ours committed, except a COMMIT whose answer was lost: work run
# again then finds itself already done.
DISCONNECTED = (OperationalError, InterfaceError)


# SQLSTATEs of a connection the server ended: admin or crash shutdown, cannot connect now.
_SHUTDOWN_STATES = frozenset({"57P01", "57P02", "57P03"})


def _connection_lost(error: BaseException) -> bool:
    """Was the connection lost (not a deadlock, lock or statement timeout on a live one)? Told
    from the driver's error: no SQLSTATE (the socket failed), class 08, or a server shutdown."""
    if isinstance(error, InterfaceError):
        return True
    cause = error.__cause__
    state = getattr(cause, "sqlstate", None)
    return state is None or state.startswith("08") or state in _SHUTDOWN_STATES


def run_with_reconnect(work: Callable[[], T], *, what: str) -> T:
    """Run `work()`; if the database connection is lost, reconnect and run it again
    (DB_RECONNECT_ATTEMPTS times in all, with a short exponential backoff).

    Only for work that is safe to repeat: it locks its rows and skips what is already done, as the
    step that records a gateway call's result does. This is how an answer the gateway already gave
    is recorded even when our connection was cut after the call: the charge is neither left
    pending for a sweeper nor made again.
    """
    if connection.in_atomic_block:
        # Inside someone else's transaction a lost connection loses that transaction too: only
        # its owner can start again, so the work runs once (tests run inside one transaction).
        return work()
    attempts = max(1, settings.DB_RECONNECT_ATTEMPTS)
    for attempt in range(1, attempts + 1):
        try:
            return work()
        except DISCONNECTED as exc:
            if attempt == attempts or not _connection_lost(exc):
                raise  # a lock or statement timeout, a deadlock ...: not ours to repeat
            logger.warning(
                "database_reconnect", extra={"what": what, "attempt": attempt, "error": str(exc).strip()[:200]}
            )
            connection.close()  # the next query opens a fresh connection
            time.sleep(settings.DB_RECONNECT_BACKOFF_SECONDS * 2 ** (attempt - 1))
    raise AssertionError("unreachable")  # pragma: no cover


def atomic_with_reconnect(work: Callable[[], T], *, what: str) -> T:
    """`work()` in a transaction of its own, run again on a fresh connection if the connection
    was lost (see run_with_reconnect: the work must be safe to repeat)."""

    def in_transaction() -> T:
        with transaction.atomic():
            return work()

    return run_with_reconnect(in_transaction, what=what)
