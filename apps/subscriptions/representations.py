"""How plans, subscriptions and invoices look outside: in API answers and in the events they publish."""

from __future__ import annotations

from typing import Any

from .links import invoice_payment_url
from .models import Invoice, InvoiceStatus, Plan, Subscription


def plan_representation(plan: Plan) -> dict[str, Any]:
    return {
        "id": plan.public_id,
        "object": "plan",
        "name": plan.name,
        "amount": plan.amount,
        "currency": plan.currency,
        "interval": plan.interval,
        "interval_count": plan.interval_count,
        "trial_days": plan.trial_days,
        "billing_mode": plan.billing_mode,
        "active": plan.active,
        "metadata": plan.metadata,
        "created_at": plan.created_at,
    }


def subscription_representation(subscription: Subscription) -> dict[str, Any]:
    return {
        "id": subscription.public_id,
        "object": "subscription",
        "customer": subscription.customer.public_id,
        "plan": subscription.plan.public_id,
        "payment_method": subscription.payment_method.public_id,
        "status": subscription.status,
        "billing_mode": subscription.billing_mode,
        "current_period_start": subscription.current_period_start,
        "current_period_end": subscription.current_period_end,
        "trial_end": subscription.trial_end,
        "cancel_at_period_end": subscription.cancel_at_period_end,
        "next_billing_at": subscription.next_billing_at,
        "pending_plan": subscription.pending_plan.public_id if subscription.pending_plan else None,
        "pending_payment_method": (
            subscription.pending_payment_method.public_id if subscription.pending_payment_method else None
        ),
        "canceled_at": subscription.canceled_at,
        "cancellation_reason": subscription.cancellation_reason,
        "ended_at": subscription.ended_at,
        "paused_at": subscription.paused_at,
        "gateway_subscription_id": subscription.gateway_subscription_id or None,
        "livemode": subscription.livemode,
        "metadata": subscription.metadata,
        "created_at": subscription.created_at,
    }


# The merchant's own metadata and the gateway's schedule id are not the customer's to see.
MERCHANT_ONLY_SUBSCRIPTION_FIELDS = frozenset({"metadata", "gateway_subscription_id"})


def subscription_for_customer(body: dict[str, Any]) -> dict[str, Any]:
    """A subscription's representation as its customer sees it (a customer session)."""
    return {name: value for name, value in body.items() if name not in MERCHANT_ONLY_SUBSCRIPTION_FIELDS}


def invoice_representation(invoice: Invoice) -> dict[str, Any]:
    return {
        "id": invoice.public_id,
        "object": "invoice",
        "subscription": invoice.subscription.public_id,
        "plan": invoice.plan.public_id,
        "period_start": invoice.period_start,
        "period_end": invoice.period_end,
        "amount": invoice.amount,
        "currency": invoice.currency,
        "status": invoice.status,
        "attempt_count": invoice.attempt_count,
        "next_attempt_at": invoice.next_attempt_at,
        "payment": invoice.payment.public_id if invoice.payment_id and invoice.payment else None,
        "paid_at": invoice.paid_at,
        # Where the customer pays it themselves (3-D Secure included), while it is open.
        "hosted_payment_url": invoice_payment_url(invoice) if invoice.status == InvoiceStatus.OPEN else None,
        "created_at": invoice.created_at,
    }
