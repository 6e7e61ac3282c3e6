"""The API throttle's leases (apps.merchants.throttling): a process takes a fiftieth of a key's
limit from Redis at a time and counts it off locally, and however the requests are spread over
processes, no more than the limit goes through in a window."""

from __future__ import annotations

import time

import pytest

from apps.core import stamp_watch
from apps.core.redis_client import redis_client
from apps.merchants.throttling import forget_leases, lease_size

pytestmark = [pytest.mark.django_db, pytest.mark.usefixtures("clear_of_an_hours_end")]


@pytest.fixture
def clear_of_an_hours_end() -> None:
    """The tests below count in an hour's window: none may end while one runs."""
    left = 3600 - time.time() % 3600
    if left < 30:
        time.sleep(left + 0.1)


def _window_counter(settings) -> int:
    server = redis_client(settings.REDIS_URL)
    (counter,) = server.keys("*throttle:api_key:*:3600:*")
    return int(server.get(counter))


def test_a_lease_is_a_fiftieth_of_the_limit_within_its_bounds(settings):
    settings.API_THROTTLE_LEASE_MAX = 100

    assert [lease_size(limit) for limit in (1, 99, 100, 200, 4999, 5000, 10**6)] == [1, 1, 2, 4, 99, 100, 100]

    settings.API_THROTTLE_LEASE_MAX = 1
    assert lease_size(10**6) == 1


def test_one_process_lets_exactly_the_limit_through_asking_redis_once_a_lease(api, settings):
    settings.API_THROTTLE_RATE = "200/h"  # leases of 4; an hour's window: none ends during the test

    statuses = [api.get("/api/v1/merchant").status_code for _ in range(10)]
    asked = _window_counter(settings)
    statuses += [api.get("/api/v1/merchant").status_code for _ in range(195)]

    assert statuses == [200] * 200 + [429] * 5
    assert asked == 12  # 10 requests: three leases of 4, not ten round trips


def test_leases_spread_over_processes_never_pass_the_limit(api, settings):
    settings.API_THROTTLE_RATE = "200/h"

    statuses = []
    for _ in range(60):
        forget_leases()  # each request in a new process: every lease but its first request is lost
        statuses.append(api.get("/api/v1/merchant").status_code)

    # 50 leases of 4 are the limit: the 51st process is refused, though only 50 requests passed.
    assert statuses == [200] * 50 + [429] * 10
    assert _window_counter(settings) == 60 * 4


def test_the_last_lease_is_what_is_left_of_the_limit(api, settings):
    settings.API_THROTTLE_RATE = "201/h"  # leases of 4
    for _ in range(3):  # three processes took a lease and used one request of it
        forget_leases()
        api.get("/api/v1/merchant")
    forget_leases()

    # This process's leases add up to what is left: 201 - 12, the last of them a lease of 1.
    statuses = [api.get("/api/v1/merchant").status_code for _ in range(191)]

    assert statuses == [200] * 189 + [429] * 2


def test_without_the_stamp_subscription_requests_are_still_counted_off_leases(api, settings, monkeypatch):
    """While a process has no subscription to stamp changes, authentication reads the stamp in
    the round trip that takes the throttle's lease; a request with a lease left only reads it."""
    monkeypatch.setattr(stamp_watch, "RETRY_SECONDS", 3600.0)
    settings.API_THROTTLE_RATE = "200/h"
    assert api.get("/api/v1/merchant").status_code == 200  # subscribed, the key kept
    watch = stamp_watch._watch(settings.REDIS_URL)
    # The subscription is closed, and cannot be made again (as where SUBSCRIBE is refused).
    monkeypatch.setattr(watch, "_url", "redis://127.0.0.1:1/0")
    monkeypatch.setattr(watch, "_retry_at", 0.0)  # and is made again in the next test
    host, port = watch._pubsub.connection._sock.getsockname()[:2]
    redis_client(settings.REDIS_URL).client_kill_filter(_type="pubsub", addr=f"{host}:{port}")

    statuses = [api.get("/api/v1/merchant").status_code for _ in range(205)]

    assert stamp_watch.stamp_version("api_keys") is None  # the subscription stayed down throughout
    assert statuses == [200] * 199 + [429] * 6
    assert _window_counter(settings) == 200 + 6 * 4  # leases of 4, and the refused requests' asks
