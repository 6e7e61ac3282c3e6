"""A card authorised by phone (payment_method.authorization_code): captured at once through the
API, the services, the SDK and the sandbox (Authorize.Net captureOnlyTransaction), exactly once."""

from __future__ import annotations

from typing import Any

import pytest

from apps.audit.actors import Actor
from apps.audit.models import AuditEvent
from apps.gateways.services import gateway_account_create
from apps.payments.models import GatewayTransaction, Payment
from apps.payments.services import gateway_transaction_resolve
from apps.sandbox.models import AnetTransaction
from tests.payments.helpers import VISA, purchase, purchase_body, settle

PHONED = {**VISA, "authorization_code": "ROHNFQ"}


def capture_only_rows() -> Any:
    return AnetTransaction.objects.filter(transaction_type="captureOnlyTransaction")


def test_a_phone_authorization_is_captured_at_once(api, anet_account, anet_sandbox):
    response = purchase(api, 4217, payment_method=PHONED, key="phoned-1")

    body = response.json()
    assert response.status_code == 201, body
    assert (body["status"], body["amount_captured"], body["amount_authorized"]) == ("captured", 4217, 4217)
    stored = capture_only_rows().get()
    assert (stored.status, stored.auth_code, stored.settle_amount) == (AnetTransaction.Status.CAPTURED, "ROHNFQ", 4217)
    gt = GatewayTransaction.objects.get(payment__public_id=body["id"])
    assert (gt.kind, gt.status, gt.gateway_transaction_id) == ("sale", "succeeded", stored.trans_id)
    assert stored.invoice_number == gt.reference  # our idempotency reference travels with the call
    actions = list(AuditEvent.objects.filter(target_id=body["id"]).order_by("id").values_list("action", flat=True))
    assert actions == ["payment.created", "payment.captured"]
    settle(anet_sandbox)
    stored.refresh_from_db()
    assert stored.status == AnetTransaction.Status.SETTLED  # and it settles like any capture


def test_a_retry_with_the_same_key_is_replayed_and_captures_once(api, anet_account):
    first = purchase(api, 1500, payment_method=PHONED, key="phoned-2")
    second = purchase(api, 1500, payment_method=PHONED, key="phoned-2")

    assert (first.status_code, second.status_code) == (201, 201)
    assert second["Idempotent-Replayed"] == "true"
    assert second.json()["id"] == first.json()["id"]
    assert capture_only_rows().count() == 1


def test_a_lost_answer_is_found_at_the_gateway_by_our_reference(api, anet_account, sandbox_fault):
    sandbox_fault("drop_response", match="captureOnlyTransaction")

    response = purchase(api, 900, payment_method=PHONED, key="phoned-3")
    gt = GatewayTransaction.objects.get(payment__public_id=response.json()["id"])
    gateway_transaction_resolve(gateway_transaction_id=gt.pk)
    retry = purchase(api, 900, payment_method=PHONED, key="phoned-3")

    assert (response.status_code, response.json()["status"]) == (202, "unknown")
    stored = Payment.objects.get(public_id=response.json()["id"])
    assert (stored.status, stored.amount_captured) == ("captured", 900)
    assert (retry.status_code, retry.json()["id"], retry.json()["status"]) == (201, stored.public_id, "captured")
    assert capture_only_rows().count() == 1


@pytest.mark.parametrize(
    ("overrides", "param"),
    [
        ({"payment_method": {**VISA, "authorization_code": "ROH"}}, "payment_method.authorization_code"),
        ({"payment_method": {**VISA, "authorization_code": "ROH-NQ"}}, "payment_method.authorization_code"),
        ({"payment_method": {**VISA, "authorization_code": ""}}, "payment_method.authorization_code"),
        (
            {"payment_method": {"type": "opaque_data", "descriptor": "COMMON.ACCEPT.INAPP.PAYMENT", "value": "x",
                                "authorization_code": "ROHNFQ"}},
            "payment_method.authorization_code",
        ),
        ({"payment_method": PHONED, "capture": False}, "capture"),
    ],
)  # fmt: skip
def test_bad_input_is_400_and_changes_nothing(api, anet_account, overrides, param):
    response = api.post("/api/v1/payments", purchase_body(**overrides), format="json")

    error = response.json()["error"]
    assert response.status_code == 400, error
    assert (error["param"], error["type"]) == (param, "invalid_request_error")
    assert Payment.objects.count() == 0 and GatewayTransaction.objects.count() == 0
    assert not capture_only_rows().exists()


def test_a_gateway_that_cannot_capture_a_phone_authorization_answers_400(api, merchant, stripe_sandbox):
    gateway_account_create(
        merchant=merchant,
        gateway="stripe",
        mode="test",
        currency="USD",
        credentials={"secret_key": stripe_sandbox.secret_key, "publishable_key": stripe_sandbox.publishable_key},
        actor=Actor.system("tests"),
    )

    response = purchase(api, 1000, payment_method=PHONED)

    error = response.json()["error"]
    assert response.status_code == 400, error
    assert (error["code"], error["param"]) == ("voice_authorization_not_supported", "payment_method.authorization_code")
    assert Payment.objects.count() == 0 and GatewayTransaction.objects.count() == 0
