"""Refunds: reserved under the payment's row lock, maker-checker approval, the gateway call."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from apps.audit.actors import Actor
from apps.audit.services import audit_record, audit_record_atomic
from apps.core.context import current_request_id
from apps.core.db import atomic_with_reconnect
from apps.core.errors import ApplicationError
from apps.core.money import format_amount
from apps.core.queueing import enqueue_on_commit
from apps.gateways.api_errors import PaymentDeclined
from apps.gateways.base import (
    BankAccountOnFile,
    RefundRequest,
)
from apps.gateways.errors import (
    GatewayDeclined,
    GatewayRetryable,
)
from apps.gateways.registry import gateway_for
from apps.payments.attempts import next_attempt_reference
from apps.payments.errors import (
    AmountTooLarge,
    ApprovalNotAllowed,
    PaymentBusy,
    PaymentStateError,
    RefundStateError,
    RequestInFlight,
    SelfApprovalRefused,
)
from apps.payments.models import GatewayTransaction, Payment, PaymentMethodType, PaymentStatus, Refund, RefundStatus
from apps.payments.selectors import earlier_calls

from .common import (
    OPEN_CALL,
    REFUND_SEND_TASK,
    CallOutcome,
    call_gateway,
    call_mark_sent,
    enqueue_resolution,
    payment_snapshot,
    raise_for_outcome,
    record_open_call,
    refund_snapshot,
)
from .outcomes import finish_refund
from .resolution import adopt_failed_calls_found_at_gateway, resolve_now

logger = logging.getLogger(__name__)


# --- refunds ---------------------------------------------------------------------------------


def refund_needs_approval(
    *, amount: int, currency: str, requested_by_user: User | None, already_refunded: int = 0
) -> bool:
    """Whether a refund of `amount` waits for a second person. The threshold counts every refund of
    the payment (succeeded, pending, waiting for approval: `already_refunded`), so splitting a large
    refund into small ones does not avoid the approver."""
    threshold = settings.REFUND_APPROVAL_THRESHOLDS.get(currency)
    if threshold is not None and already_refunded + amount >= threshold:
        return True
    # Maker-checker: a staff member who may not approve refunds cannot refund alone.
    return requested_by_user is not None and not requested_by_user.has_perm("payments.approve_refund")


def refunds_counted_toward_approval(payment: Payment) -> int:
    """What the payment's refunds add up to for the approval threshold: refunded, and reserved by
    refunds pending at the gateway, waiting for approval or with an outcome being confirmed."""
    return payment.amount_refunded + payment.amount_refund_pending


def refund_create(
    *,
    payment: Payment,
    amount: int | None = None,
    reason: str = "",
    actor: Actor,
    requested_by_user: User | None = None,
    idempotency_reference: str = "",
) -> Refund:
    """Refund a captured payment, all that is left (amount=None) or part of it.

    Large refunds and refunds requested by staff without the approver role wait for approval
    (status pending_approval); their amount stays reserved meanwhile. A retry with the same
    `idempotency_reference` answers with the refund its first run made, never a second one.
    """
    if idempotency_reference and (found := _refund_recover(payment, idempotency_reference)) is not None:
        return found
    with transaction.atomic():
        locked = Payment.objects.select_for_update(of=("self",)).select_related("gateway_account").get(pk=payment.pk)
        if locked.status not in {PaymentStatus.CAPTURED, PaymentStatus.PARTIALLY_REFUNDED}:
            raise PaymentStateError(f"Only captured payments can be refunded; this one is {locked.status}.")
        if locked.operation:
            raise PaymentBusy()
        refundable = locked.refundable_amount
        amount = refundable if amount is None else amount
        if amount <= 0 or amount > refundable:
            raise AmountTooLarge(
                f"The refund would exceed what is left to refund ({format_amount(refundable, locked.currency)}).",
                code="refund_exceeds_captured" if amount > 0 else "amount_invalid",
                param="amount",
            )
        if (
            idempotency_reference
            and Refund.objects.filter(payment=locked, request_reference=idempotency_reference)
            .exclude(status=RefundStatus.FAILED)
            .exists()
        ):
            raise RequestInFlight()  # another run of this request made its refund a moment ago
        approval = refund_needs_approval(
            amount=amount,
            currency=locked.currency,
            requested_by_user=requested_by_user,
            already_refunded=refunds_counted_toward_approval(locked),
        )
        before = payment_snapshot(locked)
        locked.amount_refund_pending += amount
        locked.save(update_fields=["amount_refund_pending", "updated_at"])
        refund = Refund.objects.create(
            merchant=locked.merchant,
            payment=locked,
            status=RefundStatus.PENDING_APPROVAL if approval else RefundStatus.PENDING,
            amount=amount,
            currency=locked.currency,
            reason=reason[:255],
            requested_by=actor.label,
            requested_by_user=requested_by_user,
            request_reference=idempotency_reference,
        )
        audit_record(
            actor=actor,
            action="refund.approval_requested" if approval else "refund.created",
            target=refund,
            merchant_id=locked.merchant_id,
            before=before,
            after={**refund_snapshot(refund), "reason": refund.reason},
        )
        gt = None if approval else _refund_call_record(refund)
    if gt is None:
        return refund
    return _refund_execute(refund, gt, actor)


def _refund_call_record(refund: Refund, *, queued: bool = False) -> GatewayTransaction:
    """The refund's gateway call, opened: pending (sent now, by the caller) or queued (sent by a worker)."""
    gt = GatewayTransaction(
        payment=refund.payment,
        status=GatewayTransaction.Status.QUEUED if queued else GatewayTransaction.Status.PENDING,
        refund=refund,
        gateway_account=refund.payment.gateway_account,
        kind=GatewayTransaction.Kind.REFUND,
        amount=refund.amount,
        currency=refund.currency,
        correlation_id=current_request_id() or "",
    )
    if refund.request_reference:
        earlier = earlier_calls(refund.request_reference, kinds=[GatewayTransaction.Kind.REFUND])
        gt.reference = next_attempt_reference(refund.request_reference, earlier)
    gt.save(force_insert=True)
    return gt


def _refund_recover(payment: Payment, reference: str) -> Refund | None:
    """A retried refund request: the refund its first run made, as it now is (resolved at the
    gateway if its call is open; raises the decline it met). None when there is none, or when
    every call made for it provably did nothing (refund again)."""
    refund = Refund.objects.filter(payment=payment, request_reference=reference).order_by("-id").first()
    if refund is None:
        return None
    calls = earlier_calls(reference, kinds=[GatewayTransaction.Kind.REFUND])
    last = calls[-1] if calls else None
    if last is not None and last.status in OPEN_CALL:
        last = resolve_now(last)
    if last is not None and last.status == GatewayTransaction.Status.FAILED:
        found = adopt_failed_calls_found_at_gateway(
            [gt for gt in calls if gt.status == GatewayTransaction.Status.FAILED]
        )
        if found is None:
            return None
        last = found
    refund = Refund.objects.select_related("payment__gateway_account").get(pk=refund.pk)
    if last is not None and last.status == GatewayTransaction.Status.DECLINED:
        _raise_refund_declined(last, refund)
    return refund


def _raise_refund_declined(gt: GatewayTransaction, refund: Refund) -> None:
    extra = {"refund": refund.public_id, "payment": refund.payment.public_id}
    if gt.error_code == "payment_not_settled":
        raise PaymentStateError(
            "The payment has not settled at the gateway yet, so it cannot be refunded: void it instead, "
            "or refund after settlement.",
            code="payment_not_settled",
            extra=extra,
        )
    raise PaymentDeclined(gt.message or "Declined by the gateway.", code="refund_declined", extra=extra)


def bank_account_on_file(payment: Payment) -> BankAccountOnFile | None:
    """A bank debit is refunded by a credit to the same account, named by its last fours."""
    if payment.payment_method_type != PaymentMethodType.US_BANK_ACCOUNT:
        return None
    return BankAccountOnFile(
        payment.card_last4, payment.bank_routing_last4, payment.bank_account_type, payment.bank_account_holder
    )


class RefundSendDeferred(Exception):
    """A queued refund's call did not reach the gateway (a retryable error): it is queued again."""


# How long after its approval a queued refund's call that did not reach the gateway (a retryable
# error: the gateway down, rate limited) is queued again rather than failed.
SEND_RETRY_WINDOW = timedelta(hours=1)
# The longest wait between two tries of a deferred send (apps.payments.tasks: 10 minutes, jitter
# of a quarter included).
DEFERRED_SEND_GRACE = timedelta(seconds=750)


def _refund_execute(refund: Refund, gt: GatewayTransaction, actor: Actor, *, defer_unsent: bool = False) -> Refund:
    payment = refund.payment
    gateway = gateway_for(payment.gateway_account)
    outcome = call_gateway(
        gateway.refund,
        RefundRequest(
            gt.reference, payment.gateway_transaction_id, refund.amount, refund.currency, payment.card_last4,
            bank_account=bank_account_on_file(payment),
        ),
    )  # fmt: skip
    if defer_unsent and isinstance(outcome.error, GatewayRetryable) and _requeue(gt):
        raise RefundSendDeferred(outcome.error.message)
    locked_payment, locked, gt = atomic_with_reconnect(
        lambda: _refund_record(payment.pk, refund.pk, gt, outcome, actor), what="refund_finish"
    )
    if isinstance(outcome.error, GatewayDeclined):
        _raise_refund_declined(gt, locked)
    raise_for_outcome(outcome, payment=locked_payment, kind=GatewayTransaction.Kind.REFUND)
    return locked


def _refund_record(
    payment_id: int, refund_id: int, gt: GatewayTransaction, outcome: CallOutcome, actor: Actor
) -> tuple[Payment, Refund, GatewayTransaction]:
    """Step 3 of a refund, in the caller's transaction; nothing if the call was recorded already."""
    payment = Payment.objects.select_for_update().get(pk=payment_id)
    refund = Refund.objects.select_for_update().select_related("payment").get(pk=refund_id)
    if not record_open_call(gt, outcome):
        return payment, refund, gt
    finish_refund(payment, refund, gt, actor)
    if outcome.unknown:
        enqueue_resolution(gt)
    return payment, refund, gt


def refund_approve(*, refund: Refund, approver: User, note: str = "", send_later: bool = False) -> Refund:
    """Maker-checker: a different user with the approver role releases a waiting refund. An
    approver's attempt on their own request is refused and audited.

    The approval is committed with the refund's gateway call opened. The call is made here, before
    returning (the refund comes back as the gateway left it), or with `send_later` by a worker
    (refund_send, queued when the approval commits; the refund comes back pending): many approvals
    at once must not each wait for the gateway inside one web request."""
    actor = Actor.staff(approver)
    try:
        with transaction.atomic():
            # The payment first, then its refund: the order every path takes (a bank return too).
            Payment.objects.select_for_update(of=("self",)).filter(pk=refund.payment_id).first()
            locked = (
                Refund.objects.select_for_update(of=("self", "payment"))
                .select_related("payment__gateway_account")
                .get(pk=refund.pk)
            )
            if locked.status != RefundStatus.PENDING_APPROVAL:
                raise RefundStateError(
                    f"Only refunds waiting for approval can be approved; this one is {locked.status}."
                )
            if not approver.has_perm("payments.approve_refund"):
                raise ApprovalNotAllowed("Approving refunds needs the Finance approver role.")
            if locked.payment.status not in {PaymentStatus.CAPTURED, PaymentStatus.PARTIALLY_REFUNDED}:
                raise PaymentStateError(
                    f"The payment is {locked.payment.status} now: there is nothing to refund; reject the refund."
                )
            if locked.requested_by_user_id is not None and locked.requested_by_user_id == approver.pk:
                raise SelfApprovalRefused("A refund cannot be approved by the person who requested it.")
            locked.status = RefundStatus.PENDING
            locked.decided_by_user = approver
            locked.decided_at = timezone.now()
            locked.decision_note = note[:255]
            locked.save()
            audit_record(
                actor=actor, action="refund.approved", target=locked, after={**refund_snapshot(locked), "note": note}
            )
            gt = _refund_call_record(locked, queued=send_later)
            if send_later:
                # Lost with the broker? The sweeper queues a call still queued after a while again.
                enqueue_on_commit(REFUND_SEND_TASK, gt.pk)
    except SelfApprovalRefused as refused:
        # The refusal rolled its transaction back; the attempt is kept in a transaction of its own.
        # `locked` is the row as read under the lock, unchanged before the refusal.
        audit_record_atomic(
            actor=actor,
            action="refund.approval_refused",
            target=locked,
            after={"reason": refused.message, "amount": locked.amount, "currency": locked.currency, "note": note},
        )
        raise
    if send_later:
        return locked
    return _refund_execute(locked, gt, actor)


def refund_send(*, gateway_transaction_id: int) -> str:
    """A refund call queued by an approval (refund_approve with send_later) goes out, at most once.
    Safe to run any number of times, at once too: the call is claimed as sent (queued -> pending,
    a guarded UPDATE) right before it goes out, and only the run that claimed it sends it. A call
    no longer queued was sent (or ruled on) already. Returns what happened, for the log."""
    gt = (
        GatewayTransaction.objects.select_related("refund__decided_by_user", "payment__gateway_account")
        .filter(pk=gateway_transaction_id, kind=GatewayTransaction.Kind.REFUND)
        .first()
    )
    if gt is None or gt.refund is None:
        return "no such refund call"
    if gt.status != GatewayTransaction.Status.QUEUED:
        return f"{gt.refund.public_id}: sent already ({gt.status})"
    approver = gt.refund.decided_by_user
    actor = Actor.staff(approver) if approver else Actor.system("refund approval")
    with transaction.atomic():
        not_sent = _refund_claim_queued_call(gt, actor)
    if not_sent:
        return not_sent
    # Committed as sent before it goes out: a run of this task now finds it claimed, and the
    # sweeper judges its age from now, as any call in flight.
    refund = Refund.objects.select_related("payment__gateway_account").get(pk=gt.refund.pk)
    # Within the window a call the gateway never received goes back in the queue (the task tries
    # again later); after it, it fails as a refund sent in the request does, for staff to see.
    defer = refund.decided_at is not None and timezone.now() - refund.decided_at < SEND_RETRY_WINDOW
    try:
        refund = _refund_execute(refund, gt, actor, defer_unsent=defer)
    except ApplicationError as refused:
        # Recorded on the refund (failed, or unknown and queued for the resolver): staff read it
        # in the refund list; nobody waits for this answer.
        logger.info("queued_refund_not_done", extra={"refund": refund.public_id, "error": refused.code})
        refund.refresh_from_db()
    return f"{refund.public_id}: {refund.status}"


def _refund_claim_queued_call(gt: GatewayTransaction, actor: Actor) -> str:
    """Inside a transaction, under the payment's and the refund's locks (the approval's order):
    claim the queued call as sent (""), or say why it is not sent. What changed while it waited
    decides: a refund settled otherwise (reconciliation adopted it) keeps its state; a payment
    that can no longer be refunded (the customer's bank returned the debit) fails the refund,
    as a refund still waiting for approval fails, its amount released."""
    assert gt.refund is not None  # noqa: S101 - refund calls always have a refund
    payment = Payment.objects.select_for_update(of=("self",)).get(pk=gt.payment_id)
    refund = Refund.objects.select_for_update(of=("self",)).select_related("payment").get(pk=gt.refund.pk)
    # Read again under the locks: another run may have claimed it (and be out at the gateway with
    # it) since this one found it queued. Such a call is not ours to close or to fail its refund by.
    gt.refresh_from_db(fields=["status"])
    if gt.status != GatewayTransaction.Status.QUEUED:
        return f"{refund.public_id}: sent already ({gt.status})"
    if refund.status != RefundStatus.PENDING:
        _close_unsent_call(gt, "refund_settled", f"Not sent: the refund is {refund.status}.")
        return f"{refund.public_id}: {refund.status}, not sent"
    if payment.status not in {PaymentStatus.CAPTURED, PaymentStatus.PARTIALLY_REFUNDED}:
        returned = payment.status == PaymentStatus.RETURNED
        if not _close_unsent_call(
            gt,
            "payment_returned" if returned else "payment_not_refundable",
            "The customer's bank returned the debit; there is nothing left to refund."
            if returned
            else f"The payment is {payment.status} now: there is nothing to refund.",
        ):
            return f"{refund.public_id}: sent already"
        gt.refresh_from_db()
        finish_refund(payment, refund, gt, actor)
        return f"{refund.public_id}: {refund.status}, not sent (payment {payment.status})"
    if not call_mark_sent(gt, was=GatewayTransaction.Status.QUEUED):
        return f"{refund.public_id}: sent already"
    return ""


def _requeue(gt: GatewayTransaction) -> bool:
    """Our claimed call back to queued: the gateway never received it (False if settled meanwhile).

    Its age starts when its task's next try is due at the latest (DEFERRED_SEND_GRACE), not now:
    the stale-call sweeper re-sends a queued call once it is GATEWAY_STALE_CALL_SECONDS old, and
    while the task backs off (minutes apart) each copy the sweeper sent would start a retry chain
    of its own, multiplying the calls to a gateway that is refusing them (a rate limit). The
    sweeper now only picks up a deferred call whose own retries were lost."""
    due = timezone.now() + DEFERRED_SEND_GRACE
    queued = GatewayTransaction.objects.filter(pk=gt.pk, status=GatewayTransaction.Status.PENDING).update(
        status=GatewayTransaction.Status.QUEUED, created_at=due
    )
    if queued:
        gt.status, gt.created_at = GatewayTransaction.Status.QUEUED, due
    return bool(queued)


def _close_unsent_call(gt: GatewayTransaction, code: str, message: str) -> bool:
    """Close a call still queued as never sent; False when it is no longer queued (claimed)."""
    return bool(
        GatewayTransaction.objects.filter(pk=gt.pk, status=GatewayTransaction.Status.QUEUED).update(
            status=GatewayTransaction.Status.FAILED, error_code=code, message=message, completed_at=timezone.now()
        )
    )


def refund_reject(*, refund: Refund, approver: User, note: str = "") -> Refund:
    actor = Actor.staff(approver)
    with transaction.atomic():
        payment = Payment.objects.select_for_update().get(pk=refund.payment_id)  # payment first, then refund
        locked = Refund.objects.select_for_update().get(pk=refund.pk)
        if locked.status != RefundStatus.PENDING_APPROVAL:
            raise RefundStateError(f"Only refunds waiting for approval can be rejected; this one is {locked.status}.")
        if not approver.has_perm("payments.approve_refund"):
            raise ApprovalNotAllowed("Rejecting refunds needs the Finance approver role.")
        payment.amount_refund_pending -= locked.amount
        payment.save(update_fields=["amount_refund_pending", "updated_at"])
        locked.status = RefundStatus.REJECTED
        locked.decided_by_user = approver
        locked.decided_at = timezone.now()
        locked.decision_note = note[:255]
        locked.save()
        audit_record(
            actor=actor, action="refund.rejected", target=locked, after={**refund_snapshot(locked), "note": note}
        )
    return locked
