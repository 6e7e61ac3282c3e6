"""Razorpay payments go through the same /payments endpoints as Authorize.Net ones, same rules."""

from __future__ import annotations

from datetime import timedelta

from django.utils import timezone

from apps.catalog.services import checkout_reconcile
from apps.payments.models import GatewayTransaction, Payment, PaymentStatus, Refund
from apps.payments.services import gateway_transaction_resolve
from tests.catalog.helpers import handler_response, pay, start, verify
from tests.payments.helpers import confirm_action


def test_capture_void_and_refund_of_a_razorpay_payment(api, publishable, price, rzp_account, settings, sandbox_fault):
    settings.RAZORPAY_AUTO_CAPTURE = False
    order = start(publishable, price).json()
    result = pay(order)
    sandbox_fault("http_error", value=503, match="payments.capture", gateway="razorpay")

    # Verify's capture gets no clear answer: the payment is authorized, the capture unknown.
    response = verify(publishable, handler_response(result))
    assert response.status_code == 200 and response.json()["status"] == "open"
    capture_call = GatewayTransaction.objects.get(kind="capture")
    assert capture_call.status == "unknown"
    # Not captured at the gateway yet: within the grace it may still be under way, so it stays open.
    assert not gateway_transaction_resolve(gateway_transaction_id=capture_call.pk)
    assert Payment.objects.get(public_id=order["payment"]).operation != ""
    settings.GATEWAY_NOT_FOUND_GRACE_SECONDS = 0
    assert gateway_transaction_resolve(gateway_transaction_id=capture_call.pk)  # it did not happen
    payment = Payment.objects.get(public_id=order["payment"])
    assert payment.status == PaymentStatus.AUTHORIZED and payment.operation == ""

    partial = api.post(f"/api/v1/payments/{payment.public_id}/capture", {"amount": 100}, format="json")
    assert partial.status_code == 400 and partial.json()["error"]["code"] == "partial_capture_not_supported"
    captured = api.post(f"/api/v1/payments/{payment.public_id}/capture", {}, format="json")
    assert captured.status_code == 200 and captured.json()["status"] == "captured"
    assert checkout_reconcile(now=timezone.now() + timedelta(minutes=5))["completed"] == 1

    void = api.post(f"/api/v1/payments/{payment.public_id}/void", {}, format="json")
    assert void.status_code == 409 and void.json()["error"]["code"] == "void_not_supported"

    refund = api.post(f"/api/v1/payments/{payment.public_id}/refunds", {"amount": 10_000}, format="json")
    assert refund.status_code == 201, refund.content
    assert refund.json()["status"] == "succeeded"
    stored = Refund.objects.get()
    assert stored.gateway_transaction_id.startswith("rfnd_")
    payment.refresh_from_db()
    assert (payment.status, payment.amount_refunded) == (PaymentStatus.PARTIALLY_REFUNDED, 10_000)
    over = api.post(f"/api/v1/payments/{payment.public_id}/refunds", {"amount": 49_900}, format="json")
    assert over.status_code == 400


def test_finance_refunds_a_razorpay_payment_in_the_admin(publishable, price, rzp_account, staff_client):
    from apps.accounts import roles

    order = start(publishable, price).json()
    verify(publishable, handler_response(pay(order)))
    payment = Payment.objects.get(public_id=order["payment"])
    approver = staff_client(roles.FINANCE_APPROVER)

    confirm_action(approver, f"/admin/payments/payment/{payment.pk}/refund/", {"amount": "", "reason": "returned"})

    assert Refund.objects.get().status == "succeeded"
    payment.refresh_from_db()
    assert (payment.status, payment.amount_refunded) == (PaymentStatus.REFUNDED, 49_900)


def test_refund_webhooks_sync_the_payment_they_belong_to(client, api, publishable, price, rzp_account):
    import json
    import uuid

    from apps.gateways.razorpay import webhook_signature
    from apps.webhooks.models import IncomingWebhook
    from tests.catalog.test_checkout import process_all

    order = start(publishable, price).json()
    result = pay(order)
    verify(publishable, handler_response(result))
    payment = Payment.objects.get(public_id=order["payment"])
    api.post(f"/api/v1/payments/{payment.public_id}/refunds", {"amount": 5_000}, format="json")
    refund = Refund.objects.get()

    def notify(refund_entity: dict) -> None:
        body = json.dumps({"entity": "event", "event": "refund.processed", "contains": ["refund", "payment"],
                           "payload": {"refund": {"entity": refund_entity}}, "created_at": 1}).encode()  # fmt: skip
        client.post(f"/webhooks/razorpay/{rzp_account.public_id}", body, content_type="application/json",
                    HTTP_X_RAZORPAY_SIGNATURE=webhook_signature(body, rzp_account.credentials()["webhook_secret"]),
                    HTTP_X_RAZORPAY_EVENT_ID=f"evt_{uuid.uuid4().hex[:14]}")  # fmt: skip

    notify({"id": refund.gateway_transaction_id, "payment_id": result.payment_id, "amount": 5_000})
    notify({"id": "rfnd_stranger00000", "payment_id": "pay_stranger000000", "amount": 100})
    process_all()

    statuses = sorted(IncomingWebhook.objects.values_list("status", flat=True))
    assert statuses == ["processed", "unmatched"]
    payment.refresh_from_db()
    assert payment.amount_refunded == 5_000  # unchanged: the webhook is a hint, the state was already right
