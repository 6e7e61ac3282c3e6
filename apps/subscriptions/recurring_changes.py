"""Changing a subscription whose schedule the gateway runs (Authorize.Net ARB): a new plan or
card, pause and resume, each made at the gateway and then in our records, with the same audit
events and webhooks as our own subscriptions.

- Plan and card: the gateway's schedule is updated (amount and name; the saved card), so its next
  charge uses them; ours takes them at once (no pending change: the gateway bills, not us). The
  gateway cannot change a schedule's interval, and we refuse a plan with another interval
  (`plan_not_supported`) rather than cancel and recreate the schedule: two gateway calls that can
  fail between them would leave the customer with no schedule or two, and a new interval moves
  the billing date, which the merchant should decide by cancelling and subscribing again.
  One whose schedule is unconfirmed (the create's answer was lost: ours is open without the
  gateway's id) has the id learned first, as a cancel does, by the create again with the plan and
  card it was made with; a change written on our side only would go into the next create (the
  sweeper's, a retry's), which the gateway does not take for a duplicate: two schedules. A change
  nothing sends to the gateway (a paused one's) is checked again when it is recorded.
- Pause: the gateway has none, so the pause cancels its schedule. Ours is marked paused first
  (so the gateway's "cancelled" webhook is read as our pause, not an end), then the schedule is
  cancelled; if the gateway cannot be reached the answer is 503 and a retry cancels it again
  (cancelling is safe to repeat), as does a task queued then, should nobody retry: ours stays
  paused (the cancel may have been made), and the schedule is made to agree with it. A
  past-due subscription is not paused: its new card first. One whose schedule is unconfirmed has
  its id learned first, as a change does, so the cancel reaches the schedule the gateway runs.
- Resume: the paused schedule cancelled first (gone or stopped counts as done; else 503 and
  nothing made), so a pause whose cancel failed never leaves two charging; then a new schedule
  starting at the end of the current period (or today, when the period ran out while paused:
  the pause is not charged), made with a reference of this pause, so a
  retry after a lost answer finds the same schedule (the gateway answers "duplicate").

The gateway is never called inside a transaction. While a call is out the subscription is held
(`billing_claimed_until`, which the billing run uses for the same purpose for our own schedules):
a second change meanwhile gets 409 instead of racing the first at the gateway. The card and plan
a change sends are claimed as the subscription's pending card and plan in the same transaction,
and an unknown outcome keeps the claims: see recurring_claims.py.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterator
from datetime import datetime
from functools import partial
from itertools import count

from django.db import transaction
from django.utils import timezone

from apps.audit.actors import Actor
from apps.core.db import atomic_with_reconnect
from apps.core.errors import ApplicationError
from apps.customers.models import PaymentMethod
from apps.gateways.api_errors import GatewayMisconfiguredError
from apps.gateways.errors import GatewayError, GatewayNotFound
from apps.gateways.recurring_interface import RecurringRequest, RecurringUpdate
from apps.gateways.registry import recurring_gateway_for

from .errors import PlanNotSupported, SubscriptionScheduleUnconfirmed, SubscriptionStateError
from .lifecycle import pause_refuse_if_ending, record_change, subscription_lock, subscription_snapshot
from .models import (
    BILLABLE_STATUSES,
    FINAL_STATUSES,
    GatewayScheduleCancel,
    Plan,
    Subscription,
    SubscriptionStatus,
)
from .periods import arb_interval
from .recurring import (
    PAUSE_RECANCEL_DELAY_SECONDS,
    recurring_error,
    recurring_reference,
    recurring_refused,
    recurring_schedule_cancel_owed,
    recurring_schedule_cancel_queue,
    recurring_schedule_cancels_close,
    recurring_schedule_stop,
    recurring_subscription_start,
    resume_reference,
)
from .recurring import recurring_hold as _hold
from .recurring import recurring_hold_end as _hold_end
from .recurring import recurring_release as _release
from .recurring_claims import card_to_send, claims_make, claims_refused, plan_to_send
from .recurring_lost import lost_schedules, recurring_lost_schedules_stop

logger = logging.getLogger(__name__)

PAUSABLE = (SubscriptionStatus.ACTIVE, SubscriptionStatus.TRIALING)


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

    def check_change(locked: Subscription) -> None:
        check_interval(locked)
        if _schedule_unconfirmed(locked):  # its confirmation below raced something: never ours alone
            raise SubscriptionScheduleUnconfirmed()

    replaced: dict[str, int | None] = {}  # what our claims replaced (recurring_claims.claims_make)

    def claim(locked: Subscription) -> None:
        if _goes_to_the_gateway(locked):
            replaced.update(claims_make(locked, card=payment_method, plan=plan, actor=actor))

    if _schedule_unconfirmed(subscription):
        subscription = _schedule_confirm(subscription, check=check_interval, actor=actor)
    held = _hold(subscription, check_change, claim)
    new_plan = plan if plan is not None and plan_to_send(held, plan) else None
    new_card = payment_method if payment_method is not None and card_to_send(held, payment_method) else None
    to_the_gateway = _goes_to_the_gateway(held) and bool(new_plan or new_card)
    if to_the_gateway:
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
            if replaced and recurring_refused(exc):
                claims_refused(held, card=payment_method, plan=plan, replaced=replaced, actor=actor)
            else:  # an unknown outcome keeps the claims: the schedule may be charging the card or amount
                _release(held)
            raise recurring_error(exc) from exc

    runs = count()

    def record() -> Subscription:
        locked = subscription_lock(held)
        if next(runs) and _change_committed(locked, held, new_plan=new_plan, payment_method=payment_method):
            return locked  # a run again after the connection was cut: the first one's commit got through
        if not to_the_gateway:
            # Nothing claimed the card (only a change sent to the gateway does), so a removal
            # may have committed since the hold: checked again under the lock, the card
            # locked too, so the removal either saw this change or it is refused here.
            check_change(locked)
        _change_record(
            locked, held, new_plan=new_plan, plan=plan, payment_method=payment_method,
            to_the_gateway=to_the_gateway, actor=actor,
        )  # fmt: skip
        return locked

    try:
        # On a fresh connection if ours was cut while the update was out: the gateway has it.
        return atomic_with_reconnect(record, what="recurring_change_record")
    except ApplicationError:
        _release(held)  # refused by the check: nothing was sent, nothing recorded
        raise


def _change_committed(
    locked: Subscription, held: Subscription, *, new_plan: Plan | None, payment_method: PaymentMethod | None
) -> bool:
    """Under the lock, in a run after a lost connection: whether the first run committed (its hold
    ended, ours on what it recorded), so that it is not recorded (audited, published) twice."""
    return (
        locked.billing_claimed_until != held.billing_claimed_until
        and (new_plan is None or locked.plan_id == new_plan.pk)
        and (payment_method is None or locked.payment_method_id == payment_method.pk)
    )


def _change_record(
    locked: Subscription,
    held: Subscription,
    *,
    new_plan: Plan | None,
    plan: Plan | None,
    payment_method: PaymentMethod | None,
    to_the_gateway: bool,
    actor: Actor,
) -> None:
    """Under the lock: ours takes the change. A claim ends only if it is this change's (the card
    or plan it sent, now on the schedule): a change of the card alone leaves an open plan claim
    for the settler, and one taken over after this change's hold ran out is left to its holder.
    A change nothing sent (a paused one's) is the customer's last word: it ends any claim."""
    before = subscription_snapshot(locked)
    if new_plan is not None:
        locked.plan = new_plan
    if payment_method is not None:
        locked.payment_method = payment_method
        if not to_the_gateway or locked.pending_payment_method_id == payment_method.pk:
            locked.pending_payment_method = None
    if plan is not None and (not to_the_gateway or locked.pending_plan_id == plan.pk):
        locked.pending_plan = None
    _hold_end(locked, held)
    locked.save()
    record_change(locked, action="subscription.changed", before=before, actor=actor, event="subscription.updated")


def _schedule_unconfirmed(subscription: Subscription) -> bool:
    """Ours should be on a gateway schedule but lacks its id: the create's answer was lost (or the
    gateway was away), and a schedule may run there under our reference."""
    return not subscription.gateway_subscription_id and subscription.status in BILLABLE_STATUSES


def _schedule_confirm(
    subscription: Subscription, *, check: Callable[[Subscription], None], actor: Actor
) -> Subscription:
    """Before a change of one whose schedule is unconfirmed: its id learned first, as a cancel
    does, by the create again with the plan and card it was made with (the gateway answers
    "duplicate" with the schedule's id, or makes it now if it never was). A change written on our
    side only would be in the next create (the sweeper's, a retry's), which the gateway does not
    take for a duplicate (another amount or card): a second schedule, the lost one charging on.
    Held meanwhile, so a second change waits (409) rather than confirming with changed values."""
    held = confirmed = _hold(subscription, check)
    try:
        if _schedule_unconfirmed(held):
            confirmed = recurring_subscription_start(subscription=held, actor=actor, held=True)
    except GatewayMisconfiguredError:
        pass  # ours ended meanwhile (the change's check then refuses it); a refused repeat is a 503
    finally:
        _release(held)
    return confirmed


def _goes_to_the_gateway(subscription: Subscription) -> bool:
    """A change is made at the gateway first while it runs a schedule (a paused one has none)."""
    return bool(subscription.gateway_subscription_id) and subscription.status != SubscriptionStatus.PAUSED


def _check_pausable(locked: Subscription) -> None:
    if locked.status == SubscriptionStatus.PAST_DUE:
        raise SubscriptionStateError(
            "A past-due gateway-run (ARB) subscription cannot be paused: give it a new card first, which "
            "reactivates the gateway's schedule."
        )
    if locked.status not in (*PAUSABLE, SubscriptionStatus.PAUSED):
        raise SubscriptionStateError(f"A {locked.status} subscription cannot be paused.")
    if locked.status != SubscriptionStatus.PAUSED:
        pause_refuse_if_ending(locked)


def recurring_subscription_pause(*, subscription: Subscription, actor: Actor) -> Subscription:
    """Ours paused, then the gateway's schedule cancelled. Pausing a paused one cancels the
    schedule again (a retry after the gateway could not be reached): safe to repeat.

    One whose schedule is unconfirmed (the create's answer lost: ours open without the gateway's
    id) has the id learned first, as a change does, so the cancel below reaches the schedule the
    gateway runs under our reference; paused without it, the lost schedule would charge on. The
    gateway still away: 503 and nothing changed."""

    def check_pause(locked: Subscription) -> None:
        _check_pausable(locked)
        if _schedule_unconfirmed(locked):  # its confirmation below raced something
            raise SubscriptionScheduleUnconfirmed()

    if _schedule_unconfirmed(subscription):
        subscription = _schedule_confirm(subscription, check=_check_pausable, actor=actor)
    held = _hold(subscription, check_pause)
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
        # Ours stays paused (the cancel may have been made: its "cancelled" webhook must read as
        # the pause, not an end), and the schedule's cancel is ours to finish: the keyed retry
        # does it at once, and a task does it regardless, so nothing keeps charging.
        owed = partial(_pause_cancel_owed, held, exc, actor, count())
        atomic_with_reconnect(owed, what="recurring_pause_cancel_owed")
        _release(held)
        raise recurring_error(exc) from exc
    if held.gateway_subscription_id:
        # On a fresh connection if ours was cut while the cancel was out.
        atomic_with_reconnect(partial(_pause_cancel_done, held, actor), what="recurring_pause_cancel_done")
    _release(held)
    held.refresh_from_db()
    return held


def _pause_cancel_owed(held: Subscription, exc: GatewayError, actor: Actor, runs: Iterator[int]) -> None:
    locked = subscription_lock(held)
    if next(runs) and recurring_schedule_cancel_owed(locked, held.gateway_subscription_id):
        return  # a run again after the connection was cut: the first one's commit got through
    if locked.status == SubscriptionStatus.PAUSED and held.gateway_subscription_id:
        recurring_schedule_cancel_queue(
            locked, schedule_id=held.gateway_subscription_id, why=f"pause's cancel failed ({exc.code})",
            actor=actor, countdown=PAUSE_RECANCEL_DELAY_SECONDS,
        )  # fmt: skip


def _pause_cancel_done(held: Subscription, actor: Actor) -> None:
    """A retry of a pause whose cancel failed: the cancel owed since is done."""
    schedule = held.gateway_subscription_id
    owed = GatewayScheduleCancel.objects.filter(subscription=held, schedule_id=schedule, done_at__isnull=True)
    if owed.exists():
        locked = subscription_lock(held)
        recurring_schedule_cancels_close(locked, schedule_id=schedule, outcome="cancelled by the pause", actor=actor)


def _check_paused(locked: Subscription) -> None:
    if locked.status != SubscriptionStatus.PAUSED:
        raise SubscriptionStateError(f"A {locked.status} subscription is not paused.")


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
        # The paused schedule first: if the pause's cancel failed it still runs, and a new one
        # beside it would charge the customer twice a period. Already cancelled or gone: done.
        if held.gateway_subscription_id:
            recurring_schedule_stop(held, held.gateway_subscription_id)
        else:  # paused before its schedule was confirmed: one a lost create made may run
            lost = lost_schedules(held, gateway.recurring_running(), references={recurring_reference(held)})
            recurring_lost_schedules_stop(held, lost, actor=actor)
        recurring_id = gateway.recurring_create(request)
    except GatewayError as exc:
        _release(held)
        raise recurring_error(exc) from exc

    runs = count()

    def record() -> Subscription:
        locked = subscription_lock(held)
        if next(runs) and locked.gateway_subscription_id == recurring_id:
            return locked  # a run again after the connection was cut: the first one's commit got through
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
        _hold_end(locked, held)
        locked.save()
        if resumed:
            record_change(
                locked, action="subscription.resumed", before=before, actor=actor, event="subscription.resumed"
            )
        return locked

    # On a fresh connection if ours was cut while the create was out (safe to repeat: resumed once).
    locked = atomic_with_reconnect(record, what="recurring_resume_record")
    if locked.status in FINAL_STATUSES:  # ended while the schedule was being made: it must not bill
        try:
            gateway.recurring_cancel(recurring_id)
        except GatewayError as exc:
            raise recurring_error(exc) from exc
    return locked
