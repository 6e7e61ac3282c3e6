"""Hosted checkout payments (Razorpay Checkout, Stripe.js): the customer pays in the gateway's page
or script against our order (Stripe: a PaymentIntent)."""

from __future__ import annotations

import logging
import time
from typing import Any

from django.db import transaction

from apps.audit.actors import Actor
from apps.audit.services import audit_record
from apps.core.context import current_request_id
from apps.core.db import atomic_with_reconnect
from apps.customers.models import Customer
from apps.gateways.api_errors import gateway_unavailable
from apps.gateways.base import (
    CheckoutPayment,
    GatewayResult,
    OrderRequest,
    Outcome,
)
from apps.gateways.errors import (
    GatewayError,
    GatewayOutcomeUnknown,
    GatewayRetryable,
)
from apps.gateways.models import GatewayAccount
from apps.gateways.registry import checkout_gateway_for
from apps.gateways.selectors import check_currency
from apps.merchants.models import Merchant
from apps.payments.attempts import next_attempt_reference
from apps.payments.errors import RequestInFlight
from apps.payments.models import GatewayTransaction, Payment, PaymentStatus, Review
from apps.payments.selectors import earlier_calls

from .common import (
    OPEN_CALL,
    PENDING_CALL,
    CallOutcome,
    may_be_in_flight,
    payment_snapshot,
    publish_payment,
    raise_for_outcome,
    record_open_call,
)
from .outcomes import order_apply_result
from .postings import ledger_record_payment
from .resolution import resolve_now

logger = logging.getLogger(__name__)


# --- hosted checkout (Razorpay): the customer pays in the gateway's page ------------------------


def checkout_payment_begin(
    *,
    merchant: Merchant,
    account: GatewayAccount,
    amount: int,
    currency: str,
    customer: Customer,
    description: str,
    metadata: dict[str, Any],
    call_reference: str = "",
    risk: dict[str, Any] | None = None,
    held: bool = False,
    actor: Actor,
) -> tuple[Payment, GatewayTransaction]:
    """Inside the caller's transaction: a pending payment and its pending order call
    (`call_reference`: from checkout_payment_recover, "" for a random one). `held`: risk holds it
    for review (the order only authorises; the reviewer's approval captures)."""
    check_currency(account, currency)
    payment = Payment.objects.create(
        merchant=merchant,
        gateway_account=account,
        customer=customer,
        livemode=account.mode == "live",
        amount=amount,
        currency=currency,
        capture=not held,
        description=description[:255],
        metadata=metadata,
        risk=risk or {},
        review=Review.PENDING if held else "",
        capture_on_approval=held,
    )
    gt = GatewayTransaction(
        payment=payment,
        gateway_account=account,
        kind=GatewayTransaction.Kind.ORDER,
        amount=amount,
        currency=currency,
        correlation_id=current_request_id() or "",
    )
    if call_reference:
        gt.reference = call_reference
    gt.save(force_insert=True)
    audit_record(actor=actor, action="payment.created", target=payment, after=payment_snapshot(payment))
    return payment, gt


def checkout_payment_recover(*, idempotency_reference: str) -> tuple[Payment | None, str]:
    """For a retried checkout request: the payment whose gateway order its first run created
    (None if it created none, or one nobody can pay), and the reference for a new order call."""
    earlier = earlier_calls(idempotency_reference, kinds=[GatewayTransaction.Kind.ORDER])
    if earlier:
        last = earlier[-1]
        if last.status in OPEN_CALL:
            last = _order_find(last)
        if last.status == GatewayTransaction.Status.SUCCEEDED:
            return Payment.objects.get(pk=last.payment_id), ""
    return None, next_attempt_reference(idempotency_reference, earlier)


def _order_find(gt: GatewayTransaction) -> GatewayTransaction:
    """An order call whose request died: the order, if the gateway made it, is looked up by our
    reference (its receipt) and handed out after all; if it made none, the call is abandoned."""
    gateway = checkout_gateway_for(gt.gateway_account)
    try:
        order = gateway.find_order(gt.reference)
    except GatewayError as exc:
        raise gateway_unavailable(
            exc,
            "this checkout's order could not be looked up; retry shortly.",
            extra={"payment": gt.payment.public_id},
        ) from exc
    if order is None:
        if may_be_in_flight(gt):
            raise RequestInFlight()  # its first run may still be creating it
        return resolve_now(gt)
    result = GatewayResult(Outcome.APPROVED, order.order_id, response_code="1", message=f"order {order.status}")
    actor = Actor.system("idempotent retry")
    atomic_with_reconnect(
        lambda: _order_record(gt.payment_id, gt, CallOutcome(result, None, 0), actor, open_statuses=OPEN_CALL),
        what="order_found",
    )
    gt.refresh_from_db()
    return gt


def checkout_payment_open_order(
    *, payment: Payment, gt: GatewayTransaction, notes: dict[str, str], actor: Actor
) -> tuple[Payment, str]:
    """Create the gateway's order for a pending checkout payment (after the caller committed), and
    answer the payment with what the browser library needs to pay it (Stripe.js: the intent's client
    secret, never stored; Razorpay: nothing). On failure the payment fails and the API's error is
    raised: GatewayUnavailable, GatewayMisconfiguredError, or GatewayRequestRefused when the gateway
    refused the order as it stands (an amount outside its limits): never an answer without an order."""

    gateway = checkout_gateway_for(payment.gateway_account)
    started = time.perf_counter()
    result: GatewayResult | None = None
    error: GatewayError | None = None
    client_secret = ""
    try:
        # Risk's "request 3-D Secure" (the checkout's assessment, stored on the payment).
        ask_3ds = (payment.risk or {}).get("outcome") == "request_3ds"
        request = OrderRequest(
            gt.reference, payment.amount, payment.currency, notes, request_three_d_secure=ask_3ds,
            capture=payment.review != Review.PENDING,
        )  # fmt: skip
        order = gateway.create_order(request)
        client_secret = order.client_secret
        result = GatewayResult(Outcome.APPROVED, order.order_id, response_code="1", message=f"order {order.status}")
    except GatewayOutcomeUnknown as exc:
        # Never handed to the customer, so never payable: abandon rather than look it up.
        error = GatewayRetryable(f"{exc.message}; the order is abandoned")
    except GatewayError as exc:
        error = exc
    outcome = CallOutcome(result, error, int((time.perf_counter() - started) * 1000))
    payment = atomic_with_reconnect(lambda: _order_record(payment.pk, gt, outcome, actor), what="order_finish")
    raise_for_outcome(outcome, payment=payment)
    return payment, client_secret


def _order_record(
    payment_id: int,
    gt: GatewayTransaction,
    outcome: CallOutcome,
    actor: Actor,
    *,
    open_statuses: frozenset[str] = PENDING_CALL,
) -> Payment:
    payment = Payment.objects.select_for_update(of=("self",)).select_related("gateway_account").get(pk=payment_id)
    if record_open_call(gt, outcome, open_statuses=open_statuses):
        order_apply_result(payment, gt, actor)
    return payment


# What a checkout payment can still become when the gateway reports it paid (an expired order
# that is paid late is still money received).
_CHECKOUT_OPEN = frozenset({PaymentStatus.PENDING, PaymentStatus.UNKNOWN, PaymentStatus.EXPIRED})


def checkout_payment_record(*, payment_id: int, paid: CheckoutPayment, actor: Actor) -> Payment:
    """Move a checkout payment forward to what the gateway reports (`paid`: a CheckoutPayment
    that is authorized or captured). Idempotent and never backwards; survives a lost database
    connection (what the gateway said is recorded on a fresh one)."""
    return atomic_with_reconnect(
        lambda: _checkout_payment_record(payment_id, paid, actor), what="checkout_payment_record"
    )


def _checkout_payment_record(payment_id: int, paid: CheckoutPayment, actor: Actor) -> Payment:
    payment = Payment.objects.select_for_update().get(pk=payment_id)
    if payment.status not in _CHECKOUT_OPEN:
        return payment
    before = payment_snapshot(payment)
    payment.gateway_transaction_id = paid.payment_id
    payment.card_brand, payment.card_last4 = paid.card_brand, paid.card_last4
    payment.amount_authorized = payment.amount
    if paid.status in {"captured", "refunded"}:
        payment.amount_captured = payment.amount
        payment.status, action = PaymentStatus.CAPTURED, "payment.captured"
    else:
        payment.status, action = PaymentStatus.AUTHORIZED, "payment.authorized"
    payment.failure_code = payment.failure_message = ""
    payment.save()
    ledger_record_payment(payment, before)
    audit_record(actor=actor, action=action, target=payment, before=before, after=payment_snapshot(payment))
    publish_payment(payment, action)
    return payment


def checkout_payment_attempt_failed(*, payment_id: int, failed: CheckoutPayment, actor: Actor) -> Payment:
    """A customer's attempt failed in the checkout page. The order stays payable (they may try
    another card), so the payment stays pending; the failure is recorded once per attempt."""
    code = (failed.error_reason or failed.error_code or "payment_failed")[:64]
    message = (failed.error_description or "The payment attempt failed.")[:255]
    with transaction.atomic():
        payment = Payment.objects.select_for_update().get(pk=payment_id)
        if payment.status not in _CHECKOUT_OPEN or payment.metadata.get("last_failed_attempt") == failed.payment_id:
            return payment
        payment.failure_code, payment.failure_message = code, message
        payment.metadata = {**payment.metadata, "last_failed_attempt": failed.payment_id}
        payment.save(update_fields=["failure_code", "failure_message", "metadata", "updated_at"])
        audit_record(
            actor=actor,
            action="payment.attempt_failed",
            target=payment,
            after={"attempt": failed.payment_id, "code": code, "message": message},
        )
        publish_payment(payment, "payment.attempt_failed")
    return payment


def checkout_payment_expire(*, payment_id: int, actor: Actor) -> Payment:
    """Nobody paid the order in time: the pending payment expires."""
    with transaction.atomic():
        payment = Payment.objects.select_for_update().get(pk=payment_id)
        if payment.status not in {PaymentStatus.PENDING, PaymentStatus.UNKNOWN}:
            return payment
        before = payment_snapshot(payment)
        payment.status = PaymentStatus.EXPIRED
        payment.save(update_fields=["status", "updated_at"])
        audit_record(
            actor=actor, action="payment.expired", target=payment, before=before, after=payment_snapshot(payment)
        )
        publish_payment(payment, "payment.expired")
    return payment
