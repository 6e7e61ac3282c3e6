"""Real faults on our side, for the exactly-once tests: Clearhouse runs under gunicorn in its own
processes, on the test database and with a Redis server of its own as broker and cache; the
gateway sandboxes stay on the test's live server, so the faults never touch them.

- `RedisServer.stop()/start()`: the broker goes away and comes back (the same port, empty).
- `AppServer.terminate_db_connections()`: pg_terminate_backend on every connection the app holds
  (they carry their own application_name; the sandbox's and the test's are left alone).
- `AppServer.kill_workers()`: SIGKILL every gunicorn worker (the master starts new ones).
"""

from __future__ import annotations

import os
import signal
import socket
import subprocess
import sys
import threading
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import redis
import requests
from django.db import connection

ROOT = Path(__file__).resolve().parents[1]
APP_NAME = "clearhouse-under-test"


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return int(sock.getsockname()[1])


def wait_until(predicate: Callable[[], Any], *, timeout: float, what: str) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        try:
            if predicate():
                return
        except Exception:  # noqa: S110 - not up yet
            pass
        time.sleep(0.1)
    raise AssertionError(f"{what} not reached in {timeout} s")


class RedisServer:
    """A redis-server of the test's own, on a free port."""

    def __init__(self) -> None:
        self.port = free_port()
        self.process: subprocess.Popen[bytes] | None = None

    @property
    def url(self) -> str:
        return f"redis://127.0.0.1:{self.port}/0"

    def start(self) -> None:
        self.process = subprocess.Popen(
            ["redis-server", "--port", str(self.port), "--bind", "127.0.0.1", "--save", "", "--appendonly", "no"],
            stdout=subprocess.DEVNULL,
            stderr=subprocess.DEVNULL,
        )
        wait_until(lambda: redis.Redis(port=self.port, socket_timeout=0.5).ping(), timeout=10, what="redis up")

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            self.process.kill()
            self.process.wait(timeout=10)


class AppServer:
    """Clearhouse under gunicorn (two sync workers) on the test database."""

    def __init__(self, *, live_server_url: str, redis_server: RedisServer, env: dict[str, str] | None = None) -> None:
        self.port = free_port()
        self.url = f"http://127.0.0.1:{self.port}"
        settings = connection.settings_dict
        database = (
            f"postgres://{settings['USER']}@{settings['HOST'] or '127.0.0.1'}:{settings['PORT'] or 5432}/"
            f"{settings['NAME']}?application_name={APP_NAME}"
        )
        self.env = {
            **os.environ,
            "DJANGO_SETTINGS_MODULE": "config.settings.test",
            "DATABASE_URL": database,
            "REDIS_URL": redis_server.url,
            "TEST_CELERY_BROKER_URL": redis_server.url,
            "AUTHORIZENET_TEST_ENDPOINT": f"{live_server_url}/sandbox/authorizenet/xml/v1/request.api",
            "RAZORPAY_TEST_API_BASE": f"{live_server_url}/sandbox/razorpay",
            "IDEMPOTENCY_LEASE_SECONDS": "4",
            "PYTHONUNBUFFERED": "1",
            **(env or {}),
        }
        self.process: subprocess.Popen[bytes] | None = None

    def start(self) -> None:
        command = [sys.executable, "-m", "gunicorn", "config.wsgi", "--bind", f"127.0.0.1:{self.port}",
                   "--workers", "2", "--timeout", "60", "--graceful-timeout", "5", "--log-level", "warning"]  # fmt: skip
        self.process = subprocess.Popen(command, cwd=ROOT, env=self.env, start_new_session=True)
        wait_until(
            lambda: requests.get(f"{self.url}/health/live", timeout=1).status_code == 200,
            timeout=30,
            what="the app server answering",
        )

    def stop(self) -> None:
        if self.process is not None and self.process.poll() is None:
            os.killpg(self.process.pid, signal.SIGTERM)
            try:
                self.process.wait(timeout=15)
            except subprocess.TimeoutExpired:
                os.killpg(self.process.pid, signal.SIGKILL)
                self.process.wait(timeout=10)

    def workers(self) -> list[int]:
        assert self.process is not None
        output = subprocess.run(
            ["pgrep", "-P", str(self.process.pid)], check=False, capture_output=True, text=True
        ).stdout
        return [int(line) for line in output.split()]

    def kill_workers(self) -> int:
        """SIGKILL every worker, mid-request; the master starts new ones. Returns how many died."""
        killed = 0
        for pid in self.workers():
            try:
                os.kill(pid, signal.SIGKILL)
                killed += 1
            except ProcessLookupError:
                pass
        wait_until(lambda: len(self.workers()) == 2, timeout=30, what="gunicorn's new workers")
        return killed

    def terminate_db_connections(self) -> int:
        """pg_terminate_backend on every connection of the app; returns how many there were. Only
        this test database's: under xdist every worker's app server has the same application name."""
        with connection.cursor() as cursor:
            cursor.execute(
                "SELECT count(*) FILTER (WHERE pg_terminate_backend(pid)) FROM pg_stat_activity "
                "WHERE application_name = %s AND datname = current_database() AND pid <> pg_backend_pid()",
                [APP_NAME],
            )
            return int(cursor.fetchone()[0])

    def wait_for_db_connection(self, timeout: float = 10) -> None:
        """Until the app holds a connection (a request in flight is between its database steps)."""

        def held() -> bool:
            with connection.cursor() as cursor:
                cursor.execute(
                    "SELECT count(*) FROM pg_stat_activity WHERE application_name = %s AND datname = current_database()",
                    [APP_NAME],
                )
                return int(cursor.fetchone()[0]) > 0

        wait_until(held, timeout=timeout, what="an app database connection")


class Client:
    """The API as a client with a secret key sees it, over HTTP."""

    def __init__(self, base_url: str, secret: str) -> None:
        self.base_url = base_url
        self.session = requests.Session()
        self.session.headers["Authorization"] = f"Bearer {secret}"

    def post(self, path: str, body: dict[str, Any] | None = None, *, key: str | None = None) -> requests.Response:
        headers = {"Idempotency-Key": key} if key else {}
        return self.session.post(f"{self.base_url}{path}", json=body or {}, headers=headers, timeout=60)

    def patch(self, path: str, body: dict[str, Any], *, key: str | None = None) -> requests.Response:
        headers = {"Idempotency-Key": key} if key else {}
        return self.session.patch(f"{self.base_url}{path}", json=body, headers=headers, timeout=60)

    def get(self, path: str) -> requests.Response:
        return self.session.get(f"{self.base_url}{path}", timeout=30)


class InBackground:
    """Run a call in a thread; `.result()` is its return value, or the exception it raised."""

    def __init__(self, work: Callable[[], Any]) -> None:
        self._value: Any = None
        self._thread = threading.Thread(target=self._run, args=(work,), daemon=True)
        self._thread.start()

    def _run(self, work: Callable[[], Any]) -> None:
        try:
            self._value = work()
        except BaseException as exc:
            self._value = exc

    @property
    def finished(self) -> bool:
        return not self._thread.is_alive()

    def result(self, timeout: float = 90) -> Any:
        self._thread.join(timeout)
        assert not self._thread.is_alive(), "the request never finished"
        return self._value
