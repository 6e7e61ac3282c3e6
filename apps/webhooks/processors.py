"""What a gateway notification means for us. A notification is a hint, never the truth: the
processor finds what it is about and asks the gateway for its current state, so duplicates and
out-of-order deliveries end in the same place.

Processing speaks our words only: the gateway's adapter reads the stored body into a
`Notification` whose `kind` says what happened (payment captured, refund failed, schedule changed
...), and this module dispatches on the kind. No gateway's event names live here.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import timedelta

from django.utils import timezone

from apps.audit.actors import Actor
from apps.catalog.models import CheckoutOrder
from apps.catalog.services import checkout_settle
from apps.customers.checkout_setups import CARD_SETUP_REFERENCE_PREFIX
from apps.customers.models import PaymentMethod
from apps.customers.setups import payment_method_setup_settle
from apps.gateways.base import Notification, NotificationKind
from apps.gateways.errors import GatewayMisconfigured, GatewayNotFound
from apps.gateways.registry import notification_reader_for, recurring_gateway_for
from apps.payments.models import GatewayTransaction, Payment
from apps.payments.services import payment_sync_with_gateway, refund_sync_with_gateway
from apps.subscriptions.models import Subscription
from apps.subscriptions.recurring import recurring_charge_record, recurring_subscription_sync

from .models import IncomingWebhook

Kind = NotificationKind

# What we act on: a payment or refund changed, a checkout was paid, a gateway-run schedule changed.
PAYMENT_KINDS = frozenset(
    {
        Kind.PAYMENT_AUTHORIZED,
        Kind.PAYMENT_CAPTURED,
        Kind.PAYMENT_FAILED,
        Kind.PAYMENT_VOIDED,
        Kind.PAYMENT_UNDER_REVIEW,
        Kind.PAYMENT_ACTION_REQUIRED,
        Kind.CHECKOUT_PAID,
    }
)
REFUND_KINDS = frozenset({Kind.REFUND_CREATED, Kind.REFUND_SUCCEEDED, Kind.REFUND_FAILED})


@dataclass(frozen=True)
class ProcessingOutcome:
    status: str
    result: str
    payment: Payment | None = None


# How long an event of a schedule we do not know is tried again before it counts as unmatched.
SCHEDULE_MATCH_GRACE = timedelta(minutes=5)


def _unmatched(what: str) -> ProcessingOutcome:
    return ProcessingOutcome(IncomingWebhook.Status.UNMATCHED, f"{what}; kept for reconciliation")


def process_notification(webhook: IncomingWebhook) -> ProcessingOutcome:
    notification = notification_reader_for(webhook.gateway)(webhook.body_text.encode(), webhook.headers or {})
    actor = Actor.gateway(f"{webhook.gateway} webhook")
    if notification.kind is Kind.RECURRING_CHANGED:
        return _recurring_changed(webhook, notification, actor)
    if notification.kind is Kind.CARD_SAVED:
        return _card_setup(webhook, notification, actor)
    if notification.kind in PAYMENT_KINDS and notification.order_id:
        settled = _checkout_paid(webhook, notification, actor)
        if settled is not None:
            return settled
        # Where the order is also the payment (a Stripe PaymentIntent), it may be a server-side
        # one; an order of ours paid with a saved card (Razorpay) is found by its payment.
        if (
            notification.order_id != notification.object_id
            and _find_payment(webhook.gateway_account_id, notification) is None
        ):
            if notification.reference.startswith(CARD_SETUP_REFERENCE_PREFIX):
                return ProcessingOutcome(IncomingWebhook.Status.IGNORED, "a card setup's authorisation, never captured")
            return _unmatched(f"no checkout of ours has order {notification.order_id}")
    if notification.kind in PAYMENT_KINDS | REFUND_KINDS:
        return _payment_changed(webhook, notification, actor)
    return ProcessingOutcome(IncomingWebhook.Status.IGNORED, f"{webhook.event_type} is not an event we act on")


def _payment_changed(webhook: IncomingWebhook, notification: Notification, actor: Actor) -> ProcessingOutcome:
    """A charge or a refund changed at the gateway: bring its payment up to date by asking."""
    payment = _find_payment(webhook.gateway_account_id, notification)
    if payment is None and notification.kind is Kind.PAYMENT_CAPTURED and notification.object_id:
        # A charge we did not make: perhaps one of our gateway-run schedules made it.
        return _recurring_charge(webhook, notification, actor)
    if payment is None:
        return _unmatched(f"no payment of ours has transaction {notification.object_id or '?'}")
    result = payment_sync_with_gateway(payment=payment, actor=actor)
    if notification.kind in REFUND_KINDS:
        # The charge does not say what became of one refund of it (one we recorded as succeeded
        # may have failed since): ask about the refund itself.
        refund_result = refund_sync_with_gateway(payment=payment, gateway_refund_id=notification.object_id, actor=actor)
        result = f"{result}; {refund_result}" if refund_result else result
    return ProcessingOutcome(IncomingWebhook.Status.PROCESSED, f"{payment.public_id}: {result}", payment)


def _card_setup(webhook: IncomingWebhook, notification: Notification, actor: Actor) -> ProcessingOutcome:
    """A card's setup ended at the gateway (the customer authenticated, or failed to): settle it."""
    method = (
        PaymentMethod.objects.select_related("gateway_account", "customer")
        .filter(gateway_account_id=webhook.gateway_account_id, setup_id=notification.object_id)
        .first()
        if notification.object_id
        else None
    )
    if method is None:
        return ProcessingOutcome(IncomingWebhook.Status.IGNORED, "no card setup of ours waits on it")
    method = payment_method_setup_settle(method=method, actor=actor)
    return ProcessingOutcome(IncomingWebhook.Status.PROCESSED, f"{method.public_id}: {method.status}")


def _find_payment(gateway_account_id: int, notification: Notification) -> Payment | None:
    """By the gateway's id (a charge, one of its calls, or for a refund the charge it returns),
    else by our reference."""
    payments = Payment.objects.filter(gateway_account_id=gateway_account_id)
    calls = GatewayTransaction.objects.filter(gateway_account_id=gateway_account_id).select_related("payment")
    for gateway_id in (notification.object_id, notification.charge_id):
        if not gateway_id:
            continue
        call = calls.filter(gateway_transaction_id=gateway_id).order_by("-id").first()
        if call is not None:
            return call.payment
        payment = payments.filter(gateway_transaction_id=gateway_id).first()
        if payment is not None:
            return payment
    call = calls.filter(reference=notification.reference).first() if notification.reference else None
    return call.payment if call is not None else None


def _checkout_paid(webhook: IncomingWebhook, notification: Notification, actor: Actor) -> ProcessingOutcome | None:
    """A payment in a hosted checkout: settle the checkout it pays (asking the gateway, as the
    browser's verify call does). None when no checkout of ours has the order."""
    checkout = (
        CheckoutOrder.objects.select_related("payment__gateway_account", "price__product", "customer")
        .filter(payment__gateway_account_id=webhook.gateway_account_id, payment__gateway_order_id=notification.order_id)
        .first()
    )
    if checkout is None:
        return None
    gateway_payment_id = notification.object_id if notification.kind is not Kind.CHECKOUT_PAID else ""
    checkout = checkout_settle(checkout=checkout, gateway_payment_id=gateway_payment_id, actor=actor)
    checkout.payment.refresh_from_db()
    state = "completed" if checkout.completed_at else checkout.payment.status
    return ProcessingOutcome(IncomingWebhook.Status.PROCESSED, f"{checkout.public_id}: {state}", checkout.payment)


def _subscription_for(gateway_account_id: int, recurring_id: str) -> Subscription | None:
    if not recurring_id:
        return None
    return (
        Subscription.objects.select_related("plan", "customer", "gateway_account")
        .filter(gateway_account_id=gateway_account_id, gateway_subscription_id=recurring_id)
        .first()
    )


class ScheduleNotRecordedYet(Exception):
    """A schedule's event came before the commit that records the schedule's id: tried again."""


def _recurring_changed(webhook: IncomingWebhook, notification: Notification, actor: Actor) -> ProcessingOutcome:
    """A gateway-run schedule changed state (suspended, cancelled, expired ...): ask it and follow.
    A schedule the gateway just made (a start, a resume) may announce itself before our commit
    stores its id: for SCHEDULE_MATCH_GRACE its event fails and is tried again (the webhook's
    retries), only then does it count as unmatched."""
    subscription = _subscription_for(webhook.gateway_account_id, notification.recurring_id)
    fresh = timezone.now() - webhook.received_at < SCHEDULE_MATCH_GRACE
    if subscription is None and notification.recurring_id and fresh:
        raise ScheduleNotRecordedYet(
            f"no subscription of ours is the gateway's schedule {notification.recurring_id} yet: tried again shortly"
        )
    if subscription is None:
        return _unmatched(f"no subscription of ours is the gateway's schedule {notification.recurring_id or '?'}")
    result = recurring_subscription_sync(subscription=subscription, actor=actor)
    return ProcessingOutcome(IncomingWebhook.Status.PROCESSED, f"{subscription.public_id}: {result}")


def _recurring_charge(webhook: IncomingWebhook, notification: Notification, actor: Actor) -> ProcessingOutcome:
    """If the gateway says one of its schedules made this charge for a subscription of ours, record
    it as that period's invoice and payment."""
    try:
        gateway = recurring_gateway_for(webhook.gateway_account)
    except GatewayMisconfigured:  # the gateway runs no schedules: the charge is not ours at all
        return _unmatched(f"no payment of ours has transaction {notification.object_id}")
    try:
        details = gateway.fetch_transaction(notification.object_id)
    except GatewayNotFound:
        details = None
    subscription = _subscription_for(webhook.gateway_account_id, details.recurring_id) if details else None
    if subscription is None or details is None:
        return _unmatched(f"no payment or subscription of ours has transaction {notification.object_id}")
    result = recurring_charge_record(subscription=subscription, details=details, actor=actor)
    return ProcessingOutcome(IncomingWebhook.Status.PROCESSED, f"{subscription.public_id}: {result}")
