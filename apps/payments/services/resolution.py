"""Finding out what became of a call: unknown outcomes resolved at the gateway, calls abandoned by a
dead process swept up, payments brought up to date with the gateway, retried requests' calls settled."""

from __future__ import annotations

import logging
from datetime import timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.audit.actors import Actor
from apps.audit.services import audit_record
from apps.core.db import atomic_with_reconnect
from apps.core.queueing import enqueue
from apps.gateways.api_errors import CardExpired, GatewayMisconfiguredError, PaymentDeclined
from apps.gateways.base import (
    GatewayResult,
    Outcome,
    TransactionDetails,
    TransactionState,
)
from apps.gateways.errors import (
    GatewayDeclined,
    GatewayError,
    GatewayMisconfigured,
    GatewayNotFound,
    GatewayRetryable,
)
from apps.gateways.registry import gateway_for
from apps.payments.errors import RefundStateError
from apps.payments.models import GatewayTransaction, Payment, PaymentStatus, Refund, RefundStatus

from .common import (
    OPEN_CALL,
    REFUND_SEND_TASK,
    RESOLVE_TASK,
    CallOutcome,
    may_be_in_flight,
    payment_snapshot,
    publish_payment,
    record_call,
    unavailable,
)
from .corrections import refund_mark_failed
from .outcomes import apply_charge_result, finish_capture, finish_refund, finish_void, order_apply_result
from .postings import ledger_record_payment

logger = logging.getLogger(__name__)


def resolve_now(gt: GatewayTransaction) -> GatewayTransaction:
    """Ask the gateway what became of a call left pending or unknown (a retry wants the answer
    now). A call that may still be in flight is settled only by the gateway's positive word, never
    concluded "did not happen". If the gateway cannot be asked right now, the call stays as it is."""
    try:
        gateway_transaction_resolve(
            gateway_transaction_id=gt.pk, actor=Actor.system("idempotent retry"), positive_only=may_be_in_flight(gt)
        )
    except GatewayError as exc:
        logger.warning("retry_resolution_failed", extra={"reference": gt.reference, "error": exc.code})
    gt.refresh_from_db()
    return gt


def raise_recorded_decline(gt: GatewayTransaction, payment: Payment, *, refund: Refund | None = None) -> None:
    """The error a declined call answered the first time, for its retry."""
    if gt.status == GatewayTransaction.Status.DECLINED:
        extra = {"payment": payment.public_id, **({"refund": refund.public_id} if refund else {})}
        raise PaymentDeclined(
            gt.message or "Declined by the gateway.",
            code=gt.error_code or "card_declined",
            param=_expired_part(payment) if gt.error_code == CardExpired.code else None,
            extra=extra,
        )


def _expired_part(payment: Payment) -> str:
    """The part of the card the first answer named for an expired card (apps.gateways.selectors
    .card_expired, on the day the payment was made): a past year, or an earlier month that year."""
    year = payment.card_exp_year or 0
    return f"payment_method.exp_{'year' if year < payment.created_at.year else 'month'}"


def adopt_failed_calls_found_at_gateway(failed: list[GatewayTransaction]) -> GatewayTransaction | None:
    """Before calling again: ask the gateway for each earlier attempt we recorded as never made
    (refused, unreachable). One it has after all is reopened and recorded from the gateway's
    word, and returned; None when the gateway has none of them."""
    for gt in failed:
        gateway = gateway_for(gt.gateway_account)
        parent = gt.payment.gateway_transaction_id if gt.kind == GatewayTransaction.Kind.REFUND else ""
        try:
            details = gateway.find_transaction(gt.reference, parent, made_at=gt.created_at)
        except GatewayRetryable as exc:
            raise unavailable(exc, kind=gt.kind, payment=gt.payment) from exc
        except (GatewayMisconfigured, GatewayNotFound) as exc:
            raise GatewayMisconfiguredError(extra={"payment": gt.payment.public_id}) from exc
        if details is None:
            continue
        logger.error("failed_call_found_at_gateway", extra={"reference": gt.reference, "state": details.state})
        with transaction.atomic():
            reopened = _reopen_failed_call(gt.pk)
        if not reopened:
            raise RefundStateError(
                "A refund recorded as failed went through at the gateway after all, and the payment has no room "
                "left to hold it; reconciliation will show it. Nothing was refunded again.",
                extra={"payment": gt.payment.public_id},
            )
        return resolve_now(gt)
    return None


def _reopen_failed_call(gt_id: int) -> bool:
    """Inside a transaction: a call we recorded as never made turned up at the gateway. It and its
    payment (or refund, whose amount is reserved again) become unknown, for the resolver. False
    when it cannot be reopened (a refund the payment has no room left for)."""
    actor = Actor.system("idempotent retry")
    payment = Payment.objects.select_for_update(of=("self",)).get(gateway_transactions__pk=gt_id)
    gt = GatewayTransaction.objects.select_for_update().get(pk=gt_id)
    if gt.status != GatewayTransaction.Status.FAILED:
        return True  # reopened (and perhaps resolved) by a concurrent retry
    before = payment_snapshot(payment)
    if gt.refund_id is not None:
        refund = Refund.objects.select_for_update().get(pk=gt.refund_id)
        if refund.status != RefundStatus.FAILED or refund.amount > payment.refundable_amount:
            logger.error("failed_refund_found_at_gateway_without_room", extra={"refund": refund.public_id})
            return False
        payment.amount_refund_pending += refund.amount
        payment.save(update_fields=["amount_refund_pending", "updated_at"])
        refund.status = RefundStatus.UNKNOWN
        refund.save(update_fields=["status", "updated_at"])
        audit_record(
            actor=actor, action="refund.outcome_unknown", target=refund, before=before, after=payment_snapshot(payment)
        )
    elif payment.status == PaymentStatus.FAILED:
        payment.status = PaymentStatus.UNKNOWN
        payment.save(update_fields=["status", "updated_at"])
        audit_record(
            actor=actor,
            action="payment.outcome_unknown",
            target=payment,
            before=before,
            after=payment_snapshot(payment),
        )
    else:
        return True
    gt.status = GatewayTransaction.Status.UNKNOWN
    gt.save(update_fields=["status"])
    return True


# --- resolving unknown outcomes ---------------------------------------------------------------


def _details_to_result(details: TransactionDetails, kind: str) -> GatewayResult:
    by_kind: dict[str, set[TransactionState]] = {
        GatewayTransaction.Kind.SALE: {TransactionState.CAPTURED, TransactionState.SETTLED},
        GatewayTransaction.Kind.AUTHORIZE: {
            TransactionState.AUTHORIZED,
            TransactionState.CAPTURED,
            TransactionState.SETTLED,
        },
        GatewayTransaction.Kind.REFUND: {TransactionState.REFUND_PENDING, TransactionState.REFUND_SETTLED},
    }
    if details.state in by_kind[kind]:
        outcome = Outcome.APPROVED
    elif details.state is TransactionState.UNDER_REVIEW or (
        # A sale authorised and not yet captured is being captured (Razorpay's automatic capture).
        kind == GatewayTransaction.Kind.SALE and details.state is TransactionState.AUTHORIZED
    ):
        outcome = Outcome.HELD
    elif details.state is TransactionState.REQUIRES_ACTION and kind != GatewayTransaction.Kind.REFUND:
        outcome = Outcome.REQUIRES_ACTION
    else:
        outcome = Outcome.DECLINED
    return GatewayResult(
        outcome=outcome,
        transaction_id=details.transaction_id,
        response_code=details.response_code,
        reason_code=details.reason_code,
        message=details.message,
        card_brand=details.card_brand,
        card_last4=details.card_last4,
        decline_code="" if outcome is not Outcome.DECLINED else details.decline_code or "card_declined",
        action_url=details.action_url,
    )


def _resolved_outcome(gt: GatewayTransaction, *, positive_only: bool = False) -> CallOutcome | None:
    """Ask the gateway what became of a call. None: not known yet (ask again later); with
    `positive_only` (the call may still be in flight) also None where the answer would be "it did
    not happen"."""
    gateway = gateway_for(gt.gateway_account)
    payment = gt.payment
    age = timezone.now() - gt.created_at
    not_found_is_final = age > timedelta(seconds=settings.GATEWAY_NOT_FOUND_GRACE_SECONDS)
    if gt.kind == GatewayTransaction.Kind.ORDER:
        # A checkout order whose creation we lost was never handed to a customer: nobody can pay
        # it, so it is abandoned (a gateway order left unpaid simply expires there).
        if positive_only:
            return None
        return CallOutcome(None, GatewayRetryable("The checkout order was never handed out; abandoned."), 0)
    if gt.kind in {GatewayTransaction.Kind.SALE, GatewayTransaction.Kind.AUTHORIZE, GatewayTransaction.Kind.REFUND}:
        details = (
            gateway.fetch_transaction(gt.gateway_transaction_id)
            if gt.gateway_transaction_id
            else gateway.find_transaction(
                gt.reference,
                payment.gateway_transaction_id if gt.kind == GatewayTransaction.Kind.REFUND else "",
                made_at=gt.created_at,
            )
        )
        if details is None:
            if positive_only or not not_found_is_final:
                return None
            return CallOutcome(None, GatewayRetryable("The gateway has no record of this call; nothing happened."), 0)
        result = _details_to_result(details, gt.kind)
        if result.outcome is Outcome.HELD:
            return None
        error = GatewayDeclined(result) if result.outcome is Outcome.DECLINED else None
        return CallOutcome(result, error, 0)
    # Capture and void change the original transaction: its state tells.
    original = gateway.fetch_transaction(payment.gateway_transaction_id)
    done_states = (
        {TransactionState.CAPTURED, TransactionState.SETTLED}
        if gt.kind == GatewayTransaction.Kind.CAPTURE
        else {TransactionState.VOIDED}
    )
    if original.state in done_states:
        return CallOutcome(
            GatewayResult(
                Outcome.APPROVED, original.transaction_id, original.response_code, "1", "Confirmed with the gateway."
            ),
            None,
            0,
        )
    # Not done (yet): while the original can still take it, a call whose answer was lost may still
    # be under way there, so "it did not happen" is concluded only after the same grace as a call
    # the gateway has no record of. An original that can no longer take it (voided, expired,
    # settled) says so at once.
    could_still = {TransactionState.AUTHORIZED} | (
        {TransactionState.CAPTURED} if gt.kind == GatewayTransaction.Kind.VOID else set()
    )
    if positive_only or (original.state in could_still and not not_found_is_final):
        return None
    return CallOutcome(None, GatewayRetryable(f"The {gt.kind} did not take effect at the gateway."), 0)


def gateway_transaction_resolve(
    *, gateway_transaction_id: int, actor: Actor | None = None, positive_only: bool = False
) -> bool:
    """Settle the truth of a call whose outcome was unknown. Safe to run any number of times.

    Returns True when nothing is left to do, False when the gateway cannot tell yet. Raises
    GatewayRetryable / GatewayOutcomeUnknown when the gateway cannot be asked right now.
    `positive_only`: the call may still be in flight, so only the gateway's word that it happened
    (or was declined) settles it; "not found" or "not done yet" leaves it open.
    """
    actor = actor or Actor.system("unknown-outcome resolver")
    gt = GatewayTransaction.objects.select_related("payment", "gateway_account", "refund").get(
        pk=gateway_transaction_id
    )
    if gt.status not in {GatewayTransaction.Status.UNKNOWN, GatewayTransaction.Status.PENDING}:
        return True
    GatewayTransaction.objects.filter(pk=gt.pk).update(resolution_attempts=gt.resolution_attempts + 1)
    outcome = _resolved_outcome(gt, positive_only=positive_only)
    if outcome is None:
        return False
    with transaction.atomic():
        payment = Payment.objects.select_for_update().get(pk=gt.payment_id)
        locked = GatewayTransaction.objects.select_for_update().get(pk=gt.pk)
        if locked.status not in {GatewayTransaction.Status.UNKNOWN, GatewayTransaction.Status.PENDING}:
            return True  # resolved by a concurrent run
        latency = locked.latency_ms
        record_call(locked, outcome)
        locked.latency_ms = latency
        locked.save(update_fields=["latency_ms"])
        if locked.kind in {GatewayTransaction.Kind.SALE, GatewayTransaction.Kind.AUTHORIZE}:
            apply_charge_result(payment, locked, outcome.result, actor)
        elif locked.kind == GatewayTransaction.Kind.ORDER:
            order_apply_result(payment, locked, actor)
        elif locked.kind == GatewayTransaction.Kind.CAPTURE:
            finish_capture(payment, locked, locked.amount or payment.amount_authorized, actor)
        elif locked.kind == GatewayTransaction.Kind.VOID:
            finish_void(payment, locked, actor)
        else:
            assert locked.refund_id is not None  # noqa: S101 - refund calls always have a refund
            refund = Refund.objects.select_for_update().get(pk=locked.refund_id)
            finish_refund(payment, refund, locked, actor)
    return True


def gateway_transactions_sweep() -> list[int]:
    """Calls left pending (the process died mid-call) become unknown; every unknown call is
    queued for resolution again. Returns the ids queued for resolution.

    A queued call (opened, to be sent by a worker) was never sent, so it is not judged here: its
    outcome is not unknown, and "the gateway has no record of it" would be no proof while its
    sender may still send it. One still queued after GATEWAY_STALE_CALL_SECONDS (its task lost
    with the broker, or a long queue) is queued for sending again; the sender claims it before
    sending, so a second copy of its task sends nothing."""
    stale_before = timezone.now() - timedelta(seconds=settings.GATEWAY_STALE_CALL_SECONDS)
    unsent = GatewayTransaction.objects.filter(
        status=GatewayTransaction.Status.QUEUED, kind=GatewayTransaction.Kind.REFUND, created_at__lt=stale_before
    )
    for pk in unsent.values_list("pk", flat=True)[:1000]:
        enqueue(REFUND_SEND_TASK, pk)
    GatewayTransaction.objects.filter(status=GatewayTransaction.Status.PENDING, created_at__lt=stale_before).update(
        status=GatewayTransaction.Status.UNKNOWN
    )
    actor = Actor.system("gateway sweeper")
    with transaction.atomic():
        stuck_payments = Payment.objects.select_for_update().filter(
            status=PaymentStatus.PENDING, gateway_transactions__status=GatewayTransaction.Status.UNKNOWN
        )
        for payment in stuck_payments:
            before = payment_snapshot(payment)
            payment.status = PaymentStatus.UNKNOWN
            payment.save(update_fields=["status", "updated_at"])
            audit_record(
                actor=actor,
                action="payment.outcome_unknown",
                target=payment,
                before=before,
                after=payment_snapshot(payment),
            )
        stuck_refunds = Refund.objects.select_for_update().filter(
            status=RefundStatus.PENDING, gateway_transactions__status=GatewayTransaction.Status.UNKNOWN
        )
        for refund in stuck_refunds:
            refund.status = RefundStatus.UNKNOWN
            refund.save(update_fields=["status", "updated_at"])
            audit_record(actor=actor, action="refund.outcome_unknown", target=refund, merchant_id=refund.merchant_id)
    ids = list(
        GatewayTransaction.objects.filter(status=GatewayTransaction.Status.UNKNOWN).values_list("pk", flat=True)[:1000]
    )
    for pk in ids:
        enqueue(RESOLVE_TASK, pk)
    return ids


def payment_capture_confirmed(*, payment: Payment, actor: Actor) -> Payment:
    """The gateway reports this payment captured while a capture call of ours is still open (its
    request died, or its answer was lost): settle that call now from the gateway's word, which
    releases the payment's operation. Returns the payment as it now is."""
    open_calls = GatewayTransaction.objects.filter(
        payment=payment, kind=GatewayTransaction.Kind.CAPTURE, status__in=OPEN_CALL
    )
    for call_id in open_calls.order_by("id").values_list("pk", flat=True):
        gateway_transaction_resolve(gateway_transaction_id=call_id, actor=actor)
    return Payment.objects.select_related("gateway_account").get(pk=payment.pk)


# --- syncing with the gateway (webhooks, reconciliation) ---------------------------------------


class GatewayCallInFlight(GatewayRetryable):
    """One of our own calls for this payment is still waiting for its answer: ask again later
    (the call records its own result; syncing now could record it twice)."""


def _payment_apply_details(payment_id: int, details: TransactionDetails, actor: Actor) -> str:
    """Move a payment forward to what the gateway says of its charge. Never backwards: a later
    state we already know (refunds, a capture) is kept; only captured/voided news is applied."""
    with transaction.atomic():
        payment = Payment.objects.select_for_update(of=("self",)).select_related("gateway_account").get(pk=payment_id)
        if payment.operation:
            return f"{payment.operation} in flight; left to it"
        state, before = details.state, payment_snapshot(payment)
        if payment.status == PaymentStatus.AUTHORIZED and state in {
            TransactionState.CAPTURED,
            TransactionState.SETTLED,
        }:
            payment.amount_captured = min(
                details.settled_amount or payment.amount_authorized, payment.amount_authorized
            )
            payment.status, action = PaymentStatus.CAPTURED, "payment.captured"
        elif (
            payment.status in {PaymentStatus.AUTHORIZED, PaymentStatus.CAPTURED}
            and state is TransactionState.VOIDED
            and not (payment.amount_refunded or payment.amount_refund_pending)
        ):
            payment.amount_captured = 0
            payment.status, action = PaymentStatus.VOIDED, "payment.voided"
        else:
            return f"{payment.status}; gateway says {state}: no change"
        payment.save()
        ledger_record_payment(payment, before)
        audit_record(actor=actor, action=action, target=payment, before=before, after=payment_snapshot(payment))
        publish_payment(payment, action)
    return f"{before['status']} -> {payment.status} (gateway says {state})"


def _not_our_charge(call: GatewayTransaction, details: TransactionDetails) -> str:
    """What differs between our call and the charge the gateway describes ("" when it is ours)."""
    if details.reference and details.reference != call.reference:
        return f"reference {details.reference}"
    if details.currency and details.currency != call.currency:
        return f"currency {details.currency}, ours {call.currency}"
    if details.authorized_amount and details.authorized_amount != call.amount:
        return f"amount {details.authorized_amount}, ours {call.amount}"
    return ""


def payment_authentication_settle(*, payment: Payment, actor: Actor) -> str:
    """The one step that settles a payment whose customer was sent to authenticate (3-D Secure):
    ask the gateway (never the browser) what became of the charge and record it, exactly once.
    The customer's return from the authentication page and the gateway's webhooks may all arrive
    at once: each asks, then one records under the payment's lock and the others find it done.
    Raises GatewayRetryable / GatewayOutcomeUnknown when the gateway cannot be asked now."""
    call = (
        GatewayTransaction.objects.select_related("gateway_account")
        .filter(payment=payment, status=GatewayTransaction.Status.REQUIRES_ACTION)
        .order_by("-id")
        .first()
    )
    if call is None:
        return f"{payment.status}: no authentication waiting"
    details = gateway_for(call.gateway_account).fetch_transaction(call.gateway_transaction_id)
    result = _details_to_result(details, call.kind)
    if result.outcome in {Outcome.REQUIRES_ACTION, Outcome.HELD}:
        return f"{payment.status}: the customer has not finished authenticating"
    if result.outcome is Outcome.APPROVED and (mismatch := _not_our_charge(call, details)):
        # Money was taken, but not what we asked for: recording it as ours would tell the
        # merchant an order was paid that was not. Left waiting, for staff and reconciliation.
        logger.error(
            "authentication_charge_mismatch",
            extra={"payment": payment.public_id, "call": call.reference, "mismatch": mismatch},
        )
        return f"{payment.status}: the gateway's charge does not match ours ({mismatch}); left for staff"
    outcome = CallOutcome(result, GatewayDeclined(result) if result.outcome is Outcome.DECLINED else None, 0)

    def settle() -> str:
        with transaction.atomic():
            locked_payment = (
                Payment.objects.select_for_update(of=("self",)).select_related("gateway_account").get(pk=payment.pk)
            )
            locked = GatewayTransaction.objects.select_for_update().get(pk=call.pk)
            if locked.status != GatewayTransaction.Status.REQUIRES_ACTION:
                return f"{locked_payment.status}: settled already"
            latency = locked.latency_ms
            record_call(locked, outcome)
            GatewayTransaction.objects.filter(pk=locked.pk).update(latency_ms=latency)
            apply_charge_result(locked_payment, locked, outcome.result, actor)
            return f"requires_action -> {locked_payment.status} (gateway says {details.state})"

    return atomic_with_reconnect(settle, what="payment_authentication_settle")


def payment_sync_with_gateway(*, payment: Payment, actor: Actor) -> str:
    """Ask the gateway about a payment and bring ours up to date: first settle any call of ours
    whose outcome is unknown, then apply the charge's current state. Idempotent; raises
    GatewayRetryable / GatewayOutcomeUnknown when the gateway cannot be asked now. Returns what
    happened, for the record."""
    done: list[str] = []
    fresh = timezone.now() - timedelta(seconds=settings.GATEWAY_STALE_CALL_SECONDS)
    open_calls = GatewayTransaction.objects.filter(
        payment=payment, status__in=[GatewayTransaction.Status.PENDING, GatewayTransaction.Status.UNKNOWN]
    )
    for call in open_calls.order_by("id"):
        if call.status == GatewayTransaction.Status.PENDING and call.created_at > fresh:
            raise GatewayCallInFlight(f"our {call.kind} call {call.reference} is still in flight")
        if not gateway_transaction_resolve(gateway_transaction_id=call.pk, actor=actor):
            raise GatewayCallInFlight(f"the gateway cannot tell yet what became of {call.reference}")
        done.append(f"{call.kind} call resolved")
    payment.refresh_from_db()
    if payment.status == PaymentStatus.REQUIRES_ACTION:
        done.append(payment_authentication_settle(payment=payment, actor=actor))
        payment.refresh_from_db()
    if payment.gateway_transaction_id and payment.status not in {
        PaymentStatus.FAILED,
        PaymentStatus.VOIDED,
        PaymentStatus.REQUIRES_ACTION,
    }:
        details = gateway_for(payment.gateway_account).fetch_transaction(payment.gateway_transaction_id)
        done.append(_payment_apply_details(payment.pk, details, actor))
    return "; ".join(done) or f"{payment.status}: no change"


# What a gateway says of a refund that did not return the money after all (failed, canceled).
REFUND_UNDONE_STATES = frozenset({TransactionState.DECLINED, TransactionState.VOIDED})


def refund_sync_with_gateway(*, payment: Payment, gateway_refund_id: str, actor: Actor) -> str:
    """Ask the gateway about one refund of this payment (by the gateway's id for it) and follow
    it where ours is behind: a refund we recorded as succeeded (the gateway answered "pending")
    that the gateway now reports failed is undone, in one transaction, with its ledger reversal,
    audit and refund.failed. Idempotent; "" when no refund of ours has that id. Raises the
    gateway's errors when it cannot be asked now."""
    if not gateway_refund_id:
        return ""
    refund = Refund.objects.filter(payment=payment, gateway_transaction_id=gateway_refund_id).first()
    if refund is None:
        return ""
    if refund.status != RefundStatus.SUCCEEDED:
        return f"{refund.public_id}: {refund.status}"
    details = gateway_for(payment.gateway_account).fetch_transaction(gateway_refund_id)
    if details.state not in REFUND_UNDONE_STATES:
        return f"{refund.public_id}: {refund.status}; gateway says {details.state}: no change"

    def undo() -> str:
        Payment.objects.select_for_update(of=("self",)).get(pk=payment.pk)  # payment before refund
        locked = Refund.objects.select_for_update().get(pk=refund.pk)
        if locked.status != RefundStatus.SUCCEEDED:
            return f"{locked.public_id}: {locked.status} already"
        said = f" ({details.message})" if details.message else ""
        refund_mark_failed(
            refund=locked,
            failure_code="refund_failed",
            reason=f"The gateway reports the refund failed after accepting it{said}.",
            actor=actor,
        )
        return f"{locked.public_id}: succeeded -> failed (gateway says {details.state})"

    return atomic_with_reconnect(undo, what="refund_sync_with_gateway")
