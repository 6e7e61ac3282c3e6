"""Failures between us and the gateway: never a double charge, and the truth is found later."""

from __future__ import annotations

from datetime import timedelta

import pytest
from django.utils import timezone

from apps.audit.models import AuditEvent
from apps.payments.models import GatewayTransaction, Payment, Refund
from apps.payments.services import gateway_transaction_resolve, gateway_transactions_sweep
from apps.sandbox.models import AnetTransaction
from tests.helpers import wait_for
from tests.payments.helpers import purchase, settle

pytestmark = pytest.mark.slow


def charges_for(payment_id: str) -> int:
    """Every charge the sandbox made (the test makes one payment): a second one with another
    reference would count too."""
    assert Payment.objects.filter(public_id=payment_id).exists()
    return AnetTransaction.objects.filter(transaction_type="authCaptureTransaction").count()


@pytest.mark.parametrize(("kind", "value"), [("hang_after", 3000), ("drop_response", 0)])
def test_lost_answer_after_the_charge_resolves_to_captured_with_one_charge(
    api, anet_account, sandbox_fault, celery_worker, kind, value
):
    sandbox_fault(kind, value, match="authCaptureTransaction")

    response = purchase(api, 2500, key="lost-1")
    retry = purchase(api, 2500, key="lost-1")

    assert response.status_code == 202
    assert response.json()["status"] == "unknown"
    payment_id = response.json()["id"]
    # Not final, so not replayed: the retry asks the gateway again and answers with the same payment.
    assert retry.json()["id"] == payment_id
    assert (retry.status_code, retry.json()["status"]) in {(201, "captured"), (202, "unknown")}
    assert "Idempotent-Replayed" not in retry
    wait_for(lambda: Payment.objects.get(public_id=payment_id).status == "captured")
    stored = Payment.objects.get(public_id=payment_id)
    assert (stored.amount_captured, stored.gateway_transaction_id != "") == (2500, True)
    assert charges_for(payment_id) == 1
    assert GatewayTransaction.objects.get(payment=stored).status == "succeeded"


def test_connection_reset_before_the_charge_resolves_to_failed_with_no_charge(
    api, anet_account, sandbox_fault, celery_worker
):
    sandbox_fault("reset", match="authCaptureTransaction")

    response = purchase(api, 2500)

    assert response.status_code == 202
    payment_id = response.json()["id"]
    wait_for(lambda: Payment.objects.get(public_id=payment_id).status == "failed")
    assert charges_for(payment_id) == 0
    assert Payment.objects.get(public_id=payment_id).failure_code == "gateway_unavailable"


def test_5xx_before_charging_fails_cleanly_and_is_retryable(api, anet_account, sandbox_fault):
    sandbox_fault("http_error", 503)

    failed = purchase(api, 1200, key="retry-me")
    retried = purchase(api, 1200, key="retry-me")

    assert failed.status_code == 503
    assert (failed.json()["error"]["type"], failed.json()["error"]["code"]) == ("api_error", "gateway_unavailable")
    first = Payment.objects.get(public_id=failed.json()["error"]["payment"])
    assert (first.status, first.amount_captured) == ("failed", 0)
    assert retried.status_code == 201
    assert "Idempotent-Replayed" not in retried
    assert charges_for(retried.json()["id"]) == 1  # the retry's, under the key's next attempt


def test_unknown_capture_holds_the_payment_until_resolved(api, anet_account, sandbox_fault):
    payment = purchase(api, 2000, capture=False).json()
    sandbox_fault("drop_response", match="priorAuthCaptureTransaction")

    response = api.post(f"/api/v1/payments/{payment['id']}/capture", {}, format="json")
    blocked = api.post(f"/api/v1/payments/{payment['id']}/void")
    gt = GatewayTransaction.objects.get(kind="capture")
    gateway_transaction_resolve(gateway_transaction_id=gt.pk)

    assert response.status_code == 202
    assert blocked.json()["error"]["code"] == "payment_operation_in_progress"
    stored = Payment.objects.get(public_id=payment["id"])
    assert (stored.status, stored.amount_captured, stored.operation) == ("captured", 2000, "")


def test_unknown_void_that_did_not_happen_releases_the_payment(api, anet_account, sandbox_fault):
    payment = purchase(api, 2000, capture=False).json()
    sandbox_fault("reset", match="voidTransaction")

    api.post(f"/api/v1/payments/{payment['id']}/void")
    gateway_transaction_resolve(gateway_transaction_id=GatewayTransaction.objects.get(kind="void").pk)

    stored = Payment.objects.get(public_id=payment["id"])
    assert (stored.status, stored.operation) == ("authorized", "")
    assert GatewayTransaction.objects.get(kind="void").status == "failed"


def test_unknown_refund_resolves_and_releases_its_reservation(api, anet_account, anet_sandbox, sandbox_fault):
    payment = purchase(api, 1000).json()
    settle(anet_sandbox)
    sandbox_fault("drop_response", match="refundTransaction")

    response = api.post(f"/api/v1/payments/{payment['id']}/refunds", {"amount": 400}, format="json")
    pending = Payment.objects.get(public_id=payment["id"]).amount_refund_pending
    gateway_transaction_resolve(gateway_transaction_id=GatewayTransaction.objects.get(kind="refund").pk)

    assert (response.status_code, response.json()["status"], pending) == (202, "unknown", 400)
    stored = Payment.objects.get(public_id=payment["id"])
    assert (stored.amount_refunded, stored.amount_refund_pending, stored.status) == (400, 0, "partially_refunded")
    assert Refund.objects.get().status == "succeeded"
    # Each change of the refund's state was audited: unknown, then succeeded.
    actions = AuditEvent.objects.filter(target_id=Refund.objects.get().public_id).values_list("action", flat=True)
    assert list(actions.order_by("id")) == ["refund.created", "refund.outcome_unknown", "refund.succeeded"]


def test_resolution_is_idempotent(api, anet_account, sandbox_fault):
    sandbox_fault("drop_response", match="authCaptureTransaction")
    payment_id = purchase(api, 900).json()["id"]
    gt = GatewayTransaction.objects.get(payment__public_id=payment_id)

    assert gateway_transaction_resolve(gateway_transaction_id=gt.pk) is True
    assert gateway_transaction_resolve(gateway_transaction_id=gt.pk) is True

    assert Payment.objects.get(public_id=payment_id).status == "captured"
    assert Payment.objects.get(public_id=payment_id).amount_captured == 900


def test_not_found_within_the_grace_period_is_asked_again_later(api, anet_account, sandbox_fault, settings):
    settings.GATEWAY_NOT_FOUND_GRACE_SECONDS = 3600
    sandbox_fault("reset", match="authCaptureTransaction")
    payment_id = purchase(api, 900).json()["id"]
    gt = GatewayTransaction.objects.get(payment__public_id=payment_id)

    assert gateway_transaction_resolve(gateway_transaction_id=gt.pk) is False

    assert Payment.objects.get(public_id=payment_id).status == "unknown"


def test_sweeper_turns_abandoned_calls_into_unknown_and_queues_them(api, anet_account, settings):
    payment_id = purchase(api, 700).json()["id"]
    stored = Payment.objects.get(public_id=payment_id)
    # A process that died mid-call leaves its GatewayTransaction pending and the payment pending.
    GatewayTransaction.objects.filter(payment=stored).update(
        status="pending", created_at=timezone.now() - timedelta(hours=1)
    )
    Payment.objects.filter(pk=stored.pk).update(status="pending")

    queued = gateway_transactions_sweep()
    gateway_transaction_resolve(gateway_transaction_id=queued[0])

    assert Payment.objects.get(pk=stored.pk).status == "captured"


def test_a_void_not_done_yet_is_asked_again_within_the_grace_then_released(api, anet_account, sandbox_fault, settings):
    settings.GATEWAY_NOT_FOUND_GRACE_SECONDS = 3600
    payment = purchase(api, 2000, capture=False).json()
    sandbox_fault("reset", match="voidTransaction")
    api.post(f"/api/v1/payments/{payment['id']}/void")
    gt = GatewayTransaction.objects.get(kind="void")

    # The original still shows authorised: the void's answer was lost and it may still be under
    # way, so nothing is concluded and the payment takes no other capture or void meanwhile.
    assert gateway_transaction_resolve(gateway_transaction_id=gt.pk) is False
    held = Payment.objects.get(public_id=payment["id"])
    assert (held.status, held.operation != "", GatewayTransaction.objects.get(kind="void").status) == (
        "authorized",
        True,
        "unknown",
    )
    assert api.post(f"/api/v1/payments/{payment['id']}/capture", {}, format="json").status_code == 409

    settings.GATEWAY_NOT_FOUND_GRACE_SECONDS = 0
    assert gateway_transaction_resolve(gateway_transaction_id=gt.pk) is True
    stored = Payment.objects.get(public_id=payment["id"])
    assert (stored.status, stored.operation, GatewayTransaction.objects.get(kind="void").status) == (
        "authorized",
        "",
        "failed",
    )


def test_a_capture_the_original_can_no_longer_take_is_failed_at_once(api, anet_account, sandbox_fault, settings):
    from apps.gateways.base import VoidRequest
    from apps.gateways.registry import gateway_for

    settings.GATEWAY_NOT_FOUND_GRACE_SECONDS = 3600
    payment = purchase(api, 2000, capture=False).json()
    sandbox_fault("reset", match="priorAuthCaptureTransaction")
    api.post(f"/api/v1/payments/{payment['id']}/capture", {}, format="json")
    stored = Payment.objects.get(public_id=payment["id"])
    # Voided meanwhile in the gateway's own dashboard: the capture can no longer happen.
    gateway_for(stored.gateway_account).void(VoidRequest("dashboard1", stored.gateway_transaction_id))

    assert gateway_transaction_resolve(gateway_transaction_id=GatewayTransaction.objects.get(kind="capture").pk)

    assert GatewayTransaction.objects.get(kind="capture").status == "failed"
    assert Payment.objects.get(public_id=payment["id"]).operation == ""


def test_an_admin_refund_whose_answer_was_lost_is_not_sent_again_on_resubmission(
    api, anet_account, anet_sandbox, sandbox_fault, staff_client
):
    import re

    from apps.accounts import roles

    payment = purchase(api, 1000).json()
    settle(anet_sandbox)
    approver = staff_client(roles.FINANCE_APPROVER)
    url = f"/admin/payments/payment/{Payment.objects.get(public_id=payment['id']).pk}/refund/"
    page = approver.post(url, {"amount": "4.00", "reason": "late"})
    reference = re.search(rb'name="request_reference" value="([^"]+)"', page.content).group(1).decode()
    confirmation = {"amount": "4.00", "reason": "late", "confirm": "yes", "request_reference": reference}
    sandbox_fault("drop_response", match="refundTransaction")  # refunded at the gateway, the answer lost

    approver.post(url, confirmation)
    approver.post(url, confirmation)  # the finance operator submits again

    assert AnetTransaction.objects.filter(transaction_type="refundTransaction").count() == 1
    refund = Refund.objects.get()
    stored = Payment.objects.get(public_id=payment["id"])
    assert (refund.status, stored.amount_refunded, stored.amount_refund_pending) == ("succeeded", 400, 0)
    assert GatewayTransaction.objects.filter(kind="refund").count() == 1


def test_process_refund_whose_answer_was_lost_is_not_sent_again_with_its_reference(
    api, anet_account, anet_sandbox, sandbox_fault
):
    from io import StringIO

    from django.core.management import call_command

    payment = purchase(api, 1000).json()
    settle(anet_sandbox)
    args = ("process_refund", payment["id"], "--amount", "4.00", "--reason", "late", "--reference", "T-9")
    sandbox_fault("drop_response", match="refundTransaction")

    call_command(*args, stdout=StringIO())
    call_command(*args, stdout=StringIO())  # run again after the timeout

    assert AnetTransaction.objects.filter(transaction_type="refundTransaction").count() == 1
    stored = Payment.objects.get(public_id=payment["id"])
    assert (Refund.objects.get().status, stored.amount_refunded, stored.amount_refund_pending) == ("succeeded", 400, 0)
