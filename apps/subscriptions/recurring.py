"""Subscriptions whose schedule the gateway runs (Authorize.Net ARB). We create, change and cancel
the gateway's subscription; its charges reach us as webhooks, and each is recorded here as that
period's invoice and payment. The gateway's word on the subscription's state is followed, except
while ours is paused (a pause cancels the gateway's schedule: see recurring_changes.py)."""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import datetime, timedelta
from itertools import count

from django.conf import settings
from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from apps.audit.actors import Actor
from apps.audit.selectors import audit_action_history
from apps.audit.services import audit_record
from apps.core.db import atomic_with_reconnect, run_with_reconnect
from apps.core.errors import ApplicationError
from apps.core.queueing import enqueue, enqueue_on_commit
from apps.gateways.api_errors import GatewayMisconfiguredError, gateway_unavailable
from apps.gateways.base import TransactionDetails
from apps.gateways.errors import GatewayDeclined, GatewayError, GatewayMisconfigured, GatewayNotFound
from apps.gateways.recurring_interface import RecurringRequest, RecurringStatus
from apps.gateways.registry import recurring_gateway_for
from apps.payments.models import GatewayTransaction, PaymentStatus
from apps.payments.services import payment_record_gateway_charge

from .errors import SubscriptionBusy, SubscriptionScheduleNotConfirmed
from .lifecycle import next_period_end, record_change, subscription_end, subscription_lock, subscription_snapshot
from .models import (
    BILLABLE_STATUSES,
    FINAL_STATUSES,
    BillingMode,
    GatewayScheduleCancel,
    Invoice,
    InvoiceStatus,
    Plan,
    Subscription,
    SubscriptionStatus,
)
from .periods import arb_interval

logger = logging.getLogger(__name__)

RECANCEL_TASK = "apps.subscriptions.tasks.recurring_schedule_cancel"

# A gateway-run schedule's state -> our subscription's.
GATEWAY_STATUSES = {
    RecurringStatus.ACTIVE: SubscriptionStatus.ACTIVE,
    RecurringStatus.SUSPENDED: SubscriptionStatus.PAST_DUE,
    RecurringStatus.CANCELED: SubscriptionStatus.CANCELED,
    RecurringStatus.TERMINATED: SubscriptionStatus.CANCELED,
    RecurringStatus.EXPIRED: SubscriptionStatus.ENDED,
}
# A schedule in these states charges again (a suspended one once a card reactivates it).
RUNNING = (RecurringStatus.ACTIVE, RecurringStatus.SUSPENDED)
# A pause whose cancel failed is cancelled again after this (the client's keyed retry comes first).
PAUSE_RECANCEL_DELAY_SECONDS = 60
# A schedule's cancel neither done nor queued or tried for this long (its task lost with the
# broker, or its retries run out) is queued again by the sweep. Well past the pause's own delay.
RECANCEL_SWEEP_AFTER_SECONDS = 600
# Audited each time a repeat create is refused (the schedule stays unconfirmed).
SCHEDULE_UNCONFIRMED = "subscription.gateway_schedule_unconfirmed"
# The start sweeper's wait after such refusals (any repeat's: the sweeper's, a retry's, a
# change's): 5 minutes after the first, doubled after each next one, at most a day. A refusal
# that lasts (a start date now past) is audited and logged about once a day, not every sweep,
# while one that clears is retried soon.
UNCONFIRMED_RETRY_FIRST = timedelta(minutes=5)
UNCONFIRMED_RETRY_LONGEST = timedelta(days=1)
# A refusal is audited after the gateway's answer, a little after its sweep began: the sweep a
# wait later must not miss it by those seconds (and wait one beat more).
UNCONFIRMED_RETRY_SLACK = timedelta(minutes=1)


def recurring_reference(subscription: Subscription) -> str:
    return f"sub{subscription.pk}"


def resume_reference(subscription: Subscription) -> str:
    """The reference of the schedule that resumes this pause: the same on every retry of it."""
    paused_at = subscription.paused_at or subscription.created_at
    return f"{recurring_reference(subscription)}r{int(paused_at.timestamp()):x}"


def recurring_refused(exc: GatewayError) -> bool:
    """The gateway's definite no: nothing was made there. Anything else (unreachable, the answer
    lost) may have made the schedule, so it is never read as a refusal."""
    return isinstance(exc, GatewayMisconfigured | GatewayNotFound | GatewayDeclined)


def recurring_error(exc: GatewayError) -> Exception:
    if recurring_refused(exc):
        return GatewayMisconfiguredError(f"The gateway refused the subscription ({exc.message}).")
    return gateway_unavailable(exc, "retry later.")


def recurring_hold(
    subscription: Subscription,
    check: Callable[[Subscription], None],
    claim: Callable[[Subscription], None] | None = None,
) -> Subscription:
    """In one transaction: lock, check (it raises to refuse), and hold the subscription for a
    gateway call (`billing_claimed_until`; held already: 409); `claim` marks what the call is
    about to change (it audits what it marks)."""
    now = timezone.now()
    with transaction.atomic():
        locked = subscription_lock(subscription)
        if locked.billing_claimed_until is not None and locked.billing_claimed_until > now:
            raise SubscriptionBusy()
        check(locked)
        locked.billing_claimed_until = now + timedelta(seconds=settings.BILLING_CLAIM_SECONDS)
        locked.save(update_fields=["billing_claimed_until", "updated_at"])
        if claim is not None:
            claim(locked)
    return locked


def recurring_release(held: Subscription) -> None:
    """The hold `held` (recurring_hold's answer) took ends, unless it ran out and another call
    holds the subscription now: that call's hold is never ended by this one. Called after a gateway
    call failed: on a fresh connection if ours was cut meanwhile (a guarded update, safe to repeat)."""
    still_held = Subscription.objects.filter(pk=held.pk, billing_claimed_until=held.billing_claimed_until)
    run_with_reconnect(lambda: still_held.update(billing_claimed_until=None), what="recurring_release")


def recurring_hold_end(locked: Subscription, held: Subscription) -> None:
    """Under the subscription's lock, before `locked` is saved: the hold `held` took ends on it,
    unless it ran out and another call holds the subscription now."""
    if locked.billing_claimed_until == held.billing_claimed_until:
        locked.billing_claimed_until = None


def _no_check(locked: Subscription) -> None:
    return None


def recurring_subscription_start(
    *, subscription: Subscription, actor: Actor, held: bool = False, first: bool = False
) -> Subscription:
    """Create the gateway's subscription (after ours committed; a retry after a lost answer is
    recognised by the gateway as a duplicate and returns the same id). The very first create
    (`first`: the request that made ours) refused: nothing can run there, and ours ends.

    Any other create is a repeat of one whose outcome is unknown (its answer lost, or never
    known), and its refusal says nothing of that first create: the schedule it made may charge on
    under our reference (a repeat can be refused for reasons of its own: a start date now past,
    an edge's 4xx). So ours is not ended: it stays open and unconfirmed, the refusal is audited
    (subscription.gateway_schedule_unconfirmed) and logged for staff, and the caller gets 503
    subscription_schedule_unconfirmed (retryable: a keyed retry runs again); a later repeat the
    gateway takes (a retry, the start sweeper) confirms the schedule.
    Nor is ours ended when another create recorded the schedule's id meanwhile.

    Unreachable or the answer lost: the schedule may exist at the gateway under our reference, so
    ours stays open without the gateway's id and the caller gets a 503; the retry (the same
    idempotency reference: _subscription_recover) calls again and is answered with that schedule.

    The subscription is held while the create is out (`held`: the caller holds it already), so a
    change waits (409) instead of changing the schedule's amount or card meanwhile, which would
    make the gateway take this create for a new schedule rather than a duplicate. An id already
    set (by a create answered first) is never overwritten: the create is not sent, and an answer
    naming another schedule (a second one) has that schedule's cancel owed and queued."""
    if not held:
        subscription = recurring_hold(subscription, _no_check)
        if subscription.gateway_subscription_id or subscription.status not in BILLABLE_STATUSES:
            recurring_release(subscription)  # confirmed meanwhile, or ended: nothing to create
            return subscription
    plan, method = subscription.plan, subscription.payment_method
    interval = arb_interval(plan.interval, plan.interval_count)
    assert interval is not None  # noqa: S101 - plan_create refuses plans ARB cannot run
    start = subscription.trial_end or subscription.current_period_start
    request = RecurringRequest(
        reference=recurring_reference(subscription),
        name=plan.name[:50],
        amount=plan.amount,
        currency=plan.currency,
        interval_length=interval[0],
        interval_unit=interval[1],
        start_date=start.date(),
        customer_token=method.profile.customer_token,
        payment_token=method.payment_token,
    )
    try:
        recurring_id = recurring_gateway_for(subscription.gateway_account).recurring_create(request)
    except GatewayError as exc:
        if not recurring_refused(exc):
            if not held:
                recurring_release(subscription)
            raise recurring_error(exc) from exc
        return _start_refused(subscription, exc, actor=actor, held=held, first=first)
    # On a fresh connection if ours was cut while the create was out: the schedule the gateway made
    # is recorded now, not left to a retry that would wait out the hold.
    runs = count()
    return atomic_with_reconnect(
        lambda: _start_record(subscription, recurring_id, actor=actor, held=held, rerun=bool(next(runs))),
        what="recurring_start_record",
    )


def _start_record(
    subscription: Subscription, recurring_id: str, *, actor: Actor, held: bool, rerun: bool
) -> Subscription:
    """In the caller's transaction: ours on the schedule the create answered with (safe to repeat:
    an id already recorded is kept, a second schedule's cancel is owed once)."""
    locked = subscription_lock(subscription)
    if not held:
        recurring_hold_end(locked, subscription)
    if not locked.gateway_subscription_id:
        before = subscription_snapshot(locked)
        locked.gateway_subscription_id = recurring_id
        locked.save(update_fields=["gateway_subscription_id", "billing_claimed_until", "updated_at"])
        record_change(locked, action="subscription.gateway_scheduled", before=before, actor=actor)
        return locked
    locked.save(update_fields=["billing_claimed_until", "updated_at"])
    if locked.gateway_subscription_id != recurring_id and not (
        rerun and recurring_schedule_cancel_owed(locked, recurring_id)
    ):
        # Another create was answered first (its hold ran out while this one was out) and a
        # change may have made its schedule differ: this answer's schedule is a second one.
        recurring_schedule_cancel_queue(
            locked, schedule_id=recurring_id, actor=actor,
            why=f"a second schedule: ours runs on {locked.gateway_subscription_id}",
        )  # fmt: skip
    return locked


def _start_refused(
    subscription: Subscription, exc: GatewayError, *, actor: Actor, held: bool, first: bool
) -> Subscription:
    """The gateway refused a schedule create (see recurring_subscription_start). Returns ours when
    another create confirmed its schedule meanwhile (this refusal made nothing); raises otherwise,
    after the transaction committed (on a fresh connection if ours was cut while the create was out)."""
    locked, repeat = atomic_with_reconnect(
        lambda: _start_refused_record(subscription, exc, actor=actor, held=held, first=first),
        what="recurring_start_refused",
    )
    if locked.gateway_subscription_id:
        return locked  # another create was answered while this one was out: ours runs on it
    if not repeat:  # the first create refused (ours ended), or ours ended meanwhile
        raise recurring_error(exc) from exc
    logger.warning(
        "recurring_schedule_unconfirmed",
        extra={"subscription": locked.public_id, "error": exc.reason_code or exc.code, "refusal": exc.message},
    )
    raise SubscriptionScheduleNotConfirmed(
        "The gateway's schedule of this subscription, which an earlier request may have made, could not be "
        f"confirmed: the gateway refused ({exc.message}). The subscription stays open until it is confirmed; "
        "retry later."
    ) from exc


def _start_refused_record(
    subscription: Subscription, exc: GatewayError, *, actor: Actor, held: bool, first: bool
) -> tuple[Subscription, bool]:
    """In the caller's transaction: the hold ends; the very first create refused ends ours, a
    repeat refused is audited. Whether it was a repeat (safe to repeat: ours ended is not ended
    again, and a schedule recorded meanwhile is left alone)."""
    locked = subscription_lock(subscription)
    if not held and locked.billing_claimed_until == subscription.billing_claimed_until:
        recurring_hold_end(locked, subscription)
        locked.save(update_fields=["billing_claimed_until", "updated_at"])
    if locked.gateway_subscription_id:
        return locked, False
    repeat = not first and locked.status in BILLABLE_STATUSES
    if first and locked.status in BILLABLE_STATUSES:
        before = subscription_snapshot(locked)
        subscription_end(locked, status=SubscriptionStatus.CANCELED, reason="gateway_refused", at=timezone.now())
        record_change(locked, action="subscription.canceled", before=before, actor=actor, event="subscription.canceled")
    elif repeat:
        audit_record(
            actor=actor,
            action=SCHEDULE_UNCONFIRMED,
            target=locked,
            after={**subscription_snapshot(locked), "gateway_refusal": exc.message, "gateway_code": exc.reason_code},
        )
    return locked, repeat


def recurring_subscriptions_start_sweep(
    *, older_than_seconds: int = 300, limit: int = 100, now: datetime | None = None
) -> list[str]:
    """Gateway-run subscriptions whose schedule create went unanswered (ours open, without the
    gateway's id) and that no retry has finished: created again, which the gateway answers with the
    schedule it made under our reference (a duplicate, E00012), or makes it now. Without this, a
    client that never retried left a schedule charging the customer that nothing of ours matched.
    One whose repeats the gateway refused waits longer after each refusal (UNCONFIRMED_RETRY_*)."""
    now = now or timezone.now()
    waiting = Subscription.objects.filter(
        billing_mode=BillingMode.GATEWAY,
        gateway_subscription_id="",
        status__in=BILLABLE_STATUSES,
        created_at__lt=now - timedelta(seconds=older_than_seconds),
    ).select_related("plan", "payment_method__profile", "gateway_account")
    actor, done = Actor.system("recurring start sweeper"), []
    for subscription in _due_for_a_repeat(waiting, now=now, limit=limit):
        try:
            started = recurring_subscription_start(subscription=subscription, actor=actor)
        except ApplicationError as exc:  # unreachable or refused again (next sweep): ours stays open
            logger.warning(
                "recurring_start_sweep_failed", extra={"subscription": subscription.public_id, "error": exc.code}
            )
            continue
        done.append(f"{started.public_id}: {started.gateway_subscription_id}")
    return done


def _due_for_a_repeat(waiting: QuerySet[Subscription], *, now: datetime, limit: int) -> list[Subscription]:
    """Up to `limit` of `waiting`, oldest first, past those still waiting after a refusal (so a
    hundred long-refused ones never fill every sweep)."""
    due: list[Subscription] = []
    after = 0
    while len(due) < limit:
        page = list(waiting.filter(pk__gt=after).order_by("pk")[:limit])
        if not page:
            break
        after = page[-1].pk
        backing_off = _refused_lately(page, now)
        due.extend(subscription for subscription in page if subscription.public_id not in backing_off)
    return due[:limit]


def _refused_lately(subscriptions: list[Subscription], now: datetime) -> set[str]:
    """The public ids of those whose repeat creates were refused too lately to ask again yet."""
    history = audit_action_history(
        action=SCHEDULE_UNCONFIRMED,
        target_type=Subscription._meta.label_lower,
        target_ids=[subscription.public_id for subscription in subscriptions],
    )
    waiting = set()
    for public_id, (refusals, last) in history.items():
        wait = min(UNCONFIRMED_RETRY_FIRST * 2 ** min(refusals - 1, 16), UNCONFIRMED_RETRY_LONGEST)
        if now - last < wait - UNCONFIRMED_RETRY_SLACK:
            waiting.add(public_id)
    return waiting


def recurring_subscription_cancel(*, subscription: Subscription, actor: Actor) -> Subscription:
    if not subscription.gateway_subscription_id and subscription.status in BILLABLE_STATUSES:
        # Its create's answer was lost: a schedule may exist under our reference. Its id first (a
        # repeat is answered with it), so that the cancel reaches it and nothing charges on.
        # A refusal of this repeat proves nothing of the first create: 503 (ours stays open and
        # unconfirmed, audited), since ended without that schedule's id it would charge on.
        try:
            subscription = recurring_subscription_start(subscription=subscription, actor=actor)
        except GatewayMisconfiguredError:  # ours ended meanwhile: nothing left to cancel
            subscription.refresh_from_db()
            return subscription
    if subscription.gateway_subscription_id and subscription.status not in FINAL_STATUSES:
        try:
            recurring_gateway_for(subscription.gateway_account).recurring_cancel(subscription.gateway_subscription_id)
        except GatewayError as exc:
            raise recurring_error(exc) from exc
    with transaction.atomic():
        locked = subscription_lock(subscription)
        if locked.status in FINAL_STATUSES:
            return locked
        before = subscription_snapshot(locked)
        subscription_end(locked, status=SubscriptionStatus.CANCELED, reason="requested", at=timezone.now())
        record_change(locked, action="subscription.canceled", before=before, actor=actor, event="subscription.canceled")
    return locked


def recurring_subscription_sync(*, subscription: Subscription, actor: Actor) -> str:
    """Follow the gateway's state of the subscription (after its subscription webhooks)."""
    status = recurring_gateway_for(subscription.gateway_account).recurring_status(subscription.gateway_subscription_id)
    ours = GATEWAY_STATUSES.get(status)
    with transaction.atomic():
        locked = subscription_lock(subscription)
        # Paused: the pause cancelled the gateway's schedule, and its last word is ours. A schedule
        # still running then is one whose cancel failed: it is cancelled again.
        if locked.status == SubscriptionStatus.PAUSED and status in RUNNING:
            recurring_schedule_cancel_queue(
                locked, schedule_id=locked.gateway_subscription_id, why=f"gateway says {status}", actor=actor
            )
            return f"paused; gateway says {status}: its cancel queued again"
        if ours is None or locked.status in (ours, SubscriptionStatus.PAUSED, *FINAL_STATUSES):
            return f"{locked.status}; gateway says {status}: no change"
        before = subscription_snapshot(locked)
        if ours in FINAL_STATUSES:
            subscription_end(locked, status=ours, reason=f"gateway_{status}", at=timezone.now())
            event = "subscription.canceled"
        else:
            locked.status = ours
            locked.save(update_fields=["status", "updated_at"])
            event = "subscription.past_due" if ours == SubscriptionStatus.PAST_DUE else "subscription.updated"
        record_change(locked, action=f"subscription.gateway_{status}", before=before, actor=actor, event=event)
    return f"{before['status']} -> {ours} (gateway says {status})"


def _period_of(subscription: Subscription, pay_num: int) -> tuple[datetime, datetime]:
    start = subscription.billing_anchor
    end = next_period_end(subscription, subscription.plan, start)
    for _ in range(max(0, pay_num - 1)):
        start, end = end, next_period_end(subscription, subscription.plan, end)
    return start, end


def recurring_schedule_stop(subscription: Subscription, schedule_id: str) -> None:
    """Cancel a gateway schedule; one that is gone, or refused because it already stopped
    (terminated, expired), is done too. Any other gateway error is raised."""
    gateway = recurring_gateway_for(subscription.gateway_account)
    try:
        gateway.recurring_cancel(schedule_id)
    except GatewayNotFound:
        return
    except GatewayMisconfigured:
        if gateway.recurring_status(schedule_id) in RUNNING:
            raise


def recurring_schedule_cancel_queue(
    locked: Subscription, *, schedule_id: str, why: str, actor: Actor, countdown: float | None = None
) -> None:
    """Under the subscription's lock, in the caller's transaction: a gateway schedule that should
    not run (a paused subscription's, whose cancel failed) is recorded as owed a cancel, and a task
    cancels it once this commits. The record commits with the change that found it, so a task lost
    with the broker is queued again by recurring_schedule_cancels_sweep. Audited and logged, so
    staff see that the gateway disagreed with us."""
    logger.warning(
        "recurring_schedule_cancel_queued",
        extra={"subscription": locked.public_id, "schedule": schedule_id, "why": why},
    )
    GatewayScheduleCancel.objects.get_or_create(
        subscription=locked,
        schedule_id=schedule_id,
        done_at=None,
        defaults={"reason": why[:200], "queued_at": timezone.now()},
    )
    audit_record(
        actor=actor,
        action="subscription.gateway_schedule_cancel_queued",
        target=locked,
        after={**subscription_snapshot(locked), "gateway_schedule": schedule_id, "why": why},
    )
    enqueue_on_commit(RECANCEL_TASK, locked.pk, schedule_id, countdown=countdown)


def recurring_schedule_cancel_owed(subscription: Subscription, schedule_id: str) -> bool:
    """Whether this schedule's cancel is recorded as owed and not done yet."""
    return GatewayScheduleCancel.objects.filter(
        subscription=subscription, schedule_id=schedule_id, done_at__isnull=True
    ).exists()


def recurring_schedule_cancels_close(
    locked: Subscription, *, schedule_id: str, outcome: str, actor: Actor, canceled: bool = True
) -> bool:
    """Under the subscription's lock: the schedule's owed cancel is done (audited), by a cancel or,
    when not `canceled`, dropped. False when none was open (another copy of the task, or the
    pause's retry, closed it first)."""
    closed = GatewayScheduleCancel.objects.filter(
        subscription=locked, schedule_id=schedule_id, done_at__isnull=True
    ).update(done_at=timezone.now(), outcome=outcome[:100])
    if closed:
        audit_record(
            actor=actor,
            action="subscription.gateway_schedule_canceled"
            if canceled
            else "subscription.gateway_schedule_cancel_dropped",
            target=locked,
            after={**subscription_snapshot(locked), "gateway_schedule": schedule_id, "outcome": outcome},
        )
    return bool(closed)


def recurring_schedule_cancel(*, subscription_id: int, schedule_id: str, actor: Actor) -> str:
    """Cancel a gateway schedule that should not run (the task queued by
    recurring_schedule_cancel_queue, or again by the sweep). Safe to run twice: a cancel already
    recorded done is skipped, and cancelling a cancelled or unknown schedule is done. The
    subscription's live schedule (ours neither paused nor ended) is left alone; a paused one's
    schedule is never revived (a resume makes a new one), so cancelling it is always right. Any
    other gateway error is raised for the task to retry; the record stays open for the sweep."""
    subscription = Subscription.objects.select_related("gateway_account").get(pk=subscription_id)
    owed = GatewayScheduleCancel.objects.filter(subscription=subscription, schedule_id=schedule_id)
    recorded = owed.exists()  # a task queued before these records existed has none
    if recorded and not owed.filter(done_at__isnull=True).update(queued_at=timezone.now()):
        return f"{subscription.public_id}: {schedule_id} already cancelled"
    live = subscription.status not in (SubscriptionStatus.PAUSED, *FINAL_STATUSES)
    left_running = live and subscription.gateway_subscription_id == schedule_id
    if left_running:
        outcome = "left running: the subscription's live schedule"
    else:
        recurring_schedule_stop(subscription, schedule_id)
        outcome = "cancelled"
    with transaction.atomic():
        locked = subscription_lock(subscription)
        closed = recurring_schedule_cancels_close(
            locked, schedule_id=schedule_id, outcome=outcome, actor=actor, canceled=not left_running
        )
        if not recorded and not left_running:
            audit_record(
                actor=actor,
                action="subscription.gateway_schedule_canceled",
                target=locked,
                after={**subscription_snapshot(locked), "gateway_schedule": schedule_id, "outcome": outcome},
            )
    if closed or not recorded:
        logger.info(
            "recurring_schedule_canceled",
            extra={"subscription": subscription.public_id, "schedule": schedule_id, "outcome": outcome},
        )
    return f"{subscription.public_id}: {schedule_id} {outcome}"


def recurring_schedule_cancels_sweep(
    *, older_than_seconds: int = RECANCEL_SWEEP_AFTER_SECONDS, limit: int = 100
) -> list[str]:
    """Owed schedule cancels still open after a while (their task lost with the broker when the
    pause committed, or its retries run out): queued again. A copy still in the broker is harmless
    (the task is safe to run twice). Returns "sub_…: schedule" for each one queued."""
    stale = GatewayScheduleCancel.objects.filter(
        done_at__isnull=True, queued_at__lt=timezone.now() - timedelta(seconds=older_than_seconds)
    ).select_related("subscription")
    queued = []
    for owed in stale.order_by("queued_at", "pk")[:limit]:
        if not enqueue(RECANCEL_TASK, owed.subscription_id, owed.schedule_id):
            continue  # the broker is still away: the next sweep tries again
        GatewayScheduleCancel.objects.filter(pk=owed.pk, done_at__isnull=True).update(queued_at=timezone.now())
        logger.warning(
            "recurring_schedule_cancel_requeued",
            extra={"subscription": owed.subscription.public_id, "schedule": owed.schedule_id},
        )
        queued.append(f"{owed.subscription.public_id}: {owed.schedule_id}")
    return queued


def _plan_charged(locked: Subscription, amount: int) -> Plan:
    """The plan a charge of `amount` is for: ours, or the plan a change whose answer was lost
    claimed (pending), when the schedule charges its amount and not ours (the claim itself is
    settled by recurring_claims' settler)."""
    claimed = locked.pending_plan
    if claimed is not None and amount == claimed.amount and amount != locked.plan.amount:
        return claimed
    return locked.plan


def recurring_charge_record(*, subscription: Subscription, details: TransactionDetails, actor: Actor) -> str:
    """A charge the gateway's schedule made (its payment number says which period): record it as
    that period's invoice and payment. Idempotent per (subscription, payment number)."""
    with transaction.atomic():
        locked = subscription_lock(subscription)
        before = subscription_snapshot(locked)
        start, end = _period_of(locked, details.recurring_pay_num)
        invoice, _ = Invoice.objects.get_or_create(
            subscription=locked,
            period_start=start,
            defaults={
                "merchant_id": locked.merchant_id,
                "plan": _plan_charged(locked, details.authorized_amount or details.settled_amount),
                "period_end": end,
                "amount": details.authorized_amount or details.settled_amount,
                "currency": details.currency or locked.plan.currency,
            },
        )
        invoice = Invoice.objects.select_for_update().get(pk=invoice.pk)
        if invoice.status == InvoiceStatus.PAID:
            return f"{invoice.public_id} already paid"
        call_reference = f"arb{locked.pk}n{details.recurring_pay_num}a{details.transaction_id}"[:20]
        # This charge recorded before (a replay, a redelivery, a second webhook, a late copy): its
        # effect on the invoice and the subscription was made then. Under the subscription's lock,
        # which every recording of its charges takes, so two copies cannot both pass.
        if GatewayTransaction.objects.filter(reference=call_reference).exists():
            return f"{invoice.public_id}: charge {details.transaction_id} already recorded"
        payment = payment_record_gateway_charge(
            account=locked.gateway_account,
            customer=locked.customer,
            details=details,
            call_reference=call_reference,
            description=f"{locked.plan.name} {start:%Y-%m-%d} to {end:%Y-%m-%d}",
            metadata={"subscription": locked.public_id, "invoice": invoice.public_id},
            actor=actor,
        )
        invoice.attempt_count += 1
        if payment.status == PaymentStatus.CAPTURED:
            invoice.status, invoice.payment, invoice.paid_at = InvoiceStatus.PAID, payment, timezone.now()
            invoice.save()
            paused = locked.status == SubscriptionStatus.PAUSED
            if locked.status not in FINAL_STATUSES:
                if not paused:
                    locked.status = SubscriptionStatus.ACTIVE
                # Paused too: the period is paid, so a resume starts after it.
                if end > locked.current_period_end or locked.current_period_start == locked.current_period_end:
                    locked.current_period_start, locked.current_period_end = start, end
                locked.save()
            record_change(
                locked, action="subscription.renewed", before=before, actor=actor, event="subscription.renewed"
            )
            if paused and details.recurring_id:  # the pause's cancel failed: the schedule still charges
                recurring_schedule_cancel_queue(
                    locked, schedule_id=details.recurring_id, why=f"charged {payment.public_id} while paused",
                    actor=actor,
                )  # fmt: skip
            return f"{invoice.public_id} paid by {payment.public_id}"
        invoice.first_declined_at = invoice.first_declined_at or timezone.now()
        invoice.save()
        # A decline of a period older than one already paid (a late notification) is that old
        # invoice's: the subscription is paid up to the later period and stays as it is.
        later_paid = Invoice.objects.filter(subscription=locked, period_start__gt=start, status=InvoiceStatus.PAID)
        if locked.status not in (SubscriptionStatus.PAUSED, *FINAL_STATUSES) and not later_paid.exists():
            locked.status = SubscriptionStatus.PAST_DUE
            locked.save(update_fields=["status", "updated_at"])
        record_change(
            locked, action="subscription.payment_failed", before=before, actor=actor,
            event="subscription.payment_failed",
        )  # fmt: skip
        return f"{invoice.public_id} declined ({payment.public_id})"
