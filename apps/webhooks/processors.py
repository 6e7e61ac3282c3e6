"""What a gateway notification means for us. A notification is a hint, never the truth: the
processor finds the payment it is about and asks the gateway for that payment's current state
(payment_sync_with_gateway), so duplicates and out-of-order deliveries end in the same place."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass

from apps.audit.actors import Actor
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

    if webhook.event_type not in ANET_PAYMENT_EVENTS:
        return ProcessingOutcome(Status.IGNORED, f"{webhook.event_type} is not an event we act on")
    payload = json.loads(webhook.body_text).get("payload") or {}
    reference = str(payload.get("merchantReferenceId") or payload.get("invoiceNumber") or "")
    payment = _find_payment(webhook, reference)
    if payment is None:
        return ProcessingOutcome(
            Status.UNMATCHED, f"no payment of ours has transaction {webhook.object_id or '?'}; kept for reconciliation"
        )
    result = payment_sync_with_gateway(payment=payment, actor=Actor.gateway("authorizenet webhook"))
    return ProcessingOutcome(Status.PROCESSED, f"{payment.public_id}: {result}", payment)


def process_unsupported(webhook: IncomingWebhook) -> ProcessingOutcome:
    return ProcessingOutcome(Status.UNMATCHED, f"no processor for {webhook.gateway} yet; kept for reconciliation")


def processor_for(gateway: str) -> Callable[[IncomingWebhook], ProcessingOutcome]:
    if gateway == GatewayName.AUTHORIZENET:
        return process_authorizenet
    return process_unsupported
