"""Signing out of the portal when Redis cannot take the revocation: the portal's 503 page, nothing
revoked, and signing out again once Redis is back works.

Pointing REDIS_URL where nothing listens (as tests/sessions_api do) cannot reach the sign-out: the
cookie's own check needs Redis first and already answers 503. So the test runs a Redis server of
its own (tests/faultlab.py) and, once the portal is open, lets its user read every key but write
only the throttle counters: the cookie is still checked (and counted), while the revocation's write
is refused by Redis itself (NOPERM), as it would be by a Redis lost between the two."""

from __future__ import annotations

from collections.abc import Iterator
from urllib.parse import urlsplit

import pytest
import redis

from apps.audit.models import AuditEvent
from apps.portal.browser import COOKIE
from apps.sessions_api import key_cache
from apps.sessions_api.models import CustomerSession
from apps.sessions_api.revocations import prefixed
from tests.factories import CustomerFactory
from tests.faultlab import RedisServer

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def own_redis(settings) -> Iterator[redis.Redis]:
    server = RedisServer()
    server.start()
    settings.REDIS_URL = server.url
    key_cache.forget_keys()
    try:
        yield redis.Redis(port=server.port, socket_timeout=2)
    finally:
        server.stop()
        key_cache.forget_keys()


def writes_only_throttle_counters(client: redis.Redis) -> None:
    client.execute_command("ACL", "SETUSER", "default", "resetkeys", "%R~*", f"~{prefixed('throttle:*')}")


def writes_everything_again(client: redis.Redis) -> None:
    client.execute_command("ACL", "SETUSER", "default", "resetkeys", "~*")


def test_signing_out_when_redis_refuses_the_revocation_answers_503_and_changes_nothing(
    api, merchant, client, own_redis
):
    customer = CustomerFactory(merchant=merchant)
    link = api.post(
        "/api/v1/portal-sessions",
        {"customer": customer.public_id, "return_url": "https://shop.example/account"},
        format="json",
    ).json()
    assert client.get(urlsplit(link["url"]).path).status_code == 302
    assert client.get("/portal/").status_code == 200  # checked against this Redis (revocations loaded)
    writes_only_throttle_counters(own_redis)
    assert client.get("/portal/").status_code == 200  # the cookie is still checked

    response = client.post("/portal/sign-out")

    assert response.status_code == 503, response.content
    assert "Unavailable" in response.content.decode()
    assert COOKIE not in response.cookies  # still signed in: the session was not ended
    assert CustomerSession.objects.get().revoked_at is None
    assert not AuditEvent.objects.filter(action="customer_session.revoked").exists()
    writes_everything_again(own_redis)
    retried = client.post("/portal/sign-out")
    assert retried.status_code == 302 and retried["Location"] == "https://shop.example/account"
    assert CustomerSession.objects.get().revoked_at is not None
