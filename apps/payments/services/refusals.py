"""A charge refused before the gateway (risk blocked it, the card has expired): recorded as a failed
payment that never reached the gateway, which the 402 names and which stays readable."""

from __future__ import annotations

from typing import Any

from django.db import transaction
from django.utils import timezone

from apps.audit.actors import Actor
from apps.audit.services import audit_record
from apps.customers.models import Customer
from apps.gateways.base import BankAccount, Card, OpaqueToken, SavedCard
from apps.gateways.models import GatewayAccount
from apps.merchants.models import Merchant
from apps.payments.models import GatewayTransaction, Payment, PaymentStatus

from .common import payment_snapshot, publish_payment


def payment_refuse(
    *,
    merchant: Merchant,
    account: GatewayAccount,
    amount: int,
    currency: str,
    payment_method: Card | OpaqueToken | SavedCard | BankAccount | None,
    capture: bool,
    customer: Customer | None,
    reference: str,
    description: str,
    metadata: dict[str, Any] | None,
    code: str,
    message: str,
    audit_action: str,
    risk: dict[str, Any] | None = None,
    call_reference: str = "",
    actor: Actor,
) -> Payment:
    """Record a charge refused before the gateway: a failed payment (`code`, `message`), never sent.
    Its card keeps only what any payment keeps (last four digits, expiry)."""
    card = payment_method if isinstance(payment_method, Card) else None
    with transaction.atomic():
        payment = Payment.objects.create(
            merchant=merchant,
            gateway_account=account,
            customer=customer,
            livemode=account.mode == "live",
            amount=amount,
            currency=currency,
            capture=capture,
            reference=reference,
            description=description,
            metadata=metadata or {},
            card_last4=card.last4 if card else "",
            card_exp_month=card.exp_month if card else None,
            card_exp_year=card.exp_year if card else None,
            status=PaymentStatus.FAILED,
            failure_code=code,
            failure_message=message,
            risk=risk or {},
        )
        # The call that was not made, under the request's reference: a retry of the request finds
        # it (as it finds a decline) and answers the same 402, without deciding again.
        gt = GatewayTransaction(
            payment=payment,
            gateway_account=account,
            kind=GatewayTransaction.Kind.SALE if capture else GatewayTransaction.Kind.AUTHORIZE,
            amount=amount,
            currency=currency,
            status=GatewayTransaction.Status.DECLINED,
            error_code=code,
            message=message,
            completed_at=timezone.now(),
        )
        if call_reference:
            gt.reference = call_reference
        gt.save(force_insert=True)
        audit_record(actor=actor, action=audit_action, target=payment, after=payment_snapshot(payment))
        publish_payment(payment, "payment.failed")
    return payment
