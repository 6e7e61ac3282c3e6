"""Plans and subscriptions: create, change, cancel, pause, resume. Billing is in billing.py.

Every change locks the subscription's row, writes its audit event and its outbox event in the
same transaction. Changes to the plan take effect from the next period; a new card from the
next charge (a renewal or a dunning retry)."""

from __future__ import annotations

from collections.abc import Callable
from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.audit.actors import Actor
from apps.audit.services import audit_record
from apps.core.money import SUPPORTED_CURRENCIES
from apps.customers.models import Customer, PaymentMethod
from apps.gateways.api_errors import CurrencyNotSupported, GatewayUnavailable, PaymentDeclined
from apps.merchants.models import Merchant
from apps.payments.attempts import one_run_per_reference

from . import billing
from .errors import PaymentMethodUnusable, PlanInactive, PlanNotSupported, SubscriptionStateError
from .lifecycle import (
    invoice_reopen_written_off,
    pause_refuse_if_ending,
    period_restart_if_over,
    record_change,
    subscription_end,
    subscription_lock,
    subscription_snapshot,
)
from .models import (
    FINAL_STATUSES,
    BillingMode,
    Invoice,
    InvoiceStatus,
    Plan,
    Subscription,
    SubscriptionStatus,
)
from .periods import arb_interval
from .recurring import recurring_subscription_cancel, recurring_subscription_start
from .recurring_changes import (
    recurring_subscription_change,
    recurring_subscription_pause,
    recurring_subscription_resume,
)
from .representations import plan_representation

S = SubscriptionStatus


# --- plans ------------------------------------------------------------------------------------


def plan_create(
    *,
    merchant: Merchant,
    name: str,
    amount: int,
    currency: str,
    interval: str,
    interval_count: int = 1,
    trial_days: int = 0,
    billing_mode: str = BillingMode.CLEARHOUSE,
    metadata: dict[str, Any] | None = None,
    actor: Actor,
) -> Plan:
    currency = currency.upper()
    if currency not in SUPPORTED_CURRENCIES:
        raise CurrencyNotSupported(f"{currency} is not a supported currency.", param="currency")
    if billing_mode == BillingMode.GATEWAY and arb_interval(interval, interval_count) is None:
        raise PlanNotSupported(
            "Gateway-run (ARB) billing takes intervals of 7 to 365 days or 1 to 12 months.",
            param="interval_count",
        )
    with transaction.atomic():
        plan = Plan.objects.create(
            merchant=merchant,
            name=name,
            amount=amount,
            currency=currency,
            interval=interval,
            interval_count=interval_count,
            trial_days=trial_days,
            billing_mode=billing_mode,
            metadata=metadata or {},
        )
        audit_record(actor=actor, action="plan.created", target=plan, after=plan_representation(plan))
    return plan


def plan_update(*, plan: Plan, changes: dict[str, Any], actor: Actor) -> Plan:
    """Name, active and metadata only: a price or interval change is a new plan, so that what
    existing subscribers agreed to never changes under them."""
    with transaction.atomic():
        plan = Plan.objects.select_for_update().get(pk=plan.pk)
        before = plan_representation(plan)
        for name in ("name", "active", "metadata"):
            if name in changes:
                setattr(plan, name, changes[name])
        plan.save()
        audit_record(actor=actor, action="plan.updated", target=plan, before=before, after=plan_representation(plan))
    return plan


# --- subscriptions ----------------------------------------------------------------------------


def _check_payment_method(method: PaymentMethod, customer: Customer, plan: Plan, livemode: bool) -> None:
    if method.customer_id != customer.pk:
        raise PaymentMethodUnusable("This card belongs to another customer.", param="payment_method")
    if method.status != PaymentMethod.Status.ACTIVE:
        raise PaymentMethodUnusable("This card was removed.", param="payment_method")
    if (method.gateway_account.mode == "live") != livemode:
        raise PaymentMethodUnusable("This card was saved in the other mode (test/live).", param="payment_method")
    if method.gateway_account.currency != plan.currency:
        raise PaymentMethodUnusable(
            f"This card's gateway account settles {method.gateway_account.currency}, the plan is in {plan.currency}.",
            param="payment_method",
        )


def subscription_create(
    *,
    merchant: Merchant,
    customer: Customer,
    plan: Plan,
    payment_method: PaymentMethod | None = None,
    livemode: bool,
    trial_days: int | None = None,
    metadata: dict[str, Any] | None = None,
    now: datetime | None = None,
    idempotency_reference: str = "",
    actor: Actor,
) -> Subscription:
    """Start a subscription. With a trial, the first charge is at the trial's end; without one
    the first period is charged now (a decline then cancels the subscription at once: the
    customer is present and can try another card). Gateway-run plans are created at the gateway.

    A retry with the same `idempotency_reference` returns the subscription its first run created,
    with that run's first charge settled at the gateway if it was left in flight: never a second
    subscription or charge (the reference is unique per merchant in the database too)."""
    now = now or timezone.now()
    if idempotency_reference:
        existing = Subscription.objects.filter(merchant=merchant, request_reference=idempotency_reference).first()
        if existing is not None:
            return _subscription_recover(existing, now=now, actor=actor)
    if not plan.active:
        raise PlanInactive(param="plan")
    if payment_method is None:
        payment_method = (
            PaymentMethod.objects.select_related("gateway_account")
            .filter(customer=customer, status=PaymentMethod.Status.ACTIVE, is_default=True)
            .first()
        )
        if payment_method is None:
            raise PaymentMethodUnusable("The customer has no saved card; add one first.", param="payment_method")
    _check_payment_method(payment_method, customer, plan, livemode)
    trial = plan.trial_days if trial_days is None else trial_days
    with one_run_per_reference(), transaction.atomic():
        PaymentMethod.objects.select_for_update().get(pk=payment_method.pk)  # not removed meanwhile
        payment_method.refresh_from_db(fields=["status"])
        _check_payment_method(payment_method, customer, plan, livemode)
        trial_end = now + timedelta(days=trial) if trial else None
        subscription = Subscription.objects.create(
            merchant=merchant,
            customer=customer,
            plan=plan,
            payment_method=payment_method,
            gateway_account=payment_method.gateway_account,
            livemode=livemode,
            billing_mode=plan.billing_mode,
            status=S.TRIALING if trial_end else S.ACTIVE,
            billing_anchor=trial_end or now,
            current_period_start=now,
            # Without a trial the first period starts with the first charge, just below.
            current_period_end=trial_end or now,
            trial_end=trial_end,
            next_billing_at=(trial_end or now) if plan.billing_mode == BillingMode.CLEARHOUSE else None,
            metadata=metadata or {},
            request_reference=idempotency_reference,
        )
        record_change(
            subscription, action="subscription.created", before=None, actor=actor, event="subscription.created"
        )
    if plan.billing_mode == BillingMode.GATEWAY:
        return recurring_subscription_start(subscription=subscription, actor=actor, first=True)
    if trial_end is None:
        billing.subscription_bill(subscription_id=subscription.pk, as_of=now, actor=actor)
    subscription.refresh_from_db()
    return subscription


def _subscription_recover(subscription: Subscription, *, now: datetime, actor: Actor) -> Subscription:
    """A retried create: finish the first charge its first run began (or never got to), once."""
    if subscription.status in FINAL_STATUSES:
        return subscription
    if subscription.billing_mode == BillingMode.GATEWAY:
        if not subscription.gateway_subscription_id:
            # The gateway knows the schedule by our reference: a repeat returns the same one.
            return recurring_subscription_start(subscription=subscription, actor=actor)
    elif subscription.trial_end is None:
        billing.subscription_bill(subscription_id=subscription.pk, as_of=now, actor=actor)
    subscription.refresh_from_db()
    return subscription


def _change_check(plan: Plan | None, payment_method: PaymentMethod | None) -> Callable[[Subscription], None]:
    """What a change must pass, checked under the subscription's row lock (it raises to refuse),
    with the new card locked too."""

    def check(subscription: Subscription) -> None:
        if subscription.status in FINAL_STATUSES:
            raise SubscriptionStateError(f"The subscription is {subscription.status}.")
        if plan is not None:
            if not plan.active:
                raise PlanInactive(param="plan")
            if plan.currency != subscription.plan.currency or plan.billing_mode != subscription.billing_mode:
                raise PlanNotSupported("The new plan must have the same currency and billing mode.", param="plan")
        if payment_method is not None:
            # Locked and read again here: the caller loaded it before the transaction, and a
            # payment_method_remove committing meanwhile must either see this change or refuse it.
            payment_method.status = (
                PaymentMethod.objects.select_for_update().values_list("status", flat=True).get(pk=payment_method.pk)
            )
            _check_payment_method(payment_method, subscription.customer, subscription.plan, subscription.livemode)
            gateway_run = subscription.billing_mode == BillingMode.GATEWAY
            if gateway_run and payment_method.gateway_account_id != subscription.gateway_account_id:
                raise PaymentMethodUnusable(
                    "This card is saved at another gateway account than the one running this subscription.",
                    param="payment_method",
                )

    return check


def subscription_change(
    *,
    subscription: Subscription,
    plan: Plan | None = None,
    payment_method: PaymentMethod | None = None,
    idempotency_reference: str = "",
    actor: Actor,
) -> Subscription:
    """A new plan from the next period; a new card from the next charge. A gateway-run schedule is
    changed at the gateway first, and ours takes the change at once (recurring_changes.py)."""
    check = _change_check(plan, payment_method)
    if subscription.billing_mode == BillingMode.GATEWAY:
        return recurring_subscription_change(
            subscription=subscription, plan=plan, payment_method=payment_method, check=check,
            idempotency_reference=idempotency_reference, actor=actor,
        )  # fmt: skip
    with transaction.atomic():
        subscription = subscription_lock(subscription)
        check(subscription)
        before = subscription_snapshot(subscription)
        if plan is not None:
            subscription.pending_plan = None if plan.pk == subscription.plan_id else plan
        if payment_method is not None:
            subscription.pending_payment_method = (
                None if payment_method.pk == subscription.payment_method_id else payment_method
            )
        subscription.save()
        record_change(
            subscription, action="subscription.changed", before=before, actor=actor, event="subscription.updated"
        )
    return subscription


# Cancel at period end: the billing run ends the subscription when it next falls due, so only a
# subscription being billed can take it (paused or unpaid ones are canceled now instead).
CANCELABLE_AT_PERIOD_END = frozenset({S.TRIALING, S.ACTIVE, S.PAST_DUE})


def subscription_cancel(
    *, subscription: Subscription, at_period_end: bool = False, reason: str = "requested", actor: Actor
) -> Subscription:
    """Cancel now (no further charges; an unpaid invoice is voided) or at the period's end (only
    while it is billed: trialing, active or past due; a paused or unpaid one is refused, 409)."""
    if subscription.billing_mode == BillingMode.GATEWAY and not at_period_end:
        return recurring_subscription_cancel(subscription=subscription, actor=actor)
    with transaction.atomic():
        subscription = subscription_lock(subscription)
        if subscription.status in FINAL_STATUSES:
            return subscription
        before = subscription_snapshot(subscription)
        if at_period_end:
            if subscription.billing_mode == BillingMode.GATEWAY:
                raise SubscriptionStateError("Gateway-run (ARB) subscriptions can only be canceled now.")
            if subscription.status not in CANCELABLE_AT_PERIOD_END:
                # Not billed, so no period end comes to act on it: it would never end.
                raise SubscriptionStateError(
                    f"A {subscription.status} subscription is not being billed, so it has no period end to cancel "
                    "at: cancel it now, or resume it first."
                )
            subscription.cancel_at_period_end = True
            subscription.save()
            record_change(
                subscription, action="subscription.cancel_scheduled", before=before, actor=actor,
                event="subscription.updated",
            )  # fmt: skip
            return subscription
        subscription_end(subscription, status=S.CANCELED, reason=reason, at=timezone.now(), actor=actor)
        record_change(
            subscription, action="subscription.canceled", before=before, actor=actor, event="subscription.canceled"
        )
    return subscription


def subscription_pause(*, subscription: Subscription, actor: Actor) -> Subscription:
    """No charges while paused (dunning stops too). A gateway-run schedule is cancelled at the
    gateway, and made again on resume (recurring_changes.py). One set to cancel at its period's
    end is refused (409) and nothing changes: it ends then (pause_refuse_if_ending)."""
    if subscription.billing_mode == BillingMode.GATEWAY:
        return recurring_subscription_pause(subscription=subscription, actor=actor)
    with transaction.atomic():
        subscription = subscription_lock(subscription)
        if subscription.status == S.PAUSED:
            return subscription
        if subscription.status not in {S.ACTIVE, S.TRIALING, S.PAST_DUE, S.UNPAID}:
            raise SubscriptionStateError(f"A {subscription.status} subscription cannot be paused.")
        pause_refuse_if_ending(subscription)
        before = subscription_snapshot(subscription)
        subscription.status, subscription.paused_at = S.PAUSED, timezone.now()
        subscription.next_billing_at = None
        subscription.save()
        record_change(
            subscription, action="subscription.paused", before=before, actor=actor, event="subscription.paused"
        )
    return subscription


def subscription_resume(*, subscription: Subscription, now: datetime | None = None, actor: Actor) -> Subscription:
    """Back to billing. If the period ran out while paused, a new one starts now (the pause is
    not charged); an invoice still owed (open, or uncollectible: paused while unpaid) is retried
    now, and once it is paid the next period starts from the resume, not from where the owed
    one ended (no charge for each period the pause spanned)."""
    now = now or timezone.now()
    if subscription.billing_mode == BillingMode.GATEWAY:
        return recurring_subscription_resume(subscription=subscription, now=now, actor=actor)
    with transaction.atomic():
        subscription = subscription_lock(subscription)
        if subscription.status != S.PAUSED:
            raise SubscriptionStateError(f"A {subscription.status} subscription is not paused.")
        before = subscription_snapshot(subscription)
        owed = Invoice.objects.filter(subscription=subscription, status=InvoiceStatus.OPEN).exists()
        if not owed:
            # Paused while unpaid: the uncollectible invoice is still owed; resuming never forgives it.
            owed = invoice_reopen_written_off(subscription, reason="resumed", actor=actor)
        period_restart_if_over(subscription, at=now)
        if owed:
            subscription.status, subscription.next_billing_at = S.PAST_DUE, now
        else:
            subscription.status = S.TRIALING if subscription.trial_end and subscription.trial_end > now else S.ACTIVE
            subscription.next_billing_at = subscription.current_period_end
        subscription.paused_at = None
        subscription.save()
        record_change(
            subscription, action="subscription.resumed", before=before, actor=actor, event="subscription.resumed"
        )
    return subscription


def raise_if_initial_payment_failed(subscription: Subscription) -> None:
    """After subscription_create committed: the API's 402 when the first charge was declined."""
    if subscription.cancellation_reason == "initial_payment_error":
        raise GatewayUnavailable(
            "The gateway could not be reached; nothing was charged and the subscription was not started.",
            extra={"subscription": subscription.public_id},
        )
    if subscription.cancellation_reason != "initial_payment_failed":
        return
    invoice = subscription.invoices.select_related("subscription").order_by("-id").first()
    attempt = invoice.attempts.select_related("payment").order_by("-number").first() if invoice else None
    payment = attempt.payment if attempt else None
    raise PaymentDeclined(
        (payment.failure_message if payment else "") or "The first payment was declined.",
        code=(payment.failure_code if payment else "") or "card_declined",
        extra={"subscription": subscription.public_id, "payment": payment.public_id if payment else None},
    )
