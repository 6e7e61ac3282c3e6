"""Stripe through the official SDK against our Stripe sandbox, served by the live server."""

from __future__ import annotations

import json
import time
from typing import Any

import pytest

from apps.audit.actors import Actor
from apps.merchants.models import Merchant

ACTOR = Actor.system("tests")


@pytest.fixture
def stripe_account(merchant: Merchant, stripe_sandbox: Any) -> Any:
    """The merchant's test-mode Stripe gateway account at the sandbox (USD), its webhook endpoint
    registered there with the secret we keep."""
    from apps.gateways.services import gateway_account_create

    return gateway_account_create(
        merchant=merchant,
        gateway="stripe",
        mode="test",
        currency="USD",
        credentials={
            "secret_key": stripe_sandbox.secret_key,
            "publishable_key": stripe_sandbox.publishable_key,
            "webhook_secret": "whsec_pending",
        },
        actor=ACTOR,
    )


@pytest.fixture
def stripe_gateway(stripe_account: Any) -> Any:
    from apps.gateways.registry import gateway_for

    return gateway_for(stripe_account)


@pytest.fixture
def stripe_sdk(stripe_sandbox: Any, settings: Any) -> Any:
    """A StripeClient of the test's own (as a tool, beside the adapter under test)."""
    import stripe

    return stripe.StripeClient(
        stripe_sandbox.secret_key, base_addresses={"api": settings.STRIPE_TEST_API_BASE}, max_network_retries=0
    )


def signed(event: dict[str, Any], secret: str, *, at: int | None = None) -> tuple[bytes, str]:
    """An event body and the Stripe-Signature Stripe would send with it."""
    from apps.gateways.stripe import webhook_signature

    body = json.dumps(event).encode()
    return body, webhook_signature(body, secret, at if at is not None else int(time.time()))
