"""Exactly once under real faults on our side for the Razorpay path that charges a saved card: the
first charge of a subscription, an order of ours paid with payments/create/recurring. The fault
(broker stopped, database connections terminated, the worker killed) strikes while Razorpay holds
its answer, after it charged; the client's retry with the same key finds that charge again by the
order's receipt (our reference) and never pays a second order. See test_payments for the faults.
"""

from __future__ import annotations

import uuid
from typing import Any

import pytest
import requests
from django.utils import timezone

from apps.audit.actors import Actor
from apps.customers.checkout_setups import payment_method_checkout_setup
from apps.customers.services import payment_method_add
from apps.gateways.base import OpaqueToken
from apps.payments.models import Payment
from apps.sandbox.models import RzpOrder, RzpPayment
from apps.subscriptions.billing import subscription_bill
from apps.subscriptions.models import Subscription
from apps.subscriptions.services import plan_create
from tests.conftest import RZP_PATH
from tests.exactly_once.helpers import FAULTS, assert_key_completed, gateway_calls, retry_until_final, send_under_fault
from tests.factories import CustomerFactory
from tests.faultlab import Client

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]

ACTOR = Actor.system("tests")


@pytest.fixture(scope="module")
def app_env(live_server: Any) -> dict[str, str]:
    return {"RAZORPAY_TEST_API_BASE": f"{live_server.url}{RZP_PATH}"}  # the sandbox the test serves


@pytest.fixture
def customer(merchant: Any, rzp_account: Any) -> Any:
    """A customer whose card was saved in Checkout (the sandbox's stand-in) on the Razorpay account."""
    from apps.sandbox.razorpay.services import rzp_checkout_pay

    customer = CustomerFactory(merchant=merchant, email="ravi@example.com", phone="+919000090000")
    setup = payment_method_checkout_setup(customer=customer, livemode=False)
    paid = rzp_checkout_pay(key_id=setup.key_id, order_id=setup.order_id, card_number="4100280000001007",
                            exp_month=12, exp_year=2031, cvv="123", email=customer.email, contact=customer.phone,
                            customer_id=setup.customer_token, recurring=True)  # fmt: skip
    assert paid.ok, paid.error
    answer = f"{paid.order_id}|{paid.payment_id}|{paid.signature}"
    payment_method_add(customer=customer, livemode=False, payment=OpaqueToken(setup.token_descriptor, answer),
                       make_default=True, actor=ACTOR)  # fmt: skip
    return customer


@pytest.mark.parametrize("fault", FAULTS)
def test_subscription_first_charge(
    fault, http: Client, customer, merchant, sandbox_fault, listening, app_server, app_redis, settings
):
    plan = plan_create(merchant=merchant, name="Pro", amount=49_900, currency="INR", interval="month", actor=ACTOR)
    key = f"subscribe-{uuid.uuid4()}"
    sandbox_fault("hang_after", 3000, match="payments.create_recurring", gateway="razorpay")

    def send() -> requests.Response:
        return http.post("/api/v1/subscriptions", {"customer": customer.public_id, "plan": plan.public_id}, key=key)

    first = send_under_fault(
        send, operation="payments.create_recurring", gateway="razorpay", fault=fault, app_server=app_server,
        app_redis=app_redis,
    )  # fmt: skip
    final = retry_until_final(send)

    assert (final.status_code, final.json()["status"]) == (201, "active"), final.text
    subscription = Subscription.objects.get()
    payment = Payment.objects.get()
    if fault == "kill" and payment.status == "pending":
        # The killed worker's call was too fresh to give up on (it could have been still waiting):
        # the retry answered with the subscription (its key kept open for the outcome), and the
        # next billing run settles the charge; the key's next retry answers with the outcome.
        settings.GATEWAY_STALE_CALL_SECONDS = 0
        assert subscription_bill(subscription_id=subscription.pk, as_of=timezone.now(), actor=ACTOR) == "renewed"
        payment.refresh_from_db()
        final = retry_until_final(send)
    assert (final.json()["id"], payment.status, payment.amount_captured) == (subscription.public_id, "captured", 49_900)
    if fault != "kill":
        assert (first.status_code, first.json()["id"]) == (201, subscription.public_id), first.text
    assert gateway_calls("payments.create_recurring", "razorpay") == 1
    charged = RzpPayment.objects.filter(recurring=True, order__payment_capture="automatic")
    assert [p.rzp_id for p in charged] == [payment.gateway_transaction_id]
    assert RzpOrder.objects.filter(receipt=payment.gateway_transactions.get().reference[:40]).count() == 1
    assert_key_completed(key)
