"""A card saved with a customer session token (a browser holds it) and the page its customer comes
back to after 3-D Secure: neither may turn our address into a redirect to a site of the token
holder's choosing."""

from __future__ import annotations

import uuid
from datetime import UTC, datetime
from typing import Any
from urllib.parse import parse_qs, urlsplit

import pytest
from rest_framework.test import APIClient

from apps.audit.models import AuditEvent
from apps.customers.models import PaymentMethod
from apps.customers.services import customer_create
from apps.sessions_api.services import customer_session_create

from .conftest import ACTOR
from .helpers import authenticate

pytestmark = pytest.mark.django_db(transaction=True)

NEXT_YEAR = datetime.now(UTC).year + 1
SHOP = "https://shop.example"
AUTHENTICATES_ON_SETUP = "4000002500003155"


@pytest.fixture
def customer(merchant: Any, stripe_account: Any) -> Any:
    return customer_create(merchant=merchant, email="ada@example.com", name="Ada Lovelace", actor=ACTOR)


@pytest.fixture
def as_customer(customer: Any, settings: Any) -> APIClient:
    settings.CORS_ALLOWED_ORIGINS = [SHOP]
    token = customer_session_create(
        customer=customer, abilities=["payment_methods.manage"], expires_in=900, actor=ACTOR
    ).token
    client = APIClient()
    client.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    return client


@pytest.fixture
def card_token(stripe_sdk: Any) -> dict[str, str]:
    """A card that asks for 3-D Secure when set up, tokenised at the gateway as Stripe.js would."""
    card = {"number": AUTHENTICATES_ON_SETUP, "exp_month": 12, "exp_year": NEXT_YEAR, "cvc": "123"}
    method = stripe_sdk.v1.payment_methods.create(params={"type": "card", "card": card})
    return {"type": "opaque_data", "descriptor": "stripe.payment_method", "value": method.id}


def add_card(client: APIClient, customer: Any, token: dict[str, str], **extra: Any) -> Any:
    return client.post(
        f"/api/v1/customers/{customer.public_id}/payment-methods", {**token, **extra},
        format="json", HTTP_IDEMPOTENCY_KEY=uuid.uuid4().hex,
    )  # fmt: skip


def come_back(client: Any, location: str) -> Any:
    parts = urlsplit(location)
    return client.get(parts.path, dict(parse_qs(parts.query)))


@pytest.mark.parametrize(
    "return_url",
    [
        "https://evil.example/phish",
        "http://shop.example/cards",  # another scheme is another origin
        "https://shop.example.evil.example/cards",
        "https://shop.example@evil.example/cards",
        "https://shop.example:8443/cards",
    ],
)
def test_a_customer_token_cannot_send_the_customer_to_an_untrusted_origin(
    as_customer: APIClient, customer: Any, card_token: dict[str, str], return_url: str
) -> None:
    refused = add_card(as_customer, customer, card_token, return_url=return_url)

    assert refused.status_code == 400, refused.content
    error = refused.json()["error"]
    assert (error["type"], error["code"], error["param"]) == (
        "invalid_request_error",
        "parameter_invalid",
        "return_url",
    )
    assert not PaymentMethod.objects.exists()
    assert not AuditEvent.objects.filter(action="payment_method.added").exists()


def test_a_customer_token_sends_the_customer_back_to_a_trusted_origin_once(
    as_customer: APIClient, client: Any, customer: Any, card_token: dict[str, str]
) -> None:
    back_to = f"{SHOP}:443/account/cards"  # the same origin, its default port spelt out
    added = add_card(as_customer, customer, card_token, return_url=back_to)
    assert added.status_code == 201, added.content
    data = added.json()
    assert data["status"] == "requires_action"

    back = come_back(client, authenticate(data["next_action"]["redirect_to_url"]["url"]))

    assert back.status_code == 302
    assert back["Location"] == f"{back_to}?payment_method={data['id']}&status=active"
    # The card is settled: coming back again (or any visit of the address) stays on our page.
    again = client.get(f"/payment-methods/{data['id']}/authenticated")
    assert again.status_code == 200 and b'data-status="active"' in again.content


def test_a_failed_card_is_no_standing_redirect(
    as_customer: APIClient, client: Any, customer: Any, card_token: dict[str, str]
) -> None:
    data = add_card(as_customer, customer, card_token, return_url=f"{SHOP}/account/cards").json()
    back = come_back(client, authenticate(data["next_action"]["redirect_to_url"]["url"], complete=False))
    assert back["Location"].endswith("status=failed")

    again = client.get(f"/payment-methods/{data['id']}/authenticated")

    assert again.status_code == 200 and b'data-status="failed"' in again.content


def test_the_secret_key_still_sets_any_return_url(
    api: Any, customer: Any, card_token: dict[str, str], settings: Any
) -> None:
    settings.CORS_ALLOWED_ORIGINS = []
    added = add_card(api, customer, card_token, return_url="https://elsewhere.example/cards")
    assert added.status_code == 201, added.content
    assert added.json()["next_action"]["redirect_to_url"]["return_url"] == "https://elsewhere.example/cards"
