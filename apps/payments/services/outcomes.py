"""A gateway call's recorded result, applied to its payment or refund (under their row locks):
shared by the first run, the resolver and retries."""

from __future__ import annotations

import logging

from django.utils import timezone

from apps.audit.actors import Actor
from apps.audit.services import audit_record
from apps.gateways.base import (
    GatewayResult,
)
from apps.payments.models import (
    Authentication,
    GatewayTransaction,
    Payment,
    PaymentMethodType,
    PaymentStatus,
    Refund,
    RefundStatus,
)

from .common import PAYMENT_RESULT_FIELDS, payment_snapshot, publish_payment, publish_refund, refund_snapshot
from .postings import ledger_record_payment

logger = logging.getLogger(__name__)


# --- charge ---------------------------------------------------------------------------------


def apply_charge_result(payment: Payment, gt: GatewayTransaction, result: GatewayResult | None, actor: Actor) -> None:
    before = payment_snapshot(payment)
    action = charge_result(payment, gt, result)
    payment.save(update_fields=PAYMENT_RESULT_FIELDS)
    ledger_record_payment(payment, before)
    audit_record(actor=actor, action=action, target=payment, before=before, after=payment_snapshot(payment))
    if action != "payment.outcome_unknown":
        publish_payment(payment, action)


def _authentication_ended(payment: Payment, *, succeeded: bool) -> None:
    if payment.authentication == Authentication.REQUIRED:
        payment.authentication = Authentication.SUCCEEDED if succeeded else Authentication.FAILED
    payment.action_url = ""


def charge_result(payment: Payment, gt: GatewayTransaction, result: GatewayResult | None) -> str:
    """The call's result on the payment's fields (not saved); returns the audit action."""
    payment.updated_at = timezone.now()
    if result is not None:
        payment.card_brand = result.card_brand or payment.card_brand
        payment.card_last4 = result.card_last4 or payment.card_last4
    if gt.status == GatewayTransaction.Status.SUCCEEDED and result is not None:
        payment.gateway_transaction_id = result.transaction_id
        payment.amount_authorized = payment.amount
        if gt.kind == GatewayTransaction.Kind.SALE and payment.payment_method_type == PaymentMethodType.US_BANK_ACCOUNT:
            # A bank debit is owed from now (the ledger's receivable) but succeeds only once it settles.
            payment.amount_captured = payment.amount
            payment.status, action = PaymentStatus.PROCESSING, "payment.processing"
        elif gt.kind == GatewayTransaction.Kind.SALE:
            payment.amount_captured = payment.amount
            payment.status, action = PaymentStatus.CAPTURED, "payment.captured"
        else:
            payment.status, action = PaymentStatus.AUTHORIZED, "payment.authorized"
        payment.failure_code = payment.failure_message = ""
        _authentication_ended(payment, succeeded=True)
    elif gt.status == GatewayTransaction.Status.REQUIRES_ACTION and result is not None:
        # The issuer wants the customer to authenticate (3-D Secure): nothing is authorised yet.
        payment.gateway_transaction_id = result.transaction_id
        payment.status, action = PaymentStatus.REQUIRES_ACTION, "payment.requires_action"
        payment.authentication = Authentication.REQUIRED
        payment.action_url = result.action_url[:2000]
    elif gt.status == GatewayTransaction.Status.UNKNOWN:
        payment.status, action = PaymentStatus.UNKNOWN, "payment.outcome_unknown"
        if result is not None and result.transaction_id:
            payment.gateway_transaction_id = result.transaction_id
    else:
        payment.status, action = PaymentStatus.FAILED, "payment.failed"
        payment.failure_code = gt.error_code or "processing_error"
        payment.failure_message = gt.message or "The payment failed."
        _authentication_ended(payment, succeeded=False)
    return action


def finish_capture(payment: Payment, gt: GatewayTransaction, amount: int, actor: Actor) -> None:
    if gt.status == GatewayTransaction.Status.UNKNOWN:
        return  # payment.operation stays held until the outcome is known
    payment.operation = ""
    if gt.status == GatewayTransaction.Status.SUCCEEDED:
        before = payment_snapshot(payment)
        payment.amount_captured = amount
        payment.status = PaymentStatus.CAPTURED
        payment.save()
        ledger_record_payment(payment, before)
        audit_record(
            actor=actor, action="payment.captured", target=payment, before=before, after=payment_snapshot(payment)
        )
        publish_payment(payment, "payment.captured")
    else:
        payment.save(update_fields=["operation", "updated_at"])


def finish_void(payment: Payment, gt: GatewayTransaction, actor: Actor) -> None:
    if gt.status == GatewayTransaction.Status.UNKNOWN:
        return
    payment.operation = ""
    if gt.status == GatewayTransaction.Status.SUCCEEDED:
        before = payment_snapshot(payment)
        payment.amount_captured = 0
        payment.status = PaymentStatus.VOIDED
        payment.save()
        ledger_record_payment(payment, before)
        audit_record(
            actor=actor, action="payment.voided", target=payment, before=before, after=payment_snapshot(payment)
        )
        publish_payment(payment, "payment.voided")
    else:
        payment.save(update_fields=["operation", "updated_at"])


def status_after_refunds(payment: Payment) -> str:
    if payment.status == PaymentStatus.RETURNED:  # the bank took the debit back: it stays returned
        return payment.status
    if not payment.amount_refunded:
        return PaymentStatus.CAPTURED
    if payment.amount_refunded == payment.amount_captured:
        return PaymentStatus.REFUNDED
    return PaymentStatus.PARTIALLY_REFUNDED


# Refunds whose amount is held in the payment's amount_refund_pending.
REFUND_HELD = frozenset({RefundStatus.PENDING_APPROVAL, RefundStatus.PENDING, RefundStatus.UNKNOWN})


def finish_refund(payment: Payment, refund: Refund, gt: GatewayTransaction, actor: Actor) -> None:
    """Under the payment's and the refund's locks: the refund call's recorded result, applied once.
    A refund already settled otherwise (reconciliation adopted the gateway's settlement) is left
    as it is: its amount was released and counted then."""
    if refund.status not in {RefundStatus.PENDING, RefundStatus.UNKNOWN}:
        return
    before = payment_snapshot(payment)
    if gt.status == GatewayTransaction.Status.UNKNOWN:
        if refund.status != RefundStatus.UNKNOWN:
            refund.status = RefundStatus.UNKNOWN
            refund.save(update_fields=["status", "updated_at"])
            audit_record(
                actor=actor,
                action="refund.outcome_unknown",
                target=refund,
                merchant_id=payment.merchant_id,
                after=refund_snapshot(refund),
            )
        return
    payment.amount_refund_pending -= refund.amount
    if gt.status == GatewayTransaction.Status.SUCCEEDED:
        payment.amount_refunded += refund.amount
        payment.status = status_after_refunds(payment)
        refund.status = RefundStatus.SUCCEEDED
        refund.gateway_transaction_id = gt.gateway_transaction_id
        action = "refund.succeeded"
    else:
        refund.status = RefundStatus.FAILED
        refund.failure_code = gt.error_code or "refund_failed"
        refund.failure_message = gt.message
        action = "refund.failed"
    payment.save()
    refund.save()
    ledger_record_payment(payment, before, refund=refund)
    audit_record(
        actor=actor,
        action=action,
        target=refund,
        merchant_id=payment.merchant_id,
        before=before,
        after=payment_snapshot(payment),
    )
    publish_refund(refund, action)


def order_apply_result(payment: Payment, gt: GatewayTransaction, actor: Actor) -> None:
    """Under the payment's lock: the order call's recorded result, applied to its payment (pending,
    or unknown once the sweeper gave up waiting for the call)."""
    if payment.status not in {PaymentStatus.PENDING, PaymentStatus.UNKNOWN}:
        return
    before = payment_snapshot(payment)
    if gt.status == GatewayTransaction.Status.SUCCEEDED:
        payment.gateway_order_id = gt.gateway_transaction_id
        payment.save(update_fields=["gateway_order_id", "updated_at"])
        audit_record(
            actor=actor, action="payment.order_created", target=payment, after={"order": payment.gateway_order_id}
        )
        return
    payment.status = PaymentStatus.FAILED
    payment.failure_code = gt.error_code or "gateway_unavailable"
    payment.failure_message = gt.message or "The checkout order could not be created."
    payment.save(update_fields=["status", "failure_code", "failure_message", "updated_at"])
    audit_record(actor=actor, action="payment.failed", target=payment, before=before, after=payment_snapshot(payment))
    publish_payment(payment, "payment.failed")
