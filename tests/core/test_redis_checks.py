"""`check --deploy` refuses a Redis that may evict keys (a revoked session's key evicted is a
revoked token accepted). Each case runs a redis-server of its own (tests.faultlab), configured as
the case needs: the shared test Redis is never reconfigured."""

from __future__ import annotations

import subprocess
from collections.abc import Callable, Iterator

import pytest
import redis

from apps.core.redis_checks import check_redis_eviction
from tests.faultlab import free_port, wait_until

Server = Callable[..., str]


@pytest.fixture
def redis_server() -> Iterator[Server]:
    """start(*options) -> the URL of a new redis-server run with those options."""
    processes: list[subprocess.Popen[bytes]] = []

    def start(*options: str) -> str:
        port = free_port()
        command = ["redis-server", "--port", str(port), "--bind", "127.0.0.1", "--save", "", *options]
        processes.append(subprocess.Popen(command, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL))
        wait_until(lambda: redis.Redis(port=port, socket_timeout=0.5).ping(), timeout=10, what="redis up")
        return f"redis://127.0.0.1:{port}/0"

    yield start
    for process in processes:
        process.kill()
        process.wait(timeout=10)


def test_a_redis_with_a_memory_limit_that_evicts_is_an_error(redis_server, settings):
    settings.REDIS_URL = redis_server("--maxmemory", "1gb", "--maxmemory-policy", "allkeys-lru")

    assert [message.id for message in check_redis_eviction()] == ["core.E003"]


@pytest.mark.parametrize(
    "options", [("--maxmemory", "1gb", "--maxmemory-policy", "noeviction"), ("--maxmemory-policy", "allkeys-lru")]
)
def test_a_redis_that_never_evicts_passes(redis_server, settings, options):
    settings.REDIS_URL = redis_server(*options)  # noeviction, or no memory limit at all

    assert check_redis_eviction() == []


def test_a_redis_that_refuses_config_is_a_warning(redis_server, settings):
    url = redis_server()
    redis.Redis.from_url(url).acl_setuser("app", enabled=True, nopass=True, keys=["*"], commands=["+@all", "-config"])
    settings.REDIS_URL = url.replace("redis://", "redis://app@", 1)

    assert [message.id for message in check_redis_eviction()] == ["core.W002"]


def test_an_unreachable_redis_is_a_warning_and_no_redis_nothing_to_check(settings):
    settings.REDIS_URL = f"redis://127.0.0.1:{free_port()}/0"
    assert [message.id for message in check_redis_eviction()] == ["core.W003"]
    settings.REDIS_URL = ""
    assert check_redis_eviction() == []
