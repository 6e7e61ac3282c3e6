"""Payments held for risk review: a reviewer approves (captured, if the merchant asked for a
capture) or rejects (voided, and what identified it optionally put on the block list); nobody
deciding in time voids it before the authorisation lapses.

Each decision commits first (under the payment's row lock, audited, with its event); the gateway
call follows outside the transaction through payment_capture / payment_void, with a reference
derived from the payment, so a decision retried, or a rejection racing the expiry sweep, reaches
the gateway once.
"""

from __future__ import annotations

import hashlib
import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.core.exceptions import ValidationError
from django.db import transaction
from django.db.models import Exists, OuterRef, Q
from django.utils import timezone

from apps.audit.actors import Actor
from apps.audit.services import audit_record
from apps.core.errors import ApplicationError
from apps.gateways.registry import gateway_for
from apps.payments.errors import PaymentStateError
from apps.payments.models import GatewayTransaction, Payment, PaymentStatus, Review
from apps.payments.signals import review_decision_carried
from apps.risk.services import list_entry_add_or_get

from .common import payment_snapshot, publish_payment
from .operations import payment_capture, payment_void

logger = logging.getLogger(__name__)

BLOCKABLE = ("card_fingerprint", "email", "ip")


def review_reference(payment: Payment, what: str) -> str:
    """The 17-character idempotency reference of the review's capture or void of this payment."""
    return "rv" + hashlib.sha256(f"{what}:{payment.public_id}".encode()).hexdigest()[:15]


def _decide(
    payment: Payment,
    *,
    decision: str,
    user: Any,
    note: str,
    action: str,
    event: str | None,
    also: Callable[[Payment], None] | None = None,
) -> Payment:
    """Record the decision under the payment's row lock (audited, published), with `also` (what
    else the decision writes) in the same transaction."""
    with transaction.atomic():
        locked = Payment.objects.select_for_update(of=("self",)).select_related("gateway_account").get(pk=payment.pk)
        if locked.review != Review.PENDING or locked.status != PaymentStatus.AUTHORIZED:
            raise PaymentStateError(
                f"{locked.public_id} is not waiting for review (review {locked.review or 'none'}, {locked.status}).",
                code="payment_not_under_review",
            )
        before = payment_snapshot(locked)
        locked.review, locked.review_note = decision, note[:500]
        locked.reviewed_by, locked.reviewed_at = user, timezone.now()
        locked.save(update_fields=["review", "review_note", "reviewed_by", "reviewed_at", "updated_at"])
        actor = Actor.staff(user) if user is not None else Actor.system("review-expiry")
        audit_record(
            actor=actor, action=action, target=locked, before=before, after={**payment_snapshot(locked), "note": note}
        )
        if event:
            publish_payment(locked, event)
        if also is not None:
            also(locked)
    return locked


def payment_review_approve(*, payment: Payment, user: Any, note: str = "") -> Payment:
    """Approve a held payment; captured at once if the merchant asked for a capture."""
    decided = _decide(
        payment, decision=Review.APPROVED, user=user, note=note, action="payment.review_approved",
        event="payment.review_approved",
    )  # fmt: skip
    if not decided.capture_on_approval:
        return decided
    captured = payment_capture(
        payment=decided, idempotency_reference=review_reference(decided, "capture"), actor=Actor.staff(user)
    )
    return _carried(captured)


def payment_review_reject(*, payment: Payment, user: Any, note: str = "", block: tuple[str, ...] = ()) -> Payment:
    """Reject a held payment: voided, and each of `block` (card_fingerprint, email, ip) that
    identified it put on the merchant's block list."""

    def block_what_identified_it(locked: Payment) -> None:
        inputs = locked.risk.get("inputs", {})
        for kind in block:
            if kind not in BLOCKABLE or not inputs.get(kind):
                continue
            try:
                list_entry_add_or_get(
                    kind=kind, action="block", value=inputs[kind], reason=f"Rejected in review: {locked.public_id}",
                    merchant=locked.merchant, actor=Actor.staff(user),
                )  # fmt: skip
            except ValidationError:  # a stored value the list no longer takes: the rejection stands
                logger.warning("review_block_refused", extra={"payment": locked.public_id, "kind": kind})

    decided = _decide(
        payment, decision=Review.REJECTED, user=user, note=note, action="payment.review_rejected",
        event="payment.review_rejected", also=block_what_identified_it,
    )  # fmt: skip
    return _cancel(decided, Actor.staff(user))


def _carried(payment: Payment) -> Payment:
    """Tell the apps built on payments that a decision reached the gateway (the catalogue then
    grants a held checkout's entitlement); a receiver's failure is logged, never raised: the
    checkout reconciler completes what a receiver could not."""
    for receiver, error in review_decision_carried.send_robust(sender=Payment, payment=payment):
        if isinstance(error, Exception):
            logger.error(
                "review_decision_receiver_failed",
                extra={"payment": payment.public_id, "receiver": getattr(receiver, "__name__", str(receiver))},
                exc_info=error,
            )
    return payment


def _cancel(payment: Payment, actor: Actor) -> Payment:
    """Cancel a rejected or expired hold: voided at the gateway, or, on a gateway without a void
    (Razorpay), released (the gateway returns an authorisation nobody captures to the customer
    at the end of its capture window by itself; nothing is sent)."""
    if gateway_for(payment.gateway_account).supports_void:
        return _carried(
            payment_void(payment=payment, idempotency_reference=review_reference(payment, "void"), actor=actor)
        )
    with transaction.atomic():
        locked = Payment.objects.select_for_update(of=("self",)).get(pk=payment.pk)
        if locked.status != PaymentStatus.AUTHORIZED:
            return locked
        before = payment_snapshot(locked)
        locked.status = PaymentStatus.VOIDED
        locked.save(update_fields=["status", "updated_at"])
        after = {**payment_snapshot(locked), "released": "never captured; the gateway releases the authorisation"}
        audit_record(actor=actor, action="payment.voided", target=locked, before=before, after=after)
        publish_payment(locked, "payment.voided")
    return _carried(locked)


def payments_review_expire(*, limit: int = 200) -> list[str]:
    """Void the held payments nobody decided on within RISK_REVIEW_VOID_AFTER_HOURS (before the
    gateway lets the authorisation lapse), and carry to the gateway any decision whose capture or
    void did not go through (the gateway was down). Safe to run twice: the capture's and the
    void's references are derived from the payment, so the gateway sees each once."""
    cutoff = timezone.now() - timedelta(hours=settings.RISK_REVIEW_VOID_AFTER_HOURS)
    expired = Payment.objects.filter(review=Review.PENDING, status=PaymentStatus.AUTHORIZED, created_at__lt=cutoff)
    for payment in expired.order_by("created_at")[:limit]:
        try:
            _decide(
                payment, decision=Review.EXPIRED, user=None, note="Not reviewed in time",
                action="payment.review_expired", event=None,
            )  # fmt: skip
        except PaymentStateError:
            continue  # decided meanwhile
    # A capture or void the gateway refused for good (the authorisation lapsed) is not asked
    # again: it would hold the head of the line forever. It stays decided and authorised, and
    # the gateway's answer is on the payment's page.
    refused = GatewayTransaction.objects.filter(
        payment_id=OuterRef("pk"),
        kind__in=[GatewayTransaction.Kind.CAPTURE, GatewayTransaction.Kind.VOID],
        status=GatewayTransaction.Status.DECLINED,
    )
    unfinished = (
        Payment.objects.filter(status=PaymentStatus.AUTHORIZED)
        .filter(Q(review__in=[Review.REJECTED, Review.EXPIRED]) | Q(review=Review.APPROVED, capture_on_approval=True))
        .exclude(Exists(refused))
    )
    done = []
    actor = Actor.system("review-expiry")
    for payment in unfinished.select_related("gateway_account").order_by("created_at")[:limit]:
        try:
            if payment.review == Review.APPROVED:
                _carried(
                    payment_capture(
                        payment=payment, idempotency_reference=review_reference(payment, "capture"), actor=actor
                    )
                )
            else:
                _cancel(payment, actor)
        except ApplicationError as error:  # recorded on the payment; the next run asks again
            logger.warning("review_decision_not_carried", extra={"payment": payment.public_id, "error": error.code})
            continue
        except Exception:  # one payment must not stop the others (e.g. too many attempts)
            logger.exception("review_decision_not_carried", extra={"payment": payment.public_id})
            continue
        done.append(payment.public_id)
    return done


def payment_review_assign(*, payment: Payment, assignee: Any, actor: Actor) -> Payment:
    """Take (or give back, with None) a held payment in the review queue; audited."""
    with transaction.atomic():
        locked = Payment.objects.select_for_update(of=("self",)).get(pk=payment.pk)
        before = {"review_assignee": locked.review_assignee_id}
        locked.review_assignee = assignee
        locked.save(update_fields=["review_assignee", "updated_at"])
        after = {"review_assignee": assignee.pk if assignee else None}
        audit_record(actor=actor, action="payment.review_assigned", target=locked, before=before, after=after)
    return locked
