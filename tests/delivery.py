"""Waiting for a message in flight, in tests of what is pushed between processes."""

from __future__ import annotations

import time
from collections.abc import Callable


def delivered(before: str | None, read: Callable[[], str | None], seconds: float = 5.0) -> str | None:
    """What `read` answers once a change in flight has reached this process. Redis answers the
    publisher and writes to the subscribers in one pass, but on a loaded machine the two writes
    can be apart: a change takes its delivery time to reach another process (the docs say so)."""
    deadline = time.monotonic() + seconds
    value = read()
    while value in (before, None) and time.monotonic() < deadline:
        time.sleep(0.01)
        value = read()
    return value
