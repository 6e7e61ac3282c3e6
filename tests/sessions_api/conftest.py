from __future__ import annotations

from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from apps.customers.models import Customer
from apps.sessions_api import key_cache
from apps.sessions_api.services import customer_session_create
from tests.factories import CustomerFactory

from .tokens import ACTOR, ALL_READS


@pytest.fixture(autouse=True)
def no_kept_keys() -> None:
    key_cache.forget_keys()


@pytest.fixture
def customer(merchant: Any) -> Customer:
    return CustomerFactory(merchant=merchant)


@pytest.fixture
def mint() -> Callable[..., str]:
    """A token minted by the service for `customer` (every read ability unless told)."""

    def make(customer: Customer, abilities: list[str] | None = None, expires_in: int = 900) -> str:
        return customer_session_create(
            customer=customer, abilities=abilities or ALL_READS, expires_in=expires_in, actor=ACTOR
        ).token

    return make


@pytest.fixture
def bearer() -> Callable[[str], APIClient]:
    def make(token: str) -> APIClient:
        client = APIClient()
        client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
        return client

    return make
