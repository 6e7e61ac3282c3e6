"""What a change of a gateway-run subscription (Authorize.Net ARB) claims while it is out at the
gateway, and the settling of claims whose answer was lost.

Before the gateway call, in the transaction that holds the subscription, the new card becomes its
pending card (`subscription.card_change_started`) and the new plan its pending plan
(`subscription.plan_change_started`). A pending card counts as in use, so it cannot be removed
while the gateway may be charging it. A claim ends with the change (ours takes the card and plan),
or with the gateway's definite refusal (`subscription.card_change_refused`,
`subscription.plan_change_refused`). An unknown outcome keeps it: the schedule may charge that card,
or that plan's amount, now. A retry of the change settles it, as does a change to another card or
plan (sent to the gateway even when it is ours, while a claim is open). Failing those,
`recurring_change_claims_settle` (beat) asks the gateway which card and amount its schedule
charges and records them.
"""

from __future__ import annotations

import logging
from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django.db import transaction
from django.db.models import Q
from django.utils import timezone

from apps.audit.actors import Actor
from apps.customers.models import PaymentMethod
from apps.gateways.errors import GatewayError
from apps.gateways.recurring_interface import RecurringSchedule
from apps.gateways.registry import recurring_gateway_for

from .errors import SubscriptionStateError
from .lifecycle import record_change, subscription_lock, subscription_snapshot
from .models import FINAL_STATUSES, BillingMode, Plan, Subscription
from .recurring import recurring_hold, recurring_hold_end, recurring_release

logger = logging.getLogger(__name__)

# What is logged of a schedule charging neither the claimed card (plan) nor ours.
UNMATCHED = {"card": "recurring_card_claim_unmatched", "plan": "recurring_plan_claim_unmatched"}

# A claim left by a change whose answer was lost is settled from the gateway after this: the
# client's retry comes first, and the change's hold (BILLING_CLAIM_SECONDS) has run out by then.
CLAIM_SETTLE_AFTER_SECONDS = 600


def card_to_send(subscription: Subscription, card: PaymentMethod) -> bool:
    """A card other than ours, or any card while a pending one's change went unanswered (that
    card may be on the gateway's schedule: the new change puts the chosen one there for sure)."""
    return card.pk != subscription.payment_method_id or subscription.pending_payment_method_id is not None


def plan_to_send(subscription: Subscription, plan: Plan) -> bool:
    """A plan other than ours, or any plan while a pending one's change went unanswered (the
    schedule may charge that plan's amount: the new change puts the chosen one there for sure)."""
    return plan.pk != subscription.plan_id or subscription.pending_plan_id is not None


def claims_make(
    locked: Subscription, *, card: PaymentMethod | None, plan: Plan | None, actor: Actor
) -> dict[str, int | None]:
    """Under the subscription's lock, before the gateway call: the card and plan the change sends
    become its pending ones (each audited). Returns what each claim replaced ({"card": the earlier
    pending card's id, "plan": ...}; a key only for a claim made)."""
    replaced: dict[str, int | None] = {}
    if card is not None and card_to_send(locked, card):
        replaced["card"] = locked.pending_payment_method_id
        before = subscription_snapshot(locked)
        locked.pending_payment_method = card
        locked.save(update_fields=["pending_payment_method", "updated_at"])
        record_change(locked, action="subscription.card_change_started", before=before, actor=actor)
    if plan is not None and plan_to_send(locked, plan):
        replaced["plan"] = locked.pending_plan_id
        before = subscription_snapshot(locked)
        locked.pending_plan = plan
        locked.save(update_fields=["pending_plan", "updated_at"])
        record_change(locked, action="subscription.plan_change_started", before=before, actor=actor)
    return replaced


def claims_refused(
    held: Subscription,
    *,
    card: PaymentMethod | None,
    plan: Plan | None,
    replaced: dict[str, int | None],
    actor: Actor,
) -> None:
    """The gateway's definite no: its schedule keeps the card and amount it had, and ours drops
    the claims (back to those they replaced: a change that went unanswered may still be on it).
    The change's hold ends. A hold that ran out meanwhile and was taken over leaves the claims to
    the call holding it now (they may be its own, and its answer may be lost)."""
    with transaction.atomic():
        locked = subscription_lock(held)
        if locked.billing_claimed_until != held.billing_claimed_until:
            return
        before = subscription_snapshot(locked)
        recurring_hold_end(locked, held)
        if card is not None and "card" in replaced and locked.pending_payment_method_id == card.pk:
            locked.pending_payment_method_id = replaced["card"]
        if plan is not None and "plan" in replaced and locked.pending_plan_id == plan.pk:
            locked.pending_plan_id = replaced["plan"]
        locked.save(update_fields=["billing_claimed_until", "pending_payment_method", "pending_plan", "updated_at"])
        if before["pending_payment_method"] != locked.pending_payment_method_id:
            record_change(locked, action="subscription.card_change_refused", before=before, actor=actor)
        if before["pending_plan"] != locked.pending_plan_id:
            record_change(locked, action="subscription.plan_change_refused", before=before, actor=actor)


def _check_claim_open(locked: Subscription) -> None:
    open_claim = locked.pending_payment_method_id is not None or locked.pending_plan_id is not None
    if not open_claim or locked.status in FINAL_STATUSES:
        raise SubscriptionStateError("No change of this subscription is waiting to be settled.")


def recurring_change_claims_settle(
    *, older_than_seconds: int = CLAIM_SETTLE_AFTER_SECONDS, limit: int = 100
) -> list[str]:
    """Gateway-run subscriptions whose card or plan change went unanswered (the card or plan still
    claimed as the pending one, and no change holding it): the gateway is asked which card and
    amount its schedule charges, and ours records them. The claimed card (the update was made;
    audited subscription.card_change_confirmed) or ours (it was not; card_change_dropped, the
    claimed card free again); the claimed plan when the schedule charges its amount
    (plan_change_confirmed: ours is on it now) or ours when it charges ours (plan_change_dropped).
    A schedule on a third card or amount is logged and left for staff. Held meanwhile, so a
    change made then waits (409); the answer is recorded only while the hold is still its own and
    the claims the ones it asked about (a hold that ran out while the gateway was asked, and a
    change took over: left to that change). Returns "sub_…: outcome" per one settled."""
    waiting = (
        Subscription.objects.filter(
            Q(pending_payment_method__isnull=False) | Q(pending_plan__isnull=False),
            billing_mode=BillingMode.GATEWAY,
            updated_at__lt=timezone.now() - timedelta(seconds=older_than_seconds),
        )
        .exclude(gateway_subscription_id="")
        .exclude(status__in=FINAL_STATUSES)
    )
    actor, settled = Actor.system("recurring change claim settler"), []
    for subscription in waiting.order_by("pk")[:limit]:
        try:
            held = recurring_hold(subscription, _check_claim_open)
        except SubscriptionStateError:
            continue  # a change holds it (its own answer settles the claim), or it settled meanwhile
        try:
            schedule = recurring_gateway_for(held.gateway_account).recurring_get(held.gateway_subscription_id)
        except GatewayError as exc:
            recurring_release(held)
            logger.warning(
                "recurring_change_claim_settle_failed", extra={"subscription": held.public_id, "error": exc.code}
            )
            continue
        outcomes = _settle(held, schedule, actor=actor)
        if outcomes:
            settled.append(f"{held.public_id}: {'; '.join(outcomes)}")
    return settled


def _settle(held: Subscription, schedule: RecurringSchedule, *, actor: Actor) -> list[str]:
    with transaction.atomic():
        locked = subscription_lock(held)
        claims = ("billing_claimed_until", "pending_payment_method_id", "pending_plan_id")
        if any(getattr(locked, name) != getattr(held, name) for name in claims):
            # Our hold ran out while the gateway was asked and another change holds it or
            # claimed another card or plan: the answer is of a schedule that change may alter.
            logger.warning("recurring_change_claim_settle_overtaken", extra={"subscription": held.public_id})
            recurring_hold_end(locked, held)  # its own hold, if still so, ends: a change may go on
            locked.save(update_fields=["billing_claimed_until"])
            return []
        outcomes = [_card_claim_settle(locked, schedule.payment_token, actor=actor), _plan_claim_settle(
            locked, schedule, actor=actor
        )]  # fmt: skip
        locked.billing_claimed_until = None
        locked.save(update_fields=["billing_claimed_until", "updated_at"])
    return [outcome for outcome in outcomes if outcome]


def _card_claim_settle(locked: Subscription, charged: str, *, actor: Actor) -> str:
    """Under the lock: ours takes the card the gateway's schedule charges (`charged`, its token)."""
    return _claim_settle(
        locked, kind="card", field="payment_method", charges=lambda card: card.payment_token == charged, actor=actor
    )


def _plan_claim_settle(locked: Subscription, schedule: RecurringSchedule, *, actor: Actor) -> str:
    """Under the lock: ours takes the plan whose amount the gateway's schedule charges (the claimed
    one first: two plans of one amount charge alike, and the customer asked for the new one)."""
    charged = (schedule.amount, schedule.currency.upper())
    return _claim_settle(
        locked, kind="plan", field="plan", charges=lambda plan: (plan.amount, plan.currency.upper()) == charged,
        actor=actor,
    )  # fmt: skip


def _claim_settle(locked: Subscription, *, kind: str, field: str, charges: Callable[[Any], bool], actor: Actor) -> str:
    """The claimed `field` (its pending one) when the schedule `charges` it (audited
    subscription.<kind>_change_confirmed), ours when it charges ours (<kind>_change_dropped);
    anything else is logged and left for staff."""
    pending = f"pending_{field}"
    claimed, ours = getattr(locked, pending), getattr(locked, field)
    if claimed is None:
        return ""
    before = subscription_snapshot(locked)
    if charges(claimed):
        setattr(locked, field, claimed)
        setattr(locked, pending, None)
        locked.save(update_fields=[field, pending, "updated_at"])
        record_change(
            locked, action=f"subscription.{kind}_change_confirmed", before=before, actor=actor,
            event="subscription.updated",
        )  # fmt: skip
        return f"{kind} {claimed.public_id} confirmed"
    if charges(ours):
        setattr(locked, pending, None)
        locked.save(update_fields=[pending, "updated_at"])
        record_change(locked, action=f"subscription.{kind}_change_dropped", before=before, actor=actor)
        return f"{kind} {claimed.public_id} dropped"
    logger.warning(UNMATCHED[kind], extra={"subscription": locked.public_id})
    return ""
