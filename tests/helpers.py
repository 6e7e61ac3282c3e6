from __future__ import annotations

import re
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any


def wait_for(predicate: Callable[[], Any], timeout: float = 20.0) -> None:
    """Poll until `predicate()` is true (work done by a Celery worker or another thread)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if predicate():
            return
        time.sleep(0.05)
    raise AssertionError("condition not reached in time")


def in_a_thread(work: Callable[[], Any]) -> threading.Thread:
    """Start `work` in a thread of its own, which closes its database connection when done."""
    from django.db import connection

    def run() -> None:
        try:
            work()
        finally:
            connection.close()

    thread = threading.Thread(target=run)
    thread.start()
    return thread


def lock_waits() -> int:
    """How many connections to this database wait for a lock now. Cleared first: inside a
    transaction PostgreSQL reads pg_stat_activity once and keeps it."""
    from django.db import connection

    with connection.cursor() as cursor:
        cursor.execute("SELECT pg_stat_clear_snapshot()")
        cursor.execute(
            "SELECT count(*) FROM pg_stat_activity WHERE datname = current_database() AND wait_event_type = 'Lock'"
        )
        return int(cursor.fetchone()[0])


def wait_for_a_lock_wait(what: str, timeout: float = 5.0) -> None:
    """Until another connection waits for a lock (one this thread's transaction holds, typically)."""
    deadline = time.monotonic() + timeout
    while not lock_waits():
        if time.monotonic() > deadline:
            raise AssertionError(f"{what} never waited for a lock")
        time.sleep(0.02)


def assert_shows_money(content: bytes, *, shown: list[str], bare: list[int]) -> None:
    """An admin page shows each amount of `shown` as money ("45.00 USD") and none of `bare` as
    minor units: a number standing on its own ("4500 USD"), not digits inside an id, a token or a
    URL ("w3.org/2000/svg")."""
    text = content.decode()
    for money in shown:
        assert money in text, f"{money!r} is not on the page"
    for amount in bare:
        found = re.search(rf"(?<![\w.,/]){amount}(?![\w.,/])", text)
        where = text[max(found.start() - 120, 0) : found.end() + 120] if found else ""
        assert found is None, f"{amount} in minor units on the page: …{where}…"
    assert "minor units" not in text


def assert_id_keeps_its_case(content: bytes, public_id: str) -> None:
    """The admin capitalises a message's first letter: a message must not start with the id."""
    assert public_id.encode() in content
    assert public_id[:1].upper().encode() + public_id[1:].encode() not in content


def suite_logs() -> str:
    """Every log line this run wrote so far: this process's log file and, under xdist, every
    other worker's (each worker logs to a file of its own, test-logs-gwN.jsonl)."""
    from django.conf import settings

    files = {Path(settings.LOG_FILE), *Path(settings.VAR_DIR).glob("test-logs-gw*.jsonl")}
    return "".join(path.read_text(encoding="utf-8") for path in sorted(files) if path.exists())
