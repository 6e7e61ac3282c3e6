"""API keys kept in each process (apps.merchants.key_cache): a request with a key seen before asks
the database nothing, while a revoked key or a deactivated merchant is refused at the next
request, whichever process saw the key, because the stamp they are kept under is in Redis; a
change no stamp saw (a bulk update) is seen within API_KEY_CACHE_SECONDS. And the browser's
middleware (sessions, CSRF, OTP, axes) stays off the API and on the admin."""

from __future__ import annotations

from typing import Any

import pytest
from django.test import Client

from apps.audit.actors import Actor
from apps.core.stamp_watch import stamp_version
from apps.core.stamps import stamp_set
from apps.merchants import key_cache
from apps.merchants.key_cache import API_KEYS
from apps.merchants.models import ApiKey, Merchant
from apps.merchants.services import api_key_revoke
from tests.delivery import delivered

pytestmark = pytest.mark.django_db(transaction=True)  # stamps are set when a change commits

SYSTEM = Actor.system("tests")


@pytest.fixture(autouse=True)
def nothing_kept() -> None:
    key_cache.forget_keys()


def test_a_key_seen_before_costs_no_query(api, django_assert_num_queries):
    assert api.get("/api/v1/merchant").status_code == 200  # read and kept

    with django_assert_num_queries(0):
        response = api.get("/api/v1/merchant")

    assert response.status_code == 200


def test_a_revoked_key_is_refused_at_the_next_request(api, api_key):
    assert api.get("/api/v1/merchant").status_code == 200

    api_key_revoke(api_key=ApiKey.objects.get(pk=api_key.api_key.pk), actor=SYSTEM)

    refused = api.get("/api/v1/merchant")
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "api_key_revoked"


def test_another_process_revoking_is_seen_through_the_shared_stamp(api, api_key):
    assert api.get("/api/v1/merchant").status_code == 200
    # Another process revoked it: the row changed and the shared stamp moved (published on its own
    # connection to Redis); nothing in this process knew.
    ApiKey.objects.filter(pk=api_key.api_key.pk).update(revoked_at="2026-01-01T00:00:00Z")
    before = stamp_version(API_KEYS)
    stamp_set(API_KEYS)
    delivered(before, lambda: stamp_version(API_KEYS))  # the change's delivery time

    assert api.get("/api/v1/merchant").status_code == 401


def test_a_deactivated_merchant_is_refused_at_the_next_request(api, merchant):
    assert api.get("/api/v1/merchant").status_code == 200

    merchant.is_active = False
    merchant.save()

    refused = api.get("/api/v1/merchant")
    assert refused.status_code == 401 and refused.json()["error"]["code"] == "merchant_inactive"


def test_a_change_no_stamp_saw_is_seen_within_the_cache_age(api, api_key, settings):
    assert api.get("/api/v1/merchant").status_code == 200
    ApiKey.objects.filter(pk=api_key.api_key.pk).update(revoked_at="2026-01-01T00:00:00Z")  # no signal
    assert api.get("/api/v1/merchant").status_code == 200  # the kept key is still believed

    settings.API_KEY_CACHE_SECONDS = 0

    assert api.get("/api/v1/merchant").status_code == 401


def test_a_request_cannot_change_what_the_next_one_sees(api, merchant):
    from django.test import RequestFactory
    from rest_framework.request import Request

    from apps.merchants.authentication import ApiKeyAuthentication

    api.get("/api/v1/merchant")
    kept = next(iter(key_cache._kept.values())).api_key
    request = Request(RequestFactory().get("/", HTTP_AUTHORIZATION=api._credentials["HTTP_AUTHORIZATION"]))

    _, key = ApiKeyAuthentication().authenticate(request)
    key.merchant.name = "changed in memory"
    key.merchant._state.fields_cache["stray"] = object()  # the request's copy of the kept merchant
    key.name = "renamed in memory"

    assert kept.merchant.name == Merchant.objects.get(pk=merchant.pk).name != "changed in memory"
    assert "stray" not in kept.merchant._state.fields_cache
    assert kept.name != "renamed in memory"
    key.merchant = Merchant(name="another merchant")  # the key's own related-object cache
    assert kept.merchant.pk == merchant.pk
    _, again = ApiKeyAuthentication().authenticate(request)
    assert again.merchant.pk == merchant.pk and again.merchant.name == kept.merchant.name
    assert again._state.adding is False and again.merchant._state.db == "default"


def test_without_redis_every_request_reads_the_key(api, settings, django_assert_num_queries):
    settings.REDIS_URL = ""
    api.get("/api/v1/merchant")

    with django_assert_num_queries(1):
        assert api.get("/api/v1/merchant").status_code == 200


def test_the_api_gets_no_session_csrf_or_frame_headers_and_the_admin_does(api):
    response = api.post("/api/v1/customers", {"email": "a@example.com"}, format="json", HTTP_IDEMPOTENCY_KEY="k1")

    assert response.status_code == 201, response.content
    assert "sessionid" not in response.cookies and "csrftoken" not in response.cookies
    assert "X-Frame-Options" not in response and "Content-Security-Policy" not in response
    page = Client().get("/admin/login/")
    assert page["X-Frame-Options"] == "DENY" and "Content-Security-Policy" in page
    assert "csrftoken" in page.cookies


def test_the_admin_still_refuses_a_post_without_its_csrf_token(admin_user: Any):
    browser = Client(enforce_csrf_checks=True)
    browser.force_login(admin_user)

    response = browser.post("/admin/logout/")

    assert response.status_code == 403
