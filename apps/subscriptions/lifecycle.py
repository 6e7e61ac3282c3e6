"""What every change of a subscription shares: its snapshot for the audit trail, its row lock,
recording a change (audit and event), ending it, and where a period ends. Beneath the services,
billing and gateway-run schedules, which all change subscriptions."""

from __future__ import annotations

from datetime import datetime
from typing import Any

from apps.audit.actors import Actor
from apps.audit.services import audit_record, audit_record_many
from apps.events.services import event_publish

from .errors import SubscriptionStateError
from .models import Invoice, InvoiceStatus, Plan, Subscription
from .periods import period_end
from .representations import subscription_representation


def subscription_snapshot(subscription: Subscription) -> dict[str, Any]:
    return {
        "status": subscription.status,
        "plan": subscription.plan_id,
        "payment_method": subscription.payment_method_id,
        "current_period_end": subscription.current_period_end,
        "next_billing_at": subscription.next_billing_at,
        "cancel_at_period_end": subscription.cancel_at_period_end,
        "pending_plan": subscription.pending_plan_id,
        "pending_payment_method": subscription.pending_payment_method_id,
    }


def record_change(
    subscription: Subscription, *, action: str, before: dict[str, Any] | None, actor: Actor, event: str = ""
) -> None:
    """Audit a subscription change and, if `event`, publish it to the merchant's webhooks."""
    audit_record(
        actor=actor, action=action, target=subscription, before=before, after=subscription_snapshot(subscription)
    )
    if event:
        event_publish(
            merchant_id=subscription.merchant_id,
            livemode=subscription.livemode,
            type=event,
            object_type="subscription",
            object_id=subscription.public_id,
            data=subscription_representation(subscription),
        )


def subscription_lock(subscription: Subscription) -> Subscription:
    return (
        Subscription.objects.select_for_update(of=("self",))
        .select_related("customer", "plan", "payment_method", "pending_plan", "pending_payment_method")
        .get(pk=subscription.pk)
    )


def subscription_end(
    subscription: Subscription, *, status: str, reason: str, at: datetime, actor: Actor | None = None
) -> None:
    """Under the row lock: end the subscription and void what it still owes, each voided invoice
    audited (invoice.voided). `actor`: who ended it (a system actor when the caller names none)."""
    subscription.status = status
    subscription.canceled_at = subscription.canceled_at or at
    subscription.cancellation_reason = reason[:100]
    subscription.ended_at = at
    subscription.next_billing_at = None
    subscription.billing_claimed_until = None
    subscription.save()
    owed = list(
        Invoice.objects.select_for_update().filter(subscription=subscription, status=InvoiceStatus.OPEN).order_by("pk")
    )
    if not owed:
        return
    Invoice.objects.filter(pk__in=[invoice.pk for invoice in owed]).update(
        status=InvoiceStatus.VOID, next_attempt_at=None, updated_at=at
    )
    who = actor or Actor.system("subscriptions")
    audit_record_many([
        invoice_status_change(invoice, before=InvoiceStatus.OPEN, after=InvoiceStatus.VOID, reason=reason, actor=who)
        for invoice in owed
    ])  # fmt: skip


def invoice_status_change(invoice: Invoice, *, before: str, after: str, reason: str, actor: Actor) -> dict[str, Any]:
    """The audit entry (audit_record's arguments) of an invoice written off: invoice.voided or
    invoice.uncollectible, with the status it had and why."""
    return {
        "actor": actor,
        "action": "invoice.voided" if after == InvoiceStatus.VOID else f"invoice.{after}",
        "target": invoice,
        "before": {"status": before},
        "after": {"status": after, "reason": reason},
    }


def pause_refuse_if_ending(subscription: Subscription) -> None:
    """Under the row lock, before a pause: one set to cancel at its period's end is refused (409).
    Paused, it would not reach that end; a resume later would end it at once, at the next billing,
    which nobody asked for then. Its end stands: cancel it now to stop it sooner."""
    if subscription.cancel_at_period_end:
        raise SubscriptionStateError(
            f"This subscription is set to cancel at the end of its period "
            f"({subscription.current_period_end:%Y-%m-%d %H:%M} UTC), so it cannot be paused: it ends then. "
            "Cancel it now to stop it sooner."
        )


def period_restart_if_over(subscription: Subscription, *, at: datetime) -> None:
    """Under the row lock, billing again after a stop (paused, unpaid): a period that ran out
    meanwhile restarts at `at`, so the time not billed is never charged: the next period opens
    from `at`, not one for each period that passed."""
    if subscription.current_period_end < at:
        subscription.current_period_end = at
        subscription.billing_anchor = at


def next_period_end(subscription: Subscription, plan: Plan, start: datetime) -> datetime:
    return period_end(start, interval=plan.interval, count=plan.interval_count, anchor=subscription.billing_anchor)


def invoice_reopen_written_off(subscription: Subscription, *, reason: str, actor: Actor) -> bool:
    """Under the subscription's row lock: its latest uncollectible invoice (dunning ran out with
    BILLING_FINAL_ACTION=unpaid) is open again, to be charged; audited. False when there is none."""
    written_off = (
        Invoice.objects.select_for_update()
        .filter(subscription=subscription, status=InvoiceStatus.UNCOLLECTIBLE)
        .order_by("-id")
        .first()
    )
    if written_off is None:
        return False
    written_off.status = InvoiceStatus.OPEN
    written_off.save(update_fields=["status", "updated_at"])
    audit_record(
        actor=actor, action="invoice.reopened", target=written_off,
        before={"status": InvoiceStatus.UNCOLLECTIBLE}, after={"status": InvoiceStatus.OPEN, "reason": reason},
    )  # fmt: skip
    return True
