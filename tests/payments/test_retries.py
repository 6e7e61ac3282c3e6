"""A retried request (same Idempotency-Key, so the same idempotency reference) finds what its first
run did at the gateway and answers with it. Here the first run is cut short in this process, after
its gateway call and before its result was recorded, as a killed process would leave it;
tests/exactly_once does the same with real faults against a separate server."""

from __future__ import annotations

import pytest
from django.db import transaction

from apps.audit.actors import Actor
from apps.audit.models import AuditEvent
from apps.gateways.api_errors import PaymentDeclined
from apps.gateways.base import Billing, CaptureRequest, Card, ChargeRequest
from apps.gateways.errors import GatewayRetryable
from apps.gateways.registry import gateway_for
from apps.ledger.models import JournalEntry
from apps.payments import services
from apps.payments.attempts import TooManyAttempts, attempt_reference, one_run_per_reference
from apps.payments.errors import RequestInFlight
from apps.payments.models import GatewayTransaction, Payment, Refund
from apps.payments.services.operations import _begin_operation, _operation_record
from apps.sandbox.models import AnetTransaction, SandboxCall
from tests.payments.helpers import settle

pytestmark = pytest.mark.django_db(transaction=True)

ACTOR = Actor.system("tests")
VISA = Card("4111111111111111", 12, 2030, "123")
DECLINED = Card("4000300011112220", 12, 2030, "123")
REFERENCE = "kretrytestreferen"  # what apps.api.idempotency derives: 17 characters


def calls(operation: str) -> int:
    return SandboxCall.objects.filter(operation=operation).count()


def create(merchant, card=VISA, capture=True):
    return services.payment_create(
        merchant=merchant, livemode=False, amount=1500, currency="USD", payment_method=card, capture=capture,
        idempotency_reference=REFERENCE, actor=ACTOR,
    )  # fmt: skip


def begin_charge(merchant, account):
    """Step 1 of the first run's charge, under the first attempt's reference."""
    with transaction.atomic():
        return services.charge_begin(
            merchant=merchant, account=account, amount=1500, currency="USD", payment_method=VISA,
            call_reference=attempt_reference(REFERENCE, 1), actor=ACTOR,
        )  # fmt: skip


def charge_then_die(merchant, account):
    """A first run that made the charge and died before recording it: the payment stays pending."""
    payment, gt = begin_charge(merchant, account)
    services.charge_call(payment=payment, gt=gt, payment_method=VISA)
    return payment


def test_a_purchase_whose_run_died_after_the_charge_is_found_not_charged_again(merchant, anet_account):
    first = charge_then_die(merchant, anet_account)

    retried = create(merchant)

    assert retried.pk == first.pk
    assert (retried.status, retried.amount_captured) == ("captured", 1500)
    assert calls("authCaptureTransaction") == 1
    assert GatewayTransaction.objects.get(payment=first).reference == f"{REFERENCE}a01"


def test_a_result_recorded_after_the_resolver_settled_the_call_changes_nothing(merchant, anet_account):
    payment, gt = begin_charge(merchant, anet_account)
    outcome = services.charge_call(payment=payment, gt=gt, payment_method=VISA)
    # The sweeper found the call open and settled it from the gateway before this run recorded it.
    assert services.gateway_transaction_resolve(gateway_transaction_id=gt.pk) is True
    settled = GatewayTransaction.objects.get(pk=gt.pk)

    with transaction.atomic():
        answered = services.charge_finish(payment_id=payment.pk, gt=gt, outcome=outcome, actor=ACTOR)

    assert (answered.status, answered.amount_captured) == ("captured", 1500)
    row = GatewayTransaction.objects.get(pk=gt.pk)
    assert (row.status, row.completed_at) == ("succeeded", settled.completed_at)
    assert (gt.status, gt.completed_at) == ("succeeded", settled.completed_at)  # the row, not the late result
    assert AuditEvent.objects.filter(action="payment.captured", target_id=payment.public_id).count() == 1
    assert JournalEntry.objects.filter(payment=payment).count() == 1
    assert calls("authCaptureTransaction") == 1


def test_a_purchase_that_was_declined_answers_its_decline_again(merchant, anet_account):
    with pytest.raises(PaymentDeclined) as first:
        create(merchant, card=DECLINED)
    with pytest.raises(PaymentDeclined) as again:
        create(merchant, card=DECLINED)

    assert again.value.extra["payment"] == first.value.extra["payment"]
    assert again.value.code == first.value.code
    assert (Payment.objects.count(), calls("authCaptureTransaction")) == (1, 1)


def test_a_purchase_that_never_reached_the_gateway_is_charged_on_retry_under_the_next_attempt(
    merchant, anet_account, sandbox_fault
):
    sandbox_fault("http_error", 503, match="authCaptureTransaction")
    with pytest.raises(Exception, match="could not be reached"):
        create(merchant)

    retried = create(merchant)

    assert retried.status == "captured"
    references = list(GatewayTransaction.objects.order_by("id").values_list("reference", "status"))
    assert references == [(f"{REFERENCE}a01", "failed"), (f"{REFERENCE}a02", "succeeded")]
    assert calls("authCaptureTransaction") == 1  # the 503 was answered before any charge


def test_a_call_recorded_as_never_made_that_the_gateway_has_after_all_is_adopted_not_repeated(merchant, anet_account):
    payment, gt = begin_charge(merchant, anet_account)
    # The charge went through, but this process took the failure for "never sent".
    gateway_for(anet_account).sale(ChargeRequest(gt.reference, 1500, "USD", VISA, billing=Billing()))
    lost = services.CallOutcome(None, GatewayRetryable("connection refused (so we thought)"), 0)
    with transaction.atomic():
        services.charge_finish(payment_id=payment.pk, gt=gt, outcome=lost, actor=ACTOR)
    assert Payment.objects.get(pk=payment.pk).status == "failed"

    retried = create(merchant)

    assert retried.pk == payment.pk
    assert (retried.status, retried.amount_captured) == ("captured", 1500)
    assert calls("authCaptureTransaction") == 1
    assert GatewayTransaction.objects.count() == 1


def test_a_repeated_capture_and_void_answer_with_the_first(merchant, anet_account):
    payment = services.payment_create(
        merchant=merchant, livemode=False, amount=2000, currency="USD", payment_method=VISA, capture=False, actor=ACTOR
    )
    captured = services.payment_capture(payment=payment, amount=1200, idempotency_reference=REFERENCE, actor=ACTOR)
    # The same request again (its answer was lost): no second capture.
    again = services.payment_capture(payment=payment, amount=1200, idempotency_reference=REFERENCE, actor=ACTOR)
    voided_reference = "kvoidtestreferenc"
    voided = services.payment_void(payment=payment, idempotency_reference=voided_reference, actor=ACTOR)
    voided_again = services.payment_void(payment=payment, idempotency_reference=voided_reference, actor=ACTOR)

    assert (captured.status, again.status, again.amount_captured) == ("captured", "captured", 1200)
    assert (voided.status, voided_again.status) == ("voided", "voided")
    assert (calls("priorAuthCaptureTransaction"), calls("voidTransaction")) == (1, 1)


def authorize_then_begin_capture(merchant):
    """An authorised payment and step 1 of its capture, under the first attempt's reference."""
    payment = services.payment_create(
        merchant=merchant, livemode=False, amount=2000, currency="USD", payment_method=VISA, capture=False, actor=ACTOR
    )
    with transaction.atomic():
        locked = Payment.objects.select_for_update().get(pk=payment.pk)
        gt = _begin_operation(
            locked, "capture", "capture", 2000, reference=attempt_reference(REFERENCE, 1), actor=ACTOR
        )
    return payment, gt


def test_a_capture_whose_run_died_mid_call_is_resolved_at_the_gateway(merchant, anet_account):
    payment, gt = authorize_then_begin_capture(merchant)
    gateway_for(anet_account).capture(CaptureRequest(gt.reference, payment.gateway_transaction_id, 2000, "USD"))

    retried = services.payment_capture(payment=payment, idempotency_reference=REFERENCE, actor=ACTOR)

    assert (retried.status, retried.amount_captured, retried.operation) == ("captured", 2000, "")
    assert calls("priorAuthCaptureTransaction") == 1


def test_a_capture_recorded_after_the_resolver_settled_it_is_not_recorded_again(merchant, anet_account):
    payment, gt = authorize_then_begin_capture(merchant)
    outcome = services.call_gateway(
        gateway_for(anet_account).capture,
        CaptureRequest(gt.reference, payment.gateway_transaction_id, 2000, "USD"),
    )
    assert services.gateway_transaction_resolve(gateway_transaction_id=gt.pk) is True
    settled = GatewayTransaction.objects.get(pk=gt.pk)
    finished = []

    with transaction.atomic():
        recorded, call = _operation_record(payment.pk, gt, outcome, lambda p, c: finished.append(c))

    assert finished == []
    assert (call.status, call.completed_at) == ("succeeded", settled.completed_at)
    assert (recorded.status, recorded.amount_captured) == ("captured", 2000)
    assert AuditEvent.objects.filter(action="payment.captured", target_id=payment.public_id).count() == 1


def test_a_repeated_refund_request_answers_with_its_refund(merchant, anet_account, anet_sandbox):
    payment = services.payment_create(
        merchant=merchant, livemode=False, amount=3000, currency="USD", payment_method=VISA, actor=ACTOR
    )
    settle(anet_sandbox)
    first = services.refund_create(payment=payment, amount=1000, idempotency_reference=REFERENCE, actor=ACTOR)
    again = services.refund_create(payment=payment, amount=1000, idempotency_reference=REFERENCE, actor=ACTOR)

    assert again.pk == first.pk and again.status == "succeeded"
    assert Refund.objects.count() == 1
    assert AnetTransaction.objects.filter(transaction_type="refundTransaction").count() == 1
    assert Payment.objects.get(pk=payment.pk).amount_refunded == 1000


def test_a_refund_waiting_for_approval_is_not_requested_twice(merchant, anet_account, settings):
    settings.REFUND_APPROVAL_THRESHOLDS = {"USD": 500}
    payment = services.payment_create(
        merchant=merchant, livemode=False, amount=3000, currency="USD", payment_method=VISA, actor=ACTOR
    )
    first = services.refund_create(payment=payment, amount=1000, idempotency_reference=REFERENCE, actor=ACTOR)
    again = services.refund_create(payment=payment, amount=1000, idempotency_reference=REFERENCE, actor=ACTOR)

    assert (first.status, again.pk) == ("pending_approval", first.pk)
    assert Payment.objects.get(pk=payment.pk).amount_refund_pending == 1000


def test_attempt_numbers_stay_within_the_gateway_reference_limit():
    assert attempt_reference(REFERENCE, 99) == f"{REFERENCE}a99"
    assert len(attempt_reference(REFERENCE, 1)) == 20
    with pytest.raises(TooManyAttempts):
        attempt_reference(REFERENCE, 100)


def test_a_refund_whose_answer_was_lost_is_resolved_by_its_retry(merchant, anet_account, anet_sandbox, sandbox_fault):
    payment = services.payment_create(
        merchant=merchant, livemode=False, amount=3000, currency="USD", payment_method=VISA, actor=ACTOR
    )
    settle(anet_sandbox)
    sandbox_fault("drop_response", match="refundTransaction")
    first = services.refund_create(payment=payment, amount=1000, idempotency_reference=REFERENCE, actor=ACTOR)

    retried = services.refund_create(payment=payment, amount=1000, idempotency_reference=REFERENCE, actor=ACTOR)

    assert first.status == "unknown"
    assert (retried.pk, retried.status) == (first.pk, "succeeded")
    assert calls("refundTransaction") == 1
    assert Payment.objects.get(pk=payment.pk).amount_refunded == 1000


def test_a_void_whose_answer_was_lost_is_resolved_by_its_retry(merchant, anet_account, sandbox_fault):
    payment = services.payment_create(
        merchant=merchant, livemode=False, amount=2000, currency="USD", payment_method=VISA, capture=False, actor=ACTOR
    )
    sandbox_fault("drop_response", match="voidTransaction")
    first = services.payment_void(payment=payment, idempotency_reference=REFERENCE, actor=ACTOR)

    retried = services.payment_void(payment=payment, idempotency_reference=REFERENCE, actor=ACTOR)

    assert (first.operation, retried.status, retried.operation) == ("void", "voided", "")
    assert calls("voidTransaction") == 1


def test_a_capture_refused_before_processing_is_made_by_the_retry_under_the_next_attempt(
    merchant, anet_account, sandbox_fault
):
    payment = services.payment_create(
        merchant=merchant, livemode=False, amount=2000, currency="USD", payment_method=VISA, capture=False, actor=ACTOR
    )
    sandbox_fault("http_error", 503, match="priorAuthCaptureTransaction")
    with pytest.raises(Exception, match="could not be reached"):
        services.payment_capture(payment=payment, idempotency_reference=REFERENCE, actor=ACTOR)

    retried = services.payment_capture(payment=payment, idempotency_reference=REFERENCE, actor=ACTOR)

    assert retried.status == "captured"
    captures = list(GatewayTransaction.objects.filter(kind="capture").order_by("id").values_list("reference", "status"))
    assert captures == [(f"{REFERENCE}a01", "failed"), (f"{REFERENCE}a02", "succeeded")]


def test_a_second_run_racing_for_the_same_attempt_is_told_to_retry(merchant, anet_account):
    begin_charge(merchant, anet_account)  # another run holds attempt a01 and is charging right now

    with pytest.raises(RequestInFlight), one_run_per_reference(), transaction.atomic():
        services.charge_begin(
            merchant=merchant, account=anet_account, amount=1500, currency="USD", payment_method=VISA,
            call_reference=attempt_reference(REFERENCE, 1), actor=ACTOR,
        )  # fmt: skip
