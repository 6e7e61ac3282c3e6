"""Bank account debits (ACH) after the gateway accepted them: settled (processing -> captured)
and returned by the customer's bank days later (captured -> returned, the settled money reversed
in the ledger). Both are learnt from the gateway's settlement reports, inside the transaction
that stores them, and are applied once: the payment's row lock and its status guard a second run.

Returned is a state of its own, not `failed`: the payment did succeed and its money was settled,
then taken back; merchants act on it differently (ask for another payment method, not retry the
same debit), and the ledger keeps both movements.
"""

from __future__ import annotations

from collections.abc import Iterable
from datetime import datetime

from django.db import transaction

from apps.audit.actors import Actor
from apps.audit.services import audit_record
from apps.ledger.models import AccountKind, EntryKind
from apps.ledger.services import EntrySpec, ledger_post_many
from apps.payments.models import Payment, PaymentMethodType, PaymentStatus, Refund, RefundStatus

from .common import payment_snapshot, publish_payment, publish_refund, refund_snapshot

# NACHA return codes in our words (the failure_code of a returned payment).
RETURN_FAILURE_CODES = {
    "R01": "insufficient_funds",
    "R02": "account_closed",
    "R03": "no_account",
    "R04": "invalid_account_number",
    "R05": "debit_not_authorized",
    "R07": "debit_authorization_revoked",
    "R08": "debit_stopped",
    "R09": "insufficient_funds",
    "R10": "debit_not_authorized",
    "R16": "account_frozen",
    "R20": "account_not_debitable",
    "R29": "debit_not_authorized",
}


def _require_transaction() -> None:
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("bank debit updates run inside the settlement's transaction")


def _bank_debits(gateway_account_id: int, transaction_ids: Iterable[str], statuses: list[str]) -> list[Payment]:
    ids = {txn for txn in transaction_ids if txn}
    if not ids:
        return []
    return list(
        Payment.objects.select_for_update(of=("self",))
        .select_related("gateway_account", "customer")
        .filter(
            gateway_account_id=gateway_account_id,
            payment_method_type=PaymentMethodType.US_BANK_ACCOUNT,
            gateway_transaction_id__in=ids,
            status__in=statuses,
        )
        .order_by("pk")
    )


def bank_debits_settled(*, gateway_account_id: int, transaction_ids: Iterable[str], actor: Actor) -> list[Payment]:
    """Inside the caller's transaction: the processing debits a settlement carried succeed."""
    _require_transaction()
    settled = _bank_debits(gateway_account_id, transaction_ids, [PaymentStatus.PROCESSING])
    for payment in settled:
        before = payment_snapshot(payment)
        payment.status = PaymentStatus.CAPTURED
        payment.save(update_fields=["status", "updated_at"])
        audit_record(
            actor=actor, action="payment.succeeded", target=payment, before=before, after=payment_snapshot(payment)
        )
        publish_payment(payment, "payment.succeeded")
    return settled


def bank_debit_returned(
    *,
    gateway_account_id: int,
    transaction_id: str,
    amount: int,
    return_code: str,
    return_reason: str,
    returned_at: datetime | None,
    actor: Actor,
) -> Payment | None:
    """Inside the caller's transaction: the customer's bank returned a debit. The payment becomes
    returned with the code and reason, and the ledger reverses the returned amount (sales back out
    of the gateway receivable, which the return's settlement batch then clears). None when no debit
    of ours has that transaction, or it is returned already."""
    _require_transaction()
    found = _bank_debits(
        gateway_account_id,
        [transaction_id],
        [
            PaymentStatus.PROCESSING,
            PaymentStatus.CAPTURED,
            PaymentStatus.PARTIALLY_REFUNDED,
            PaymentStatus.REFUNDED,
        ],
    )
    if not found:
        return None
    payment = found[0]
    before = payment_snapshot(payment)
    code = return_code.upper()
    payment.status = PaymentStatus.RETURNED
    payment.failure_code = RETURN_FAILURE_CODES.get(code, "bank_account_return")
    payment.failure_message = f"{code}: {return_reason}".strip(": ")[:255] or "Returned by the customer's bank."
    payment.save(update_fields=["status", "failure_code", "failure_message", "updated_at"])
    ledger_post_many(
        [
            EntrySpec(
                gateway_account_id=gateway_account_id,
                kind=EntryKind.RETURN,
                currency=payment.currency,
                amount=amount,
                lines=((AccountKind.SALES, amount), (AccountKind.RECEIVABLE, -amount)),
                payment_id=payment.pk,
                gateway_transaction_id=transaction_id,
                memo=f"ACH return {code}",
                occurred_at=returned_at,
            )
        ]
    )
    audit_record(
        actor=actor,
        action="payment.returned",
        target=payment,
        before=before,
        after={**payment_snapshot(payment), "return_code": code, "returned_amount": amount},
    )
    publish_payment(payment, "payment.returned")
    _fail_waiting_refunds(payment, actor)
    return payment


def _fail_waiting_refunds(payment: Payment, actor: Actor) -> None:
    """Under the payment's lock: refunds still waiting for approval would credit money the bank
    has already taken back. They fail, and their reserved amount is released. (A refund already
    sent to the gateway is settled by its call as usual; the payment stays returned.)"""
    waiting = list(
        Refund.objects.select_for_update().filter(payment=payment, status=RefundStatus.PENDING_APPROVAL).order_by("pk")
    )
    for refund in waiting:
        before = payment_snapshot(payment)
        payment.amount_refund_pending -= refund.amount
        refund.status = RefundStatus.FAILED
        refund.failure_code = "payment_returned"
        refund.failure_message = "The customer's bank returned the debit; there is nothing left to refund."
        refund.save(update_fields=["status", "failure_code", "failure_message", "updated_at"])
        audit_record(
            actor=actor,
            action="refund.failed",
            target=refund,
            merchant_id=payment.merchant_id,
            before=before,
            after={**refund_snapshot(refund), "failure_code": refund.failure_code},
        )
        publish_refund(refund, "refund.failed")
    if waiting:
        payment.save(update_fields=["amount_refund_pending", "updated_at"])
