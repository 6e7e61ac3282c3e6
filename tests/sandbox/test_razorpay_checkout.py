"""The Razorpay sandbox's Checkout stand-in: the card form's endpoint, test cards and signatures."""

from __future__ import annotations

import pytest
import razorpay
import requests
from django.conf import settings

from apps.core.cards import luhn_valid
from apps.sandbox.models import RzpOrder, RzpPayment
from apps.sandbox.razorpay.cards import FAILURE_CARDS
from apps.sandbox.razorpay.services import rzp_checkout_pay
from apps.sandbox.services import rzp_account_create
from tests.sandbox.razorpay_helpers import VISA_OK, pay, sdk_client

SUCCESS_CARDS = {
    "4100280000001007": "Visa",
    "5500670000001002": "MasterCard",
    "6527658900001005": "RuPay",
    "36082800091007": "Diners Club",
    "340256000401007": "American Express",
    "5555555555554444": "MasterCard",
    "4012888888881881": "Visa",
    "4111111111111111": "Visa",  # any other Luhn-valid card succeeds
}
INTERNATIONAL = {"5555555555554444", "4012888888881881"}


@pytest.fixture
def client(rzp_sandbox):
    return sdk_client(rzp_sandbox)


def verify(client, result) -> bool:
    return client.utility.verify_payment_signature(
        {"razorpay_order_id": result.order_id, "razorpay_payment_id": result.payment_id,
         "razorpay_signature": result.signature}
    )  # fmt: skip


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize(("number", "network"), SUCCESS_CARDS.items())
def test_a_success_card_pays_an_automatically_captured_order(client, rzp_sandbox, number, network):
    order = client.order.create({"amount": 2500, "currency": "INR", "notes": {"cart": "7"}})

    result = pay(rzp_sandbox, order["id"], number, email="ada@example.com", contact="+919900000000", name="Ada L")

    assert result.ok and result.error == {} and result.order_id == order["id"]
    assert result.payment_id.startswith("pay_") and len(result.payment_id) == 18
    assert verify(client, result) is True
    payment = client.payment.fetch(result.payment_id, {"expand[]": "card"})
    assert payment["status"] == "captured" and payment["captured"] is True and payment["method"] == "card"
    assert (payment["amount"], payment["currency"], payment["order_id"]) == (2500, "INR", order["id"])
    assert payment["card"]["network"] == network and payment["card"]["last4"] == number[-4:]
    assert payment["international"] is (number in INTERNATIONAL)
    assert (payment["email"], payment["contact"], payment["notes"]) == (
        "ada@example.com",
        "+919900000000",
        {"cart": "7"},
    )
    assert payment["error_code"] is None and (payment["fee"], payment["tax"]) == (59, 9)
    order_now = client.order.fetch(order["id"])
    assert (order_now["status"], order_now["amount_paid"], order_now["attempts"]) == ("paid", 2500, 1)


@pytest.mark.django_db(transaction=True)
def test_a_forged_signature_is_rejected_by_the_sdk(client, rzp_sandbox):
    result = pay(rzp_sandbox, client.order.create({"amount": 2500, "currency": "INR"})["id"])

    with pytest.raises(razorpay.errors.SignatureVerificationError):
        client.utility.verify_payment_signature(
            {"razorpay_order_id": result.order_id, "razorpay_payment_id": result.payment_id,
             "razorpay_signature": "0" * 64}
        )  # fmt: skip


@pytest.mark.django_db(transaction=True)
def test_a_manual_capture_order_stays_authorized(client, rzp_sandbox):
    order = client.order.create({"amount": 2500, "currency": "INR", "payment": {"capture": "manual"}})

    result = pay(rzp_sandbox, order["id"])

    assert result.ok and verify(client, result)
    payment = client.payment.fetch(result.payment_id)
    assert (payment["status"], payment["captured"]) == ("authorized", False)
    assert payment["acquirer_data"]["auth_code"].isdigit()
    order_now = client.order.fetch(order["id"])
    assert (order_now["status"], order_now["amount_paid"], order_now["attempts"]) == ("attempted", 0, 1)


@pytest.mark.django_db(transaction=True)
@pytest.mark.parametrize("number", sorted(FAILURE_CARDS))
def test_a_failure_card_fails_the_payment_with_its_documented_error(client, rzp_sandbox, number):
    expected = FAILURE_CARDS[number]
    order = client.order.create({"amount": 2500, "currency": "INR"})

    result = pay(rzp_sandbox, order["id"], number)

    assert not result.ok and result.signature is None
    assert result.error == {
        "code": expected.code, "description": expected.description, "field": None, "source": expected.source,
        "step": expected.step, "reason": expected.reason,
        "metadata": {"order_id": order["id"], "payment_id": result.payment_id},
    }  # fmt: skip
    payment = client.payment.fetch(result.payment_id)
    assert (payment["status"], payment["captured"], payment["fee"]) == ("failed", False, None)
    assert (payment["error_code"], payment["error_reason"]) == (expected.code, expected.reason)
    assert (payment["error_description"], payment["error_source"], payment["error_step"]) == (
        expected.description, expected.source, expected.step,
    )  # fmt: skip
    order_now = client.order.fetch(order["id"])
    assert (order_now["status"], order_now["amount_paid"], order_now["attempts"]) == ("attempted", 0, 1)


def test_the_documented_failure_reasons_and_codes():
    reasons = {card: failure.reason for card, failure in FAILURE_CARDS.items()}
    assert reasons["4100280000080001"] == "insufficient_funds"
    assert reasons["5305620000000006"] == "card_disabled_for_online_payments"
    assert {FAILURE_CARDS[c].code for c in ("4100280000020007", "4100280000000009", "5305620000070009")} == {
        "GATEWAY_ERROR"
    }
    assert FAILURE_CARDS["4100280000010008"].code == "BAD_REQUEST_ERROR"


@pytest.mark.django_db(transaction=True)
def test_after_a_failure_the_order_can_still_be_paid(client, rzp_sandbox):
    order = client.order.create({"amount": 2500, "currency": "INR"})

    assert not pay(rzp_sandbox, order["id"], "5305620000030003").ok
    result = pay(rzp_sandbox, order["id"])

    assert result.ok
    assert client.order.fetch(order["id"])["attempts"] == 2
    assert [p["status"] for p in client.order.payments(order["id"])["items"]] == ["captured", "failed"]


@pytest.mark.django_db
@pytest.mark.parametrize(
    ("card", "reason", "field"),
    [
        ({"card_number": "4100280000001008"}, "input_validation_failed", "card[number]"),  # bad check digit
        ({"card_number": "41002800"}, "input_validation_failed", "card[number]"),
        ({"card_number": "not a card"}, "input_validation_failed", "card[number]"),
        ({"exp_year": 2020}, "card_expired", "card[expiry_year]"),
        ({"exp_month": 13}, "input_validation_failed", "card[expiry_month]"),
        ({"cvv": "12"}, "incorrect_cvv", "card[cvv]"),
    ],
)
def test_an_invalid_or_expired_card_makes_no_payment(card, reason, field):
    account = rzp_account_create()
    order = RzpOrder.objects.create(account=account, rzp_id="order_InvalidCard001", amount=2500, currency="INR")
    values = {"card_number": VISA_OK, "exp_month": 12, "exp_year": 35, "cvv": "123"} | card

    result = rzp_checkout_pay(key_id=account.key_id, order_id=order.rzp_id, **values)

    assert not result.ok and result.payment_id is None
    assert (result.error["code"], result.error["reason"], result.error["field"]) == ("BAD_REQUEST_ERROR", reason, field)
    assert result.error["metadata"] == {"order_id": order.rzp_id}
    assert not RzpPayment.objects.exists()
    order.refresh_from_db()
    assert (order.status, order.attempts) == ("created", 0)


@pytest.mark.django_db
def test_a_paid_order_cannot_be_paid_again():
    account = rzp_account_create()
    order = RzpOrder.objects.create(account=account, rzp_id="order_PaidTwice00001", amount=2500, currency="INR")
    assert pay(account, order.rzp_id).ok

    again = pay(account, order.rzp_id)

    assert not again.ok and again.error["reason"] == "order_already_paid"
    assert RzpPayment.objects.count() == 1


@pytest.mark.django_db
def test_an_unknown_key_or_order_is_refused():
    account = rzp_account_create()
    other = rzp_account_create()
    order = RzpOrder.objects.create(account=account, rzp_id="order_NotYours000001", amount=2500, currency="INR")

    assert pay(other, order.rzp_id).error["description"] == "The id provided does not exist"
    assert (
        "invalid"
        in rzp_checkout_pay(
            key_id="rzp_test_nobody", order_id=order.rzp_id, card_number=VISA_OK, exp_month=1, exp_year=2040, cvv="123"
        ).error["description"]
    )


def test_luhn():
    assert luhn_valid("4111111111111111") and not luhn_valid("4111111111111112")


# --- over HTTP, as checkout.js calls it ------------------------------------------------------------


def checkout_url(path: str) -> str:
    return f"{settings.RAZORPAY_TEST_API_BASE}{path}"


@pytest.mark.django_db(transaction=True)
def test_the_card_form_endpoint_answers_the_handler_values(client, rzp_sandbox):
    order = client.order.create({"amount": 2500, "currency": "INR"})

    response = requests.post(
        checkout_url("/checkout/v1/payments"),
        json={"key_id": rzp_sandbox.key_id, "order_id": order["id"], "email": "a@example.com", "contact": "99",
              "card": {"number": "4100 2800 0000 1007", "expiry_month": "12", "expiry_year": "35", "cvv": "123",
                       "name": "Ada"}},
        timeout=5,
    )  # fmt: skip

    assert response.status_code == 200
    body = response.json()
    assert set(body) == {"razorpay_payment_id", "razorpay_order_id", "razorpay_signature"}
    assert body["razorpay_order_id"] == order["id"]
    assert client.utility.verify_payment_signature(body) is True
    assert client.payment.fetch(body["razorpay_payment_id"], {"expand[]": "card"})["card"]["name"] == "Ada"


@pytest.mark.django_db(transaction=True)
def test_the_card_form_endpoint_answers_the_payment_failed_error(client, rzp_sandbox):
    order = client.order.create({"amount": 2500, "currency": "INR"})
    card = {"number": "4100280000000009", "expiry_month": 12, "expiry_year": 2035, "cvv": "123"}

    response = requests.post(
        checkout_url("/checkout/v1/payments"), json={"key_id": rzp_sandbox.key_id, "order_id": order["id"], "card": card},
        timeout=5,
    )  # fmt: skip
    garbage = requests.post(checkout_url("/checkout/v1/payments"), data=b"{", timeout=5)

    assert response.status_code == 400
    error = response.json()["error"]
    assert (error["code"], error["reason"]) == ("GATEWAY_ERROR", "authentication_failed")
    assert error["metadata"]["order_id"] == order["id"] and error["metadata"]["payment_id"].startswith("pay_")
    assert garbage.status_code == 400 and garbage.json()["error"]["code"] == "BAD_REQUEST_ERROR"


@pytest.mark.django_db(transaction=True)
def test_checkout_js_is_served_as_javascript(rzp_sandbox):
    response = requests.get(checkout_url("/checkout.js"), timeout=5)

    assert response.status_code == 200
    assert response.headers["Content-Type"].startswith("application/javascript")
    script = response.text
    assert "window.Razorpay = Razorpay" in script
    for element_id in ("rzp-card-number", "rzp-card-expiry", "rzp-card-cvv", "rzp-card-name", "rzp-pay",
                       "rzp-close", "rzp-error", "payment.failed", "/checkout/v1/payments"):  # fmt: skip
        assert element_id in script
    assert "http://" not in script.replace("https://checkout.razorpay.com", "")  # no CDN
