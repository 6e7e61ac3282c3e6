"""Payments recorded or corrected from the gateway's own word: charges its schedule made (ARB) and
reconciliation's corrections (the settlement is the evidence)."""

from __future__ import annotations

import logging
from typing import Any

from django.utils import timezone

from apps.audit.actors import Actor
from apps.audit.services import audit_record
from apps.customers.models import Customer
from apps.gateways.base import (
    TransactionDetails,
    TransactionState,
)
from apps.gateways.models import GatewayAccount
from apps.payments.errors import (
    PaymentStateError,
    RefundStateError,
)
from apps.payments.models import GatewayTransaction, Payment, PaymentStatus, Refund, RefundStatus

from .common import payment_snapshot, publish_payment, publish_refund
from .outcomes import REFUND_HELD, status_after_refunds
from .postings import ledger_record_payment

logger = logging.getLogger(__name__)


# --- charges the gateway made on its own schedule (Authorize.Net ARB) ------------------------------


def payment_record_gateway_charge(
    *,
    account: GatewayAccount,
    customer: Customer | None,
    details: TransactionDetails,
    call_reference: str,
    description: str = "",
    metadata: dict[str, Any] | None = None,
    actor: Actor,
) -> Payment:
    """Inside the caller's transaction: record a charge we did not make (the gateway's recurring
    schedule made it) as a payment, from the gateway's own account of it. `call_reference`
    identifies it for us (unique), so recording the same charge twice returns the first."""
    existing = GatewayTransaction.objects.filter(reference=call_reference).select_related("payment").first()
    if existing is not None:
        return existing.payment
    approved = details.state in {TransactionState.CAPTURED, TransactionState.SETTLED, TransactionState.AUTHORIZED}
    amount = details.authorized_amount or details.settled_amount
    # What was captured is what settles (a capture may take less than was authorised).
    captured = (details.settled_amount or amount) if details.state is not TransactionState.AUTHORIZED else amount
    payment = Payment.objects.create(
        merchant_id=account.merchant_id,
        gateway_account=account,
        customer=customer,
        livemode=account.mode == "live",
        amount=amount,
        amount_authorized=amount if approved else 0,
        amount_captured=min(captured, amount) if approved else 0,
        currency=details.currency or account.currency,
        status=PaymentStatus.CAPTURED if approved else PaymentStatus.FAILED,
        description=description[:255],
        metadata=metadata or {},
        card_brand=details.card_brand,
        card_last4=details.card_last4,
        gateway_transaction_id=details.transaction_id,
        failure_code="" if approved else "card_declined",
        failure_message="" if approved else (details.message or "Declined by the gateway.")[:255],
    )
    GatewayTransaction.objects.create(
        payment=payment,
        gateway_account=account,
        kind=GatewayTransaction.Kind.SALE,
        status=GatewayTransaction.Status.SUCCEEDED if approved else GatewayTransaction.Status.DECLINED,
        reference=call_reference,
        amount=amount,
        currency=payment.currency,
        gateway_transaction_id=details.transaction_id,
        response_code=details.response_code,
        reason_code=details.reason_code,
        message=details.message[:255],
        error_code="" if approved else "card_declined",
        completed_at=timezone.now(),
    )
    action = "payment.captured" if approved else "payment.failed"
    ledger_record_payment(payment, None)
    audit_record(actor=actor, action=action, target=payment, after=payment_snapshot(payment))
    publish_payment(payment, action)
    return payment


# --- corrections from reconciliation (the gateway's settlement is the evidence) --------------------


def refund_adopt_gateway_success(*, refund: Refund, gateway_transaction_id: str, actor: Actor) -> Refund:
    """Inside the caller's transaction: the gateway settled a refund we recorded as failed (or
    never learned the outcome of). Records it as succeeded, with its ledger entry."""
    payment = Payment.objects.select_for_update(of=("self",)).get(pk=refund.payment_id)
    locked = Refund.objects.select_for_update().get(pk=refund.pk)
    if locked.status == RefundStatus.SUCCEEDED:
        return locked
    held = locked.amount if locked.status in REFUND_HELD else 0
    if locked.amount > payment.refundable_amount + held:
        raise RefundStateError("The payment has no room left for this refund; adjust it by hand.")
    before = payment_snapshot(payment)
    payment.amount_refund_pending -= held
    payment.amount_refunded += locked.amount
    payment.status = status_after_refunds(payment)
    locked.status = RefundStatus.SUCCEEDED
    locked.gateway_transaction_id = gateway_transaction_id or locked.gateway_transaction_id
    locked.failure_code = locked.failure_message = ""
    payment.save()
    locked.save()
    ledger_record_payment(payment, before, refund=locked)
    audit_record(
        actor=actor, action="refund.succeeded", target=locked, merchant_id=payment.merchant_id,
        before=before, after={**payment_snapshot(payment), "by": "settlement"},
    )  # fmt: skip
    publish_refund(locked, "refund.succeeded")
    return locked


def payment_adopt_gateway_capture(
    *, payment: Payment, amount: int, gateway_transaction_id: str, actor: Actor
) -> Payment:
    """Inside the caller's transaction: the gateway settled a charge we recorded as failed,
    voided or expired. Records it as captured for the settled amount, with its ledger entry."""
    locked = Payment.objects.select_for_update(of=("self",)).get(pk=payment.pk)
    if locked.status not in {PaymentStatus.FAILED, PaymentStatus.VOIDED, PaymentStatus.EXPIRED, PaymentStatus.UNKNOWN}:
        raise PaymentStateError(
            f"Only a failed, voided, expired or unknown payment can be corrected; this one is {locked.status}."
        )
    if not 0 < amount <= locked.amount:
        raise PaymentStateError("The settled amount is more than the payment's amount; adjust it by hand.")
    before = payment_snapshot(locked)
    locked.amount_authorized = max(locked.amount_authorized, amount)
    locked.amount_captured = amount
    locked.gateway_transaction_id = gateway_transaction_id or locked.gateway_transaction_id
    locked.status = PaymentStatus.CAPTURED
    locked.failure_code = locked.failure_message = ""
    locked.save()
    ledger_record_payment(locked, before)
    audit_record(
        actor=actor,
        action="payment.captured",
        target=locked,
        before=before,
        after={**payment_snapshot(locked), "by": "settlement"},
    )
    publish_payment(locked, "payment.captured")
    return locked


def payment_adjust_captured(*, payment: Payment, amount: int, reason: str, actor: Actor) -> Payment:
    """Inside the caller's transaction: correct what a payment captured to what the gateway
    settled (0 when it never settled). The ledger follows with a capture or a reversal."""
    locked = Payment.objects.select_for_update(of=("self",)).get(pk=payment.pk)
    floor = locked.amount_refunded + locked.amount_refund_pending
    if not floor <= amount <= locked.amount_authorized:
        raise PaymentStateError(
            f"The captured amount can only be set between what was refunded ({floor}) "
            f"and what was authorised ({locked.amount_authorized}).",
            code="adjustment_out_of_range",
        )
    before = payment_snapshot(locked)
    locked.amount_captured = amount
    if amount == 0:
        locked.status, locked.failure_code = PaymentStatus.FAILED, "not_settled"
        locked.failure_message = (reason or "The gateway never settled this payment.")[:255]
    elif locked.status not in {PaymentStatus.PARTIALLY_REFUNDED, PaymentStatus.REFUNDED}:
        locked.status = PaymentStatus.CAPTURED
    locked.save()
    ledger_record_payment(locked, before)
    audit_record(
        actor=actor,
        action="payment.adjusted",
        target=locked,
        before=before,
        after={**payment_snapshot(locked), "reason": reason},
    )
    publish_payment(locked, "payment.adjusted")
    return locked


def refund_mark_not_settled(*, refund: Refund, reason: str, actor: Actor) -> Refund:
    """Inside the caller's transaction: a refund we recorded as succeeded never reached the
    gateway's settlement. It becomes failed and the payment's refunded amount drops back."""
    return refund_mark_failed(
        refund=refund,
        failure_code="not_settled",
        reason=reason or "The gateway never settled this refund.",
        actor=actor,
    )


def refund_mark_failed(*, refund: Refund, failure_code: str, reason: str, actor: Actor) -> Refund:
    """Inside the caller's transaction: a refund we recorded as succeeded failed after all (the
    gateway gave the money back to the balance, or never settled it). It becomes failed, the
    payment's refunded amount drops back, the ledger reverses the refund and the merchant hears
    refund.failed."""
    payment = Payment.objects.select_for_update(of=("self",)).get(pk=refund.payment_id)
    locked = Refund.objects.select_for_update().get(pk=refund.pk)
    if locked.status != RefundStatus.SUCCEEDED:
        raise RefundStateError(f"Only a succeeded refund can be marked as failed; this one is {locked.status}.")
    before = payment_snapshot(payment)
    payment.amount_refunded -= locked.amount
    payment.status = status_after_refunds(payment)
    locked.status, locked.failure_code = RefundStatus.FAILED, failure_code[:64]
    locked.failure_message = (reason or "The gateway reports this refund failed.")[:255]
    payment.save()
    locked.save()
    ledger_record_payment(payment, before, refund=locked)
    audit_record(
        actor=actor,
        action="refund.failed",
        target=locked,
        merchant_id=payment.merchant_id,
        before=before,
        after=payment_snapshot(payment),
    )
    publish_refund(locked, "refund.failed")
    return locked
