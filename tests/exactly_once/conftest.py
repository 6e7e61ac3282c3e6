"""Fixtures for the real-fault tests: Clearhouse under gunicorn with its own Redis (tests/faultlab.py)."""

from __future__ import annotations

from collections.abc import Iterator
from typing import Any

import pytest

from apps.audit.actors import Actor
from apps.events.endpoints import webhook_endpoint_create
from tests.faultlab import AppServer, Client, RedisServer


@pytest.fixture(scope="module")
def app_redis() -> Iterator[RedisServer]:
    server = RedisServer()
    server.start()
    yield server
    server.stop()


@pytest.fixture(scope="module")
def app_env() -> dict[str, str]:
    """Settings of the app server, by environment variable (a module overrides this fixture)."""
    return {}


@pytest.fixture(scope="module")
def app_server(live_server: Any, app_redis: RedisServer, app_env: dict[str, str]) -> Iterator[AppServer]:
    """One app server per module (the data it serves is each test's own, on the test database)."""
    server = AppServer(live_server_url=live_server.url, redis_server=app_redis, env=app_env)
    server.start()
    yield server
    server.stop()


@pytest.fixture
def http(app_server: AppServer, app_redis: RedisServer, api_key: Any) -> Client:
    if app_redis.process is None or app_redis.process.poll() is not None:
        app_redis.start()  # a test stopped it and failed before starting it again
    return Client(app_server.url, api_key.secret)


@pytest.fixture
def listening(merchant: Any) -> None:
    """A merchant webhook endpoint, so every change queues a relay task after its commit."""
    webhook_endpoint_create(
        merchant=merchant, url="http://127.0.0.1:9/hooks", event_types=["*"], actor=Actor.system("tests")
    )
