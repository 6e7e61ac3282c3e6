"""Carrying a billing attempt's result to its invoice and subscription: paid and renewed, or
declined into dunning (retries on BILLING_RETRY_DAYS, then unpaid or canceled), and settling
attempts whose result was never recorded by asking the gateway about their reference."""

from __future__ import annotations

from contextlib import suppress
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.audit.actors import Actor
from apps.audit.services import audit_record
from apps.events.services import event_publish
from apps.gateways.errors import GatewayOutcomeUnknown, GatewayRetryable
from apps.payments import services as payments
from apps.payments.models import GatewayTransaction, Payment, PaymentStatus

from .lifecycle import invoice_status_change, record_change, subscription_end, subscription_snapshot
from .models import FINAL_STATUSES, BillingAttempt, Invoice, InvoiceStatus, Subscription, SubscriptionStatus
from .representations import invoice_representation

S = SubscriptionStatus
A = BillingAttempt.Status

# Stopped by a cancel or a pause: a charge that was in flight meanwhile is recorded, but its result
# never renews, reschedules or duns the subscription.
STOPPED_STATUSES = (S.PAUSED, *FINAL_STATUSES)


def invoice_event(invoice: Invoice, subscription: Subscription, event_type: str) -> dict[str, Any]:
    invoice.subscription = subscription
    return {
        "merchant_id": invoice.merchant_id,
        "livemode": subscription.livemode,
        "type": event_type,
        "object_type": "invoice",
        "object_id": invoice.public_id,
        "data": invoice_representation(invoice),
    }


def settle_in_flight(attempt: BillingAttempt, *, as_of: datetime, actor: Actor) -> str:
    """An attempt whose result was never recorded here (a dead worker, a lost answer): ask the
    gateway what became of its reference, then apply it. Never a second charge."""
    call = GatewayTransaction.objects.filter(payment=attempt.payment).order_by("id").first()
    if attempt.payment.status == PaymentStatus.REQUIRES_ACTION:
        # The customer was sent to authenticate at the invoice's payment page: ask the gateway.
        with suppress(GatewayRetryable, GatewayOutcomeUnknown):  # asked again on the next run
            payments.payment_authentication_settle(payment=attempt.payment, actor=actor)
    fresh = timezone.now() - timedelta(seconds=settings.GATEWAY_STALE_CALL_SECONDS)
    if call is not None and call.status == GatewayTransaction.Status.PENDING and call.created_at > fresh:
        return "in_flight"  # its worker may still be waiting for the gateway's answer
    try:
        if call is not None and not payments.gateway_transaction_resolve(gateway_transaction_id=call.pk, actor=actor):
            raise GatewayRetryable("the gateway cannot tell yet")
    except (GatewayRetryable, GatewayOutcomeUnknown):
        # Asked again on a later run; a stopped subscription gets no billing date (the sweep asks).
        Subscription.objects.filter(pk=attempt.invoice.subscription_id).exclude(status__in=STOPPED_STATUSES).update(
            next_billing_at=as_of + timedelta(seconds=settings.BILLING_ERROR_RETRY_SECONDS),
            billing_claimed_until=None,
        )
        return "unknown"
    with transaction.atomic():
        return apply_attempt(attempt.pk, as_of=as_of, actor=actor)


def stopped_attempts_settle(*, limit: int = 100) -> list[str]:
    """Attempts still pending on a subscription stopped (canceled, ended, paused) while their
    charge's outcome was unknown: the billing run claims only billable subscriptions and never
    comes back to them. Each is asked about like any in-flight attempt and recorded on its invoice
    (money taken is the invoice's payment, to refund), never renewing. Safe to run twice."""
    actor = Actor.system("billing")
    pending = BillingAttempt.objects.select_related("payment", "invoice").filter(
        status=A.PENDING, invoice__subscription__status__in=STOPPED_STATUSES
    )
    return [
        f"{attempt.invoice.public_id}: {settle_in_flight(attempt, as_of=timezone.now(), actor=actor)}"
        for attempt in pending.order_by("pk")[:limit]
    ]


# What a payment's state means for its attempt.
ATTEMPT_BY_PAYMENT = {
    PaymentStatus.CAPTURED: A.SUCCEEDED,
    PaymentStatus.AUTHORIZED: A.SUCCEEDED,
    PaymentStatus.PARTIALLY_REFUNDED: A.SUCCEEDED,
    PaymentStatus.REFUNDED: A.SUCCEEDED,
}


def is_first_charge(subscription: Subscription, invoice: Invoice, attempt: BillingAttempt) -> bool:
    """The charge subscription_create makes with the customer at the checkout: the first attempt
    at the first invoice of a subscription without a trial. Told by the data, never by a caller's
    flag: its outcome may be learnt later (a lost answer, settled by the create's keyed retry or a
    billing run), and a keyed retry may come back when a renewal is due."""
    return (
        subscription.trial_end is None
        and attempt.number == 1
        and not Invoice.objects.filter(subscription_id=subscription.pk, pk__lt=invoice.pk).exists()
    )


def apply_attempt(attempt_id: int, *, as_of: datetime, actor: Actor) -> str:
    """Inside a transaction: carry the payment's recorded result to the attempt, the invoice
    and the subscription. Idempotent: an attempt already applied is left alone. A first charge
    (is_first_charge) that fails cancels the subscription; any other goes into dunning."""
    subscription_id = (
        BillingAttempt.objects.filter(pk=attempt_id).values_list("invoice__subscription_id", flat=True).get()
    )
    subscription = Subscription.objects.select_for_update(of=("self",)).select_related("plan").get(pk=subscription_id)
    attempt = BillingAttempt.objects.select_for_update().select_related("payment").get(pk=attempt_id)
    invoice = Invoice.objects.select_for_update().get(pk=attempt.invoice_id)
    if attempt.status != A.PENDING:
        return attempt.status
    payment = attempt.payment
    before = subscription_snapshot(subscription)
    subscription.billing_claimed_until = None
    attempt.completed_at = timezone.now()
    if subscription.status in STOPPED_STATUSES:
        return _attempt_while_stopped(subscription, invoice, attempt, as_of=as_of, actor=actor)
    if payment.status in ATTEMPT_BY_PAYMENT:
        attempt.status = A.SUCCEEDED
        attempt.save(update_fields=["status", "completed_at"])
        return _invoice_paid(subscription, invoice, payment, before=before, as_of=as_of, actor=actor)
    if payment.status in {PaymentStatus.UNKNOWN, PaymentStatus.PENDING, PaymentStatus.REQUIRES_ACTION}:
        # The payments resolver will find out (or the customer is authenticating, until the
        # authentication sweeper gives up on them); look again after a while.
        subscription.next_billing_at = as_of + timedelta(seconds=settings.BILLING_ERROR_RETRY_SECONDS)
        subscription.save(update_fields=["next_billing_at", "billing_claimed_until", "updated_at"])
        return "unknown"
    attempt.failure_code = payment.failure_code
    attempt.failure_message = payment.failure_message
    declined = _was_declined(payment)
    initial = is_first_charge(subscription, invoice, attempt)
    attempt.status = A.DECLINED if declined else A.FAILED
    attempt.save(update_fields=["status", "failure_code", "failure_message", "completed_at"])
    if not declined and initial:
        invoice.status = InvoiceStatus.VOID
        invoice.save(update_fields=["status", "updated_at"])
        _audit_written_off(invoice, before=InvoiceStatus.OPEN, reason="initial_payment_error", actor=actor)
        subscription_end(subscription, status=S.CANCELED, reason="initial_payment_error", at=as_of, actor=actor)
        record_change(
            subscription, action="subscription.canceled", before=before, actor=actor, event="subscription.canceled"
        )
        return "canceled"
    if not declined:
        # Nothing reached the card (gateway down, misconfigured): not the customer's failure.
        subscription.next_billing_at = as_of + timedelta(seconds=settings.BILLING_ERROR_RETRY_SECONDS)
        subscription.save(update_fields=["next_billing_at", "billing_claimed_until", "updated_at"])
        return "gateway_error"
    return _invoice_declined(subscription, invoice, before=before, as_of=as_of, actor=actor, initial=initial)


def _attempt_while_stopped(
    subscription: Subscription, invoice: Invoice, attempt: BillingAttempt, *, as_of: datetime, actor: Actor
) -> str:
    """The subscription was canceled, ended or paused while this attempt's charge was out. The
    charge's result is recorded on the attempt and the invoice (money taken is the invoice's
    payment, so it shows and can be refunded), and audited, but the subscription keeps its state:
    no renewal, no next billing date, no dunning."""
    payment = attempt.payment
    Subscription.objects.filter(pk=subscription.pk).update(billing_claimed_until=None)
    if payment.status in ATTEMPT_BY_PAYMENT:
        attempt.status = A.SUCCEEDED
        attempt.save(update_fields=["status", "completed_at"])
        voided = invoice.status
        invoice.status, invoice.payment, invoice.paid_at, invoice.next_attempt_at = (
            InvoiceStatus.PAID, payment, as_of, None,
        )  # fmt: skip
        invoice.save(update_fields=["status", "payment", "paid_at", "next_attempt_at", "updated_at"])
        audit_record(
            actor=actor, action="invoice.paid_while_stopped", target=invoice,
            before={"status": voided},
            after={"payment": payment.public_id, "subscription_status": subscription.status, "refund_due": True},
        )  # fmt: skip
        _publish_invoice(invoice, subscription, "invoice.paid")
        return f"paid_while_{subscription.status}"
    if payment.status in {PaymentStatus.UNKNOWN, PaymentStatus.PENDING, PaymentStatus.REQUIRES_ACTION}:
        return "unknown"  # the attempt stays pending, settled once the gateway tells (the resolver)
    attempt.failure_code = payment.failure_code
    attempt.failure_message = payment.failure_message
    attempt.status = A.DECLINED if _was_declined(payment) else A.FAILED
    attempt.save(update_fields=["status", "failure_code", "failure_message", "completed_at"])
    invoice.next_attempt_at = None
    invoice.save(update_fields=["next_attempt_at", "updated_at"])
    audit_record(
        actor=actor, action="invoice.payment_failed_while_stopped", target=invoice,
        after={"payment": payment.public_id, "attempt": attempt.status, "subscription_status": subscription.status},
    )  # fmt: skip
    return f"{attempt.status}_while_{subscription.status}"


def _was_declined(payment: Payment) -> bool:
    call = GatewayTransaction.objects.filter(payment=payment).order_by("-id").first()
    return call is not None and call.status == GatewayTransaction.Status.DECLINED


def _audit_written_off(invoice: Invoice, *, before: str, reason: str, actor: Actor) -> None:
    audit_record(**invoice_status_change(invoice, before=before, after=invoice.status, reason=reason, actor=actor))


def _publish_invoice(invoice: Invoice, subscription: Subscription, event_type: str) -> None:
    event_publish(**invoice_event(invoice, subscription, event_type))


def _invoice_paid(
    subscription: Subscription, invoice: Invoice, payment: Payment, *, before: dict[str, Any], as_of: datetime,
    actor: Actor,
) -> str:  # fmt: skip
    invoice.status, invoice.payment, invoice.paid_at, invoice.next_attempt_at = InvoiceStatus.PAID, payment, as_of, None
    invoice.save(update_fields=["status", "payment", "paid_at", "next_attempt_at", "updated_at"])
    subscription.status = S.ACTIVE
    subscription.next_billing_at = subscription.current_period_end
    subscription.save()
    audit_record(actor=actor, action="invoice.paid", target=invoice, after={"payment": payment.public_id})
    _publish_invoice(invoice, subscription, "invoice.paid")
    record_change(subscription, action="subscription.renewed", before=before, actor=actor, event="subscription.renewed")
    return "renewed"


def _invoice_declined(
    subscription: Subscription, invoice: Invoice, *, before: dict[str, Any], as_of: datetime, actor: Actor,
    initial: bool,
) -> str:  # fmt: skip
    invoice.first_declined_at = invoice.first_declined_at or as_of
    declines = invoice.attempts.filter(status=A.DECLINED).count()
    retries = settings.BILLING_RETRY_DAYS
    # invoice.payment_failed goes out once the invoice says what happens next (its next attempt, or
    # that it is void or uncollectible: no link to pay it then).
    record_change(
        subscription, action="subscription.payment_failed", before=before, actor=actor,
        event="subscription.payment_failed",
    )  # fmt: skip
    if initial:
        # The customer is at the checkout: no dunning, they can try another card.
        invoice.status = InvoiceStatus.VOID
        invoice.save(update_fields=["status", "first_declined_at", "updated_at"])
        _audit_written_off(invoice, before=InvoiceStatus.OPEN, reason="initial_payment_failed", actor=actor)
        _publish_invoice(invoice, subscription, "invoice.payment_failed")
        subscription_end(subscription, status=S.CANCELED, reason="initial_payment_failed", at=as_of, actor=actor)
        record_change(
            subscription, action="subscription.canceled", before=before, actor=actor, event="subscription.canceled"
        )
        return "canceled"
    if declines <= len(retries):
        invoice.next_attempt_at = invoice.first_declined_at + timedelta(days=retries[declines - 1])
        invoice.save(update_fields=["next_attempt_at", "first_declined_at", "updated_at"])
        _publish_invoice(invoice, subscription, "invoice.payment_failed")
        became_past_due = subscription.status != S.PAST_DUE
        subscription.status = S.PAST_DUE
        subscription.next_billing_at = invoice.next_attempt_at
        subscription.save()
        if became_past_due:
            record_change(
                subscription, action="subscription.past_due", before=before, actor=actor, event="subscription.past_due"
            )
        return "past_due"
    invoice.status, invoice.next_attempt_at = InvoiceStatus.UNCOLLECTIBLE, None
    invoice.save(update_fields=["status", "next_attempt_at", "first_declined_at", "updated_at"])
    _audit_written_off(invoice, before=InvoiceStatus.OPEN, reason="dunning_exhausted", actor=actor)
    _publish_invoice(invoice, subscription, "invoice.payment_failed")
    # Kept open unpaid only if the customer wants it on: one set to cancel at the period's end
    # would never reach it (an unpaid subscription is not billed), so it ends now.
    if settings.BILLING_FINAL_ACTION == "unpaid" and not subscription.cancel_at_period_end:
        subscription.status, subscription.next_billing_at = S.UNPAID, None
        subscription.save()
        record_change(
            subscription, action="subscription.unpaid", before=before, actor=actor, event="subscription.unpaid"
        )
        return "unpaid"
    subscription_end(subscription, status=S.CANCELED, reason="payment_failed", at=as_of, actor=actor)
    record_change(
        subscription, action="subscription.canceled", before=before, actor=actor, event="subscription.canceled"
    )
    return "canceled"
