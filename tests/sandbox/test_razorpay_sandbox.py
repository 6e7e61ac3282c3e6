"""The Razorpay sandbox's REST API, driven by the official SDK over real HTTP."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest
import razorpay
import requests
from django.conf import settings

from apps.sandbox.models import RzpOrder, RzpPayment, RzpRefund, SandboxFault
from apps.sandbox.services import rzp_account_create
from tests.sandbox.razorpay_helpers import pay, sdk_client

pytestmark = pytest.mark.django_db(transaction=True)

BadRequest = razorpay.errors.BadRequestError


@pytest.fixture
def client(rzp_sandbox):
    return sdk_client(rzp_sandbox)


def make_order(client, amount=5000, **extra):
    return client.order.create({"amount": amount, "currency": "INR", **extra})


def fault(kind, value=0, match="", remaining=1):
    return SandboxFault.objects.create(gateway="razorpay", kind=kind, value=value, match=match, remaining=remaining)


# --- accounts and auth ----------------------------------------------------------------------------


def test_an_account_has_a_test_key_pair():
    account = rzp_account_create()

    assert account.key_id.startswith("rzp_test_") and len(account.key_id) == len("rzp_test_") + 14
    assert account.key_id[9:].isalnum() and len(account.key_secret) == 24
    assert account.account_id.startswith("acc_") and len(account.account_id) == 18


def test_bad_credentials_get_the_minimal_401(rzp_sandbox):
    client = sdk_client(rzp_sandbox, secret="wrong")

    with pytest.raises(BadRequest, match="Authentication failed"):
        client.order.create({"amount": 5000, "currency": "INR"})
    response = requests.get(f"{settings.RAZORPAY_TEST_API_BASE}/v1/orders", auth=("rzp_test_nobody", "x"), timeout=5)
    assert response.status_code == 401
    assert response.json() == {"error": {"code": "BAD_REQUEST_ERROR", "description": "Authentication failed"}}
    assert not RzpOrder.objects.exists()


@pytest.mark.parametrize(
    ("method", "path"), [("GET", "/v1/nothing"), ("DELETE", "/v1/orders"), ("GET", "/v1/payments")]
)
def test_unknown_routes_and_methods_answer_the_not_found_error(rzp_sandbox, method, path):
    response = requests.request(
        method, f"{settings.RAZORPAY_TEST_API_BASE}{path}", auth=(rzp_sandbox.key_id, rzp_sandbox.key_secret),
        json={}, timeout=5,
    )  # fmt: skip

    assert response.status_code == 400
    error = response.json()["error"]
    assert error["code"] == "BAD_REQUEST_ERROR"
    assert error["description"] == "The requested URL was not found on the server."
    assert set(error) == {"code", "description", "field", "source", "step", "reason", "metadata"}


# --- orders ---------------------------------------------------------------------------------------


def test_an_order_is_created_and_fetched(client):
    order = client.order.create(
        {
            "amount": 50000,
            "currency": "INR",
            "receipt": "rcpt-1",
            "notes": {"cart": "42"},
            "payment": {"capture": "manual"},
        }
    )

    assert order["id"].startswith("order_") and len(order["id"]) == 20
    assert order == {
        "id": order["id"], "entity": "order", "amount": 50000, "amount_paid": 0, "amount_due": 50000,
        "currency": "INR", "receipt": "rcpt-1", "offer_id": None, "status": "created", "attempts": 0,
        "notes": {"cart": "42"}, "created_at": order["created_at"],
    }  # fmt: skip
    assert isinstance(order["created_at"], int) and abs(order["created_at"] - datetime.now(UTC).timestamp()) < 60
    assert client.order.fetch(order["id"]) == order
    assert RzpOrder.objects.get(rzp_id=order["id"]).payment_capture == "manual"
    assert client.order.payments(order["id"]) == {"entity": "collection", "count": 0, "items": []}


def test_empty_notes_come_back_as_an_empty_list_as_the_real_api_renders_them(client):
    assert make_order(client)["notes"] == []


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"amount": 99, "currency": "INR"}, "The amount must be at least INR 1.00"),
        ({"amount": 100.5, "currency": "INR"}, "The amount must be an integer."),
        ({"amount": "ten", "currency": "INR"}, "The amount must be an integer."),
        ({"amount": True, "currency": "INR"}, "The amount must be an integer."),
        ({"currency": "INR"}, "The amount field is required."),
        ({"amount": 5000, "currency": "XYZ"}, "Currency is not supported"),
        (
            {"amount": 5000, "currency": "INR", "receipt": "r" * 41},
            "The receipt may not be greater than 40 characters.",
        ),
        (
            {"amount": 5000, "currency": "INR", "notes": {f"k{i}": "v" for i in range(16)}},
            "Number of fields in notes should be less than or equal to 15",
        ),
        ({"amount": 5000, "currency": "INR", "colour": "red"}, "colour is/are not required and should not be sent"),
        (
            {"amount": 5000, "currency": "INR", "payment": {"capture": "later"}},
            "The selected payment.capture is invalid.",
        ),
    ],
)
def test_an_invalid_order_is_refused_and_nothing_is_created(client, body, message):
    with pytest.raises(BadRequest) as raised:
        client.order.create(body)

    assert str(raised.value) == message
    assert not RzpOrder.objects.exists()


def test_the_validation_error_names_the_field(rzp_sandbox):
    response = requests.post(
        f"{settings.RAZORPAY_TEST_API_BASE}/v1/orders", auth=(rzp_sandbox.key_id, rzp_sandbox.key_secret),
        json={"amount": 10, "currency": "INR"}, timeout=5,
    )  # fmt: skip

    assert response.status_code == 400
    assert response.json()["error"] | {"metadata": None} == {
        "code": "BAD_REQUEST_ERROR", "description": "The amount must be at least INR 1.00", "field": "amount",
        "source": "business", "step": "payment_initiation", "reason": "input_validation_failed", "metadata": None,
    }  # fmt: skip


def test_orders_are_listed_newest_first_with_filters(client, rzp_sandbox):
    ids = [make_order(client, 1000 + i, receipt=f"r{i % 2}")["id"] for i in range(5)]
    for day, order_id in enumerate(ids, start=1):
        RzpOrder.objects.filter(rzp_id=order_id).update(created_at=datetime(2026, 3, day, 12, tzinfo=UTC))
    other = sdk_client(rzp_account_create())
    make_order(other)

    listed = client.order.all()
    assert listed["entity"] == "collection" and listed["count"] == 5
    assert [item["id"] for item in listed["items"]] == ids[::-1]
    assert [item["id"] for item in client.order.all({"count": 2, "skip": 1})["items"]] == [ids[3], ids[2]]
    assert [item["id"] for item in client.order.all({"receipt": "r1"})["items"]] == [ids[3], ids[1]]
    since = int(datetime(2026, 3, 2, tzinfo=UTC).timestamp())
    until = int(datetime(2026, 3, 4, tzinfo=UTC).timestamp())
    assert [item["id"] for item in client.order.all({"from": since, "to": until})["items"]] == [ids[2], ids[1]]
    with pytest.raises(BadRequest, match="count"):
        client.order.all({"count": 101})


@pytest.mark.parametrize(
    "call",
    [
        lambda c: c.order.fetch("order_DoesNotExist01"),
        lambda c: c.order.payments("order_DoesNotExist01"),
        lambda c: c.payment.fetch("pay_DoesNotExist0001"),
        lambda c: c.payment.capture("pay_DoesNotExist0001", 5000, {"currency": "INR"}),
        lambda c: c.payment.refund("pay_DoesNotExist0001", {"amount": 100}),
        lambda c: c.payment.fetch_multiple_refund("pay_DoesNotExist0001"),
        lambda c: c.refund.fetch("rfnd_DoesNotExist001"),
    ],
)
def test_unknown_ids_do_not_exist(client, call):
    with pytest.raises(BadRequest, match=r"^The id provided does not exist$"):
        call(client)


def test_another_accounts_order_does_not_exist_for_you(client):
    theirs = make_order(sdk_client(rzp_account_create()))

    with pytest.raises(BadRequest, match="The id provided does not exist"):
        client.order.fetch(theirs["id"])


# --- payments -------------------------------------------------------------------------------------


def test_a_manually_captured_payment_is_captured_once_for_its_full_amount(client, rzp_sandbox):
    order = make_order(client, 50000, payment={"capture": "manual"})
    paid = pay(rzp_sandbox, order["id"])
    payment = client.payment.fetch(paid.payment_id)
    assert (payment["status"], payment["captured"], payment["fee"], payment["tax"]) == ("authorized", False, None, None)
    assert client.order.fetch(order["id"])["status"] == "attempted"

    with pytest.raises(BadRequest, match=r"^Capture amount must be equal to the amount authorized$"):
        client.payment.capture(paid.payment_id, 40000, {"currency": "INR"})
    assert client.payment.fetch(paid.payment_id)["status"] == "authorized"

    captured = client.payment.capture(paid.payment_id, 50000, {"currency": "INR"})
    assert (captured["status"], captured["captured"], captured["amount"]) == ("captured", True, 50000)
    assert (captured["fee"], captured["tax"]) == (1180, 180)  # 2 % + 18 % GST on it, in paise
    order_now = client.order.fetch(order["id"])
    assert (order_now["status"], order_now["amount_paid"], order_now["amount_due"], order_now["attempts"]) == (
        "paid",
        50000,
        0,
        1,
    )
    assert client.order.payments(order["id"])["items"] == [client.payment.fetch(paid.payment_id)]

    with pytest.raises(BadRequest, match=r"^This payment has already been captured$"):
        client.payment.capture(paid.payment_id, 50000, {"currency": "INR"})


@pytest.mark.parametrize(("value", "capture"), [(0, "manual"), (1, "automatic"), ("0", "manual"), (True, "automatic")])
def test_the_documented_payment_capture_flag_chooses_the_capture(client, value, capture):
    order = make_order(client, payment_capture=value)

    assert RzpOrder.objects.get(rzp_id=order["id"]).payment_capture == capture


def test_a_bad_payment_capture_flag_is_refused(client):
    with pytest.raises(BadRequest, match="payment capture field must be 0 or 1"):
        make_order(client, payment_capture="later")
    assert not RzpOrder.objects.exists()


def test_the_card_object_comes_only_when_expanded(client, rzp_sandbox):
    order = make_order(client)
    paid = pay(rzp_sandbox, order["id"])

    plain = client.payment.fetch(paid.payment_id)
    expanded = client.payment.fetch(paid.payment_id, {"expand[]": "card"})
    assert "card" not in plain and plain["card_id"] == expanded["card"]["id"]
    assert (expanded["card"]["last4"], expanded["card"]["entity"]) == ("1007", "card")
    assert "card" not in client.order.payments(order["id"])["items"][0]
    assert client.order.payments(order["id"], {"expand[]": "card"})["items"][0]["card"]["last4"] == "1007"


def test_a_failed_payment_cannot_be_captured_or_refunded(client, rzp_sandbox):
    order = make_order(client, payment={"capture": "manual"})
    failed = pay(rzp_sandbox, order["id"], "4100280000060003")

    with pytest.raises(BadRequest, match="authorized and not yet captured"):
        client.payment.capture(failed.payment_id, 5000, {"currency": "INR"})
    with pytest.raises(BadRequest, match="not been captured"):
        client.payment.refund(failed.payment_id, {"amount": 100})
    assert client.payment.fetch(failed.payment_id)["status"] == "failed"


def test_capture_refuses_another_currency(client, rzp_sandbox):
    order = make_order(client, payment={"capture": "manual"})
    paid = pay(rzp_sandbox, order["id"])

    with pytest.raises(BadRequest, match="currency"):
        client.payment.capture(paid.payment_id, 5000, {"currency": "USD"})


# --- refunds --------------------------------------------------------------------------------------


def test_partial_then_full_refunds(client, rzp_sandbox):
    order = make_order(client, 10000)
    paid = pay(rzp_sandbox, order["id"])

    first = client.payment.refund(paid.payment_id, {"amount": 3000, "notes": {"why": "damaged"}, "receipt": "rf-1"})
    assert first["id"].startswith("rfnd_") and len(first["id"]) == 19
    assert first == {
        "id": first["id"], "entity": "refund", "amount": 3000, "currency": "INR", "payment_id": paid.payment_id,
        "notes": {"why": "damaged"}, "receipt": "rf-1", "acquirer_data": {"arn": None}, "created_at": first["created_at"],
        "batch_id": None, "status": "processed", "speed_processed": "normal", "speed_requested": "normal",
    }  # fmt: skip
    payment = client.payment.fetch(paid.payment_id)
    assert (payment["status"], payment["amount_refunded"], payment["refund_status"]) == ("captured", 3000, "partial")

    with pytest.raises(BadRequest, match=r"^The refund amount provided is greater than amount captured\.$"):
        client.payment.refund(paid.payment_id, {"amount": 7001})
    assert RzpRefund.objects.count() == 1

    rest = client.payment.refund(paid.payment_id, {"speed": "optimum"})  # no amount: what is left
    assert (rest["amount"], rest["speed_requested"], rest["speed_processed"]) == (7000, "optimum", "instant")
    payment = client.payment.fetch(paid.payment_id)
    assert (payment["status"], payment["amount_refunded"], payment["refund_status"]) == ("refunded", 10000, "full")
    assert client.order.fetch(order["id"])["status"] == "paid"  # an order stays paid

    with pytest.raises(BadRequest, match="fully refunded"):
        client.payment.refund(paid.payment_id, {"amount": 100})

    refunds = client.payment.fetch_multiple_refund(paid.payment_id)
    assert [item["id"] for item in refunds["items"]] == [rest["id"], first["id"]]
    assert client.refund.fetch(first["id"]) == first
    assert client.payment.fetch_refund_id(paid.payment_id, first["id"]) == first


def test_refunds_are_listed_for_the_account(client, rzp_sandbox):
    ids = []
    for _ in range(3):
        paid = pay(rzp_sandbox, make_order(client, 1000)["id"])
        ids.append(client.payment.refund(paid.payment_id, {"amount": 500})["id"])
    make_order(sdk_client(rzp_account_create()))

    assert client.refund.all()["count"] == 3
    assert [item["id"] for item in client.refund.all({"count": 2, "skip": 1})["items"]] == [ids[1], ids[0]]


@pytest.mark.parametrize(
    ("body", "message"),
    [
        ({"amount": 10.5}, "The amount must be an integer."),
        ({"amount": 100, "speed": "warp"}, "The selected speed is invalid."),
        ({"amount": 100, "reason": "x"}, "reason is/are not required and should not be sent"),
    ],
)
def test_an_invalid_refund_changes_nothing(client, rzp_sandbox, body, message):
    paid = pay(rzp_sandbox, make_order(client)["id"])

    with pytest.raises(BadRequest) as raised:
        client.payment.refund(paid.payment_id, body)

    assert str(raised.value) == message
    assert RzpPayment.objects.get(rzp_id=paid.payment_id).amount_refunded == 0
    assert not RzpRefund.objects.exists()


def test_amounts_are_never_floats_on_the_wire(rzp_sandbox, client):
    order = make_order(client, 12345)
    paid = pay(rzp_sandbox, order["id"])
    client.payment.refund(paid.payment_id, {"amount": 345})
    auth = (rzp_sandbox.key_id, rzp_sandbox.key_secret)
    base = settings.RAZORPAY_TEST_API_BASE

    for path in (f"/v1/orders/{order['id']}", f"/v1/payments/{paid.payment_id}", "/v1/refunds"):
        text = requests.get(f"{base}{path}", auth=auth, timeout=5).text
        assert ".0," not in text and ".0}" not in text
        assert '"amount": 12345' in text or '"amount": 345' in text


# --- faults ---------------------------------------------------------------------------------------


def test_an_http_error_fault_answers_a_json_server_error_without_processing(client):
    fault(SandboxFault.Kind.HTTP_ERROR, 503, match="orders.create")

    with pytest.raises(razorpay.errors.ServerError):
        make_order(client)

    assert not RzpOrder.objects.exists()
    assert make_order(client)["status"] == "created"  # used up


def test_a_fault_only_hits_its_operation(client):
    fault(SandboxFault.Kind.HTTP_ERROR, 500, match="orders.fetch")
    order = make_order(client)

    with pytest.raises(razorpay.errors.ServerError):
        client.order.fetch(order["id"])
    assert client.order.fetch(order["id"])["id"] == order["id"]


def test_a_reset_fault_drops_the_connection_before_processing(client):
    fault(SandboxFault.Kind.RESET, match="orders.create")

    with pytest.raises(requests.exceptions.ConnectionError):
        make_order(client)
    assert not RzpOrder.objects.exists()


def test_a_dropped_response_still_did_the_work(client, rzp_sandbox):
    paid = pay(rzp_sandbox, make_order(client)["id"])
    fault(SandboxFault.Kind.DROP_RESPONSE, match="payments.refund")

    with pytest.raises(requests.exceptions.ConnectionError):
        client.payment.refund(paid.payment_id, {"amount": 100})

    assert client.payment.fetch(paid.payment_id)["amount_refunded"] == 100


def test_latency_and_hang_faults_slow_the_answer_down(client):
    fault(SandboxFault.Kind.LATENCY, 300, match="orders.all")
    fault(SandboxFault.Kind.HANG_AFTER, 300, match="orders.create")

    with pytest.raises(requests.exceptions.Timeout):
        client.order.create({"amount": 5000, "currency": "INR"}, timeout=0.1)
    assert RzpOrder.objects.count() == 1  # processed, the answer came too late
    with pytest.raises(requests.exceptions.Timeout):
        client.order.all(timeout=0.1)
