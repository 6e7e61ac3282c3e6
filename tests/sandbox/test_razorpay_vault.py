"""The Razorpay sandbox's customers, saved cards (tokens) and recurring charges, driven by the
official SDK over real HTTP, and the Checkout stand-in saving cards."""

from __future__ import annotations

import pytest
import razorpay
import requests
from django.conf import settings

from apps.sandbox.models import RzpCustomer, RzpNotification, RzpPayment, RzpToken, SandboxCall, SandboxFault
from apps.sandbox.razorpay.services import rzp_webhook_register
from apps.sandbox.razorpay.tokens import card_fingerprint
from apps.sandbox.razorpay.vault import rzp_token_decline
from tests.sandbox.razorpay_helpers import VISA_OK, pay, sdk_client

pytestmark = pytest.mark.django_db(transaction=True)

BadRequest = razorpay.errors.BadRequestError
MASTERCARD_OK = "5500670000001002"
DECLINED_CARD = "4100280000060003"
TOKEN_KEYS = {
    "id", "entity", "token", "bank", "wallet", "method", "card", "recurring", "recurring_details", "auth_type", "mrn",
    "used_at", "created_at", "expired_at", "status", "notes", "compliant_with_tokenisation_guidelines",
}  # fmt: skip


@pytest.fixture
def client(rzp_sandbox):
    return sdk_client(rzp_sandbox)


@pytest.fixture
def customer(client):
    return client.customer.create({"name": "Ada Lovelace", "email": "ada@example.com", "contact": "9000090000"})


def saved_card(client, account, customer, *, capture="automatic", number=VISA_OK, recurring=True):
    """A token for the customer, saved by a Checkout payment on an authorisation order."""
    order = client.order.create(
        {"amount": 100, "currency": "INR", "customer_id": customer["id"], "method": "card",
         "token": {"max_amount": 500000, "expire_at": 2709971120, "frequency": "as_presented"},
         "payment": {"capture": capture}},
    )  # fmt: skip
    paid = pay(account, order["id"], number, save=True, recurring=recurring, name="Ada")
    assert paid.ok
    return client.payment.fetch(paid.payment_id)["token_id"]


def charge_body(order, customer, token, **extra):
    return {
        "email": "ada@example.com", "contact": "9000090000", "amount": order["amount"], "currency": order["currency"],
        "order_id": order["id"], "customer_id": customer["id"], "token": token, "recurring": "1", **extra,
    }  # fmt: skip


def api(account, method, path, **kwargs):
    return requests.request(
        method, f"{settings.RAZORPAY_TEST_API_BASE}{path}", auth=(account.key_id, account.key_secret), timeout=5,
        **kwargs,
    )  # fmt: skip


# --- customers ------------------------------------------------------------------------------------


def test_a_customer_is_created_fetched_listed_and_edited(client, customer):
    assert customer["id"].startswith("cust_") and len(customer["id"]) == 19
    assert customer == {
        "id": customer["id"], "entity": "customer", "name": "Ada Lovelace", "email": "ada@example.com",
        "contact": "9000090000", "gstin": None, "notes": [], "created_at": customer["created_at"],
    }  # fmt: skip
    assert client.customer.fetch(customer["id"]) == customer
    other = client.customer.create({"name": "Bob", "notes": {"ref": "b-1"}, "gstin": "29ABCDE1234F1Z5"})
    listed = client.customer.all({"count": 1})
    assert listed["entity"] == "collection" and listed["count"] == 1
    assert listed["items"][0]["id"] == other["id"]
    assert client.customer.all({"count": 1, "skip": 1})["items"][0]["id"] == customer["id"]
    assert other["notes"] == {"ref": "b-1"} and other["gstin"] == "29ABCDE1234F1Z5"

    edited = client.customer.edit(customer["id"], {"name": "Ada King", "contact": "9000090001"})

    assert (edited["name"], edited["contact"], edited["email"]) == ("Ada King", "9000090001", "ada@example.com")
    assert client.customer.fetch(customer["id"])["name"] == "Ada King"


def test_fail_existing_refuses_or_returns_the_existing_customer(client, customer):
    same = {"name": "Ada again", "email": "ada@example.com", "contact": "9000090000"}

    with pytest.raises(BadRequest, match="Customer already exists for the merchant"):
        client.customer.create(same)
    with pytest.raises(BadRequest, match="Customer already exists for the merchant"):
        client.customer.create({**same, "fail_existing": 1})
    assert client.customer.create({**same, "fail_existing": "0"}) == customer
    assert client.customer.create({**same, "fail_existing": 0})["id"] == customer["id"]
    assert client.customer.create({**same, "contact": "9000090009"})["id"] != customer["id"]
    assert RzpCustomer.objects.count() == 2


def test_customer_fields_are_checked(client, rzp_sandbox):
    with pytest.raises(BadRequest, match="nickname is/are not required and should not be sent"):
        client.customer.create({"name": "Ada", "nickname": "A"})
    with pytest.raises(BadRequest, match="fail existing"):
        client.customer.create({"name": "Ada", "fail_existing": "maybe"})
    with pytest.raises(BadRequest, match="The id provided does not exist"):
        client.customer.fetch("cust_nothing00000000")
    response = api(rzp_sandbox, "POST", "/v1/customers", json={"name": "Ada", "nickname": "A"})
    assert response.status_code == 400 and response.json()["error"]["field"] == "nickname"
    assert not RzpCustomer.objects.exists()


def test_another_accounts_customer_is_not_found(client, customer):
    from apps.sandbox.services import rzp_account_create

    other = sdk_client(rzp_account_create())
    with pytest.raises(BadRequest, match="The id provided does not exist"):
        other.customer.fetch(customer["id"])
    with pytest.raises(BadRequest, match="The id provided does not exist"):
        other.order.create({"amount": 100, "currency": "INR", "customer_id": customer["id"]})


# --- orders for a customer ------------------------------------------------------------------------


def test_an_order_can_be_made_for_a_customer(client, customer, rzp_sandbox):
    order = client.order.create(
        {"amount": 100, "currency": "INR", "customer_id": customer["id"], "method": "card",
         "token": {"max_amount": 500000, "frequency": "as_presented"}}
    )  # fmt: skip

    assert order["customer_id"] == customer["id"]
    assert client.order.fetch(order["id"])["customer_id"] == customer["id"]
    assert "customer_id" not in client.order.create({"amount": 100, "currency": "INR"})
    with pytest.raises(BadRequest, match="The id provided does not exist"):
        client.order.create({"amount": 100, "currency": "INR", "customer_id": "cust_nothing00000000"})
    response = api(rzp_sandbox, "POST", "/v1/orders", json={"amount": 100, "customer_id": "cust_nothing00000000"})
    assert response.json()["error"]["field"] == "customer_id"
    with pytest.raises(BadRequest, match="token field must be an object"):
        client.order.create({"amount": 100, "currency": "INR", "customer_id": customer["id"], "token": "x"})


# --- Checkout saving cards ------------------------------------------------------------------------


def test_checkout_with_save_makes_a_token_the_sdk_lists_and_fetches(client, customer, rzp_sandbox):
    token_id = saved_card(client, rzp_sandbox, customer)

    tokens = client.token.all(customer["id"])
    assert tokens["entity"] == "collection" and tokens["count"] == 1
    token = tokens["items"][0]
    assert token["id"] == token_id and token_id.startswith("token_")
    assert set(token) == TOKEN_KEYS
    assert token["card"] == {
        "entity": "card", "name": "Ada", "last4": "1007", "network": "Visa", "type": "credit", "issuer": None,
        "international": False, "emi": False, "sub_type": "consumer", "expiry_month": 12, "expiry_year": 2035,
        "flows": {"recurring": True},
    }  # fmt: skip
    assert (token["entity"], token["method"], token["recurring"], token["status"]) == ("token", "card", True, "active")
    assert token["recurring_details"] == {"status": "confirmed", "failure_reason": None}
    assert token["expired_at"] == 2082758399  # 2035-12-31T23:59:59Z
    assert token["used_at"] is None and isinstance(token["token"], str) and token["token"]
    assert client.token.fetch(customer["id"], token_id) == token
    stored = RzpToken.objects.get(rzp_id=token_id)
    assert stored.card_fingerprint == card_fingerprint(VISA_OK) and VISA_OK not in stored.card_fingerprint


def test_the_same_card_is_saved_once_per_customer(client, customer, rzp_sandbox):
    first = saved_card(client, rzp_sandbox, customer, recurring=False)
    assert client.token.fetch(customer["id"], first)["recurring"] is False
    second = saved_card(client, rzp_sandbox, customer)  # the same card, now for recurring
    third = saved_card(client, rzp_sandbox, customer, number=MASTERCARD_OK)

    assert first == second != third
    assert client.token.fetch(customer["id"], first)["recurring"] is True
    assert {item["id"] for item in client.token.all(customer["id"])["items"]} == {first, third}


def test_a_failed_or_unsaved_payment_saves_no_token(client, customer, rzp_sandbox):
    order = client.order.create({"amount": 100, "currency": "INR", "customer_id": customer["id"]})
    failed = pay(rzp_sandbox, order["id"], DECLINED_CARD, save=True)
    unsaved = pay(rzp_sandbox, order["id"])  # a customer, but no save

    assert not failed.ok and unsaved.ok
    assert client.token.all(customer["id"])["count"] == 0
    payment = client.payment.fetch(unsaved.payment_id)
    assert (payment["customer_id"], payment["token_id"]) == (customer["id"], None)
    assert not RzpToken.objects.exists()


def test_checkout_customer_id_must_be_the_orders_or_the_accounts(client, customer, rzp_sandbox):
    other = client.customer.create({"name": "Bob"})
    order = client.order.create({"amount": 100, "currency": "INR", "customer_id": customer["id"]})
    plain = client.order.create({"amount": 100, "currency": "INR"})

    mismatch = pay(rzp_sandbox, order["id"], customer_id=other["id"], save=True)
    unknown = pay(rzp_sandbox, plain["id"], customer_id="cust_nothing00000000", save=True)
    given = pay(rzp_sandbox, plain["id"], customer_id=other["id"], save=True)

    assert not mismatch.ok and mismatch.error["field"] == "customer_id"
    assert not unknown.ok and unknown.error["field"] == "customer_id"
    assert given.ok and client.payment.fetch(given.payment_id)["customer_id"] == other["id"]
    assert client.token.all(other["id"])["count"] == 1
    assert client.order.fetch(order["id"])["attempts"] == 0


def test_the_checkout_endpoint_saves_the_card_with_checkouts_options(client, customer, rzp_sandbox):
    """What checkout.js posts for `new Razorpay({key, order_id, customer_id, save: 1, recurring: "1"})`."""
    from django.test import Client

    order = client.order.create({"amount": 2500, "currency": "INR"})
    response = Client().post(
        "/sandbox/razorpay/checkout/v1/payments",
        data={"key_id": rzp_sandbox.key_id, "order_id": order["id"], "customer_id": customer["id"], "save": 1,
              "recurring": "1", "email": "ada@example.com", "contact": "9000090000",
              "card": {"number": "4100 2800 0000 1007", "expiry_month": "12", "expiry_year": "35", "cvv": "123",
                       "name": "Ada"}},
        content_type="application/json",
    )  # fmt: skip

    assert response.status_code == 200
    body = response.json()
    assert client.utility.verify_payment_signature(body) is True
    payment = client.payment.fetch(body["razorpay_payment_id"])
    token = client.token.fetch(customer["id"], payment["token_id"])
    assert payment["customer_id"] == customer["id"] and token["recurring"] is True
    assert token["card"]["expiry_year"] == 2035 and token["card"]["last4"] == "1007"


# --- recurring charges ----------------------------------------------------------------------------


def test_a_recurring_charge_on_an_automatic_order_is_captured(client, customer, rzp_sandbox):
    token_id = saved_card(client, rzp_sandbox, customer)
    rzp_webhook_register(account=rzp_sandbox, url="http://127.0.0.1:9/hook", secret="s")
    order = client.order.create({"amount": 49900, "currency": "INR", "notes": {"plan": "gold"}})

    result = client.payment.createRecurring(
        charge_body(order, customer, token_id, description="Monthly", notes={"cycle": "3"})
    )

    assert set(result) == {"razorpay_payment_id", "razorpay_order_id", "razorpay_signature"}
    assert result["razorpay_order_id"] == order["id"]
    assert client.utility.verify_payment_signature(result) is True
    payment = client.payment.fetch(result["razorpay_payment_id"], {"expand[]": "card"})
    assert (payment["status"], payment["captured"], payment["amount"]) == ("captured", True, 49900)
    assert (payment["customer_id"], payment["token_id"], payment["recurring"]) == (customer["id"], token_id, True)
    assert payment["notes"] == {"plan": "gold", "cycle": "3"} and payment["description"] == "Monthly"
    assert payment["card"]["last4"] == "1007" and payment["method"] == "card"
    assert client.order.fetch(order["id"])["status"] == "paid"
    assert client.token.fetch(customer["id"], token_id)["used_at"] is not None
    events = list(RzpNotification.objects.order_by("pk").values_list("event", flat=True))
    assert events == ["payment.authorized", "payment.captured", "order.paid"]
    assert SandboxCall.objects.filter(operation="payments.create_recurring").count() == 1


def test_a_recurring_charge_on_a_manual_order_stays_authorized(client, customer, rzp_sandbox):
    token_id = saved_card(client, rzp_sandbox, customer)
    order = client.order.create({"amount": 1500, "currency": "INR", "payment": {"capture": "manual"}})

    result = client.payment.createRecurring(charge_body(order, customer, token_id, recurring=1))

    payment = client.payment.fetch(result["razorpay_payment_id"])
    assert (payment["status"], payment["captured"]) == ("authorized", False)
    assert client.payment.capture(payment["id"], 1500, {"currency": "INR"})["status"] == "captured"


def test_payment_entities_say_whether_they_are_recurring(client, rzp_sandbox):
    paid = pay(rzp_sandbox, client.order.create({"amount": 100, "currency": "INR"})["id"])

    payment = client.payment.fetch(paid.payment_id)

    assert (payment["customer_id"], payment["token_id"], payment["recurring"]) == (None, None, False)


@pytest.mark.parametrize(
    ("change", "field", "message"),
    [
        ({"amount": 49901}, "amount", "different from your order amount"),
        ({"currency": "USD"}, "currency", "Currency should be same as order currency"),
        ({"token": "token_nothing0000000"}, "token", "The id provided does not exist"),
        ({"customer_id": "cust_nothing00000000"}, "customer_id", "The id provided does not exist"),
        ({"order_id": "order_nothing0000000"}, "order_id", "The id provided does not exist"),
        ({"recurring": "0"}, "recurring", "recurring field must be 1"),
        ({"email": ""}, "email", "email field is required"),
        ({"card": {"number": "4111"}}, "card", "card is/are not required and should not be sent"),
    ],
)
def test_a_recurring_charge_is_checked(client, customer, rzp_sandbox, change, field, message):
    token_id = saved_card(client, rzp_sandbox, customer)
    order = client.order.create({"amount": 49900, "currency": "INR"})
    body = {**charge_body(order, customer, token_id), **change}

    with pytest.raises(BadRequest, match=message):
        client.payment.createRecurring(body)
    response = api(rzp_sandbox, "POST", "/v1/payments/create/recurring", json=body)

    assert response.status_code == 400 and response.json()["error"]["field"] == field
    assert not RzpPayment.objects.filter(recurring=True).exists()
    assert client.order.fetch(order["id"])["attempts"] == 0


def test_another_customers_token_is_not_found(client, customer, rzp_sandbox):
    other = client.customer.create({"name": "Bob"})
    others_token = saved_card(client, rzp_sandbox, other)
    order = client.order.create({"amount": 100, "currency": "INR"})

    with pytest.raises(BadRequest, match="The id provided does not exist"):
        client.payment.createRecurring(charge_body(order, customer, others_token))
    with pytest.raises(BadRequest, match="The id provided does not exist"):
        client.token.fetch(customer["id"], others_token)


def test_an_order_for_another_customer_is_refused(client, customer, rzp_sandbox):
    token_id = saved_card(client, rzp_sandbox, customer)
    other = client.customer.create({"name": "Bob"})
    order = client.order.create({"amount": 100, "currency": "INR", "customer_id": other["id"]})

    with pytest.raises(BadRequest, match="does not match the order's customer"):
        client.payment.createRecurring(charge_body(order, customer, token_id))


def test_a_paid_order_cannot_be_charged(client, customer, rzp_sandbox):
    token_id = saved_card(client, rzp_sandbox, customer)
    order = client.order.create({"amount": 100, "currency": "INR"})
    client.payment.createRecurring(charge_body(order, customer, token_id))

    with pytest.raises(BadRequest, match="Order has already been paid"):
        client.payment.createRecurring(charge_body(order, customer, token_id))
    assert RzpPayment.objects.filter(recurring=True).count() == 1


def test_a_declining_token_fails_the_charge_until_cleared(client, customer, rzp_sandbox):
    token_id = saved_card(client, rzp_sandbox, customer)
    rzp_webhook_register(account=rzp_sandbox, url="http://127.0.0.1:9/hook", secret="s", events=["payment.failed"])
    rzp_token_decline(token_id=token_id, reason="insufficient_funds")
    order = client.order.create({"amount": 2000, "currency": "INR"})

    with pytest.raises(BadRequest, match="Payment failed"):
        client.payment.createRecurring(charge_body(order, customer, token_id))
    response = api(rzp_sandbox, "POST", "/v1/payments/create/recurring", json=charge_body(order, customer, token_id))

    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["description"], error["reason"]) == (
        "BAD_REQUEST_ERROR",
        "Payment failed",
        "insufficient_funds",
    )
    assert error["metadata"]["order_id"] == order["id"] and error["metadata"]["payment_id"].startswith("pay_")
    failed = client.payment.fetch(error["metadata"]["payment_id"])
    assert (failed["status"], failed["error_code"], failed["error_reason"]) == (
        "failed",
        "BAD_REQUEST_ERROR",
        "insufficient_funds",
    )
    assert (failed["recurring"], failed["token_id"]) == (True, token_id)
    assert list(RzpNotification.objects.values_list("event", flat=True)) == ["payment.failed"] * 2
    assert client.order.fetch(order["id"])["status"] == "attempted"

    rzp_token_decline(token_id=token_id, reason=None)
    result = client.payment.createRecurring(charge_body(order, customer, token_id))
    assert client.payment.fetch(result["razorpay_payment_id"])["status"] == "captured"
    assert client.order.fetch(order["id"])["attempts"] == 3


def test_a_fault_on_create_recurring_charges_nothing_and_is_used_up(client, customer, rzp_sandbox):
    token_id = saved_card(client, rzp_sandbox, customer)
    order = client.order.create({"amount": 100, "currency": "INR"})
    SandboxFault.objects.create(gateway="razorpay", kind=SandboxFault.Kind.HTTP_ERROR, value=503,
                                match="payments.create_recurring")  # fmt: skip

    with pytest.raises(razorpay.errors.ServerError):
        client.payment.createRecurring(charge_body(order, customer, token_id))
    assert not RzpPayment.objects.filter(recurring=True).exists()
    assert client.payment.createRecurring(charge_body(order, customer, token_id))["razorpay_order_id"] == order["id"]


def test_a_dropped_recurring_response_still_charged(client, customer, rzp_sandbox):
    token_id = saved_card(client, rzp_sandbox, customer)
    order = client.order.create({"amount": 100, "currency": "INR"})
    SandboxFault.objects.create(gateway="razorpay", kind=SandboxFault.Kind.DROP_RESPONSE,
                                match="payments.create_recurring")  # fmt: skip

    with pytest.raises(requests.exceptions.ConnectionError):
        client.payment.createRecurring(charge_body(order, customer, token_id))
    assert client.order.fetch(order["id"])["status"] == "paid"


# --- deleting tokens ------------------------------------------------------------------------------


def test_a_deleted_token_is_gone(client, customer, rzp_sandbox):
    token_id = saved_card(client, rzp_sandbox, customer)

    assert client.token.delete(customer["id"], token_id) == {"deleted": True}

    with pytest.raises(BadRequest, match="The id provided does not exist"):
        client.token.fetch(customer["id"], token_id)
    with pytest.raises(BadRequest, match="The id provided does not exist"):
        client.token.delete(customer["id"], token_id)
    assert client.token.all(customer["id"])["count"] == 0
    order = client.order.create({"amount": 100, "currency": "INR"})
    with pytest.raises(BadRequest, match="The id provided does not exist"):
        client.payment.createRecurring(charge_body(order, customer, token_id))
    assert saved_card(client, rzp_sandbox, customer) != token_id  # saving the card again: a new token


def test_saved_cards_keep_no_card_number(client, customer, rzp_sandbox):
    from tests.test_zz_no_card_data import database_dump

    saved_card(client, rzp_sandbox, customer)
    saved_card(client, rzp_sandbox, customer, number=MASTERCARD_OK)

    dump = database_dump()
    assert "sandbox_rzptoken" in dump
    assert VISA_OK not in dump and MASTERCARD_OK not in dump
