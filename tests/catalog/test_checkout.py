"""Razorpay checkout end to end: our API, the razorpay SDK and the sandbox over real HTTP."""

from __future__ import annotations

import json
import uuid
from datetime import timedelta
from typing import Any

import pytest
import razorpay
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.catalog.models import CheckoutOrder, Entitlement
from apps.catalog.services import checkout_reconcile
from apps.events.models import Event
from apps.gateways.razorpay import webhook_signature
from apps.payments.models import GatewayTransaction, Payment, PaymentStatus
from apps.webhooks.models import IncomingWebhook
from apps.webhooks.services import incoming_webhook_process
from tests.catalog.helpers import DECLINED_CARD, handler_response, pay, sign, start, verify


def sdk(account: Any) -> razorpay.Client:
    from django.conf import settings

    credentials = account.credentials()
    return razorpay.Client(auth=(credentials["key_id"], credentials["key_secret"]),
                           base_url=settings.RAZORPAY_TEST_API_BASE)  # fmt: skip


def razorpay_webhook(client: Any, account: Any, event: str, payment: dict[str, Any], *, event_id: str = "") -> Any:
    body = json.dumps({
        "entity": "event", "account_id": "acc_test", "event": event, "contains": ["payment"],
        "payload": {"payment": {"entity": payment}}, "created_at": int(timezone.now().timestamp()),
    }).encode()  # fmt: skip
    return client.post(
        f"/webhooks/razorpay/{account.public_id}",
        body,
        content_type="application/json",
        HTTP_X_RAZORPAY_SIGNATURE=webhook_signature(body, account.credentials()["webhook_secret"]),
        HTTP_X_RAZORPAY_EVENT_ID=event_id or f"evt_{uuid.uuid4().hex[:14]}",
    )


def process_all() -> None:
    for pk in IncomingWebhook.objects.filter(status=IncomingWebhook.Status.RECEIVED).values_list("pk", flat=True):
        incoming_webhook_process(webhook_id=pk)


def test_an_order_takes_its_amount_from_the_price_and_exists_at_razorpay(publishable, price, rzp_account):
    tampered = start(publishable, price, quantity=2, amount=1)  # a browser does not set the amount
    assert tampered.status_code == 400 and tampered.json()["error"]["code"] == "parameter_unknown"
    assert tampered.json()["error"]["param"] == "amount"
    response = start(publishable, price, quantity=2)
    assert response.status_code == 201, response.content
    order = response.json()
    assert order["amount"] == 99_800 and order["currency"] == "INR" and order["status"] == "open"
    assert order["razorpay"]["key"] == rzp_account.credentials()["key_id"]
    remote = sdk(rzp_account).order.fetch(order["razorpay"]["order_id"])
    assert remote["amount"] == 99_800 and remote["status"] == "created"
    payment = Payment.objects.get(public_id=order["payment"])
    assert payment.status == PaymentStatus.PENDING and payment.gateway_order_id == remote["id"]
    call = GatewayTransaction.objects.get(payment=payment)
    assert call.kind == "order" and call.status == "succeeded" and remote["receipt"] == call.reference


def test_paying_and_verifying_captures_once_and_grants_the_entitlement(publishable, price, rzp_account):
    order = start(publishable, price).json()
    result = pay(order)
    assert result.ok

    first = verify(publishable, handler_response(result))
    again = verify(publishable, handler_response(result))

    assert first.status_code == 200, first.content
    assert first.json()["status"] == "completed" and first.json()["entitled"] is True
    assert again.json()["status"] == "completed"
    payment = Payment.objects.get(public_id=order["payment"])
    assert payment.status == PaymentStatus.CAPTURED and payment.amount_captured == 49_900
    assert payment.gateway_transaction_id == result.payment_id
    assert Entitlement.objects.filter(checkout_order__public_id=order["id"]).count() == 1
    events = list(Event.objects.filter(object_id__in=[order["id"], payment.public_id]).values_list("type", flat=True))
    assert sorted(events) == ["checkout.completed", "payment.captured"]


def test_an_authorized_payment_is_captured_by_verify(publishable, price, rzp_account, settings):
    settings.RAZORPAY_AUTO_CAPTURE = False
    order = start(publishable, price).json()
    result = pay(order)
    assert sdk(rzp_account).payment.fetch(result.payment_id)["status"] == "authorized"

    response = verify(publishable, handler_response(result))

    assert response.json()["status"] == "completed"
    assert sdk(rzp_account).payment.fetch(result.payment_id)["status"] == "captured"
    payment = Payment.objects.get(public_id=order["payment"])
    assert list(payment.gateway_transactions.values_list("kind", "status")) == [
        ("order", "succeeded"),
        ("capture", "succeeded"),
    ]


def test_a_bad_signature_changes_nothing(publishable, price, rzp_account):
    order = start(publishable, price).json()
    result = pay(order)
    tampered = {**handler_response(result), "razorpay_signature": "0" * 64}
    audit_before = AuditEvent.objects.count()

    response = verify(publishable, tampered)

    assert response.status_code == 400 and response.json()["error"]["code"] == "signature_invalid"
    payment = Payment.objects.get(public_id=order["payment"])
    assert payment.status == PaymentStatus.PENDING and not Entitlement.objects.exists()
    assert AuditEvent.objects.count() == audit_before


def test_a_validly_signed_payment_of_another_order_is_refused(publishable, price, rzp_account):
    first, second = start(publishable, price).json(), start(publishable, price, quantity=2).json()
    paid_second = pay(second)
    secret = rzp_account.credentials()["key_secret"]
    forged = {
        "razorpay_order_id": first["razorpay"]["order_id"],
        "razorpay_payment_id": paid_second.payment_id,
        "razorpay_signature": sign(secret, first["razorpay"]["order_id"], paid_second.payment_id),
    }

    response = verify(publishable, forged)

    assert response.status_code == 400 and response.json()["error"]["code"] == "payment_mismatch"
    assert Payment.objects.get(public_id=first["payment"]).status == PaymentStatus.PENDING


def test_a_failed_card_grants_nothing_and_the_unpaid_order_expires(client, publishable, price, rzp_account):
    order = start(publishable, price).json()
    result = pay(order, DECLINED_CARD)
    assert not result.ok and result.error["code"] == "BAD_REQUEST_ERROR"
    failed = sdk(rzp_account).order.payments(order["razorpay"]["order_id"])["items"][0]
    assert failed["status"] == "failed"

    razorpay_webhook(client, rzp_account, "payment.failed", failed)
    process_all()

    payment = Payment.objects.get(public_id=order["payment"])
    assert payment.status == PaymentStatus.PENDING and payment.failure_code  # may still be paid by another card
    counts = checkout_reconcile(now=timezone.now() + timedelta(hours=1))
    payment.refresh_from_db()
    assert counts["expired"] == 1 and payment.status == PaymentStatus.EXPIRED
    assert not Entitlement.objects.exists()


def test_a_webhook_alone_completes_the_checkout_and_its_duplicate_does_nothing(client, publishable, price, rzp_account):
    order = start(publishable, price).json()
    result = pay(order)
    captured = sdk(rzp_account).payment.fetch(result.payment_id)

    for _ in range(2):
        assert (
            razorpay_webhook(client, rzp_account, "payment.captured", captured, event_id="evt_same00000001").status_code
            == 200
        )
    process_all()

    assert IncomingWebhook.objects.filter(event_id="evt_same00000001").count() == 1
    webhook = IncomingWebhook.objects.get()
    assert webhook.status == IncomingWebhook.Status.PROCESSED, webhook.last_error
    assert CheckoutOrder.objects.get(public_id=order["id"]).completed_at is not None
    assert verify(publishable, handler_response(result)).json()["status"] == "completed"
    assert Entitlement.objects.count() == 1


def test_a_webhook_about_an_order_we_do_not_know_is_kept(client, rzp_account):
    stranger = {"id": "pay_unknown000001", "order_id": "order_unknown00001", "amount": 100, "currency": "INR",
                "status": "captured"}  # fmt: skip
    razorpay_webhook(client, rzp_account, "payment.captured", stranger)
    process_all()
    assert IncomingWebhook.objects.get().status == IncomingWebhook.Status.UNMATCHED


def test_the_reconciler_finishes_a_payment_whose_verify_was_lost(publishable, price, rzp_account):
    order = start(publishable, price).json()
    pay(order)  # the browser closed before calling verify; no webhook arrives either

    assert checkout_reconcile()["checked"] == 0  # too fresh to chase yet
    counts = checkout_reconcile(now=timezone.now() + timedelta(minutes=5))
    again = checkout_reconcile(now=timezone.now() + timedelta(minutes=6))

    assert counts["completed"] == 1 and again["checked"] == 0
    assert Payment.objects.get(public_id=order["payment"]).status == PaymentStatus.CAPTURED
    assert Entitlement.objects.count() == 1


def test_verify_without_the_gateway_leaves_the_payment_pending(publishable, price, rzp_account, settings):
    order = start(publishable, price).json()
    result = pay(order)
    working = settings.RAZORPAY_TEST_API_BASE
    settings.RAZORPAY_TEST_API_BASE = "http://127.0.0.1:9"  # nothing listens there

    response = verify(publishable, handler_response(result))

    assert response.status_code == 503 and response.json()["error"]["code"] == "gateway_unavailable"
    assert Payment.objects.get(public_id=order["payment"]).status == PaymentStatus.PENDING
    settings.RAZORPAY_TEST_API_BASE = working
    assert checkout_reconcile(now=timezone.now() + timedelta(minutes=5))["completed"] == 1


def test_an_order_the_gateway_cannot_create_fails_the_payment(publishable, price, rzp_account, settings):
    settings.RAZORPAY_TEST_API_BASE = "http://127.0.0.1:9"
    response = start(publishable, price)
    assert response.status_code == 503
    payment = Payment.objects.get()
    assert payment.status == PaymentStatus.FAILED and payment.gateway_order_id == ""


def test_a_publishable_key_can_do_nothing_else(publishable, rzp_account):
    assert publishable.get("/api/v1/payments").status_code == 403
    assert publishable.get("/api/v1/events").status_code == 403
    assert publishable.get("/api/v1/catalog/products").status_code == 200


def test_the_catalogue_lists_active_prices(publishable, price):
    products = publishable.get("/api/v1/catalog/products").json()["data"]
    assert products == [{"id": price.product.public_id, "name": "Annual pass", "description": "A year of everything",
                         "prices": [{"id": price.public_id, "nickname": "yearly", "amount": 49_900,
                                     "currency": "INR"}]}]  # fmt: skip


@pytest.mark.parametrize(
    ("body", "code"),
    [
        ({"price": "price_nope"}, "resource_missing"),
        ({"quantity": 0}, "parameter_invalid"),
        ({"quantity": 101}, "parameter_invalid"),
    ],
)
def test_bad_checkout_input_changes_nothing(publishable, price, rzp_account, body, code):
    response = publishable.post("/api/v1/checkout/razorpay/orders", {"price": price.public_id, **body}, format="json")
    assert response.status_code in {400, 404} and response.json()["error"]["code"] == code
    assert not Payment.objects.exists()


def test_a_signature_whose_digits_pass_luhn_reaches_the_signature_check(publishable, price, rzp_account):
    """About one Checkout signature in a hundred holds a 13-19 digit run that passes Luhn: it is a
    digest, not a card number typed in, and is checked as a signature like any other."""
    order = start(publishable, price).json()
    result = pay(order)
    lookalike = {
        **handler_response(result),
        "razorpay_signature": "1fe59c05426f879fe68e1270a1d4cd2784547072441460a4d77ba307b0f02fb6",
    }

    response = verify(publishable, lookalike)

    assert response.status_code == 400 and response.json()["error"]["code"] == "signature_invalid"
