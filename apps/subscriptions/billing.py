"""Recurring billing: which subscriptions are due, and charging each exactly once per period.

A billing run claims due subscriptions in batches with SELECT ... FOR UPDATE SKIP LOCKED and
marks them claimed until BILLING_CLAIM_SECONDS from now, so concurrent runs (several workers,
overlapping beats) take disjoint batches and a dead worker's batch is taken again once its claim
expires. Billing one subscription is three steps, as every gateway call here:

1. under the subscription's row lock: advance to the next period and open its invoice (unique
   per subscription and period start), or take the invoice still owed; record a pending
   attempt with a pending payment whose gateway reference is derived from the invoice and the
   attempt's number (`in<invoice>a<n>`);
2. no lock, no transaction: charge the saved card through the gateway;
3. under the locks again: record the result on the payment and the attempt, then on the
   invoice and the subscription (renewed, or dunning).

An attempt left pending by a dead worker is never charged again: the next run asks the gateway
what became of its reference (the payments resolver) before anything else, and only a call
the gateway never received lets a new attempt start.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.audit.actors import Actor
from apps.audit.services import audit_record_many
from apps.core.bulk import update_rows
from apps.core.db import atomic_with_reconnect
from apps.customers.models import PaymentMethod
from apps.events.services import event_publish_many
from apps.gateways.base import SavedCard
from apps.gateways.registry import gateway_for
from apps.payments import services as payments
from apps.payments.models import GatewayTransaction, Payment

from .dunning import ATTEMPT_BY_PAYMENT, STOPPED_STATUSES, apply_attempt, invoice_event, settle_in_flight
from .lifecycle import next_period_end, record_change, subscription_end, subscription_snapshot
from .models import (
    BILLABLE_STATUSES,
    BillingAttempt,
    BillingMode,
    Invoice,
    InvoiceStatus,
    Subscription,
    SubscriptionStatus,
)
from .representations import subscription_representation

logger = logging.getLogger(__name__)

S = SubscriptionStatus
A = BillingAttempt.Status


def attempt_reference(invoice: Invoice, number: int) -> str:
    """The gateway reference of an invoice's n-th attempt: derived, so it is the same for any
    worker that gets there, and at most 20 characters (Authorize.Net's limit)."""
    return f"in{invoice.pk}a{number}"


def _due(as_of: datetime) -> Any:
    return Subscription.objects.filter(
        billing_mode=BillingMode.CLEARHOUSE, status__in=BILLABLE_STATUSES, next_billing_at__lte=as_of
    )


def billing_claim_due(*, as_of: datetime, limit: int) -> list[int]:
    """Claim up to `limit` due subscriptions that nobody else holds."""
    now = timezone.now()
    with transaction.atomic():
        ids = list(
            _due(as_of)
            .filter(Q(billing_claimed_until__isnull=True) | Q(billing_claimed_until__lt=now))
            .order_by("next_billing_at", "id")
            .select_for_update(skip_locked=True)
            .values_list("pk", flat=True)[:limit]
        )
        if ids:
            Subscription.objects.filter(pk__in=ids).update(
                billing_claimed_until=now + timedelta(seconds=settings.BILLING_CLAIM_SECONDS)
            )
    return ids


@dataclass
class RunSummary:
    as_of: datetime
    claimed: int = 0
    timed_out: bool = False
    outcomes: dict[str, int] = field(default_factory=dict)

    def add(self, outcome: str) -> None:
        self.outcomes[outcome] = self.outcomes.get(outcome, 0) + 1


def billing_run(
    *, as_of: datetime | None = None, batch_size: int | None = None, max_seconds: float | None = None
) -> RunSummary:
    """Bill everything due at `as_of` (default now; a later time is the test clock), batch by
    batch, until nothing due is left unclaimed or `max_seconds` have passed."""
    as_of = as_of or timezone.now()
    started = timezone.now()
    summary = RunSummary(as_of=as_of)
    actor = Actor.system("billing run")
    while True:
        ids = billing_claim_due(as_of=as_of, limit=batch_size or settings.BILLING_BATCH_SIZE)
        if not ids:
            return summary
        summary.claimed += len(ids)
        try:
            for outcome in subscriptions_bill(subscription_ids=ids, as_of=as_of, actor=actor).values():
                summary.add(outcome)
        except Exception:
            # One subscription's trouble must not stop the others: bill them one by one (any
            # attempt the batch left pending is settled at the gateway first, never re-charged).
            logger.exception("billing_batch_failed", extra={"subscriptions": len(ids)})
            for pk in ids:
                try:
                    summary.add(subscription_bill(subscription_id=pk, as_of=as_of, actor=actor))
                except Exception:
                    # Its claim expires and a later run tries again.
                    logger.exception("billing_failed", extra={"subscription": pk})
                    summary.add("error")
        if max_seconds is not None and (timezone.now() - started).total_seconds() > max_seconds:
            summary.timed_out = True
            return summary


def billing_due_exists(*, as_of: datetime | None = None) -> bool:
    return bool(_due(as_of or timezone.now()).exists())


@dataclass(frozen=True)
class DuePreview:
    subscription: Subscription
    action: str
    amount: int
    currency: str


def billing_preview(*, as_of: datetime) -> list[DuePreview]:
    """What a run at `as_of` would do first for each due subscription (a dry run; no writes)."""
    rows = []
    for subscription in _due(as_of).select_related("plan", "pending_plan", "customer").order_by("next_billing_at"):
        owed = subscription.invoices.filter(status=InvoiceStatus.OPEN).order_by("-id").first()
        plan = subscription.pending_plan or subscription.plan
        if owed is not None:
            rows.append(DuePreview(subscription, f"retry {owed.public_id}", owed.amount, owed.currency))
        elif subscription.cancel_at_period_end:
            rows.append(DuePreview(subscription, "end (canceled at period end)", 0, plan.currency))
        else:
            rows.append(DuePreview(subscription, "renew", plan.amount, plan.currency))
    return rows


# --- one subscription ---------------------------------------------------------------------------


def _release(subscription_id: int) -> None:
    Subscription.objects.filter(pk=subscription_id).update(billing_claimed_until=None)


def subscription_bill(
    *, subscription_id: int, as_of: datetime, actor: Actor, on_session: OnSession | None = None
) -> str:
    """Bill one subscription if it is due at `as_of`. Safe to call twice, concurrently too.
    Returns what happened (renewed, declined, past_due, canceled, ended, in_flight ...)."""
    return subscriptions_bill(subscription_ids=[subscription_id], as_of=as_of, actor=actor, on_session=on_session)[
        subscription_id
    ]


@dataclass
class _Job:
    subscription: Subscription
    invoice: Invoice
    before: dict[str, Any]
    attempt: BillingAttempt | None = None
    payment: Payment | None = None
    call: GatewayTransaction | None = None


_SUBSCRIPTION_BILLING_FIELDS = [
    "plan",
    "pending_plan",
    "status",
    "current_period_start",
    "current_period_end",
    "payment_method",
    "pending_payment_method",
    "updated_at",
]


@dataclass(frozen=True)
class OnSession:
    """The customer is here (the invoice's payment page): the charge may ask them to authenticate.
    `site_url`: our address as their browser reaches it; `return_url`: where they go afterwards."""

    site_url: str
    return_url: str


def subscriptions_bill(
    *,
    subscription_ids: list[int],
    as_of: datetime,
    actor: Actor,
    on_session: OnSession | None = None,
) -> dict[int, str]:
    """Bill the given (claimed) subscriptions that are due at `as_of`, together: one transaction
    opens their invoices and pending attempts, the gateway calls follow one by one with no
    transaction open, and one transaction records every result. Returns each one's outcome."""
    outcomes: dict[int, str] = {}
    in_flight = BillingAttempt.objects.select_related("payment", "invoice").filter(
        invoice__subscription_id__in=subscription_ids, status=A.PENDING
    )
    for attempt in in_flight:
        outcomes[attempt.invoice.subscription_id] = settle_in_flight(attempt, as_of=as_of, actor=actor)
    jobs = _begin([pk for pk in subscription_ids if pk not in outcomes], as_of=as_of, actor=actor, outcomes=outcomes)
    if not jobs:
        return outcomes
    gateways: dict[int, Any] = {}
    results = []
    for job in jobs:
        assert job.payment is not None  # noqa: S101 - set by _begin
        assert job.call is not None  # noqa: S101 - set by _begin
        method = job.subscription.payment_method
        account = method.gateway_account
        gateway = gateways.get(account.pk) or gateways.setdefault(account.pk, gateway_for(account))
        # _begin opened every call of the batch at once: each one's age starts when it goes out.
        if not payments.call_mark_sent(job.call):
            continue  # ruled on while it waited its turn (the sweeper, the resolver): never sent now
        return_url = ""
        if on_session is not None:
            Payment.objects.filter(pk=job.payment.pk).update(return_url=on_session.return_url)
            return_url = payments.authentication_return_url(job.payment, on_session.site_url)
        outcome = payments.renewal_blocked(payment=job.payment) or payments.charge_call(
            payment=job.payment,
            gt=job.call,
            payment_method=SavedCard(method.profile.customer_token, method.payment_token),
            gateway=gateway,
            # Billing runs with nobody there to authenticate: a card that asks is refused.
            off_session=on_session is None,
            return_url=return_url,
        )
        results.append((job.payment.pk, job.call, outcome))

    def record() -> dict[int, str]:
        payments.charges_finish(results, actor=actor)
        return _finish(jobs, as_of=as_of, actor=actor)

    # Skips what is recorded already, so it may run again on a fresh connection if ours was lost.
    outcomes.update(atomic_with_reconnect(record, what="billing_finish"))
    return outcomes


def _due_now(subscription: Subscription, as_of: datetime) -> bool:
    return (
        subscription.billing_mode == BillingMode.CLEARHOUSE
        and subscription.status in BILLABLE_STATUSES
        and subscription.next_billing_at is not None
        and subscription.next_billing_at <= as_of
    )


def _change(subscription: Subscription, action: str, before: dict[str, Any] | None, actor: Actor) -> dict[str, Any]:
    return {
        "actor": actor,
        "action": action,
        "target": subscription,
        "before": before,
        "after": subscription_snapshot(subscription),
    }


def _subscription_event(subscription: Subscription, event_type: str) -> dict[str, Any]:
    return {
        "merchant_id": subscription.merchant_id,
        "livemode": subscription.livemode,
        "type": event_type,
        "object_type": "subscription",
        "object_id": subscription.public_id,
        "data": subscription_representation(subscription),
    }


def _begin(ids: list[int], *, as_of: datetime, actor: Actor, outcomes: dict[int, str]) -> list[_Job]:
    """Step 1 (one transaction): under the row locks, the next period and its invoice (or the
    invoice still owed), and a pending attempt with its pending payment and call."""
    if not ids:
        return []
    now = timezone.now()
    with transaction.atomic():
        subscriptions = list(
            Subscription.objects.select_for_update(of=("self",))
            .select_related(
                "customer",
                "plan",
                "pending_plan",
                "payment_method__profile",
                "payment_method__gateway_account",
                "pending_payment_method__profile",
                "pending_payment_method__gateway_account",
            )
            .filter(pk__in=ids)
            .order_by("pk")
        )
        # Checked again under the locks: another caller may have started one meanwhile.
        busy = set(
            BillingAttempt.objects.filter(invoice__subscription_id__in=ids, status=A.PENDING).values_list(
                "invoice__subscription_id", flat=True
            )
        )
        owed = {
            invoice.subscription_id: invoice
            for invoice in Invoice.objects.filter(subscription_id__in=ids, status=InvoiceStatus.OPEN).order_by("id")
        }
        jobs: list[_Job] = []
        fresh: list[Invoice] = []
        audits: list[dict[str, Any]] = []
        idle: list[int] = []
        for subscription in subscriptions:
            if not _due_now(subscription, as_of):
                idle.append(subscription.pk)
                outcomes[subscription.pk] = "not_due"
                continue
            if subscription.pk in busy:
                outcomes[subscription.pk] = "in_flight"
                continue
            before = subscription_snapshot(subscription)
            invoice = owed.get(subscription.pk)
            if invoice is None and subscription.cancel_at_period_end:
                subscription_end(subscription, status=S.ENDED, reason="canceled_at_period_end", at=as_of, actor=actor)
                record_change(
                    subscription, action="subscription.ended", before=before, actor=actor, event="subscription.canceled"
                )
                outcomes[subscription.pk] = "ended"
                continue
            if invoice is None:
                invoice = _next_period(subscription)
                fresh.append(invoice)
                audits.append(_change(subscription, "subscription.period_started", before, actor))
            if subscription.pending_payment_method_id:
                _take_pending_card(subscription, actor=actor, audits=audits)
            subscription.updated_at = now
            jobs.append(_Job(subscription, invoice, before))
        if idle:
            Subscription.objects.filter(pk__in=idle).update(billing_claimed_until=None)
        if not jobs:
            return []
        Invoice.objects.bulk_create(fresh)
        update_rows(Subscription, [job.subscription for job in jobs], _SUBSCRIPTION_BILLING_FIELDS)
        _open_attempts(jobs, actor=actor, now=now)
        audit_record_many(audits)
    return jobs


def _take_pending_card(subscription: Subscription, *, actor: Actor, audits: list[dict[str, Any]]) -> None:
    """Under _begin's row lock: the card chosen for the next charge takes over, if it is still
    saved. One removed (or never set up) since is dropped and the current card charged."""
    pending = subscription.pending_payment_method
    assert pending is not None  # noqa: S101 - the caller checked pending_payment_method_id
    status = PaymentMethod.objects.select_for_update().values_list("status", flat=True).get(pk=pending.pk)
    if status == PaymentMethod.Status.ACTIVE:
        subscription.payment_method = pending
    else:
        audits.append({
            "actor": actor, "action": "subscription.pending_card_dropped", "target": subscription,
            "after": {"payment_method": pending.pk, "status": status},
        })  # fmt: skip
    subscription.pending_payment_method = None


def _open_attempts(jobs: list[_Job], *, actor: Actor, now: datetime) -> None:
    """Inside _begin's transaction: each job's pending payment, call and attempt, in bulk. The
    call's reference is derived from the invoice and the attempt's number."""
    specs = []
    for job in jobs:
        sub, invoice, method = job.subscription, job.invoice, job.subscription.payment_method
        number = invoice.attempt_count + 1
        specs.append(
            payments.ChargeSpec(
                account=method.gateway_account,
                amount=invoice.amount,
                currency=invoice.currency,
                customer=sub.customer,
                call_reference=attempt_reference(invoice, number),
                reference=invoice.public_id,
                description=f"{sub.plan.name} {invoice.period_start:%Y-%m-%d} to {invoice.period_end:%Y-%m-%d}",
                metadata={"subscription": sub.public_id, "invoice": invoice.public_id, "attempt": number},
                card_brand=method.card_brand,
                card_last4=method.card_last4,
            )
        )
    charges = payments.charges_begin(specs, actor=actor)
    attempts = BillingAttempt.objects.bulk_create(
        BillingAttempt(invoice=job.invoice, number=job.invoice.attempt_count + 1, payment=payment)
        for job, (payment, _) in zip(jobs, charges, strict=True)
    )
    for job, (payment, call), attempt in zip(jobs, charges, attempts, strict=True):
        job.payment, job.call, job.attempt = payment, call, attempt
        job.invoice.attempt_count += 1
        job.invoice.next_attempt_at = None
        job.invoice.updated_at = now
    update_rows(Invoice, [job.invoice for job in jobs], ["attempt_count", "next_attempt_at", "updated_at"])


def _next_period(subscription: Subscription) -> Invoice:
    """In memory: the next period begins (with the pending plan, if any); its invoice, unsaved."""
    if subscription.pending_plan_id:
        subscription.plan, subscription.pending_plan = subscription.pending_plan, None  # type: ignore[assignment]
    plan = subscription.plan
    start = subscription.current_period_end
    end = next_period_end(subscription, plan, start)
    subscription.current_period_start, subscription.current_period_end = start, end
    if subscription.status == S.TRIALING:
        subscription.status = S.ACTIVE
    return Invoice(
        merchant_id=subscription.merchant_id,
        subscription=subscription,
        plan=plan,
        period_start=start,
        period_end=end,
        amount=plan.amount,
        currency=plan.currency,
    )


def _finish(jobs: list[_Job], *, as_of: datetime, actor: Actor) -> dict[int, str]:
    """Step 3, inside the transaction that recorded the calls: paid invoices renew their
    subscriptions in bulk; anything else (declines, errors, unknown outcomes) goes one by one
    through dunning (_apply_attempt)."""
    outcomes: dict[int, str] = {}
    now = timezone.now()
    subscriptions = {
        s.pk: s
        for s in Subscription.objects.select_for_update(of=("self",))
        .select_related("customer", "plan", "payment_method", "pending_plan", "pending_payment_method")
        .filter(pk__in=[job.subscription.pk for job in jobs])
        .order_by("pk")
    }
    attempts = {
        a.pk: a
        for a in BillingAttempt.objects.select_for_update(of=("self",))
        .select_related("payment")
        .filter(pk__in=[job.attempt.pk for job in jobs if job.attempt])
        .order_by("pk")
    }
    invoices = {
        i.pk: i
        for i in Invoice.objects.select_for_update(of=("self",))
        .select_related("plan")
        .filter(pk__in=[job.invoice.pk for job in jobs])
        .order_by("pk")
    }
    paid: list[tuple[Subscription, Invoice, BillingAttempt, dict[str, Any]]] = []
    others: list[_Job] = []
    for job in jobs:
        assert job.attempt is not None  # noqa: S101 - set by _begin
        attempt = attempts[job.attempt.pk]
        if attempt.status != A.PENDING:
            outcomes[job.subscription.pk] = attempt.status
        # Canceled or paused while the charge was out: apply_attempt records it without renewing.
        elif (
            attempt.payment.status in ATTEMPT_BY_PAYMENT
            and subscriptions[job.subscription.pk].status not in STOPPED_STATUSES
        ):
            subscription = subscriptions[job.subscription.pk]
            paid.append((subscription, invoices[job.invoice.pk], attempt, subscription_snapshot(subscription)))
        else:
            others.append(job)
    audits: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    for subscription, invoice, attempt, before in paid:
        attempt.status, attempt.completed_at = A.SUCCEEDED, now
        invoice.status, invoice.payment, invoice.paid_at = InvoiceStatus.PAID, attempt.payment, as_of
        invoice.next_attempt_at, invoice.updated_at = None, now
        invoice.subscription = subscription
        subscription.status = S.ACTIVE
        subscription.next_billing_at = subscription.current_period_end
        subscription.billing_claimed_until = None
        subscription.updated_at = now
        audits.append({"actor": actor, "action": "invoice.paid", "target": invoice,
                       "after": {"payment": attempt.payment.public_id}})  # fmt: skip
        audits.append(_change(subscription, "subscription.renewed", before, actor))
        events.append(invoice_event(invoice, subscription, "invoice.paid"))
        events.append(_subscription_event(subscription, "subscription.renewed"))
        outcomes[subscription.pk] = "renewed"
    update_rows(BillingAttempt, [a for _, _, a, _ in paid], ["status", "completed_at"])
    update_rows(Invoice, [i for _, i, _, _ in paid], ["status", "payment", "paid_at", "next_attempt_at", "updated_at"])
    update_rows(
        Subscription, [s for s, _, _, _ in paid], ["status", "next_billing_at", "billing_claimed_until", "updated_at"]
    )
    audit_record_many(audits)
    event_publish_many(events)
    for job in others:
        assert job.attempt is not None  # noqa: S101 - set by _begin
        outcomes[job.subscription.pk] = apply_attempt(job.attempt.pk, as_of=as_of, actor=actor)
    return outcomes
