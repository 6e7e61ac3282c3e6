from __future__ import annotations

from collections.abc import Callable, Iterator
from typing import Any

import pytest
from celery.contrib.testing.worker import start_worker
from django.core.cache import cache
from rest_framework.test import APIClient

from apps.audit.actors import Actor
from apps.merchants.models import Merchant
from apps.merchants.services import IssuedApiKey, api_key_create
from config.celery import app as celery_app
from tests.merchants.factories import MerchantFactory


@pytest.fixture(autouse=True)
def _fresh_cache() -> Iterator[None]:
    cache.clear()
    return


@pytest.fixture
def merchant(db: Any) -> Merchant:
    return MerchantFactory()


@pytest.fixture
def other_merchant(db: Any) -> Merchant:
    return MerchantFactory()


@pytest.fixture
def issue_key(db: Any) -> Callable[..., IssuedApiKey]:
    def issue(merchant: Merchant, mode: str = "test", name: str = "") -> IssuedApiKey:
        return api_key_create(merchant=merchant, mode=mode, name=name, actor=Actor.system("tests"))

    return issue


@pytest.fixture
def api_key(merchant: Merchant, issue_key: Callable[..., IssuedApiKey]) -> IssuedApiKey:
    return issue_key(merchant)


@pytest.fixture
def client_for() -> Callable[[str], APIClient]:
    def make(secret: str) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {secret}")
        return client

    return make


@pytest.fixture
def api(api_key: IssuedApiKey, client_for: Callable[[str], APIClient]) -> APIClient:
    """An API client authenticated as `merchant`."""
    return client_for(api_key.secret)


@pytest.fixture
def celery_worker(transactional_db: Any) -> Iterator[Any]:
    """A real Celery worker (in a thread of this process) consuming the Redis test broker.

    Tests using it need committed data (transactional_db): the worker has its own connection.
    """
    celery_app.control.purge()
    with start_worker(
        celery_app,
        pool="solo",
        perform_ping_check=False,
        shutdown_timeout=10,
        queues=["default", "webhooks", "deliveries", "billing"],
    ) as worker:
        yield worker
