"""Exactly once under real faults on our side, for every path that writes to Stripe: purchase,
capture, refund, and the browser checkout's PaymentIntent; and the checkout's confirm, which only
retrieves the intent (automatic capture) but grants the entitlement. See test_payments for how the
faults are made; the Stripe sandbox holds its answer after the work (and its idempotent replay)
is stored, so our retries with the same reference replay it rather than charge again.
"""

from __future__ import annotations

import time
import uuid
from typing import Any

import pytest
import requests

from apps.audit.actors import Actor
from apps.catalog.models import CheckoutOrder, Entitlement
from apps.customers.models import PaymentMethod
from apps.customers.services import customer_create
from apps.events.models import Event
from apps.merchants.services import api_key_create
from apps.payments.models import GatewayTransaction, Payment, Refund
from apps.sandbox.models import (
    SandboxFault,
    StripePaymentIntent,
    StripePaymentMethod,
    StripeRefund,
    StripeSetupIntent,
)
from tests.conftest import STRIPE_PATH
from tests.exactly_once.helpers import (
    FAULTS,
    assert_key_completed,
    gateway_calls,
    inject,
    retry_until_final,
    send_under_fault,
)
from tests.faultlab import AppServer, Client, InBackground, RedisServer, wait_until
from tests.payments.helpers import purchase_body
from tests.stripe import conftest as stripe_fixtures
from tests.stripe import test_checkout as stripe_checkout

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

VISA = {"type": "card", "number": "4242424242424242", "exp_month": 12, "exp_year": 2030, "cvc": "123"}

stripe_account = stripe_fixtures.stripe_account  # the Stripe tests' fixtures, shared
usd_price = stripe_checkout.usd_price


@pytest.fixture(scope="module")
def app_env(live_server: Any) -> dict[str, str]:
    return {"STRIPE_TEST_API_BASE": f"{live_server.url}{STRIPE_PATH}"}  # the sandbox the test serves


def _stripe(send: Any, operation: str, fault: str, app_server: AppServer, app_redis: RedisServer) -> Any:
    return send_under_fault(
        send, operation=operation, gateway="stripe", fault=fault, app_server=app_server, app_redis=app_redis
    )


def _payment(http: Client, *, capture: bool) -> str:
    response = http.post(
        "/api/v1/payments", purchase_body(4000, payment_method=VISA, capture=capture), key=f"setup-{uuid.uuid4()}"
    )
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


@pytest.mark.parametrize("fault", FAULTS)
def test_purchase(fault, http: Client, stripe_account, sandbox_fault, listening, app_server, app_redis):
    key = f"purchase-{uuid.uuid4()}"
    sandbox_fault("hang_after", 3000, match="payment_intents.create", gateway="stripe")

    def send() -> requests.Response:
        return http.post("/api/v1/payments", purchase_body(2500, payment_method=VISA), key=key)

    first = _stripe(send, "payment_intents.create", fault, app_server, app_redis)
    final = retry_until_final(send)

    assert final.status_code == 201, final.text
    payment = Payment.objects.get()
    assert (final.json()["id"], payment.status, payment.amount_captured) == (payment.public_id, "captured", 2500)
    if fault != "kill":
        assert (first.status_code, first.json()["id"]) == (201, payment.public_id), first.text
        assert final.headers["Idempotent-Replayed"] == "true"
    assert gateway_calls("payment_intents.create", "stripe") == 1
    assert StripePaymentIntent.objects.get().stripe_id == payment.gateway_transaction_id
    assert_key_completed(key)
    assert Event.objects.filter(type="payment.captured", object_id=payment.public_id).count() == 1


@pytest.mark.parametrize("fault", FAULTS)
def test_capture(fault, http: Client, stripe_account, sandbox_fault, listening, app_server, app_redis):
    payment_id = _payment(http, capture=False)
    key = f"capture-{uuid.uuid4()}"
    sandbox_fault("hang_after", 3000, match="payment_intents.capture", gateway="stripe")

    def send() -> requests.Response:
        return http.post(f"/api/v1/payments/{payment_id}/capture", {"amount": 3000}, key=key)

    first = _stripe(send, "payment_intents.capture", fault, app_server, app_redis)
    final = retry_until_final(send)

    assert final.status_code == 200, final.text
    payment = Payment.objects.get(public_id=payment_id)
    assert (payment.status, payment.amount_captured, payment.operation) == ("captured", 3000, "")
    assert final.json()["amount_captured"] == 3000
    if fault != "kill":
        assert (first.status_code, first.json()["status"]) == (200, "captured"), first.text
    assert gateway_calls("payment_intents.capture", "stripe") == 1
    assert StripePaymentIntent.objects.get().amount_received == 3000
    assert GatewayTransaction.objects.filter(payment=payment, kind="capture").count() == 1
    assert_key_completed(key)


@pytest.mark.parametrize("fault", FAULTS)
def test_refund(fault, http: Client, stripe_account, sandbox_fault, listening, app_server, app_redis):
    payment_id = _payment(http, capture=True)  # Stripe refunds unsettled charges: nothing to settle first
    key = f"refund-{uuid.uuid4()}"
    sandbox_fault("hang_after", 3000, match="refunds.create", gateway="stripe")

    def send() -> requests.Response:
        return http.post(f"/api/v1/payments/{payment_id}/refunds", {"amount": 1500, "reason": "damaged"}, key=key)

    first = _stripe(send, "refunds.create", fault, app_server, app_redis)
    final = retry_until_final(send)

    assert (final.status_code, final.json()["status"]) == (201, "succeeded"), final.text
    refund = Refund.objects.get()
    assert final.json()["id"] == refund.public_id
    payment = Payment.objects.get(public_id=payment_id)
    assert (payment.amount_refunded, payment.amount_refund_pending) == (1500, 0)
    if fault != "kill":
        assert (first.status_code, first.json()["id"]) == (201, refund.public_id), first.text
    assert gateway_calls("refunds.create", "stripe") == 1
    assert StripeRefund.objects.get().amount == 1500
    assert_key_completed(key)


# --- the browser checkout -------------------------------------------------------------------


@pytest.fixture
def storefront(app_server: AppServer, merchant: Any, http: Client) -> Client:
    issued = api_key_create(merchant=merchant, mode="test", kind="publishable", actor=Actor.system("tests"))
    return Client(app_server.url, issued.secret)


def open_checkout(storefront: Client, price: Any, key: str | None = None) -> requests.Response:
    body = {"price": price.public_id, "quantity": 1, "customer": {"email": "lea@example.com"}}
    return storefront.post("/api/v1/checkout/stripe/payment-intents", body, key=key or str(uuid.uuid4()))


@pytest.mark.parametrize("fault", FAULTS)
def test_checkout_intent_whose_request_died_is_the_one_handed_out(
    fault, storefront, usd_price, stripe_account, sandbox_fault, app_server, app_redis
):
    key = f"intent-{uuid.uuid4()}"
    sandbox_fault("hang_after", 3000, match="payment_intents.create", gateway="stripe")

    def send() -> requests.Response:
        return open_checkout(storefront, usd_price, key=key)

    _stripe(send, "payment_intents.create", fault, app_server, app_redis)
    final = retry_until_final(send)

    assert final.status_code == 201, final.text
    checkout = CheckoutOrder.objects.get()
    intent = StripePaymentIntent.objects.get()
    assert final.json()["id"] == checkout.public_id
    options = final.json()["stripe"]
    assert (options["payment_intent"], options["client_secret"]) == (intent.stripe_id, intent.client_secret)
    assert checkout.payment.gateway_order_id == intent.stripe_id
    assert gateway_calls("payment_intents.create", "stripe") == 1
    assert_key_completed(key)


@pytest.mark.parametrize("fault", FAULTS)
def test_checkout_confirm(
    fault, storefront, usd_price, stripe_account, sandbox_fault, listening, app_server, app_redis, settings
):
    options = open_checkout(storefront, usd_price).json()["stripe"]
    assert stripe_checkout.browser_confirm(settings, options, "pm_card_visa")["status"] == "succeeded"
    key = f"confirm-{uuid.uuid4()}"
    # Automatic capture: confirm writes nothing at Stripe, it retrieves the intent (a GET, which
    # the sandbox does not count), so the fault goes in once the sandbox has taken its hang.
    hang = sandbox_fault("hang_after", 3000, match="payment_intents.retrieve", gateway="stripe")

    def send() -> requests.Response:
        return storefront.post(
            "/api/v1/checkout/stripe/confirm", {"payment_intent": options["payment_intent"]}, key=key
        )

    job = InBackground(send)
    wait_until(
        lambda: not SandboxFault.objects.filter(pk=hang.pk, remaining__gt=0).exists(), timeout=30, what="the retrieve"
    )
    inject(fault, app_server, app_redis)
    first = job.result()
    if fault == "broker":
        time.sleep(0.5)
        app_redis.start()
    final = retry_until_final(send)

    assert (final.status_code, final.json()["status"], final.json()["entitled"]) == (200, "completed", True), final.text
    payment = Payment.objects.get(gateway_order_id=options["payment_intent"])
    assert (payment.status, payment.amount_captured, payment.operation) == ("captured", usd_price.amount, "")
    if fault != "kill":
        assert (first.status_code, first.json()["status"]) == (200, "completed"), first.text
    assert gateway_calls("payment_intents.capture", "stripe") == 0
    assert Entitlement.objects.count() == 1
    assert Event.objects.filter(type="checkout.completed").count() == 1
    assert_key_completed(key)


# --- a card saved with 3-D Secure --------------------------------------------------------------


@pytest.mark.parametrize("fault", FAULTS)
def test_saved_card_needing_3ds_is_set_up_once(
    fault, http: Client, merchant, stripe_account, sandbox_fault, app_server, app_redis
):
    """The SetupIntent of a card that asks for 3-D Secure is set up once: before it carried our
    reference, the retry made a second PaymentMethod and SetupIntent (the first was never attached,
    so the "same card already saved" check could not find it)."""
    customer = customer_create(merchant=merchant, email="ada@example.com", name="Ada", actor=Actor.system("tests"))
    key = f"card-{uuid.uuid4()}"
    body = {"type": "card", "number": "4000002760003184", "exp_month": 12, "exp_year": 2030, "cvc": "123",
            "return_url": "https://shop.example/cards"}  # fmt: skip
    sandbox_fault("hang_after", 3000, match="setup_intents.create", gateway="stripe")

    def send() -> requests.Response:
        return http.post(f"/api/v1/customers/{customer.public_id}/payment-methods", body, key=key)

    first = _stripe(send, "setup_intents.create", fault, app_server, app_redis)
    final = retry_until_final(send)

    assert (final.status_code, final.json()["status"]) == (201, "requires_action"), final.text
    method = PaymentMethod.objects.get()
    assert final.json()["id"] == method.public_id
    if fault != "kill":
        assert (first.status_code, first.json()["id"]) == (201, method.public_id), first.text
    assert gateway_calls("setup_intents.create", "stripe") == 1
    assert StripeSetupIntent.objects.get().stripe_id == method.setup_id
    assert StripePaymentMethod.objects.count() == 1
    assert_key_completed(key)
