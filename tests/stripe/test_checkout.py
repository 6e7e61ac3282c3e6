"""The browser checkout through Stripe: our API opens a PaymentIntent for a catalogue price, the
browser confirms it at the sandbox with the publishable key (as Stripe.js does), and our confirm
endpoint settles it by retrieving the intent. Entitlements are granted once."""

from __future__ import annotations

from typing import Any

import pytest
import requests

from apps.catalog.models import CheckoutOrder, Entitlement
from apps.catalog.services import price_create, product_create
from apps.payments.models import Payment, PaymentStatus

from .conftest import ACTOR
from .helpers import authenticate

pytestmark = pytest.mark.django_db(transaction=True)


@pytest.fixture
def usd_price(merchant: Any) -> Any:
    product = product_create(merchant=merchant, name="Course", description="", actor=ACTOR)
    return price_create(product=product, amount=2_500, currency="USD", actor=ACTOR)


def start(publishable: Any, price: Any, key: str = "start-1", quantity: int = 2) -> Any:
    body = {"price": price.public_id, "quantity": quantity, "customer": {"email": "lea@example.com"}}
    return publishable.post("/api/v1/checkout/stripe/payment-intents", body, format="json", HTTP_IDEMPOTENCY_KEY=key)


def browser_confirm(settings: Any, options: dict[str, Any], payment_method: str) -> dict[str, Any]:
    """What Stripe.js does: confirm the intent with the publishable key and its client secret."""
    response = requests.post(
        f"{settings.STRIPE_TEST_API_BASE}/v1/payment_intents/{options['payment_intent']}/confirm",
        data={"client_secret": options["client_secret"], "payment_method": payment_method},
        headers={"Authorization": f"Bearer {options['publishable_key']}"},
        timeout=10,
    )
    return response.json()


def confirm(publishable: Any, intent: str, key: str = "confirm-1") -> Any:
    return publishable.post(
        "/api/v1/checkout/stripe/confirm", {"payment_intent": intent}, format="json", HTTP_IDEMPOTENCY_KEY=key
    )


def test_opening_a_checkout_gives_the_browser_the_intent_priced_from_the_catalogue(
    publishable, usd_price, stripe_account, stripe_sdk
):
    response = start(publishable, usd_price)

    assert response.status_code == 201, response.json()
    body = response.json()
    options = body["stripe"]
    assert options["publishable_key"] == stripe_account.credentials()["publishable_key"]
    assert options["client_secret"].startswith(f"{options['payment_intent']}_secret_")
    assert (body["amount"], body["currency"], body["status"]) == (5_000, "USD", "open")
    intent = stripe_sdk.v1.payment_intents.retrieve(options["payment_intent"])
    assert (intent.amount, intent.currency, intent.status) == (5_000, "usd", "requires_payment_method")
    assert Payment.objects.get().status == PaymentStatus.PENDING


def test_a_retried_start_answers_with_the_same_intent_and_secret(publishable, usd_price, stripe_account):
    first = start(publishable, usd_price).json()

    again = start(publishable, usd_price).json()

    assert again["stripe"] == first["stripe"] and again["id"] == first["id"]
    assert CheckoutOrder.objects.count() == 1


def test_a_paid_intent_completes_the_checkout_once(publishable, usd_price, stripe_account, settings):
    options = start(publishable, usd_price).json()["stripe"]
    assert browser_confirm(settings, options, "pm_card_visa")["status"] == "succeeded"

    first = confirm(publishable, options["payment_intent"])
    second = confirm(publishable, options["payment_intent"], key="confirm-2")

    assert first.status_code == second.status_code == 200
    assert first.json()["status"] == second.json()["status"] == "completed"
    payment = Payment.objects.get()
    assert payment.status == PaymentStatus.CAPTURED and payment.amount_captured == 5_000
    assert Entitlement.objects.get().quantity == 2


def test_the_browser_saying_paid_changes_nothing_until_the_intent_is(publishable, usd_price, stripe_account):
    options = start(publishable, usd_price).json()["stripe"]

    response = confirm(publishable, options["payment_intent"])

    assert response.status_code == 200 and response.json()["status"] == "open"
    assert Payment.objects.get().status == PaymentStatus.PENDING
    assert not Entitlement.objects.exists()


def test_a_card_needing_3d_secure_completes_after_the_customer_authenticates(
    publishable, usd_price, stripe_account, settings
):
    options = start(publishable, usd_price).json()["stripe"]
    intent = browser_confirm(settings, options, "pm_card_threeDSecure2Required")
    assert intent["status"] == "requires_action"
    assert confirm(publishable, options["payment_intent"]).json()["status"] == "open"

    authenticate(intent["next_action"]["redirect_to_url"]["url"])

    assert confirm(publishable, options["payment_intent"], key="confirm-2").json()["status"] == "completed"
    assert Entitlement.objects.count() == 1


def test_a_3ds_rule_makes_the_intent_ask_the_issuer_whatever_the_card(
    publishable, usd_price, stripe_account, settings, stripe_sdk
):
    from apps.risk.services import rule_create

    rule_create(name="Ask", expression="amount > 1000", outcome="request_3ds", actor=ACTOR)
    options = start(publishable, usd_price).json()["stripe"]
    created = stripe_sdk.v1.payment_intents.retrieve(options["payment_intent"])
    assert created.payment_method_options.card.request_three_d_secure == "any"

    intent = browser_confirm(settings, options, "pm_card_visa")  # a card that needs no authentication

    assert intent["status"] == "requires_action"
    authenticate(intent["next_action"]["redirect_to_url"]["url"])
    body = confirm(publishable, options["payment_intent"]).json()
    assert body["status"] == "completed" and Entitlement.objects.count() == 1
    assert Payment.objects.get().risk["outcome"] == "request_3ds"


def test_without_a_3ds_rule_the_intent_leaves_it_to_the_card(publishable, usd_price, stripe_account, stripe_sdk):
    options = start(publishable, usd_price).json()["stripe"]

    created = stripe_sdk.v1.payment_intents.retrieve(options["payment_intent"])

    assert created.payment_method_options.card.request_three_d_secure == "automatic"


def test_failed_authentication_records_the_failure_and_grants_nothing(publishable, usd_price, stripe_account, settings):
    options = start(publishable, usd_price).json()["stripe"]
    intent = browser_confirm(settings, options, "pm_card_threeDSecure2Required")
    authenticate(intent["next_action"]["redirect_to_url"]["url"], complete=False)

    body = confirm(publishable, options["payment_intent"]).json()

    assert body["status"] == "open" and body["failure_code"]
    assert Payment.objects.get().amount_captured == 0
    assert not Entitlement.objects.exists()


def test_an_intent_of_no_checkout_of_ours_is_not_found(publishable, usd_price, stripe_account, stripe_sdk):
    other = stripe_sdk.v1.payment_intents.create(params={"amount": 100, "currency": "usd"})

    response = confirm(publishable, other.id)

    assert response.status_code == 404 and response.json()["error"]["param"] == "payment_intent"


def test_a_merchant_without_a_stripe_account_cannot_open_one(publishable, usd_price):
    response = start(publishable, usd_price)

    assert response.status_code in (400, 409, 422) and "error" in response.json()
    assert not Payment.objects.exists()
