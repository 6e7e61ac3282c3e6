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
from apps.audit.services import audit_record
from apps.core.db import atomic_with_reconnect
from apps.gateways.recurring_interface import RecurringListed

from .models import Subscription
from .recurring import recurring_schedule_stop

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
        record = partial(
            audit_record, actor=actor, action=LOST_SCHEDULE_CANCELLED, target=subscription, after={"schedule": schedule}
        )
        atomic_with_reconnect(record, what="recurring_lost_schedule_cancelled")
