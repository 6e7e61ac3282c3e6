"""Lockouts behind the TLS proxy: django-axes reads the client's address as the rest of the
project does (X-Forwarded-For trusted for NUM_PROXIES proxies), so failures from one client lock
out that client and username only, not everyone the proxy forwards."""

from __future__ import annotations

import pytest
from axes.models import AccessAttempt
from django.test import Client

from tests.accounts.factories import PASSWORD, StaffUserFactory

pytestmark = pytest.mark.django_db

LOGIN = "/admin/login/?next=/admin/"
PROXY = "10.0.0.5"


def login_from(client_address: str, username: str, password: str = PASSWORD):
    return Client().post(
        LOGIN,
        {"username": username, "password": password},
        REMOTE_ADDR=PROXY,
        HTTP_X_FORWARDED_FOR=client_address,
    )


def test_failures_from_one_client_lock_out_only_that_client(settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    user = StaffUserFactory(is_superuser=True)
    for _ in range(settings.AXES_FAILURE_LIMIT):
        login_from("203.0.113.7", user.username, password="guessing-guessing")

    locked = login_from("203.0.113.7", user.username)
    owner = login_from("198.51.100.20", user.username)

    assert locked.status_code == 429
    assert owner.status_code == 302
    assert list(AccessAttempt.objects.values_list("ip_address", flat=True)) == ["203.0.113.7"]


def test_a_forged_address_is_not_trusted_beyond_the_proxies(settings):
    settings.REST_FRAMEWORK = {**settings.REST_FRAMEWORK, "NUM_PROXIES": 1}
    user = StaffUserFactory(is_superuser=True)
    for attempt in range(settings.AXES_FAILURE_LIMIT):
        # The client prepends an address of its choice; the proxy appends the one it saw.
        login_from(f"192.0.2.{attempt}, 203.0.113.7", user.username, password="guessing-guessing")

    assert login_from("192.0.2.99, 203.0.113.7", user.username).status_code == 429
