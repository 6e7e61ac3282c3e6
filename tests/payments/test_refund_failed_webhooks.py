"""A Razorpay refund accepted (pending: we record it succeeded) that the bank fails later: the
refund.failed webhook undoes ours (refund failed, payment and ledger back, refund.failed
published). Against our Razorpay sandbox through the official SDK; the sandbox processes test
refunds at once, so the test plays the bank by failing the sandbox's refund row."""

from __future__ import annotations

import json
import uuid
from typing import Any

import pytest

from apps.audit.models import AuditEvent
from apps.events.models import Event
from apps.gateways.razorpay import webhook_signature
from apps.ledger.models import AccountKind
from apps.ledger.selectors import account_balance
from apps.payments.models import Payment, PaymentStatus, Refund, RefundStatus
from apps.sandbox.models import RzpRefund
from apps.sandbox.razorpay.entities import payment_entity, refund_entity
from apps.webhooks.models import IncomingWebhook
from tests.catalog.helpers import handler_response, pay, start, verify
from tests.catalog.test_checkout import process_all

pytestmark = pytest.mark.django_db(transaction=True)


def notify(client: Any, account: Any, event: str, refund: RzpRefund) -> None:
    """Razorpay's notification about this refund, as it sends it (refund and payment entities)."""
    payload = {"refund": {"entity": refund_entity(refund)}, "payment": {"entity": payment_entity(refund.payment)}}
    body = json.dumps(
        {"entity": "event", "event": event, "contains": ["refund", "payment"], "payload": payload, "created_at": 1}
    ).encode()
    answer = client.post(
        f"/webhooks/razorpay/{account.public_id}",
        body,
        content_type="application/json",
        HTTP_X_RAZORPAY_SIGNATURE=webhook_signature(body, account.credentials()["webhook_secret"]),
        HTTP_X_RAZORPAY_EVENT_ID=f"evt_{uuid.uuid4().hex[:14]}",
    )
    assert answer.status_code == 200, answer.content


def test_a_razorpay_refund_failing_later_is_undone_by_its_webhook(client, api, publishable, price, rzp_account):
    order = start(publishable, price).json()
    verify(publishable, handler_response(pay(order)))
    payment = Payment.objects.get(public_id=order["payment"])
    answer = api.post(f"/api/v1/payments/{payment.public_id}/refunds", {"amount": 5_000}, format="json")
    assert answer.status_code == 201 and answer.json()["status"] == "succeeded"
    refund = Refund.objects.get()
    receivable_after_refund = account_balance(
        gateway_account_id=rzp_account.pk, kind=AccountKind.RECEIVABLE, currency=payment.currency
    )
    at_gateway = RzpRefund.objects.select_related("payment").get(rzp_id=refund.gateway_transaction_id)
    at_gateway.status = RzpRefund.Status.FAILED  # the bank returned it
    at_gateway.save(update_fields=["status"])

    notify(client, rzp_account, "refund.failed", at_gateway)
    notify(client, rzp_account, "refund.failed", at_gateway)  # told twice (a new event id)
    process_all()

    assert set(IncomingWebhook.objects.values_list("status", flat=True)) == {IncomingWebhook.Status.PROCESSED}
    refund.refresh_from_db()
    payment.refresh_from_db()
    assert refund.status == RefundStatus.FAILED
    assert (payment.status, payment.amount_refunded) == (PaymentStatus.CAPTURED, 0)
    assert (
        account_balance(gateway_account_id=rzp_account.pk, kind=AccountKind.RECEIVABLE, currency=payment.currency)
        == receivable_after_refund + 5_000
    )
    assert AuditEvent.objects.filter(target_id=refund.public_id, action="refund.failed").count() == 1
    assert Event.objects.filter(type="refund.failed", object_id=refund.public_id).count() == 1
