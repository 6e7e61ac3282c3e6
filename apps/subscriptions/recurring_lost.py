"""Gateway schedules a lost create left running under a gateway-run (ARB) subscription that holds no
gateway id: one paused before pauses learned the schedule's id first (8c5aa9a), whose create's
answer was lost. Ours shows paused, and the gateway charges on under our reference.

Found in the gateway's list of the account's running schedules (read only), matched on the
reference the create sent (the invoice number) and the customer; each is cancelled. A resume does
it before it makes the new schedule (two would charge the customer twice a period);
`manage.py arb_lost_schedules` finds them all, one list per gateway account.

The command also reports a schedule running under a paused subscription's resume reference: a
resume whose create's answer was lost. That one is not cancelled: the resume's retry adopts it (the
gateway answers its repeated create with it)."""

from __future__ import annotations

import logging
from collections.abc import Iterable
from functools import partial

from apps.audit.actors import Actor
from apps.audit.selectors import audit_recorded
from apps.audit.services import audit_record
from apps.core.db import atomic_with_reconnect
from apps.gateways.recurring_interface import RecurringListed

from .errors import SubscriptionStateError
from .lifecycle import subscription_lock
from .models import Subscription, SubscriptionStatus
from .recurring import recurring_hold, recurring_release, recurring_schedule_stop

logger = logging.getLogger(__name__)

LOST_SCHEDULE_CANCELLED = "subscription.lost_schedule_cancelled"


def lost_schedules(subscription: Subscription, listed: Iterable[RecurringListed], *, references: set[str]) -> list[str]:
    """The ids among `listed` (the gateway's running schedules) made under `references` for this
    subscription's customer; none when ours holds its schedule's id."""
    if subscription.gateway_subscription_id:
        return []
    customer_token = subscription.payment_method.profile.customer_token
    return [s.recurring_id for s in listed if s.reference in references and s.customer_token == customer_token]


def recurring_lost_schedules_stop(subscription: Subscription, schedules: list[str], *, actor: Actor) -> None:
    """Cancel these schedules (outside any transaction: gateway calls); each cancel is audited on
    the subscription and logged. Safe to repeat: a cancelled schedule is no longer listed."""
    for schedule in schedules:
        recurring_schedule_stop(subscription, schedule)
        logger.warning(
            "recurring_lost_schedule_cancelled", extra={"subscription": subscription.public_id, "schedule": schedule}
        )
        # On a fresh connection if ours was cut during the cancel: the resume goes on to its create.
        atomic_with_reconnect(
            partial(_audit_once, subscription, schedule, actor), what="recurring_lost_schedule_cancelled"
        )


def recurring_lost_schedules_cancel(subscription: Subscription, schedules: list[str], *, actor: Actor) -> None:
    """As recurring_lost_schedules_stop, for a caller that does not hold the subscription (the
    command): held meanwhile, so a resume waits (409) rather than racing it, and refused
    (SubscriptionStateError) while another change holds it or once it is no longer paused
    without a schedule (resumed since it was listed: nothing of ours to cancel)."""
    held = recurring_hold(subscription, _check_still_lost)
    try:
        recurring_lost_schedules_stop(held, schedules, actor=actor)
    finally:
        recurring_release(held)


def _check_still_lost(locked: Subscription) -> None:
    if locked.status != SubscriptionStatus.PAUSED or locked.gateway_subscription_id:
        raise SubscriptionStateError(f"The subscription is {locked.status} on a schedule of its own now.")


def _audit_once(subscription: Subscription, schedule: str, actor: Actor) -> None:
    """Under the subscription's lock, so two cancels of one schedule (a resume's and the command's,
    a repeat after a lost answer) audit it once."""
    locked = subscription_lock(subscription)
    after = {"schedule": schedule}
    if not audit_recorded(action=LOST_SCHEDULE_CANCELLED, target=locked, after=after):
        audit_record(actor=actor, action=LOST_SCHEDULE_CANCELLED, target=locked, after=after)
