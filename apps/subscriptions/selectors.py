from __future__ import annotations

from django.db.models import Prefetch, Q, QuerySet

from apps.core.errors import NotFoundError
from apps.customers.models import PaymentMethod
from apps.merchants.models import Merchant

from .models import FINAL_STATUSES, BillingAttempt, BillingMode, Invoice, Plan, Subscription, SubscriptionStatus


def plan_list(*, merchant: Merchant) -> QuerySet[Plan]:
    return Plan.objects.filter(merchant=merchant).order_by("-id")


def plan_get(*, merchant: Merchant, public_id: str, param: str = "id") -> Plan:
    try:
        return Plan.objects.get(merchant=merchant, public_id=public_id)
    except Plan.DoesNotExist as exc:
        raise NotFoundError(f"No such plan: {public_id!r}.", param=param) from exc


def subscription_list(*, merchant: Merchant, customer: str | None = None) -> QuerySet[Subscription]:
    """The merchant's subscriptions; `customer` (a public id): only that customer's (a customer session)."""
    subscriptions = (
        Subscription.objects.filter(merchant=merchant)
        .select_related("customer", "plan", "payment_method", "pending_plan", "pending_payment_method")
        .order_by("-id")
    )
    return subscriptions if customer is None else subscriptions.filter(customer__public_id=customer)


def subscription_get(*, merchant: Merchant, public_id: str, customer: str | None = None) -> Subscription:
    try:
        return subscription_list(merchant=merchant, customer=customer).get(public_id=public_id)
    except Subscription.DoesNotExist as exc:
        raise NotFoundError(f"No such subscription: {public_id!r}.", param="id") from exc


def invoices_for(*, subscription: Subscription) -> QuerySet[Invoice]:
    attempts = BillingAttempt.objects.select_related("payment").order_by("number")
    return (
        subscription.invoices.select_related("payment", "plan", "subscription")
        .prefetch_related(Prefetch("attempts", queryset=attempts))
        .order_by("-period_start")
    )


def subscriptions_for_identifier(*, identifier: str) -> list[Subscription]:
    """Staff lookup across merchants: a subscription id, a customer id or a customer's email."""
    queryset = Subscription.objects.select_related(
        "customer", "plan", "payment_method", "pending_plan", "pending_payment_method"
    ).order_by("-id")
    return list(
        queryset.filter(
            Q(public_id=identifier) | Q(customer__public_id=identifier) | Q(customer__email__iexact=identifier)
        )
    )


def dunning_list() -> QuerySet[Subscription]:
    """Subscriptions being chased for payment, the soonest retry first."""
    return (
        Subscription.objects.filter(status__in=[SubscriptionStatus.PAST_DUE, SubscriptionStatus.UNPAID])
        .select_related("customer", "plan", "merchant", "payment_method")
        .order_by("next_billing_at")
    )


def subscription_initial_payment_pending(subscription: Subscription) -> bool:
    """Is the first charge still waiting for the gateway's answer (a retry asks again)?"""
    pending = BillingAttempt.objects.filter(invoice__subscription=subscription, status=BillingAttempt.Status.PENDING)
    return pending.exists()


def payment_method_pays_a_live_subscription(method: PaymentMethod) -> bool:
    """Does a subscription that is not over charge this card, now or from its next charge?"""
    live = Subscription.objects.exclude(status__in=FINAL_STATUSES)
    return live.filter(Q(payment_method=method) | Q(pending_payment_method=method)).exists()


def paused_without_schedule() -> QuerySet[Subscription]:
    """Gateway-run subscriptions paused with no gateway id, by gateway account: where a schedule a
    lost create made may run (apps.subscriptions.recurring_lost)."""
    return (
        Subscription.objects.filter(
            billing_mode=BillingMode.GATEWAY, status=SubscriptionStatus.PAUSED, gateway_subscription_id=""
        )
        .select_related("gateway_account", "payment_method__profile")
        .order_by("gateway_account_id", "pk")
    )
