"""Exactly once under real faults on our side, for the Razorpay checkout: verify (which captures,
manual capture being on) and order creation. See test_payments for how the faults are made."""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import requests

from apps.audit.actors import Actor
from apps.catalog.models import CheckoutOrder, Entitlement
from apps.events.models import Event
from apps.merchants.services import api_key_create
from apps.payments.models import Payment
from tests.catalog.helpers import handler_response, pay
from tests.exactly_once.helpers import FAULTS, assert_key_completed, gateway_calls, retry_until_final, send_under_fault
from tests.faultlab import AppServer, Client

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

CUSTOMER = {"name": "Asha Rao", "email": "asha@example.com", "contact": "+919900000000"}


@pytest.fixture(scope="module")
def app_env() -> dict[str, str]:
    return {"RAZORPAY_AUTO_CAPTURE": "false"}  # verify captures: the call the faults hit


@pytest.fixture
def storefront(app_server: AppServer, merchant: Any, http: Client) -> Client:
    """The storefront's browser: a publishable key."""
    issued = api_key_create(merchant=merchant, mode="test", kind="publishable", actor=Actor.system("tests"))
    return Client(app_server.url, issued.secret)


def open_checkout(storefront: Client, price: Any, key: str | None = None) -> requests.Response:
    body = {"price": price.public_id, "quantity": 1, "customer": CUSTOMER}
    return storefront.post("/api/v1/checkout/razorpay/orders", body, key=key or str(uuid.uuid4()))


@pytest.mark.parametrize("fault", FAULTS)
def test_checkout_verify(fault, storefront, price, rzp_account, sandbox_fault, listening, app_server, app_redis):
    order = open_checkout(storefront, price).json()
    paid = pay(order)
    key = f"verify-{uuid.uuid4()}"
    sandbox_fault("hang_after", 3000, match="payments.capture", gateway="razorpay")

    def send() -> requests.Response:
        return storefront.post("/api/v1/checkout/razorpay/verify", handler_response(paid), key=key)

    first = send_under_fault(
        send, operation="payments.capture", gateway="razorpay", fault=fault, app_server=app_server, app_redis=app_redis
    )
    final = retry_until_final(send)

    assert (final.status_code, final.json()["status"], final.json()["entitled"]) == (200, "completed", True), final.text
    payment = Payment.objects.get(public_id=order["payment"])
    assert (payment.status, payment.amount_captured, payment.operation) == ("captured", price.amount, "")
    if fault != "kill":
        assert (first.status_code, first.json()["status"]) == (200, "completed"), first.text
    assert gateway_calls("payments.capture", "razorpay") == 1
    assert Entitlement.objects.count() == 1
    assert Event.objects.filter(type="checkout.completed").count() == 1
    assert_key_completed(key)


def test_checkout_order_whose_request_died_is_the_one_handed_out(
    storefront, price, rzp_account, sandbox_fault, app_server, app_redis
):
    key = f"order-{uuid.uuid4()}"
    sandbox_fault("hang_after", 3000, match="orders.create", gateway="razorpay")

    def send() -> requests.Response:
        return open_checkout(storefront, price, key=key)

    send_under_fault(
        send, operation="orders.create", gateway="razorpay", fault="kill", app_server=app_server, app_redis=app_redis
    )
    final = retry_until_final(send)

    assert final.status_code == 201, final.text
    checkout = CheckoutOrder.objects.get()
    assert final.json()["id"] == checkout.public_id
    assert final.json()["razorpay"]["order_id"] == checkout.payment.gateway_order_id != ""
    assert gateway_calls("orders.create", "razorpay") == 1
    assert_key_completed(key)
