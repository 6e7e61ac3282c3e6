"""Saved cards on a Razorpay account, through the API: a setup order, the card paid in Checkout
(the sandbox's stand-in) with saving on, its answer added as the customer's card, then charged by
a subscription without the customer; webhooks about the charge find its payment, those about
the setup's authorisation are no payment of ours; a removed card is deleted at Razorpay."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

import pytest
from django.conf import settings
from django.utils import timezone

from apps.audit.actors import Actor
from apps.audit.models import AuditEvent
from apps.customers.models import PaymentMethod
from apps.customers.services import payment_method_purge
from apps.payments.models import Payment
from apps.sandbox.models import RzpOrder, RzpPayment, RzpToken, SandboxCall
from apps.sessions_api.services import customer_session_create
from apps.subscriptions.billing import billing_run
from apps.subscriptions.models import Invoice
from apps.subscriptions.services import plan_create
from apps.webhooks.models import IncomingWebhook
from tests.factories import CustomerFactory

pytestmark = pytest.mark.django_db(transaction=True)

ACTOR = Actor.system("tests")
VISA_OK = "4100280000001007"


@pytest.fixture
def customer(merchant: Any, rzp_account: Any) -> Any:
    return CustomerFactory(merchant=merchant, name="Ravi Kumar", email="ravi@example.com", phone="+919000090000")


def setup_order(client: Any, customer: Any) -> dict[str, Any]:
    response = client.post(f"/api/v1/customers/{customer.public_id}/payment-methods/checkout-setup")
    assert response.status_code == 201, response.content
    return dict(response.json())


def pay_in_checkout(setup: dict[str, Any], number: str = VISA_OK) -> str:
    """What Checkout does in the browser, opened on the setup order with recurring: 1; its answer."""
    from apps.sandbox.razorpay.services import rzp_checkout_pay

    result = rzp_checkout_pay(key_id=setup["key_id"], order_id=setup["order_id"], card_number=number, exp_month=12,
                              exp_year=2031, cvv="123", email="ravi@example.com", contact="+919000090000",
                              customer_id=setup["customer_id"], recurring=True)  # fmt: skip
    assert result.ok, result.error
    return f"{result.order_id}|{result.payment_id}|{result.signature}"


def add_card(client: Any, customer: Any, setup: dict[str, Any], answer: str) -> Any:
    body = {"type": "opaque_data", "descriptor": setup["token_descriptor"], "value": answer, "set_default": True}
    return client.post(f"/api/v1/customers/{customer.public_id}/payment-methods", body, format="json")


@pytest.mark.sqlite  # also on the quickstart's database
def test_a_card_saved_in_checkout_becomes_the_customers_card(api, customer, rzp_account):
    setup = setup_order(api, customer)

    assert setup["object"] == "checkout_setup" and setup["gateway"] == "razorpay"
    assert (setup["amount"], setup["currency"], setup["amount_display"]) == (100, "INR", "1.00 INR")
    assert setup["key_id"] == rzp_account.credentials()["key_id"] and "key_secret" not in str(setup)
    order = RzpOrder.objects.get(rzp_id=setup["order_id"])
    assert (order.customer.rzp_id, order.payment_capture) == (setup["customer_id"], "manual")

    response = add_card(api, customer, setup, pay_in_checkout(setup))

    assert response.status_code == 201, response.content
    card = response.json()
    method = PaymentMethod.objects.get(public_id=card["id"])
    token = RzpToken.objects.get(rzp_id=method.payment_token)
    assert (method.gateway_account, method.card_last4, method.is_default) == (rzp_account, "1007", True)
    assert token.customer.rzp_id == method.profile.customer_token == setup["customer_id"]
    assert AuditEvent.objects.filter(action="payment_method.added", target_id=method.public_id).count() == 1


def test_a_second_setup_reuses_the_customer_at_razorpay(api, customer):
    first, second = setup_order(api, customer), setup_order(api, customer)

    assert first["customer_id"] == second["customer_id"] and first["order_id"] != second["order_id"]
    assert SandboxCall.objects.filter(gateway="razorpay", operation="customers.create").count() == 1


def test_a_forged_answer_saves_nothing(api, customer):
    setup = setup_order(api, customer)
    answer = pay_in_checkout(setup)

    response = add_card(api, customer, setup, answer[:-6] + "000000")

    assert response.status_code == 402 and response.json()["error"]["code"] == "invalid_payment_method"
    assert not PaymentMethod.objects.exists()


@pytest.mark.sqlite  # also on the quickstart's database
def test_a_subscription_charges_the_saved_card_without_the_customer(api, customer, merchant, rzp_account):
    setup = setup_order(api, customer)
    assert add_card(api, customer, setup, pay_in_checkout(setup)).status_code == 201
    plan = plan_create(merchant=merchant, name="Pro", amount=49_900, currency="INR", interval="month", actor=ACTOR)

    response = api.post(
        "/api/v1/subscriptions", {"customer": customer.public_id, "plan": plan.public_id}, format="json"
    )

    assert response.status_code == 201, response.content
    payment = Payment.objects.get()
    charged = RzpPayment.objects.get(rzp_id=payment.gateway_transaction_id)
    assert (payment.status, payment.amount_captured, payment.gateway_account) == ("captured", 49_900, rzp_account)
    assert (charged.status, charged.recurring, charged.order.receipt) == (
        "captured",
        True,
        payment.gateway_transactions.get().reference[:40],
    )


def test_a_customer_session_sets_up_only_its_own_card(client_for, customer, merchant):
    from rest_framework.test import APIClient

    token = customer_session_create(
        customer=customer, abilities=["payment_methods.manage"], expires_in=600, actor=ACTOR
    ).token
    own = APIClient()
    own.credentials(HTTP_AUTHORIZATION=f"Bearer {token}")
    other = CustomerFactory(merchant=merchant)

    assert own.post(f"/api/v1/customers/{customer.public_id}/payment-methods/checkout-setup").status_code == 201
    assert own.post(f"/api/v1/customers/{other.public_id}/payment-methods/checkout-setup").status_code == 404


def test_a_merchant_whose_cards_are_tokenised_in_the_browser_gets_no_setup(api, merchant, anet_account):
    customer = CustomerFactory(merchant=merchant)

    response = api.post(f"/api/v1/customers/{customer.public_id}/payment-methods/checkout-setup")

    assert response.status_code == 409 and response.json()["error"]["code"] == "vault_not_supported"


def test_an_account_without_recurring_payments_gets_no_setup(api, customer, rzp_sandbox):
    from apps.sandbox.razorpay.vault import rzp_account_recurring

    rzp_account_recurring(key_id=rzp_sandbox.key_id, enabled=False)

    response = api.post(f"/api/v1/customers/{customer.public_id}/payment-methods/checkout-setup")

    body = response.json()
    assert response.status_code == 409 and body["error"]["code"] == "vault_not_supported", body
    assert "Recurring payments are not enabled" in body["error"]["message"]
    assert not RzpOrder.objects.exists()
    assert not PaymentMethod.objects.exists()
    rzp_account_recurring(key_id=rzp_sandbox.key_id, enabled=True)  # once Razorpay turns them on
    assert RzpOrder.objects.get(rzp_id=setup_order(api, customer)["order_id"]).customer is not None


def test_a_setup_takes_no_parameters(api, customer):
    response = api.post(
        f"/api/v1/customers/{customer.public_id}/payment-methods/checkout-setup", {"amount": 1}, format="json"
    )
    assert response.status_code == 400 and not RzpOrder.objects.exists()


def test_a_removed_card_is_deleted_at_razorpay(api, customer):
    setup = setup_order(api, customer)
    card = add_card(api, customer, setup, pay_in_checkout(setup)).json()

    response = api.delete(f"/api/v1/customers/{customer.public_id}/payment-methods/{card['id']}")
    assert response.status_code == 200, response.content
    method = PaymentMethod.objects.get(public_id=card["id"])
    assert payment_method_purge(payment_method_id=method.pk)  # the task queued by the removal

    assert RzpToken.objects.get(rzp_id=method.payment_token).deleted
    method.refresh_from_db()
    assert method.gateway_deleted_at is not None


def test_webhooks_find_the_charge_and_pass_over_the_setup(api, client, customer, merchant, rzp_account):
    from tests.catalog.test_checkout import process_all, razorpay_webhook, sdk

    setup = setup_order(api, customer)
    setup_payment_id = pay_in_checkout(setup).split("|")[1]
    answer = pay_in_checkout(setup_order(api, customer))
    card = add_card(api, customer, {"token_descriptor": setup["token_descriptor"]}, answer)
    assert card.status_code == 201, card.content
    plan = plan_create(merchant=merchant, name="Pro", amount=9_900, currency="INR", interval="month", actor=ACTOR)
    assert (
        api.post("/api/v1/subscriptions", {"customer": customer.public_id, "plan": plan.public_id}).status_code == 201
    )
    charge = Payment.objects.get()

    razorpay_webhook(
        client, rzp_account, "payment.captured", sdk(rzp_account).payment.fetch(charge.gateway_transaction_id)
    )
    razorpay_webhook(client, rzp_account, "payment.authorized", sdk(rzp_account).payment.fetch(setup_payment_id))
    process_all()

    outcomes = dict(IncomingWebhook.objects.values_list("event_type", "status"))
    assert outcomes == {"payment.captured": "processed", "payment.authorized": "ignored"}


def test_card_numbers_are_refused_before_razorpay(api, customer):
    body = {"type": "card", "number": VISA_OK, "exp_month": 12, "exp_year": 2031, "cvc": "123"}

    response = api.post(f"/api/v1/customers/{customer.public_id}/payment-methods", body, format="json")

    assert response.status_code == 400 and response.json()["error"]["code"] == "payment_method_not_supported"
    assert not SandboxCall.objects.filter(gateway="razorpay").exists()


def test_a_renewal_the_bank_answers_later_waits_for_that_answer(api, client, customer, merchant, rzp_account):
    """Razorpay's recurring debits can stay `created` until the bank answers: no decline, no second
    charge; the answer (here its webhook) settles the one payment and pays the invoice."""
    from apps.sandbox.razorpay.vault import rzp_payment_complete, rzp_token_defer
    from tests.catalog.test_checkout import process_all, razorpay_webhook, sdk

    setup = setup_order(api, customer)
    card = add_card(api, customer, setup, pay_in_checkout(setup)).json()
    rzp_token_defer(token_id=PaymentMethod.objects.get(public_id=card["id"]).payment_token)
    plan = plan_create(merchant=merchant, name="Pro", amount=9_900, currency="INR", interval="month", actor=ACTOR)

    response = api.post("/api/v1/subscriptions", {"customer": customer.public_id, "plan": plan.public_id})

    assert response.status_code == 201, response.content
    payment = Payment.objects.get()
    assert payment.status not in ("declined", "failed", "captured"), payment.status
    (charged,) = RzpPayment.objects.filter(recurring=True, amount=9_900)
    assert charged.status == "created"

    completed = rzp_payment_complete(payment_id=charged.rzp_id)
    razorpay_webhook(client, rzp_account, "payment.captured", sdk(rzp_account).payment.fetch(completed.rzp_id))
    process_all()

    payment.refresh_from_db()
    assert (payment.status, payment.amount_captured, payment.gateway_transaction_id) == (
        "captured", 9_900, charged.rzp_id,
    )  # fmt: skip
    # The next billing run carries the payment's result to its invoice, charging nothing again.
    billing_run(as_of=timezone.now() + timedelta(seconds=settings.BILLING_ERROR_RETRY_SECONDS + 1))
    assert Invoice.objects.get(subscription__customer=customer).status == "paid"
    assert RzpPayment.objects.filter(recurring=True, amount=9_900).count() == 1
