"""Paying what a subscription owes now, outside the billing run: a finance action, a customer who
saved a new card, or the customer on the invoice's own payment page (a signed link, as in the
`invoice.payment_failed` event), where the card may ask them to authenticate (3-D Secure) first:
the recovery path for a renewal the card refused with `authentication_required`."""

from __future__ import annotations

from datetime import datetime

from django.db import transaction
from django.utils import timezone

from apps.audit.actors import Actor
from apps.payments.models import Payment

from .billing import OnSession, subscription_bill
from .dunning import settle_in_flight
from .errors import SubscriptionStateError
from .lifecycle import invoice_reopen_written_off, period_restart_if_over, record_change, subscription_snapshot
from .links import invoice_id_from_token
from .models import BillingAttempt, Invoice, InvoiceStatus, Subscription, SubscriptionStatus

S = SubscriptionStatus


def subscription_retry_now(
    *, subscription: Subscription, actor: Actor, now: datetime | None = None, on_session: OnSession | None = None
) -> str:
    """Charge what a past-due or unpaid subscription owes, now (a finance action, after the
    customer saved a new card, or the customer paying on the invoice's page: `on_session`)."""
    now = now or timezone.now()
    with transaction.atomic():
        locked = Subscription.objects.select_for_update().get(pk=subscription.pk)
        if locked.status not in {S.PAST_DUE, S.UNPAID}:
            raise SubscriptionStateError(f"A {locked.status} subscription owes nothing to retry.")
        before = subscription_snapshot(locked)
        if locked.status == S.UNPAID:
            invoice_reopen_written_off(locked, reason="retry_requested", actor=actor)
            # Not billed while unpaid: once the debt is paid, the next period starts now.
            period_restart_if_over(locked, at=now)
            locked.status = S.PAST_DUE
        locked.next_billing_at = now
        locked.save()
        record_change(locked, action="subscription.retry_requested", before=before, actor=actor)
    return subscription_bill(subscription_id=subscription.pk, as_of=now, actor=actor, on_session=on_session)


def invoice_from_token(token: str) -> Invoice | None:
    """The invoice a payment link names; None when the link is forged, mangled or expired."""
    public_id = invoice_id_from_token(token)
    if public_id is None:
        return None
    return (
        Invoice.objects.select_related("subscription__payment_method", "plan", "merchant")
        .filter(public_id=public_id)
        .first()
    )


def invoice_latest_payment(invoice: Invoice) -> Payment | None:
    attempt = BillingAttempt.objects.select_related("payment").filter(invoice=invoice).order_by("-id").first()
    return attempt.payment if attempt is not None else None


def invoice_settle_pending(*, invoice: Invoice, actor: Actor) -> Invoice:
    """The customer is back on the invoice's page: settle its attempt still waiting (after
    3-D Secure), asking the gateway. Returns the invoice as it now is."""
    for attempt in BillingAttempt.objects.select_related("payment", "invoice").filter(
        invoice=invoice, status=BillingAttempt.Status.PENDING
    ):
        settle_in_flight(attempt, as_of=timezone.now(), actor=actor)
    invoice.refresh_from_db()
    return invoice


def invoice_pay_on_session(*, invoice: Invoice, site_url: str, page_url: str, actor: Actor) -> Payment | None:
    """Charge the invoice's saved card with its customer present (they may be asked to
    authenticate: the payment then requires action and names the page to send them to).
    Returns the payment made, if any."""
    if invoice.status != InvoiceStatus.OPEN:
        raise SubscriptionStateError(f"This invoice is {invoice.status}: nothing to pay.")
    invoice_settle_pending(invoice=invoice, actor=actor)
    if invoice.status != InvoiceStatus.OPEN:
        return invoice_latest_payment(invoice)
    subscription_retry_now(
        subscription=invoice.subscription, actor=actor, on_session=OnSession(site_url=site_url, return_url=page_url)
    )
    return invoice_latest_payment(invoice)
