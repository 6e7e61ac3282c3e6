"""Risk before the gateway call: what apps.risk is told of a charge, and a blocked attempt recorded
as a failed payment that never reached the gateway."""

from __future__ import annotations

from typing import Any

from django.conf import settings

from apps.audit.actors import Actor, ActorType
from apps.customers.models import Customer
from apps.gateways.base import BankAccount, Billing, Card, GatewayResult, OpaqueToken, SavedCard
from apps.gateways.base import Outcome as GatewayOutcome
from apps.gateways.errors import GatewayDeclined
from apps.gateways.models import GatewayAccount
from apps.gateways.registry import gateway_for
from apps.merchants.models import Merchant
from apps.payments.errors import PaymentBlocked
from apps.payments.models import Payment, PaymentStatus
from apps.risk.assessment import Assessment, risk_assess
from apps.risk.attempts import Attempt, risk_evaluate
from apps.risk.models import Outcome

from .common import CallOutcome
from .refusals import payment_refuse

# The statuses of a customer's payments that count as its history (money went through).
WENT_THROUGH = (
    PaymentStatus.AUTHORIZED,
    PaymentStatus.CAPTURED,
    PaymentStatus.PARTIALLY_REFUNDED,
    PaymentStatus.REFUNDED,
)


def charge_attempt(
    *,
    merchant: Merchant,
    amount: int,
    currency: str,
    payment_method: Card | OpaqueToken | SavedCard | BankAccount,
    billing: Billing,
    customer: Customer | None,
    customer_ip: str,
    metadata: dict[str, Any] | None,
    actor: Actor,
    reference: str = "",
) -> Attempt:
    """What risk is told of a charge about to be made (the card number stays in memory);
    `reference` is the request's idempotency reference (a retry is counted once)."""
    card = payment_method if isinstance(payment_method, Card) else None
    # Risk off (the emergency switch) assesses nothing: no query for it either.
    counted = customer is not None and settings.RISK_ENABLED
    history = Payment.objects.filter(customer=customer, status__in=WENT_THROUGH).count() if counted else None
    return Attempt(
        merchant_id=merchant.pk,
        amount=amount,
        currency=currency,
        card_number=card.number if card else "",
        email=billing.email or (customer.email if customer else ""),
        ip=customer_ip,
        billing_country=billing.country,
        customer_id=customer.public_id if customer else "",
        customer_since=customer.created_at if customer else None,
        customer_payments=history,
        api_key=actor.id if actor.type == ActorType.API_KEY else "",
        metadata=metadata or {},
        reference=reference,
    )


def risk_actions(assessment: Assessment, *, account: GatewayAccount, customer_present: bool) -> tuple[bool, bool]:
    """What the charge does about the assessment: (ask for 3-D Secure, hold for review). A
    gateway that cannot ask for 3-D Secure on demand, or a customer who is not there to
    authenticate, holds the payment for review instead."""
    if assessment.outcome == Outcome.REVIEW:
        return False, True
    if assessment.outcome == Outcome.REQUEST_3DS:
        if customer_present and gateway_for(account).requests_three_d_secure:
            return True, False
        return False, True
    return False, False


def risk_record(assessment: Assessment, attempt: Attempt) -> dict[str, Any]:
    """The assessment as stored on the payment, with what a reviewer may put on a block list
    (the card's fingerprint, never its number; the IP; the email). The API shows the assessment
    without these."""
    inputs = {"card_fingerprint": attempt.fingerprint, "ip": attempt.ip, "email": attempt.email}
    return {**assessment.as_dict(), "inputs": {key: value for key, value in inputs.items() if value}}


def payment_block(
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
    assessment: Assessment,
    attempt: Attempt,
    call_reference: str = "",
    actor: Actor,
) -> Payment:
    """Record a blocked attempt: a failed payment with the assessment, never sent to the gateway."""
    return payment_refuse(
        merchant=merchant, account=account, amount=amount, currency=currency, payment_method=payment_method,
        capture=capture, customer=customer, reference=reference, description=description, metadata=metadata,
        code=PaymentBlocked.code, message=PaymentBlocked.default_message, audit_action="payment.blocked_by_risk",
        risk=risk_record(assessment, attempt), call_reference=call_reference, actor=actor,
    )  # fmt: skip


def checkout_assess(
    *,
    merchant: Merchant,
    account: GatewayAccount,
    amount: int,
    currency: str,
    email: str,
    customer_ip: str,
    description: str,
    metadata: dict[str, Any],
    actor: Actor,
    reference: str = "",
) -> tuple[dict[str, Any], bool]:
    """A browser checkout about to open its gateway order (the card is typed into the gateway's
    own form later, so risk sees no card): blocked → a failed payment, never sent to the
    gateway, and PaymentBlocked; otherwise (the assessment to store on the checkout's payment,
    whether it is held for review). 3-D Secure is asked of the issuer when the gateway's browser
    payment can (Stripe: the intent asks for it, checkout_payment_open_order); a review, or 3-D
    Secure on a gateway that cannot ask for it, holds it: the order only authorises, a reviewer's
    approval captures it, and the entitlement waits for the capture."""
    attempt = Attempt(
        merchant_id=merchant.pk,
        amount=amount,
        currency=currency,
        email=email,
        ip=customer_ip,
        api_key=actor.id if actor.type == ActorType.API_KEY else "",
        metadata=metadata,
        reference=reference,  # a retried start is the same attempt, counted once
    )
    assessment = risk_evaluate(attempt)
    if assessment.outcome == Outcome.BLOCK:
        blocked = payment_block(
            merchant=merchant, account=account, amount=amount, currency=currency, payment_method=None, capture=True,
            customer=None, reference="", description=description, metadata=metadata, assessment=assessment,
            attempt=attempt, actor=actor,
        )  # fmt: skip
        raise PaymentBlocked(extra={"payment": blocked.public_id})
    _, held = risk_actions(assessment, account=account, customer_present=True)
    return risk_record(assessment, attempt), held


def renewal_blocked(*, payment: Payment) -> CallOutcome | None:
    """Renewals (a saved card charged by a billing run, the customer not there) follow their own
    policy, RISK_RENEWALS: "lists" (the default) lets only the allow and block lists decide (the
    customer and its email): the rules, made for customers at a checkout, would misfire on a run
    of merchant-initiated charges; "off" assesses nothing. A block is what the charge records in
    place of the gateway's answer (declined, `blocked_by_risk`): it is never sent, and the
    renewal goes to dunning like any decline."""
    if not settings.RISK_ENABLED or settings.RISK_RENEWALS != "lists" or payment.customer is None:
        return None
    customer = payment.customer
    attributes = {"amount": payment.amount, "currency": payment.currency, "email": customer.email or None}
    attributes["customer_id"] = customer.public_id
    assessment = risk_assess(attributes, merchant_id=payment.merchant_id, lists_only=True)
    if assessment.outcome != Outcome.BLOCK:
        return None
    reasons = "; ".join(match.reason for match in assessment.matched)
    message = f"Blocked by risk lists, not sent to the gateway: {reasons}"[:255]
    result = GatewayResult(GatewayOutcome.DECLINED, "", message=message, decline_code=PaymentBlocked.code)
    return CallOutcome(result, GatewayDeclined(result), 0)
