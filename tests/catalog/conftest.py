from __future__ import annotations

import uuid
from collections.abc import Callable
from typing import Any

import pytest
from rest_framework.test import APIClient

from apps.audit.actors import Actor
from apps.catalog.models import Price
from apps.catalog.services import price_create, product_create
from apps.gateways.models import GatewayAccount
from apps.gateways.services import gateway_account_create
from apps.merchants.models import Merchant

SYSTEM = Actor.system("tests")


@pytest.fixture
def rzp_account(merchant: Merchant, rzp_sandbox: Any) -> GatewayAccount:
    """The merchant's test-mode Razorpay account at the sandbox, settling INR."""
    return gateway_account_create(
        merchant=merchant,
        gateway="razorpay",
        mode="test",
        currency="INR",
        credentials={
            "key_id": rzp_sandbox.key_id,
            "key_secret": rzp_sandbox.key_secret,
            "webhook_secret": f"whsec-{uuid.uuid4().hex}",
        },
        actor=SYSTEM,
    )


@pytest.fixture
def price(merchant: Merchant) -> Price:
    product = product_create(merchant=merchant, name="Annual pass", description="A year of everything", actor=SYSTEM)
    return price_create(product=product, amount=49_900, currency="INR", nickname="yearly", actor=SYSTEM)


@pytest.fixture
def publishable(merchant: Merchant, issue_key: Callable[..., Any]) -> APIClient:
    from apps.merchants.services import api_key_create

    issued = api_key_create(merchant=merchant, mode="test", kind="publishable", actor=SYSTEM)
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {issued.secret}")
    return client
