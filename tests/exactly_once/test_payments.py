"""Exactly once under real faults on our side, for every API path that calls Authorize.Net.

Each test holds the gateway's answer for 3 s after the gateway did the work (sandbox fault
`hang_after`), and in that window: stops the app's Redis (broker and cache), terminates the app's
database connections (pg_terminate_backend), or SIGKILLs its gunicorn workers. The client then
retries with the same Idempotency-Key until it has a final answer. Always: the first outcome,
one operation at the gateway, and no key left in progress.
"""

from __future__ import annotations

import uuid

import pytest
import requests

from apps.events.models import Event
from apps.payments.models import GatewayTransaction, Payment, Refund
from apps.sandbox.models import AnetTransaction
from tests.exactly_once.helpers import FAULTS, assert_key_completed, gateway_calls, retry_until_final, send_under_fault
from tests.faultlab import Client
from tests.payments.helpers import purchase_body, settle

pytestmark = [pytest.mark.django_db(transaction=True), pytest.mark.slow]


@pytest.mark.parametrize("fault", FAULTS)
def test_purchase(fault, http: Client, anet_account, sandbox_fault, listening, app_server, app_redis):
    key = f"purchase-{uuid.uuid4()}"
    body = purchase_body(2500)
    sandbox_fault("hang_after", 3000, match="authCaptureTransaction")

    def send() -> requests.Response:
        return http.post("/api/v1/payments", body, key=key)

    first = send_under_fault(
        send, operation="authCaptureTransaction", fault=fault, app_server=app_server, app_redis=app_redis
    )
    final = retry_until_final(send)

    assert final.status_code == 201, final.text
    payment = Payment.objects.get()
    assert (final.json()["id"], payment.status, payment.amount_captured) == (payment.public_id, "captured", 2500)
    if fault != "kill":  # the first request itself answered with the charge
        assert (first.status_code, first.json()["id"]) == (201, payment.public_id), first.text
        assert final.headers["Idempotent-Replayed"] == "true"
    assert gateway_calls("authCaptureTransaction") == 1
    assert AnetTransaction.objects.filter(transaction_type="authCaptureTransaction").count() == 1
    assert_key_completed(key)
    assert Event.objects.filter(type="payment.captured", object_id=payment.public_id).count() == 1


def _payment(http: Client, *, capture: bool) -> str:
    response = http.post("/api/v1/payments", purchase_body(4000, capture=capture), key=f"setup-{uuid.uuid4()}")
    assert response.status_code == 201, response.text
    return str(response.json()["id"])


@pytest.mark.parametrize("fault", FAULTS)
def test_capture(fault, http: Client, anet_account, sandbox_fault, listening, app_server, app_redis):
    payment_id = _payment(http, capture=False)
    key = f"capture-{uuid.uuid4()}"
    sandbox_fault("hang_after", 3000, match="priorAuthCaptureTransaction")

    def send() -> requests.Response:
        return http.post(f"/api/v1/payments/{payment_id}/capture", {"amount": 3000}, key=key)

    first = send_under_fault(
        send, operation="priorAuthCaptureTransaction", fault=fault, app_server=app_server, app_redis=app_redis
    )
    final = retry_until_final(send)

    assert final.status_code == 200, final.text
    payment = Payment.objects.get(public_id=payment_id)
    assert (payment.status, payment.amount_captured, payment.operation) == ("captured", 3000, "")
    assert final.json()["amount_captured"] == 3000
    if fault != "kill":
        assert (first.status_code, first.json()["status"]) == (200, "captured"), first.text
    assert gateway_calls("priorAuthCaptureTransaction") == 1
    assert GatewayTransaction.objects.filter(payment=payment, kind="capture").count() == 1
    assert_key_completed(key)


@pytest.mark.parametrize("fault", FAULTS)
def test_void(fault, http: Client, anet_account, sandbox_fault, listening, app_server, app_redis):
    payment_id = _payment(http, capture=False)
    key = f"void-{uuid.uuid4()}"
    sandbox_fault("hang_after", 3000, match="voidTransaction")

    def send() -> requests.Response:
        return http.post(f"/api/v1/payments/{payment_id}/void", key=key)

    first = send_under_fault(send, operation="voidTransaction", fault=fault, app_server=app_server, app_redis=app_redis)
    final = retry_until_final(send)

    assert (final.status_code, final.json()["status"]) == (200, "voided"), final.text
    payment = Payment.objects.get(public_id=payment_id)
    assert (payment.status, payment.operation) == ("voided", "")
    if fault != "kill":
        assert (first.status_code, first.json()["status"]) == (200, "voided"), first.text
    assert gateway_calls("voidTransaction") == 1
    assert_key_completed(key)


@pytest.mark.parametrize("fault", FAULTS)
def test_refund(fault, http: Client, anet_account, anet_sandbox, sandbox_fault, listening, app_server, app_redis):
    payment_id = _payment(http, capture=True)
    settle(anet_sandbox)
    key = f"refund-{uuid.uuid4()}"
    sandbox_fault("hang_after", 3000, match="refundTransaction")

    def send() -> requests.Response:
        return http.post(f"/api/v1/payments/{payment_id}/refunds", {"amount": 1500, "reason": "damaged"}, key=key)

    first = send_under_fault(
        send, operation="refundTransaction", fault=fault, app_server=app_server, app_redis=app_redis
    )
    final = retry_until_final(send)

    assert (final.status_code, final.json()["status"]) == (201, "succeeded"), final.text
    refund = Refund.objects.get()
    assert final.json()["id"] == refund.public_id
    payment = Payment.objects.get(public_id=payment_id)
    assert (payment.amount_refunded, payment.amount_refund_pending) == (1500, 0)
    if fault != "kill":
        assert (first.status_code, first.json()["id"]) == (201, refund.public_id), first.text
    assert gateway_calls("refundTransaction") == 1
    assert AnetTransaction.objects.filter(transaction_type="refundTransaction").count() == 1
    assert_key_completed(key)
