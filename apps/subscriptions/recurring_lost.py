"""Gateway schedules a lost create left running under a gateway-run (ARB) subscription that holds no
gateway id: one paused before pauses learned the schedule's id first (8c5aa9a), whose create's
answer was lost. Ours shows paused, and the gateway charges on under our reference.

Found by listing the gateway's active schedules (read only) and matching the invoice number the
create sent and the customer; each is cancelled. A resume does it before it makes the new schedule
(two would charge the customer twice a period); `manage.py arb_lost_schedules` finds them all."""

from __future__ import annotations

import logging

from django.db import transaction
from django.db.models import QuerySet

from apps.audit.actors import Actor
from apps.audit.services import audit_record
from apps.gateways.registry import recurring_gateway_for

from .models import BillingMode, Subscription, SubscriptionStatus
from .recurring import recurring_reference, recurring_schedule_stop

logger = logging.getLogger(__name__)

LOST_SCHEDULE_CANCELLED = "subscription.lost_schedule_cancelled"


def recurring_lost_schedules(subscription: Subscription) -> list[str]:
    """The running schedules the gateway holds under this subscription's create reference for its
    customer, when ours holds no gateway id (none otherwise: its schedule is known)."""
    if subscription.gateway_subscription_id or subscription.billing_mode != BillingMode.GATEWAY:
        return []
    gateway = recurring_gateway_for(subscription.gateway_account)
    return gateway.recurring_find(recurring_reference(subscription), subscription.payment_method.profile.customer_token)


def recurring_lost_schedules_stop(subscription: Subscription, *, actor: Actor) -> list[str]:
    """Cancel the schedules `recurring_lost_schedules` finds (outside any transaction: gateway
    calls); each cancel is audited on the subscription and logged. Returns their ids; safe to
    repeat (a cancelled schedule is no longer listed as active)."""
    found = recurring_lost_schedules(subscription)
    for schedule in found:
        recurring_schedule_stop(subscription, schedule)
        logger.warning(
            "recurring_lost_schedule_cancelled", extra={"subscription": subscription.public_id, "schedule": schedule}
        )
        with transaction.atomic():
            audit_record(actor=actor, action=LOST_SCHEDULE_CANCELLED, target=subscription, after={"schedule": schedule})
    return found


def paused_without_schedule() -> QuerySet[Subscription]:
    """Gateway-run subscriptions paused with no gateway id: where a lost schedule may run."""
    return Subscription.objects.filter(
        billing_mode=BillingMode.GATEWAY, status=SubscriptionStatus.PAUSED, gateway_subscription_id=""
    ).select_related("gateway_account", "payment_method__profile")
