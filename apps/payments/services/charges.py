"""Charging a card: the three steps (begin, call, finish) and payment_create, which answers a retried
request with its first run's charge."""

from __future__ import annotations

import logging
from typing import Any
from urllib.parse import urljoin

from django.db import transaction
from django.urls import reverse

from apps.audit.actors import Actor
from apps.audit.services import audit_record
from apps.core.context import current_request_id
from apps.core.db import atomic_with_reconnect
from apps.customers.models import Customer
from apps.gateways.api_errors import PaymentMethodNotSupported
from apps.gateways.base import (
    BankAccount,
    Billing,
    Card,
    ChargeRequest,
    Gateway,
    OpaqueToken,
    SavedCard,
)
from apps.gateways.errors import GatewayDeclined
from apps.gateways.models import GatewayAccount
from apps.gateways.registry import gateway_for
from apps.gateways.selectors import (
    card_expired,
    check_currency,
    check_payment_method,
    check_voice_authorization,
    gateway_account_for,
)
from apps.merchants.models import Merchant
from apps.payments.attempts import next_attempt_reference, one_run_per_reference
from apps.payments.errors import PaymentBlocked
from apps.payments.models import GatewayTransaction, Payment, PaymentMethodType, Review
from apps.payments.selectors import earlier_calls
from apps.risk.attempts import risk_evaluate, risk_record_decline
from apps.risk.models import Outcome

from .common import (
    OPEN_CALL,
    CallOutcome,
    call_gateway,
    enqueue_resolution,
    payment_snapshot,
    raise_for_outcome,
    record_open_call,
)
from .outcomes import apply_charge_result
from .refusals import payment_refuse
from .resolution import adopt_failed_calls_found_at_gateway, raise_recorded_decline, resolve_now
from .risk import charge_attempt, payment_block, risk_actions, risk_record

logger = logging.getLogger(__name__)


def payment_create(
    *,
    merchant: Merchant,
    livemode: bool,
    amount: int,
    currency: str,
    payment_method: Card | OpaqueToken | SavedCard | BankAccount,
    capture: bool = True,
    billing: Billing | None = None,
    customer: Customer | None = None,
    reference: str = "",
    description: str = "",
    metadata: dict[str, Any] | None = None,
    customer_ip: str = "",
    account: GatewayAccount | None = None,
    idempotency_reference: str = "",
    return_url: str = "",
    site_url: str = "",
    authorization_code: str = "",
    actor: Actor,
) -> Payment:
    """Charge (capture=True) or authorise a card. Returns the payment, `unknown` when the
    gateway's answer was lost; raises PaymentDeclined / GatewayUnavailable after recording a
    failed payment.

    With an `idempotency_reference` (from the request's Idempotency-Key) a retry finds the charge
    its first run made and answers with it, resolved at the gateway if need be: never a second
    charge. Only when every earlier attempt provably did nothing is the card charged again.

    A card whose issuer asks for 3-D Secure leaves the payment `requires_action`, with the page the
    customer must visit; the gateway sends the customer back to us (`site_url` is our address as
    the customer's browser reaches it) and we send them on to the merchant's `return_url`."""
    currency = currency.upper()
    if isinstance(payment_method, BankAccount) and not capture:
        # ACH has no authorisation: the debit is the only step (the gateway refuses authOnly).
        raise PaymentMethodNotSupported(
            "A bank account debit cannot be authorised only: send capture=true.", param="capture"
        )
    account = account or gateway_account_for(merchant=merchant, livemode=livemode)
    check_currency(account, currency)
    check_payment_method(account, payment_method)
    if authorization_code:
        # A card the issuer authorised by phone: captured at once against its approval code, at a
        # gateway that can (the rest of the path, retries and lookups included, is a sale's).
        if not capture or not isinstance(payment_method, Card):
            raise ValueError("an authorization obtained by phone is captured, and only for a card")
        check_voice_authorization(account)
    earlier = earlier_calls(
        idempotency_reference, kinds=[GatewayTransaction.Kind.SALE, GatewayTransaction.Kind.AUTHORIZE]
    )
    if earlier:
        found = _charge_recover(earlier)
        if found is not None:
            return found
    expired = card_expired(payment_method, param_prefix="payment_method.")
    if expired is not None:
        # Refused as an issuer would refuse it, before the gateway and before risk (nothing to assess).
        with one_run_per_reference():
            refused = payment_refuse(
                merchant=merchant, account=account, amount=amount, currency=currency, payment_method=payment_method,
                capture=capture, customer=customer, reference=reference, description=description, metadata=metadata,
                code=expired.code, message=expired.message, audit_action="payment.failed",
                call_reference=next_attempt_reference(idempotency_reference, earlier), actor=actor,
            )  # fmt: skip
        expired.extra = {"payment": refused.public_id}
        raise expired
    billing = billing or Billing(email=customer.email if customer else "")
    attempt = charge_attempt(
        merchant=merchant, amount=amount, currency=currency, payment_method=payment_method, billing=billing,
        customer=customer, customer_ip=customer_ip, metadata=metadata, actor=actor, reference=idempotency_reference,
    )  # fmt: skip
    assessment = risk_evaluate(attempt)
    if assessment.outcome == Outcome.BLOCK:
        with one_run_per_reference():
            blocked = payment_block(
                merchant=merchant, account=account, amount=amount, currency=currency, payment_method=payment_method,
                capture=capture, customer=customer, reference=reference, description=description, metadata=metadata,
                assessment=assessment, attempt=attempt, actor=actor,
                call_reference=next_attempt_reference(idempotency_reference, earlier),
            )  # fmt: skip
        raise PaymentBlocked(extra={"payment": blocked.public_id})
    # 3-D Secure needs the customer there: a return URL to come back to, and not a saved card.
    present = bool(site_url and return_url) and not isinstance(payment_method, SavedCard)
    ask_3ds, held = risk_actions(assessment, account=account, customer_present=present)
    if authorization_code:
        # The issuer already approved by phone: no authorisation exists to hold for review or to
        # authenticate, the capture is the only call.
        ask_3ds, held = False, False
    held = held and not isinstance(payment_method, BankAccount)  # a bank debit has no hold to review
    with one_run_per_reference(), transaction.atomic():
        payment, gt = charge_begin(
            merchant=merchant,
            account=account,
            amount=amount,
            currency=currency,
            payment_method=payment_method,
            capture=capture and not held,
            customer=customer,
            reference=reference,
            description=description,
            metadata=metadata,
            call_reference=next_attempt_reference(idempotency_reference, earlier),
            return_url=return_url,
            risk=risk_record(assessment, attempt),
            review=Review.PENDING if held else "",
            capture_on_approval=capture and held,
            actor=actor,
        )
    outcome = charge_call(
        payment=payment,
        gt=gt,
        payment_method=payment_method,
        billing=billing,
        customer_ip=customer_ip,
        return_url=authentication_return_url(payment, site_url) if site_url else "",
        request_three_d_secure=ask_3ds,
        authorization_code=authorization_code,
    )
    payment = atomic_with_reconnect(
        lambda: charge_finish(payment_id=payment.pk, gt=gt, outcome=outcome, actor=actor), what="charge_finish"
    )
    if isinstance(outcome.error, GatewayDeclined):
        risk_record_decline(attempt)  # card testing: declines (not outages) of this card and IP
    raise_for_outcome(outcome, payment=payment)
    return payment


def authentication_return_url(payment: Payment, site_url: str) -> str:
    """Where the gateway sends the customer after 3-D Secure: our page that settles the payment."""
    return urljoin(site_url, reverse("payment-authenticated", args=[payment.public_id]))


def _charge_recover(earlier: list[GatewayTransaction]) -> Payment | None:
    """A retried charge: the payment its first run made, as it now is (raises the decline it
    met); None when no earlier attempt did anything at the gateway (charge again)."""
    last = earlier[-1]
    if last.status in OPEN_CALL:
        last = resolve_now(last)
    if last.status == GatewayTransaction.Status.FAILED:
        found = adopt_failed_calls_found_at_gateway(
            [gt for gt in earlier if gt.status == GatewayTransaction.Status.FAILED]
        )
        if found is None:
            return None
        last = found
    payment = Payment.objects.select_related("gateway_account").get(pk=last.payment_id)
    raise_recorded_decline(last, payment)
    return payment


def charge_begin(
    *,
    merchant: Merchant,
    account: GatewayAccount,
    amount: int,
    currency: str,
    payment_method: Card | OpaqueToken | SavedCard | BankAccount,
    capture: bool = True,
    customer: Customer | None = None,
    reference: str = "",
    description: str = "",
    metadata: dict[str, Any] | None = None,
    call_reference: str = "",
    card_brand: str = "",
    card_last4: str = "",
    return_url: str = "",
    risk: dict[str, Any] | None = None,
    review: str = "",
    capture_on_approval: bool = False,
    actor: Actor,
) -> tuple[Payment, GatewayTransaction]:
    """Step 1 of a charge, inside the caller's transaction: the pending payment and its pending
    gateway call. `call_reference` (at most 20 characters) is the idempotency reference sent to
    the gateway; callers that must never charge twice for one thing derive it from that thing."""
    card = payment_method if isinstance(payment_method, Card) else None
    bank = payment_method if isinstance(payment_method, BankAccount) else None
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
        card_brand=card_brand,
        card_last4=card.last4 if card else bank.last4 if bank else card_last4,
        card_exp_month=card.exp_month if card else None,
        card_exp_year=card.exp_year if card else None,
        payment_method_type=PaymentMethodType.US_BANK_ACCOUNT if bank else PaymentMethodType.CARD,
        bank_routing_last4=bank.routing_last4 if bank else "",
        bank_account_type=bank.account_type if bank else "",
        bank_account_holder=bank.holder_name[:22] if bank else "",
        return_url=return_url,
        risk=risk or {},
        review=review,
        capture_on_approval=capture_on_approval,
    )
    gt = GatewayTransaction(
        payment=payment,
        gateway_account=account,
        kind=GatewayTransaction.Kind.SALE if capture else GatewayTransaction.Kind.AUTHORIZE,
        amount=amount,
        currency=currency,
        correlation_id=current_request_id() or "",
    )
    if call_reference:
        gt.reference = call_reference
    gt.save(force_insert=True)
    audit_record(actor=actor, action="payment.created", target=payment, after=payment_snapshot(payment))
    return payment, gt


def charge_call(
    *,
    payment: Payment,
    gt: GatewayTransaction,
    payment_method: Card | OpaqueToken | SavedCard | BankAccount,
    billing: Billing | None = None,
    customer_ip: str = "",
    gateway: Gateway | None = None,
    return_url: str = "",
    off_session: bool = False,
    request_three_d_secure: bool = False,
    authorization_code: str = "",
) -> CallOutcome:
    """Step 2, outside any transaction: the gateway call itself (`gateway`: an adapter for the
    payment's account the caller already holds, e.g. across a batch)."""
    gateway = gateway or gateway_for(payment.gateway_account)
    request = ChargeRequest(
        reference=gt.reference,
        amount=payment.amount,
        currency=payment.currency,
        payment=payment_method,
        capture=payment.capture,
        description=payment.description,
        billing=billing or Billing(),
        customer_ip=customer_ip,
        return_url=return_url,
        off_session=off_session,
        request_three_d_secure=request_three_d_secure,
        authorization_code=authorization_code,
    )
    return call_gateway(gateway.sale if payment.capture else gateway.authorize, request)


def charge_finish(*, payment_id: int, gt: GatewayTransaction, outcome: CallOutcome, actor: Actor) -> Payment:
    """Step 3, inside the caller's transaction: record the call's result on the payment (under
    its row lock, which guards its calls too) and queue the resolution of an unknown outcome."""
    payment = Payment.objects.select_for_update().get(pk=payment_id)
    payment.gateway_account = gt.gateway_account  # the account the call went to, as step 1 had it
    if not record_open_call(gt, outcome):
        return payment  # already settled by the resolver
    apply_charge_result(payment, gt, outcome.result, actor)
    if outcome.unknown:
        enqueue_resolution(gt)
    return payment


def charge_error(outcome: CallOutcome, *, payment: Payment) -> None:
    """After the result is committed: raise the API error for a failed charge, if any."""
    raise_for_outcome(outcome, payment=payment)
