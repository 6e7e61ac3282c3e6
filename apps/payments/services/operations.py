"""Capture and void: each holds the payment's operation while its call is in flight."""

from __future__ import annotations

import logging
from collections.abc import Callable

from django.db import transaction

from apps.audit.actors import Actor
from apps.audit.services import audit_record
from apps.core.context import current_request_id
from apps.core.db import atomic_with_reconnect
from apps.core.money import format_amount
from apps.gateways.base import (
    CaptureRequest,
    VoidRequest,
)
from apps.gateways.errors import (
    GatewayDeclined,
)
from apps.gateways.registry import gateway_for
from apps.payments.attempts import next_attempt_reference, one_run_per_reference
from apps.payments.errors import (
    AmountTooLarge,
    PaymentBusy,
    PaymentStateError,
)
from apps.payments.models import GatewayTransaction, Payment, PaymentStatus, Review
from apps.payments.selectors import earlier_calls, payment_void_refusal

from .common import (
    OPEN_CALL,
    CallOutcome,
    call_gateway,
    enqueue_resolution,
    raise_for_outcome,
    record_open_call,
    recorded_result,
)
from .outcomes import finish_capture, finish_void
from .resolution import resolve_now

logger = logging.getLogger(__name__)


# --- capture and void ------------------------------------------------------------------------


def _begin_operation(
    payment: Payment, operation: str, kind: str, amount: int | None, *, reference: str = "", actor: Actor
) -> GatewayTransaction:
    """Step 1 of a capture or void, in the caller's transaction: hold the payment's operation,
    record the pending call, audit the request (a retry learns from it that the call may have
    gone out)."""
    if payment.operation:
        raise PaymentBusy()
    payment.operation = operation
    payment.save(update_fields=["operation", "updated_at"])
    gt = GatewayTransaction(
        payment=payment,
        gateway_account=payment.gateway_account,
        kind=kind,
        amount=amount,
        currency=payment.currency,
        correlation_id=current_request_id() or "",
    )
    if reference:
        gt.reference = reference
    gt.save(force_insert=True)
    audit_record(
        actor=actor,
        action=f"payment.{operation}_requested",
        target=payment,
        after={"amount": amount, "reference": gt.reference},
    )
    return gt


def _operation_recover(earlier: list[GatewayTransaction]) -> Payment | None:
    """A retried capture or void: the payment as its first run left it, resolved at the gateway
    if that run's call is open (raises the decline it met); None when it did nothing (try again)."""
    last = earlier[-1]
    if last.status in OPEN_CALL:
        last = resolve_now(last)
    if last.status == GatewayTransaction.Status.FAILED:
        return None
    payment = Payment.objects.select_related("gateway_account").get(pk=last.payment_id)
    if last.status == GatewayTransaction.Status.DECLINED:
        raise_for_outcome(CallOutcome(None, GatewayDeclined(recorded_result(last)), 0), payment=payment)
    return payment


def _operation_record(
    payment_id: int, gt: GatewayTransaction, outcome: CallOutcome, finish: Callable[[Payment, GatewayTransaction], None]
) -> tuple[Payment, GatewayTransaction]:
    """Step 3 of a capture or void, in the caller's transaction; does nothing if the call was
    recorded already (by the resolver, or by this step before a lost connection)."""
    locked = Payment.objects.select_for_update().get(pk=payment_id)
    if not record_open_call(gt, outcome):
        return locked, gt
    finish(locked, gt)
    if outcome.unknown:
        enqueue_resolution(gt)
    return locked, gt


def payment_capture(
    *, payment: Payment, amount: int | None = None, idempotency_reference: str = "", actor: Actor
) -> Payment:
    """Capture an authorised payment, all of it or less (the rest of the hold is released).
    A retry with the same `idempotency_reference` answers with the first run's capture."""
    earlier = earlier_calls(idempotency_reference, kinds=[GatewayTransaction.Kind.CAPTURE])
    if earlier and (found := _operation_recover(earlier)) is not None:
        return found
    with one_run_per_reference(), transaction.atomic():
        locked = Payment.objects.select_for_update(of=("self",)).select_related("gateway_account").get(pk=payment.pk)
        if locked.status != PaymentStatus.AUTHORIZED:
            raise PaymentStateError(f"Only authorized payments can be captured; this one is {locked.status}.")
        if locked.review == Review.PENDING:
            raise PaymentStateError(
                "The payment is held for risk review: it is captured when a reviewer approves it.",
                code="payment_under_review",
            )
        if locked.review in {Review.REJECTED, Review.EXPIRED}:
            raise PaymentStateError(
                "The payment was rejected in risk review (or not reviewed in time): it is being voided.",
                code="payment_rejected_in_review",
            )
        amount = locked.amount_authorized if amount is None else amount
        if amount <= 0 or amount > locked.amount_authorized:
            raise AmountTooLarge(
                "Capture amount must be between 1 and the authorized "
                f"{format_amount(locked.amount_authorized, locked.currency)}.",
                code="capture_exceeds_authorized" if amount > 0 else "amount_invalid",
                param="amount",
            )
        gateway = gateway_for(locked.gateway_account)
        if amount != locked.amount_authorized and not gateway.supports_partial_capture:
            raise AmountTooLarge(
                f"{locked.gateway_account.get_gateway_display()} captures the whole authorized amount only.",
                code="partial_capture_not_supported",
                param="amount",
            )
        reference = next_attempt_reference(idempotency_reference, earlier)
        gt = _begin_operation(
            locked, "capture", GatewayTransaction.Kind.CAPTURE, amount, reference=reference, actor=actor
        )

    outcome = call_gateway(
        gateway.capture, CaptureRequest(gt.reference, locked.gateway_transaction_id, amount, locked.currency)
    )
    captured = amount
    locked, gt = atomic_with_reconnect(
        lambda: _operation_record(payment.pk, gt, outcome, lambda p, call: finish_capture(p, call, captured, actor)),
        what="capture_finish",
    )
    raise_for_outcome(outcome, payment=locked, kind=GatewayTransaction.Kind.CAPTURE)
    return locked


def payment_void(*, payment: Payment, idempotency_reference: str = "", actor: Actor) -> Payment:
    """Cancel an authorisation, or a capture that has not settled yet. A retry with the same
    `idempotency_reference` answers with the first run's void."""
    earlier = earlier_calls(idempotency_reference, kinds=[GatewayTransaction.Kind.VOID])
    if earlier and (found := _operation_recover(earlier)) is not None:
        return found
    with one_run_per_reference(), transaction.atomic():
        locked = Payment.objects.select_for_update(of=("self",)).select_related("gateway_account").get(pk=payment.pk)
        gateway = gateway_for(locked.gateway_account)
        if (refusal := payment_void_refusal(locked, gateway)) is not None:
            code, sentence = refusal
            raise PaymentStateError(sentence, code=code)
        reference = next_attempt_reference(idempotency_reference, earlier)
        gt = _begin_operation(locked, "void", GatewayTransaction.Kind.VOID, None, reference=reference, actor=actor)

    outcome = call_gateway(gateway.void, VoidRequest(gt.reference, locked.gateway_transaction_id))
    locked, gt = atomic_with_reconnect(
        lambda: _operation_record(payment.pk, gt, outcome, lambda p, call: finish_void(p, call, actor)),
        what="void_finish",
    )
    raise_for_outcome(outcome, payment=locked, kind=GatewayTransaction.Kind.VOID)
    return locked
