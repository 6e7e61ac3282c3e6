"""Stamp changes pushed to each process (apps.core.stamp_watch): a change another process
publishes is seen at the next request with no round trip; a broken subscription is noticed,
nothing kept under it is trusted again, and stamps are read by round trips until a new one is
confirmed."""

from __future__ import annotations

import time

import pytest
from django.conf import settings as django_settings

from apps.core import stamp_watch
from apps.core.redis_client import redis_client
from apps.core.stamps import stamp_set
from apps.merchants.key_cache import API_KEYS
from apps.merchants.models import ApiKey
from tests.delivery import delivered
from tests.tcp_proxy import SilencingProxy

pytestmark = pytest.mark.django_db(transaction=True)


def _kill_subscription() -> None:
    """The server drops this process's subscription (a Redis restart or failover, as the client
    sees it)."""
    watch = stamp_watch._watch(django_settings.REDIS_URL)
    host, port = watch._pubsub.connection._sock.getsockname()[:2]
    redis_client(django_settings.REDIS_URL).client_kill_filter(_type="pubsub", addr=f"{host}:{port}")


def test_a_change_published_elsewhere_moves_the_version():
    first = stamp_watch.stamp_version(API_KEYS)
    assert first is not None and stamp_watch.stamp_version(API_KEYS) == first

    stamp_set(API_KEYS)  # sent on another connection, as another process would

    assert delivered(first, lambda: stamp_watch.stamp_version(API_KEYS)) not in (first, None)
    assert stamp_watch.stamp_version("risk_rules") is not None


def test_a_change_made_here_moves_the_version_before_it_commits():
    first = stamp_watch.stamp_version(API_KEYS)

    stamp_watch.stamp_changed_here(API_KEYS)

    assert stamp_watch.stamp_version(API_KEYS) != first


def test_a_closed_subscription_is_noticed_and_made_again():
    first = stamp_watch.stamp_version(API_KEYS)

    _kill_subscription()

    assert stamp_watch.stamp_version(API_KEYS) is None  # noticed at the next look
    again = stamp_watch.stamp_version(API_KEYS)  # subscribed again at the next
    assert again is not None and again != first  # a new subscription: nothing kept before is used


def test_a_subscription_that_cannot_be_made_is_not_tried_at_every_request(caplog):
    watch = stamp_watch.StampWatch("redis://127.0.0.1:1/0")  # nothing listens there

    assert [watch.version(API_KEYS) for _ in range(3)] == [None, None, None]
    assert [r.message for r in caplog.records].count("stamp_watch_lost") == 1  # tried once a RETRY_SECONDS


def test_a_key_kept_before_a_lost_subscription_is_read_again(api, api_key):
    assert api.get("/api/v1/merchant").status_code == 200  # kept under the watch's version
    _kill_subscription()
    # Revoked while the subscription was down, and its change published to nobody.
    ApiKey.objects.filter(pk=api_key.api_key.pk).update(revoked_at="2026-01-01T00:00:00Z")
    stamp_set(API_KEYS)

    refused = api.get("/api/v1/merchant")  # the watch is down: the stamp is read from Redis

    assert refused.status_code == 401 and refused.json()["error"]["code"] == "api_key_revoked"


def test_a_subscription_gone_silent_is_given_up(monkeypatch):
    """No end of file ever comes (a dropped NAT entry, a partition): the silence is noticed by an
    unanswered ping."""
    monkeypatch.setattr(stamp_watch, "HEALTH_SECONDS", 1.0)
    monkeypatch.setattr(stamp_watch, "RETRY_SECONDS", 3600.0)
    real = redis_client(django_settings.REDIS_URL).connection_pool.connection_kwargs
    proxy = SilencingProxy((real["host"], real["port"]))
    try:
        watch = stamp_watch.StampWatch(f"redis://127.0.0.1:{proxy.port}/{real.get('db', 0)}")
        first = watch.version(API_KEYS)
        time.sleep(1.1)
        assert watch.version(API_KEYS) == first  # pinged, and answered in time
        time.sleep(1.1)
        assert watch.version(API_KEYS) == first  # quiet but answering: still trusted
        stamp_set(API_KEYS)
        moved = delivered(first, lambda: watch.version(API_KEYS))
        assert moved not in (first, None)

        proxy.silence()
        stamp_set(API_KEYS)  # never reaches the watch
        time.sleep(1.1)
        assert watch.version(API_KEYS) == moved  # a ping goes out; the watch cannot know yet
        time.sleep(1.1)
        assert watch.version(API_KEYS) is None  # the ping went unanswered: given up
    finally:
        proxy.close()


def test_a_subscription_that_lost_count_reads_everything_again(monkeypatch):
    monkeypatch.setattr(stamp_watch, "MAX_DRAIN", 3)
    stamp_watch.stamp_version(API_KEYS)  # whatever earlier tests published is drained (or given up)
    first = stamp_watch.stamp_version(API_KEYS)
    assert first is not None
    for _ in range(20):  # a bulk import: more changes than one request drains
        stamp_set("risk_lists")
    time.sleep(0.5)  # delivered, at least four of them

    assert stamp_watch.stamp_version(API_KEYS) is None  # given up, so this request reads the stamp
    again = stamp_watch.stamp_version(API_KEYS)  # and subscribed again at once
    assert again is not None and again != first


def test_without_redis_there_is_no_version(settings):
    settings.REDIS_URL = ""

    assert stamp_watch.stamp_version(API_KEYS) is None
    stamp_watch.stamp_changed_here(API_KEYS)  # nothing to tell
