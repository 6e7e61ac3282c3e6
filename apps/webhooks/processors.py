"""What a gateway notification means for us. A notification is a hint, never the truth: the
processor finds the payment it is about and asks the gateway for that payment's current state
(payment_sync_with_gateway), so duplicates and out-of-order deliveries end in the same place."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from apps.audit.actors import Actor
from apps.gateways.errors import GatewayNotFound
from apps.gateways.models import GatewayName
from apps.payments.models import GatewayTransaction, Payment
from apps.payments.services import payment_sync_with_gateway

from .models import IncomingWebhook

Status = IncomingWebhook.Status


@dataclass(frozen=True)
class ProcessingOutcome:
    status: str
    result: str
    payment: Payment | None = None


# Authorize.Net payment events we act on (all of them point at a transaction by id).
ANET_PAYMENT_EVENTS = frozenset(
    {
        "net.authorize.payment.authcapture.created",
        "net.authorize.payment.authorization.created",
        "net.authorize.payment.capture.created",
        "net.authorize.payment.priorAuthCapture.created",
        "net.authorize.payment.refund.created",
        "net.authorize.payment.void.created",
        "net.authorize.payment.fraud.approved",
        "net.authorize.payment.fraud.declined",
        "net.authorize.payment.fraud.held",
    }
)


ANET_SUBSCRIPTION_EVENT_PREFIX = "net.authorize.customer.subscription."
# ARB charges arrive as ordinary auth-capture notifications for a transaction we never made.
ANET_RECURRING_CHARGE_EVENT = "net.authorize.payment.authcapture.created"


def _anet_subscription(webhook: IncomingWebhook, recurring_id: str) -> Any:
    from apps.subscriptions.models import Subscription

    return (
        Subscription.objects.select_related("plan", "customer", "gateway_account")
        .filter(gateway_account_id=webhook.gateway_account_id, gateway_subscription_id=recurring_id)
        .first()
        if recurring_id
        else None
    )


def _process_anet_subscription(webhook: IncomingWebhook) -> ProcessingOutcome:
    """The gateway's schedule changed state (suspended, cancelled, expired ...): ask it and follow."""
    from apps.subscriptions.recurring import recurring_subscription_sync

    subscription = _anet_subscription(webhook, webhook.object_id)
    if subscription is None:
        return ProcessingOutcome(
            Status.UNMATCHED, f"no subscription of ours is ARB {webhook.object_id or '?'}; kept for reconciliation"
        )
    result = recurring_subscription_sync(subscription=subscription, actor=Actor.gateway("authorizenet webhook"))
    return ProcessingOutcome(Status.PROCESSED, f"{subscription.public_id}: {result}")


def _process_anet_recurring_charge(webhook: IncomingWebhook) -> ProcessingOutcome:
    """A charge we did not make: if the gateway says its ARB schedule made it for one of our
    subscriptions, record it as that period's invoice and payment."""
    from apps.gateways.registry import gateway_for
    from apps.subscriptions.recurring import recurring_charge_record

    try:
        details = gateway_for(webhook.gateway_account).fetch_transaction(webhook.object_id)
    except GatewayNotFound:
        details = None
    subscription = _anet_subscription(webhook, details.recurring_id) if details else None
    if subscription is None or details is None:
        return ProcessingOutcome(
            Status.UNMATCHED,
            f"no payment or subscription of ours has transaction {webhook.object_id}; kept for reconciliation",
        )
    result = recurring_charge_record(
        subscription=subscription, details=details, actor=Actor.gateway("authorizenet webhook")
    )
    return ProcessingOutcome(Status.PROCESSED, f"{subscription.public_id}: {result}")


def _find_payment(webhook: IncomingWebhook, reference: str) -> Payment | None:
    """By the gateway's transaction id (a charge, or one of its refunds), else by our reference."""
    calls = GatewayTransaction.objects.filter(gateway_account_id=webhook.gateway_account_id)
    call = None
    if webhook.object_id:
        call = calls.filter(gateway_transaction_id=webhook.object_id).order_by("-id").first()
        if call is None:
            payment = Payment.objects.filter(
                gateway_account_id=webhook.gateway_account_id, gateway_transaction_id=webhook.object_id
            ).first()
            if payment is not None:
                return payment
    if call is None and reference:
        call = calls.filter(reference=reference).first()
    return call.payment if call is not None else None


def process_authorizenet(webhook: IncomingWebhook) -> ProcessingOutcome:
    import json

    if webhook.event_type.startswith(ANET_SUBSCRIPTION_EVENT_PREFIX):
        return _process_anet_subscription(webhook)
    if webhook.event_type not in ANET_PAYMENT_EVENTS:
        return ProcessingOutcome(Status.IGNORED, f"{webhook.event_type} is not an event we act on")
    payload = json.loads(webhook.body_text).get("payload") or {}
    reference = str(payload.get("merchantReferenceId") or payload.get("invoiceNumber") or "")
    payment = _find_payment(webhook, reference)
    if payment is None and webhook.object_id and webhook.event_type == ANET_RECURRING_CHARGE_EVENT:
        return _process_anet_recurring_charge(webhook)
    if payment is None:
        return ProcessingOutcome(
            Status.UNMATCHED, f"no payment of ours has transaction {webhook.object_id or '?'}; kept for reconciliation"
        )
    result = payment_sync_with_gateway(payment=payment, actor=Actor.gateway("authorizenet webhook"))
    return ProcessingOutcome(Status.PROCESSED, f"{payment.public_id}: {result}", payment)


RAZORPAY_PAYMENT_EVENTS = frozenset({"payment.authorized", "payment.captured", "payment.failed", "order.paid"})
RAZORPAY_REFUND_EVENTS = frozenset({"refund.created", "refund.processed", "refund.failed"})


def process_razorpay(webhook: IncomingWebhook) -> ProcessingOutcome:
    """Payment and order events settle the checkout they are about (asking Razorpay, as the
    browser's verify call does); refund events sync the payment they belong to."""
    from apps.catalog.models import CheckoutOrder
    from apps.catalog.services import checkout_settle
    from apps.gateways.razorpay import notification_objects

    actor = Actor.gateway("razorpay webhook")
    objects = notification_objects(webhook.body_text.encode())
    if webhook.event_type in RAZORPAY_PAYMENT_EVENTS:
        paid = objects.get("payment") or {}
        order_id = str(paid.get("order_id") or (objects.get("order") or {}).get("id") or "")
        checkout = (
            CheckoutOrder.objects.select_related("payment__gateway_account", "price__product", "customer")
            .filter(payment__gateway_account_id=webhook.gateway_account_id, payment__gateway_order_id=order_id)
            .first()
            if order_id
            else None
        )
        if checkout is None:
            return ProcessingOutcome(
                Status.UNMATCHED, f"no checkout of ours has order {order_id or '?'}; kept for reconciliation"
            )
        checkout = checkout_settle(checkout=checkout, gateway_payment_id=str(paid.get("id") or ""), actor=actor)
        checkout.payment.refresh_from_db()
        state = "completed" if checkout.completed_at else checkout.payment.status
        return ProcessingOutcome(Status.PROCESSED, f"{checkout.public_id}: {state}", checkout.payment)
    if webhook.event_type in RAZORPAY_REFUND_EVENTS:
        charge_id = str((objects.get("refund") or {}).get("payment_id") or "")
        payment = Payment.objects.filter(
            gateway_account_id=webhook.gateway_account_id, gateway_transaction_id=charge_id
        ).first()
        if not charge_id or payment is None:
            return ProcessingOutcome(
                Status.UNMATCHED, f"no payment of ours is {charge_id or '?'}; kept for reconciliation"
            )
        result = payment_sync_with_gateway(payment=payment, actor=actor)
        return ProcessingOutcome(Status.PROCESSED, f"{payment.public_id}: {result}", payment)
    return ProcessingOutcome(Status.IGNORED, f"{webhook.event_type} is not an event we act on")


def process_unsupported(webhook: IncomingWebhook) -> ProcessingOutcome:
    return ProcessingOutcome(Status.UNMATCHED, f"no processor for {webhook.gateway} yet; kept for reconciliation")


def processor_for(gateway: str) -> Callable[[IncomingWebhook], ProcessingOutcome]:
    if gateway == GatewayName.AUTHORIZENET:
        return process_authorizenet
    if gateway == GatewayName.RAZORPAY:
        return process_razorpay
    return process_unsupported
