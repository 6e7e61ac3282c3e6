"""Changing a subscription whose schedule the gateway runs (Authorize.Net ARB): a new plan or
card, pause and resume, each made at the gateway and then in our records, with the same audit
events and webhooks as our own subscriptions.

- Plan and card: the gateway's schedule is updated (amount and name; the saved card), so its next
  charge uses them; ours takes them at once (no pending change: the gateway bills, not us). The
  gateway cannot change a schedule's interval, and we refuse a plan with another interval
  (`plan_not_supported`) rather than cancel and recreate the schedule: two gateway calls that can
  fail between them would leave the customer with no schedule or two, and a new interval moves
  the billing date, which the merchant should decide by cancelling and subscribing again.
- Pause: the gateway has none, so the pause cancels its schedule. Ours is marked paused first
  (so the gateway's "cancelled" webhook is read as our pause, not an end), then the schedule is
  cancelled; if the gateway cannot be reached the answer is 503 and a retry cancels it again
  (cancelling is safe to repeat). A past-due subscription is not paused: its new card first.
- Resume: a new schedule starting at the end of the current period (or today, when the period
  ran out while paused: the pause is not charged), made with a reference of this pause, so a
  retry after a lost answer finds the same schedule (the gateway answers "duplicate").

The gateway is never called inside a transaction. While a call is out the subscription is held
(`billing_claimed_until`, which the billing run uses for the same purpose for our own schedules):
a second change meanwhile gets 409 instead of racing the first at the gateway.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta

from django.conf import settings
from django.db import transaction
from django.utils import timezone

from apps.audit.actors import Actor
from apps.customers.models import PaymentMethod
from apps.gateways.errors import GatewayError, GatewayNotFound
from apps.gateways.recurring_interface import RecurringRequest, RecurringUpdate
from apps.gateways.registry import recurring_gateway_for

from .errors import PlanNotSupported, SubscriptionStateError
from .lifecycle import record_change, subscription_lock, subscription_snapshot
from .models import FINAL_STATUSES, Plan, Subscription, SubscriptionStatus
from .periods import arb_interval
from .recurring import recurring_error, recurring_reference

PAUSABLE = (SubscriptionStatus.ACTIVE, SubscriptionStatus.TRIALING)


def _hold(subscription: Subscription, check: Callable[[Subscription], None]) -> Subscription:
    """In one transaction: lock, check (it raises to refuse), and hold the subscription for a
    gateway call."""
    now = timezone.now()
    with transaction.atomic():
        locked = subscription_lock(subscription)
        if locked.billing_claimed_until is not None and locked.billing_claimed_until > now:
            raise SubscriptionStateError("Another change of this subscription is in progress; retry shortly.")
        check(locked)
        locked.billing_claimed_until = now + timedelta(seconds=settings.BILLING_CLAIM_SECONDS)
        locked.save(update_fields=["billing_claimed_until", "updated_at"])
    return locked


def _release(subscription: Subscription) -> None:
    Subscription.objects.filter(pk=subscription.pk).update(billing_claimed_until=None)


def recurring_subscription_change(
    *,
    subscription: Subscription,
    plan: Plan | None,
    payment_method: PaymentMethod | None,
    check: Callable[[Subscription], None],
    idempotency_reference: str = "",
    actor: Actor,
) -> Subscription:
    """A new plan (same interval) or card on the gateway's schedule, then on ours. `check` is the
    caller's validation, run again under the row lock."""

    def check_interval(locked: Subscription) -> None:
        check(locked)
        if plan is not None and arb_interval(plan.interval, plan.interval_count) != arb_interval(
            locked.plan.interval, locked.plan.interval_count
        ):
            raise PlanNotSupported(
                "A gateway-run (ARB) schedule's interval cannot change: cancel the subscription and subscribe "
                "to the new plan.",
                param="plan",
            )

    held = _hold(subscription, check_interval)
    new_plan = plan if plan is not None and plan.pk != held.plan_id else None
    new_card = payment_method if payment_method is not None and payment_method.pk != held.payment_method_id else None
    if held.gateway_subscription_id and held.status != SubscriptionStatus.PAUSED and (new_plan or new_card):
        update = RecurringUpdate(
            reference=idempotency_reference or recurring_reference(held),
            currency=held.plan.currency,
            name=new_plan.name[:50] if new_plan else None,
            amount=new_plan.amount if new_plan else None,
            customer_token=new_card.profile.customer_token if new_card else "",
            payment_token=new_card.payment_token if new_card else "",
        )
        try:
            recurring_gateway_for(held.gateway_account).recurring_update(held.gateway_subscription_id, update)
        except GatewayError as exc:
            _release(held)
            raise recurring_error(exc) from exc
    with transaction.atomic():
        locked = subscription_lock(held)
        before = subscription_snapshot(locked)
        if new_plan is not None:
            locked.plan = new_plan
        if new_card is not None:
            locked.payment_method = new_card
        locked.pending_plan, locked.pending_payment_method = None, None
        locked.billing_claimed_until = None
        locked.save()
        record_change(locked, action="subscription.changed", before=before, actor=actor, event="subscription.updated")
    return locked


def _check_pausable(locked: Subscription) -> None:
    if locked.status == SubscriptionStatus.PAST_DUE:
        raise SubscriptionStateError(
            "A past-due gateway-run (ARB) subscription cannot be paused: give it a new card first, which "
            "reactivates the gateway's schedule."
        )
    if locked.status not in (*PAUSABLE, SubscriptionStatus.PAUSED):
        raise SubscriptionStateError(f"A {locked.status} subscription cannot be paused.")


def recurring_subscription_pause(*, subscription: Subscription, actor: Actor) -> Subscription:
    """Ours paused, then the gateway's schedule cancelled. Pausing a paused one cancels the
    schedule again (a retry after the gateway could not be reached): safe to repeat."""
    held = _hold(subscription, _check_pausable)
    if held.status != SubscriptionStatus.PAUSED:
        with transaction.atomic():
            locked = subscription_lock(held)
            before = subscription_snapshot(locked)
            locked.status, locked.paused_at, locked.next_billing_at = SubscriptionStatus.PAUSED, timezone.now(), None
            locked.save()
            record_change(locked, action="subscription.paused", before=before, actor=actor, event="subscription.paused")
    try:
        if held.gateway_subscription_id:
            recurring_gateway_for(held.gateway_account).recurring_cancel(held.gateway_subscription_id)
    except GatewayNotFound:
        pass  # nothing left to cancel at the gateway
    except GatewayError as exc:
        _release(held)
        raise recurring_error(exc) from exc
    _release(held)
    held.refresh_from_db()
    return held


def _check_paused(locked: Subscription) -> None:
    if locked.status != SubscriptionStatus.PAUSED:
        raise SubscriptionStateError(f"A {locked.status} subscription is not paused.")


def resume_reference(subscription: Subscription) -> str:
    """The reference of the schedule that resumes this pause: the same on every retry of it."""
    paused_at = subscription.paused_at or subscription.created_at
    return f"{recurring_reference(subscription)}r{int(paused_at.timestamp()):x}"


def recurring_subscription_resume(*, subscription: Subscription, now: datetime, actor: Actor) -> Subscription:
    """A new gateway schedule from the end of the current period (today if it ran out while
    paused), then ours active again on it."""
    held = _hold(subscription, _check_paused)
    ran_out = held.current_period_end <= now
    starts = now if ran_out else held.current_period_end
    plan, method = held.plan, held.payment_method
    interval = arb_interval(plan.interval, plan.interval_count)
    assert interval is not None  # noqa: S101 - plan_create refuses plans ARB cannot run
    request = RecurringRequest(
        reference=resume_reference(held),
        name=plan.name[:50],
        amount=plan.amount,
        currency=plan.currency,
        interval_length=interval[0],
        interval_unit=interval[1],
        start_date=starts.date(),
        customer_token=method.profile.customer_token,
        payment_token=method.payment_token,
    )
    gateway = recurring_gateway_for(held.gateway_account)
    try:
        recurring_id = gateway.recurring_create(request)
    except GatewayError as exc:
        _release(held)
        raise recurring_error(exc) from exc
    with transaction.atomic():
        locked = subscription_lock(held)
        before = subscription_snapshot(locked)
        resumed = locked.status == SubscriptionStatus.PAUSED  # not by a concurrent retry meanwhile
        if resumed:
            locked.gateway_subscription_id = recurring_id
            # The gateway counts its payments from the new schedule's start: so do our periods.
            locked.billing_anchor = starts
            if ran_out:
                locked.current_period_start = locked.current_period_end = now
            in_trial = locked.trial_end is not None and locked.trial_end > now
            locked.status = SubscriptionStatus.TRIALING if in_trial else SubscriptionStatus.ACTIVE
            locked.paused_at = None
        locked.billing_claimed_until = None
        locked.save()
        if resumed:
            record_change(
                locked, action="subscription.resumed", before=before, actor=actor, event="subscription.resumed"
            )
    if locked.status in FINAL_STATUSES:  # ended while the schedule was being made: it must not bill
        try:
            gateway.recurring_cancel(recurring_id)
        except GatewayError as exc:
            raise recurring_error(exc) from exc
    return locked
