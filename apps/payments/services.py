"""Payment writes. Every gateway call follows the same three steps:

1. in one transaction: check and lock the payment, record the call as a pending
   GatewayTransaction (with our reference), reserve what the call may consume, audit;
2. commit, then call the gateway: never inside a transaction, never holding a lock;
3. in a second transaction: lock the rows again and record the result, audit, and if the
   outcome is unknown, queue its resolution on commit.

Captures and voids hold `payment.operation` while in flight, so concurrent ones are refused
(409) instead of racing at the gateway. Refunds reserve their amount in
`amount_refund_pending` under the row lock, so concurrent refunds can never exceed what was
captured; the database CHECK constraints back this up.
"""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.contrib.auth.models import User
from django.db import transaction
from django.utils import timezone

from apps.audit.actors import Actor
from apps.audit.services import audit_record, audit_record_many
from apps.core.bulk import update_rows
from apps.core.context import current_request_id
from apps.core.db import atomic_with_reconnect
from apps.core.money import SUPPORTED_CURRENCIES, format_amount
from apps.core.queueing import enqueue, enqueue_on_commit
from apps.gateways.base import (
    Billing,
    CaptureRequest,
    Card,
    ChargeRequest,
    CheckoutPayment,
    Gateway,
    GatewayResult,
    OpaqueToken,
    OrderRequest,
    Outcome,
    RefundRequest,
    SavedCard,
    TransactionDetails,
    TransactionState,
    VoidRequest,
)
from apps.gateways.errors import (
    GatewayDeclined,
    GatewayError,
    GatewayMisconfigured,
    GatewayNotFound,
    GatewayOutcomeUnknown,
    GatewayRetryable,
)
from apps.gateways.models import GatewayAccount, GatewayName
from apps.gateways.registry import checkout_gateway_for, gateway_for
from apps.ledger.services import ledger_record_payment, ledger_record_payments
from apps.merchants.models import Merchant
from apps.webhooks.services import event_publish, event_publish_many

from .attempts import next_attempt_reference, one_run_per_reference
from .errors import (
    AmountTooLarge,
    ApprovalNotAllowed,
    CurrencyNotSupported,
    GatewayMisconfiguredError,
    GatewayUnavailable,
    NoGatewayAccount,
    PaymentBusy,
    PaymentDeclined,
    PaymentStateError,
    RawCardDataNotAllowed,
    RefundStateError,
    RequestInFlight,
)
from .models import Customer, GatewayTransaction, Payment, PaymentStatus, Refund, RefundStatus
from .selectors import earlier_calls

logger = logging.getLogger(__name__)

GT = GatewayTransaction


def _snapshot(payment: Payment) -> dict[str, Any]:
    return {
        "status": payment.status,
        "amount": payment.amount,
        "amount_authorized": payment.amount_authorized,
        "amount_captured": payment.amount_captured,
        "amount_refunded": payment.amount_refunded,
        "amount_refund_pending": payment.amount_refund_pending,
        "currency": payment.currency,
    }


def _refund_snapshot(refund: Refund) -> dict[str, Any]:
    return {
        "status": refund.status,
        "amount": refund.amount,
        "currency": refund.currency,
        "payment": refund.payment.public_id,
    }


def _publish_payment(payment: Payment, event_type: str) -> None:
    """The outbox event for a payment change, in the change's transaction."""
    event_publish(**_payment_event(payment, event_type))


def _payment_event(payment: Payment, event_type: str) -> dict[str, Any]:
    from .api.serializers import payment_representation

    return {
        "merchant_id": payment.merchant_id,
        "livemode": payment.livemode,
        "type": event_type,
        "object_type": "payment",
        "object_id": payment.public_id,
        "data": payment_representation(payment),
    }


def _publish_refund(refund: Refund, event_type: str) -> None:
    from .api.serializers import RefundOutputSerializer

    event_publish(
        merchant_id=refund.merchant_id,
        livemode=refund.payment.livemode,
        type=event_type,
        object_type="refund",
        object_id=refund.public_id,
        data=dict(RefundOutputSerializer(refund).data),
    )


@dataclass(frozen=True)
class CallOutcome:
    result: GatewayResult | None
    error: GatewayError | None
    latency_ms: int

    @property
    def unknown(self) -> bool:
        return isinstance(self.error, GatewayOutcomeUnknown) or (
            self.result is not None and self.result.outcome is Outcome.HELD
        )


def _call(function: Callable[[Any], GatewayResult], request: Any) -> CallOutcome:
    started = time.perf_counter()
    result: GatewayResult | None
    error: GatewayError | None
    try:
        result, error = function(request), None
    except GatewayDeclined as exc:
        result, error = exc.result, exc
    except GatewayError as exc:
        result, error = None, exc
    latency = int((time.perf_counter() - started) * 1000)
    if error is not None:
        logger.warning("gateway_call_failed", extra={"error": error.code, "detail": error.message})
    return CallOutcome(result, error, latency)


_GT_RESULT_FIELDS = [
    "status",
    "gateway_transaction_id",
    "response_code",
    "reason_code",
    "message",
    "auth_code",
    "avs_result",
    "cvv_result",
    "error_code",
    "latency_ms",
    "completed_at",
]
_PAYMENT_RESULT_FIELDS = [
    "status",
    "card_brand",
    "card_last4",
    "gateway_transaction_id",
    "amount_authorized",
    "amount_captured",
    "failure_code",
    "failure_message",
    "updated_at",
]


def _record_call(gt: GatewayTransaction, outcome: CallOutcome) -> None:
    _fill_call(gt, outcome)
    gt.save(update_fields=_GT_RESULT_FIELDS)


def _fill_call(gt: GatewayTransaction, outcome: CallOutcome) -> None:
    result, error = outcome.result, outcome.error
    if outcome.unknown:
        gt.status = GT.Status.UNKNOWN
    elif isinstance(error, GatewayDeclined):
        gt.status = GT.Status.DECLINED
    elif error is not None:
        gt.status = GT.Status.FAILED
    else:
        gt.status = GT.Status.SUCCEEDED
    if result is not None:
        gt.gateway_transaction_id = result.transaction_id if result.transaction_id not in {"", "0"} else ""
        gt.response_code, gt.reason_code = result.response_code, result.reason_code
        gt.message = result.message[:255]
        gt.auth_code, gt.avs_result, gt.cvv_result = result.auth_code, result.avs_result[:2], result.cvv_result[:2]
        gt.error_code = result.decline_code
    if error is not None and not isinstance(error, GatewayDeclined):
        gt.error_code, gt.message = error.code, error.message[:255]
        gt.reason_code = gt.reason_code or error.reason_code[:10]
    gt.latency_ms = outcome.latency_ms
    gt.completed_at = timezone.now()


def _enqueue_resolution(gt: GatewayTransaction) -> None:
    from .tasks import gateway_transaction_resolve

    enqueue_on_commit(gateway_transaction_resolve, gt.pk)


def _raise_for(outcome: CallOutcome, *, payment: Payment, declined_code: str | None = None) -> None:
    """After the result is committed: turn a failed call into the API's error."""
    error = outcome.error
    extra = {"payment": payment.public_id}
    if isinstance(error, GatewayDeclined):
        code = declined_code or error.result.decline_code or "card_declined"
        raise PaymentDeclined(error.result.message or "Declined by the gateway.", code=code, extra=extra)
    if isinstance(error, GatewayRetryable):
        raise GatewayUnavailable(extra=extra)
    if isinstance(error, GatewayMisconfigured | GatewayNotFound):
        raise GatewayMisconfiguredError(f"{GatewayMisconfiguredError.default_message} ({error.message})", extra=extra)


# --- accounts and input checks -------------------------------------------------------------


# Gateways where the customer pays in the gateway's own page: no card data reaches us.
CHECKOUT_GATEWAYS = frozenset({GatewayName.RAZORPAY})


def gateway_account_for(*, merchant: Merchant, livemode: bool, gateway: str | None = None) -> GatewayAccount:
    """The merchant's active account for this mode: at `gateway`, or else at a gateway that
    takes card data server-side (what /payments charges)."""
    accounts = GatewayAccount.objects.filter(merchant=merchant, mode="live" if livemode else "test", is_active=True)
    accounts = accounts.filter(gateway=gateway) if gateway else accounts.exclude(gateway__in=CHECKOUT_GATEWAYS)
    account = accounts.order_by("id").first()
    if account is None:
        raise NoGatewayAccount()
    return account


def check_payment_method(account: GatewayAccount, payment_method: Card | OpaqueToken | SavedCard) -> None:
    if not isinstance(payment_method, Card):
        return
    policy = settings.PAYMENTS_RAW_CARD_DATA
    if policy == "never" or (policy == "test_mode" and account.mode != "test"):
        raise RawCardDataNotAllowed(param="payment_method")


def _check_currency(account: GatewayAccount, currency: str) -> None:
    if currency not in SUPPORTED_CURRENCIES or currency != account.currency:
        raise CurrencyNotSupported(
            f"{currency} is not supported by this merchant's gateway account (it settles {account.currency}).",
            param="currency",
        )


def customer_get_or_create(*, merchant: Merchant, email: str = "", name: str = "", phone: str = "") -> Customer:
    if email:
        existing = Customer.objects.filter(merchant=merchant, email__iexact=email).order_by("id").first()
        if existing is not None:
            return existing
    return Customer.objects.create(merchant=merchant, email=email, name=name, phone=phone)


# --- charge ---------------------------------------------------------------------------------


def _apply_charge_result(payment: Payment, gt: GatewayTransaction, result: GatewayResult | None, actor: Actor) -> None:
    before = _snapshot(payment)
    action = _charge_result(payment, gt, result)
    payment.save(update_fields=_PAYMENT_RESULT_FIELDS)
    ledger_record_payment(payment, before)
    audit_record(actor=actor, action=action, target=payment, before=before, after=_snapshot(payment))
    if action != "payment.outcome_unknown":
        _publish_payment(payment, action)


def _charge_result(payment: Payment, gt: GatewayTransaction, result: GatewayResult | None) -> str:
    """The call's result on the payment's fields (not saved); returns the audit action."""
    payment.updated_at = timezone.now()
    if result is not None:
        payment.card_brand = result.card_brand or payment.card_brand
        payment.card_last4 = result.card_last4 or payment.card_last4
    if gt.status == GT.Status.SUCCEEDED and result is not None:
        payment.gateway_transaction_id = result.transaction_id
        payment.amount_authorized = payment.amount
        if gt.kind == GT.Kind.SALE:
            payment.amount_captured = payment.amount
            payment.status, action = PaymentStatus.CAPTURED, "payment.captured"
        else:
            payment.status, action = PaymentStatus.AUTHORIZED, "payment.authorized"
        payment.failure_code = payment.failure_message = ""
    elif gt.status == GT.Status.UNKNOWN:
        payment.status, action = PaymentStatus.UNKNOWN, "payment.outcome_unknown"
        if result is not None and result.transaction_id:
            payment.gateway_transaction_id = result.transaction_id
    else:
        payment.status, action = PaymentStatus.FAILED, "payment.failed"
        payment.failure_code = gt.error_code or "processing_error"
        payment.failure_message = gt.message or "The payment failed."
    return action


def payment_create(
    *,
    merchant: Merchant,
    livemode: bool,
    amount: int,
    currency: str,
    payment_method: Card | OpaqueToken | SavedCard,
    capture: bool = True,
    billing: Billing | None = None,
    customer: Customer | None = None,
    reference: str = "",
    description: str = "",
    metadata: dict[str, Any] | None = None,
    customer_ip: str = "",
    account: GatewayAccount | None = None,
    idempotency_reference: str = "",
    actor: Actor,
) -> Payment:
    """Charge (capture=True) or authorise a card. Returns the payment, `unknown` when the
    gateway's answer was lost; raises PaymentDeclined / GatewayUnavailable after recording a
    failed payment.

    With an `idempotency_reference` (from the request's Idempotency-Key) a retry finds the charge
    its first run made and answers with it, resolved at the gateway if need be: never a second
    charge. Only when every earlier attempt provably did nothing is the card charged again."""
    currency = currency.upper()
    account = account or gateway_account_for(merchant=merchant, livemode=livemode)
    _check_currency(account, currency)
    check_payment_method(account, payment_method)
    earlier = earlier_calls(idempotency_reference, kinds=[GT.Kind.SALE, GT.Kind.AUTHORIZE])
    if earlier:
        found = _charge_recover(earlier)
        if found is not None:
            return found
    with one_run_per_reference(), transaction.atomic():
        payment, gt = charge_begin(
            merchant=merchant,
            account=account,
            amount=amount,
            currency=currency,
            payment_method=payment_method,
            capture=capture,
            customer=customer,
            reference=reference,
            description=description,
            metadata=metadata,
            call_reference=next_attempt_reference(idempotency_reference, earlier),
            actor=actor,
        )
    outcome = charge_call(
        payment=payment,
        gt=gt,
        payment_method=payment_method,
        billing=billing or Billing(email=customer.email if customer else ""),
        customer_ip=customer_ip,
    )
    payment = atomic_with_reconnect(
        lambda: charge_finish(payment_id=payment.pk, gt=gt, outcome=outcome, actor=actor), what="charge_finish"
    )
    _raise_for(outcome, payment=payment)
    return payment


# --- retries of a request: what did its first run do? --------------------------------------------

_OPEN_CALL = frozenset({GT.Status.PENDING, GT.Status.UNKNOWN})


def _may_be_in_flight(gt: GatewayTransaction) -> bool:
    """A pending call younger than GATEWAY_STALE_CALL_SECONDS may still be waiting for its answer."""
    fresh = timezone.now() - timedelta(seconds=settings.GATEWAY_STALE_CALL_SECONDS)
    return gt.status == GT.Status.PENDING and gt.created_at > fresh


def _resolve_now(gt: GatewayTransaction) -> GatewayTransaction:
    """Ask the gateway what became of a call left pending or unknown (a retry wants the answer
    now). A call that may still be in flight is settled only by the gateway's positive word, never
    concluded "did not happen". If the gateway cannot be asked right now, the call stays as it is."""
    try:
        gateway_transaction_resolve(
            gateway_transaction_id=gt.pk, actor=Actor.system("idempotent retry"), positive_only=_may_be_in_flight(gt)
        )
    except GatewayError as exc:
        logger.warning("retry_resolution_failed", extra={"reference": gt.reference, "error": exc.code})
    gt.refresh_from_db()
    return gt


def _raise_recorded_decline(gt: GatewayTransaction, payment: Payment, *, refund: Refund | None = None) -> None:
    """The error a declined call answered the first time, for its retry."""
    if gt.status == GT.Status.DECLINED:
        extra = {"payment": payment.public_id, **({"refund": refund.public_id} if refund else {})}
        raise PaymentDeclined(
            gt.message or "Declined by the gateway.", code=gt.error_code or "card_declined", extra=extra
        )


def _nothing_happened_at_gateway(failed: list[GatewayTransaction]) -> GatewayTransaction | None:
    """Before calling again: ask the gateway for each earlier attempt we recorded as never made
    (refused, unreachable). One it has after all is reopened and recorded from the gateway's
    word, and returned; None when the gateway has none of them."""
    for gt in failed:
        gateway = gateway_for(gt.gateway_account)
        parent = gt.payment.gateway_transaction_id if gt.kind == GT.Kind.REFUND else ""
        try:
            details = gateway.find_transaction(gt.reference, parent)
        except GatewayRetryable as exc:
            raise GatewayUnavailable(extra={"payment": gt.payment.public_id}) from exc
        except (GatewayMisconfigured, GatewayNotFound) as exc:
            raise GatewayMisconfiguredError(extra={"payment": gt.payment.public_id}) from exc
        if details is None:
            continue
        logger.error("failed_call_found_at_gateway", extra={"reference": gt.reference, "state": details.state})
        with transaction.atomic():
            reopened = _reopen_failed_call(gt.pk)
        if not reopened:
            raise RefundStateError(
                "A refund recorded as failed went through at the gateway after all, and the payment has no room "
                "left to hold it; reconciliation will show it. Nothing was refunded again.",
                extra={"payment": gt.payment.public_id},
            )
        return _resolve_now(gt)
    return None


def _reopen_failed_call(gt_id: int) -> bool:
    """Inside a transaction: a call we recorded as never made turned up at the gateway. It and its
    payment (or refund, whose amount is reserved again) become unknown, for the resolver. False
    when it cannot be reopened (a refund the payment has no room left for)."""
    actor = Actor.system("idempotent retry")
    payment = Payment.objects.select_for_update(of=("self",)).get(gateway_transactions__pk=gt_id)
    gt = GatewayTransaction.objects.select_for_update().get(pk=gt_id)
    if gt.status != GT.Status.FAILED:
        return True  # reopened (and perhaps resolved) by a concurrent retry
    before = _snapshot(payment)
    if gt.refund_id is not None:
        refund = Refund.objects.select_for_update().get(pk=gt.refund_id)
        if refund.status != RefundStatus.FAILED or refund.amount > payment.refundable_amount:
            logger.error("failed_refund_found_at_gateway_without_room", extra={"refund": refund.public_id})
            return False
        payment.amount_refund_pending += refund.amount
        payment.save(update_fields=["amount_refund_pending", "updated_at"])
        refund.status = RefundStatus.UNKNOWN
        refund.save(update_fields=["status", "updated_at"])
        audit_record(
            actor=actor, action="refund.outcome_unknown", target=refund, before=before, after=_snapshot(payment)
        )
    elif payment.status == PaymentStatus.FAILED:
        payment.status = PaymentStatus.UNKNOWN
        payment.save(update_fields=["status", "updated_at"])
        audit_record(
            actor=actor, action="payment.outcome_unknown", target=payment, before=before, after=_snapshot(payment)
        )
    else:
        return True
    gt.status = GT.Status.UNKNOWN
    gt.save(update_fields=["status"])
    return True


def _charge_recover(earlier: list[GatewayTransaction]) -> Payment | None:
    """A retried charge: the payment its first run made, as it now is (raises the decline it
    met); None when no earlier attempt did anything at the gateway (charge again)."""
    last = earlier[-1]
    if last.status in _OPEN_CALL:
        last = _resolve_now(last)
    if last.status == GT.Status.FAILED:
        found = _nothing_happened_at_gateway([gt for gt in earlier if gt.status == GT.Status.FAILED])
        if found is None:
            return None
        last = found
    payment = Payment.objects.select_related("gateway_account").get(pk=last.payment_id)
    _raise_recorded_decline(last, payment)
    return payment


def charge_begin(
    *,
    merchant: Merchant,
    account: GatewayAccount,
    amount: int,
    currency: str,
    payment_method: Card | OpaqueToken | SavedCard,
    capture: bool = True,
    customer: Customer | None = None,
    reference: str = "",
    description: str = "",
    metadata: dict[str, Any] | None = None,
    call_reference: str = "",
    card_brand: str = "",
    card_last4: str = "",
    actor: Actor,
) -> tuple[Payment, GatewayTransaction]:
    """Step 1 of a charge, inside the caller's transaction: the pending payment and its pending
    gateway call. `call_reference` (at most 20 characters) is the idempotency reference sent to
    the gateway; callers that must never charge twice for one thing derive it from that thing."""
    card = payment_method if isinstance(payment_method, Card) else None
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
        card_last4=card.last4 if card else card_last4,
        card_exp_month=card.exp_month if card else None,
        card_exp_year=card.exp_year if card else None,
    )
    gt = GatewayTransaction(
        payment=payment,
        gateway_account=account,
        kind=GT.Kind.SALE if capture else GT.Kind.AUTHORIZE,
        amount=amount,
        currency=currency,
        correlation_id=current_request_id() or "",
    )
    if call_reference:
        gt.reference = call_reference
    gt.save(force_insert=True)
    audit_record(actor=actor, action="payment.created", target=payment, after=_snapshot(payment))
    return payment, gt


def charge_call(
    *,
    payment: Payment,
    gt: GatewayTransaction,
    payment_method: Card | OpaqueToken | SavedCard,
    billing: Billing | None = None,
    customer_ip: str = "",
    gateway: Gateway | None = None,
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
    )
    return _call(gateway.sale if payment.capture else gateway.authorize, request)


def charge_finish(*, payment_id: int, gt: GatewayTransaction, outcome: CallOutcome, actor: Actor) -> Payment:
    """Step 3, inside the caller's transaction: record the call's result on the payment (under
    its row lock, which guards its calls too) and queue the resolution of an unknown outcome."""
    payment = Payment.objects.select_for_update(of=("self",)).select_related("gateway_account").get(pk=payment_id)
    gt = GatewayTransaction.objects.select_for_update().get(pk=gt.pk)
    if gt.status != GT.Status.PENDING:
        return payment  # already settled by the resolver
    _record_call(gt, outcome)
    _apply_charge_result(payment, gt, outcome.result, actor)
    if outcome.unknown:
        _enqueue_resolution(gt)
    return payment


@dataclass(frozen=True)
class ChargeSpec:
    """One charge of a batch (charges_begin): what charge_begin takes, per charge."""

    account: GatewayAccount
    amount: int
    currency: str
    customer: Customer | None
    call_reference: str
    reference: str = ""
    description: str = ""
    metadata: dict[str, Any] | None = None
    card_brand: str = ""
    card_last4: str = ""


def charges_begin(specs: list[ChargeSpec], *, actor: Actor) -> list[tuple[Payment, GatewayTransaction]]:
    """Step 1 for many saved-card sales at once, inside the caller's transaction: the pending
    payments and their pending calls in two INSERTs, their audit events in one."""
    correlation = current_request_id() or ""
    payments = Payment.objects.bulk_create(
        Payment(
            merchant_id=spec.account.merchant_id,
            gateway_account=spec.account,
            customer=spec.customer,
            livemode=spec.account.mode == "live",
            amount=spec.amount,
            currency=spec.currency,
            capture=True,
            reference=spec.reference,
            description=spec.description,
            metadata=spec.metadata or {},
            card_brand=spec.card_brand,
            card_last4=spec.card_last4,
        )
        for spec in specs
    )
    calls = GatewayTransaction.objects.bulk_create(
        GatewayTransaction(
            payment=payment,
            gateway_account=spec.account,
            kind=GT.Kind.SALE,
            amount=spec.amount,
            currency=spec.currency,
            reference=spec.call_reference,
            correlation_id=correlation,
        )
        for payment, spec in zip(payments, specs, strict=True)
    )
    audit_record_many(
        [{"actor": actor, "action": "payment.created", "target": p, "after": _snapshot(p)} for p in payments]
    )
    return list(zip(payments, calls, strict=True))


def charges_finish(items: list[tuple[int, GatewayTransaction, CallOutcome]], *, actor: Actor) -> dict[int, Payment]:
    """Step 3 for many charges at once, inside the caller's transaction: lock the payments and
    their calls (in id order), record each result, then save, audit and publish in bulk. A call
    the resolver settled meanwhile is left as it is. Returns the payments by id."""
    payments = {
        p.pk: p
        for p in Payment.objects.select_for_update(of=("self",))
        .select_related("gateway_account", "customer")
        .filter(pk__in=[payment_id for payment_id, _, _ in items])
        .order_by("pk")
    }
    calls = {
        c.pk: c
        for c in GatewayTransaction.objects.select_for_update()
        .filter(pk__in=[gt.pk for _, gt, _ in items])
        .order_by("pk")
    }
    audits: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    changed_payments, changed_calls = [], []
    moved: list[tuple[Payment, dict[str, Any]]] = []
    for payment_id, gt, outcome in items:
        payment, call = payments[payment_id], calls[gt.pk]
        if call.status != GT.Status.PENDING:
            continue
        _fill_call(call, outcome)
        before = _snapshot(payment)
        action = _charge_result(payment, call, outcome.result)
        changed_calls.append(call)
        changed_payments.append(payment)
        moved.append((payment, before))
        audits.append(
            {"actor": actor, "action": action, "target": payment, "before": before, "after": _snapshot(payment)}
        )
        if action != "payment.outcome_unknown":
            events.append(_payment_event(payment, action))
        if outcome.unknown:
            _enqueue_resolution(call)
    update_rows(GatewayTransaction, changed_calls, _GT_RESULT_FIELDS)
    update_rows(Payment, changed_payments, _PAYMENT_RESULT_FIELDS)
    ledger_record_payments(moved)
    audit_record_many(audits)
    event_publish_many(events)
    return payments


def charge_error(outcome: CallOutcome, *, payment: Payment) -> None:
    """After the result is committed: raise the API error for a failed charge, if any."""
    _raise_for(outcome, payment=payment)


# --- capture and void ------------------------------------------------------------------------


def _begin_operation(
    payment: Payment, operation: str, kind: str, amount: int | None, *, reference: str = "", actor: Actor
) -> GatewayTransaction:
    """Step 1 of a capture or void, in the caller's transaction: hold the payment's operation,
    record the pending call, audit the request (a retry learns from it that the call may have
    gone out)."""
    if payment.operation:
        raise PaymentBusy()
    payment.operation = operation
    payment.save(update_fields=["operation", "updated_at"])
    gt = GatewayTransaction(
        payment=payment,
        gateway_account=payment.gateway_account,
        kind=kind,
        amount=amount,
        currency=payment.currency,
        correlation_id=current_request_id() or "",
    )
    if reference:
        gt.reference = reference
    gt.save(force_insert=True)
    audit_record(
        actor=actor,
        action=f"payment.{operation}_requested",
        target=payment,
        after={"amount": amount, "reference": gt.reference},
    )
    return gt


def _operation_recover(earlier: list[GatewayTransaction]) -> Payment | None:
    """A retried capture or void: the payment as its first run left it, resolved at the gateway
    if that run's call is open (raises the decline it met); None when it did nothing (try again)."""
    last = earlier[-1]
    if last.status in _OPEN_CALL:
        last = _resolve_now(last)
    if last.status == GT.Status.FAILED:
        return None
    payment = Payment.objects.select_related("gateway_account").get(pk=last.payment_id)
    if last.status == GT.Status.DECLINED:
        _raise_for(CallOutcome(None, GatewayDeclined(_recorded_result(last)), 0), payment=payment,
                   declined_code=_void_declined_code(last))  # fmt: skip
    return payment


def _recorded_result(gt: GatewayTransaction) -> GatewayResult:
    return GatewayResult(
        Outcome.DECLINED, gt.gateway_transaction_id, gt.response_code, gt.reason_code, gt.message,
        decline_code=gt.error_code,
    )  # fmt: skip


def _void_declined_code(gt: GatewayTransaction) -> str | None:
    return "payment_already_settled" if gt.kind == GT.Kind.VOID and gt.reason_code == "16" else None


def _operation_record(
    payment_id: int, gt_id: int, outcome: CallOutcome, finish: Callable[[Payment, GatewayTransaction], None]
) -> tuple[Payment, GatewayTransaction]:
    """Step 3 of a capture or void, in the caller's transaction; does nothing if the call was
    recorded already (by the resolver, or by this step before a lost connection)."""
    locked = Payment.objects.select_for_update().get(pk=payment_id)
    gt = GatewayTransaction.objects.select_for_update().get(pk=gt_id)
    if gt.status != GT.Status.PENDING:
        return locked, gt
    _record_call(gt, outcome)
    finish(locked, gt)
    if outcome.unknown:
        _enqueue_resolution(gt)
    return locked, gt


def payment_capture(
    *, payment: Payment, amount: int | None = None, idempotency_reference: str = "", actor: Actor
) -> Payment:
    """Capture an authorised payment, all of it or less (the rest of the hold is released).
    A retry with the same `idempotency_reference` answers with the first run's capture."""
    earlier = earlier_calls(idempotency_reference, kinds=[GT.Kind.CAPTURE])
    if earlier and (found := _operation_recover(earlier)) is not None:
        return found
    with one_run_per_reference(), transaction.atomic():
        locked = Payment.objects.select_for_update(of=("self",)).select_related("gateway_account").get(pk=payment.pk)
        if locked.status != PaymentStatus.AUTHORIZED:
            raise PaymentStateError(f"Only authorized payments can be captured; this one is {locked.status}.")
        amount = locked.amount_authorized if amount is None else amount
        if amount <= 0 or amount > locked.amount_authorized:
            raise AmountTooLarge(
                "Capture amount must be between 1 and the authorized "
                f"{format_amount(locked.amount_authorized, locked.currency)}.",
                code="capture_exceeds_authorized" if amount > 0 else "amount_invalid",
                param="amount",
            )
        gateway = gateway_for(locked.gateway_account)
        if amount != locked.amount_authorized and not gateway.supports_partial_capture:
            raise AmountTooLarge(
                f"{locked.gateway_account.get_gateway_display()} captures the whole authorized amount only.",
                code="partial_capture_not_supported",
                param="amount",
            )
        reference = next_attempt_reference(idempotency_reference, earlier)
        gt = _begin_operation(locked, "capture", GT.Kind.CAPTURE, amount, reference=reference, actor=actor)

    outcome = _call(
        gateway.capture, CaptureRequest(gt.reference, locked.gateway_transaction_id, amount, locked.currency)
    )
    captured = amount
    locked, gt = atomic_with_reconnect(
        lambda: _operation_record(
            payment.pk, gt.pk, outcome, lambda p, call: _finish_capture(p, call, captured, actor)
        ),
        what="capture_finish",
    )
    _raise_for(outcome, payment=locked)
    return locked


def _finish_capture(payment: Payment, gt: GatewayTransaction, amount: int, actor: Actor) -> None:
    if gt.status == GT.Status.UNKNOWN:
        return  # payment.operation stays held until the outcome is known
    payment.operation = ""
    if gt.status == GT.Status.SUCCEEDED:
        before = _snapshot(payment)
        payment.amount_captured = amount
        payment.status = PaymentStatus.CAPTURED
        payment.save()
        ledger_record_payment(payment, before)
        audit_record(actor=actor, action="payment.captured", target=payment, before=before, after=_snapshot(payment))
        _publish_payment(payment, "payment.captured")
    else:
        payment.save(update_fields=["operation", "updated_at"])


def payment_void(*, payment: Payment, idempotency_reference: str = "", actor: Actor) -> Payment:
    """Cancel an authorisation, or a capture that has not settled yet. A retry with the same
    `idempotency_reference` answers with the first run's void."""
    earlier = earlier_calls(idempotency_reference, kinds=[GT.Kind.VOID])
    if earlier and (found := _operation_recover(earlier)) is not None:
        return found
    with one_run_per_reference(), transaction.atomic():
        locked = Payment.objects.select_for_update(of=("self",)).select_related("gateway_account").get(pk=payment.pk)
        if locked.status not in {PaymentStatus.AUTHORIZED, PaymentStatus.CAPTURED}:
            raise PaymentStateError(f"Only authorized or captured payments can be voided; this one is {locked.status}.")
        if locked.amount_refunded or locked.amount_refund_pending:
            raise PaymentStateError("A payment with refunds cannot be voided.")
        gateway = gateway_for(locked.gateway_account)
        if not gateway.supports_void:
            raise PaymentStateError(
                f"{locked.gateway_account.get_gateway_display()} cannot void a payment: refund it instead.",
                code="void_not_supported",
            )
        reference = next_attempt_reference(idempotency_reference, earlier)
        gt = _begin_operation(locked, "void", GT.Kind.VOID, None, reference=reference, actor=actor)

    outcome = _call(gateway.void, VoidRequest(gt.reference, locked.gateway_transaction_id))
    locked, gt = atomic_with_reconnect(
        lambda: _operation_record(payment.pk, gt.pk, outcome, lambda p, call: _finish_void(p, call, actor)),
        what="void_finish",
    )
    _raise_for(outcome, payment=locked, declined_code=_void_declined_code(gt))
    return locked


def _finish_void(payment: Payment, gt: GatewayTransaction, actor: Actor) -> None:
    if gt.status == GT.Status.UNKNOWN:
        return
    payment.operation = ""
    if gt.status == GT.Status.SUCCEEDED:
        before = _snapshot(payment)
        payment.amount_captured = 0
        payment.status = PaymentStatus.VOIDED
        payment.save()
        ledger_record_payment(payment, before)
        audit_record(actor=actor, action="payment.voided", target=payment, before=before, after=_snapshot(payment))
        _publish_payment(payment, "payment.voided")
    else:
        payment.save(update_fields=["operation", "updated_at"])


# --- refunds ---------------------------------------------------------------------------------


def refund_needs_approval(*, amount: int, currency: str, requested_by_user: User | None) -> bool:
    threshold = settings.REFUND_APPROVAL_THRESHOLDS.get(currency)
    if threshold is not None and amount >= threshold:
        return True
    # Maker-checker: a staff member who may not approve refunds cannot refund alone.
    return requested_by_user is not None and not requested_by_user.has_perm("payments.approve_refund")


def refund_create(
    *,
    payment: Payment,
    amount: int | None = None,
    reason: str = "",
    actor: Actor,
    requested_by_user: User | None = None,
    idempotency_reference: str = "",
) -> Refund:
    """Refund a captured payment, all that is left (amount=None) or part of it.

    Large refunds and refunds requested by staff without the approver role wait for approval
    (status pending_approval); their amount stays reserved meanwhile. A retry with the same
    `idempotency_reference` answers with the refund its first run made, never a second one.
    """
    if idempotency_reference and (found := _refund_recover(payment, idempotency_reference)) is not None:
        return found
    with transaction.atomic():
        locked = Payment.objects.select_for_update(of=("self",)).select_related("gateway_account").get(pk=payment.pk)
        if locked.status not in {PaymentStatus.CAPTURED, PaymentStatus.PARTIALLY_REFUNDED}:
            raise PaymentStateError(f"Only captured payments can be refunded; this one is {locked.status}.")
        if locked.operation:
            raise PaymentBusy()
        refundable = locked.refundable_amount
        amount = refundable if amount is None else amount
        if amount <= 0 or amount > refundable:
            raise AmountTooLarge(
                f"The refund would exceed what is left to refund ({format_amount(refundable, locked.currency)}).",
                code="refund_exceeds_captured" if amount > 0 else "amount_invalid",
                param="amount",
            )
        if (
            idempotency_reference
            and Refund.objects.filter(payment=locked, request_reference=idempotency_reference)
            .exclude(status=RefundStatus.FAILED)
            .exists()
        ):
            raise RequestInFlight()  # another run of this request made its refund a moment ago
        approval = refund_needs_approval(amount=amount, currency=locked.currency, requested_by_user=requested_by_user)
        before = _snapshot(locked)
        locked.amount_refund_pending += amount
        locked.save(update_fields=["amount_refund_pending", "updated_at"])
        refund = Refund.objects.create(
            merchant=locked.merchant,
            payment=locked,
            status=RefundStatus.PENDING_APPROVAL if approval else RefundStatus.PENDING,
            amount=amount,
            currency=locked.currency,
            reason=reason[:255],
            requested_by=actor.label,
            requested_by_user=requested_by_user,
            request_reference=idempotency_reference,
        )
        audit_record(
            actor=actor,
            action="refund.approval_requested" if approval else "refund.created",
            target=refund,
            merchant_id=locked.merchant_id,
            before=before,
            after={**_refund_snapshot(refund), "reason": refund.reason},
        )
        gt = None if approval else _refund_call_record(refund)
    if gt is None:
        return refund
    return _refund_execute(refund, gt, actor)


def _refund_call_record(refund: Refund) -> GatewayTransaction:
    gt = GatewayTransaction(
        payment=refund.payment,
        refund=refund,
        gateway_account=refund.payment.gateway_account,
        kind=GT.Kind.REFUND,
        amount=refund.amount,
        currency=refund.currency,
        correlation_id=current_request_id() or "",
    )
    if refund.request_reference:
        earlier = earlier_calls(refund.request_reference, kinds=[GT.Kind.REFUND])
        gt.reference = next_attempt_reference(refund.request_reference, earlier)
    gt.save(force_insert=True)
    return gt


def _refund_recover(payment: Payment, reference: str) -> Refund | None:
    """A retried refund request: the refund its first run made, as it now is (resolved at the
    gateway if its call is open; raises the decline it met). None when there is none, or when
    every call made for it provably did nothing (refund again)."""
    refund = Refund.objects.filter(payment=payment, request_reference=reference).order_by("-id").first()
    if refund is None:
        return None
    calls = earlier_calls(reference, kinds=[GT.Kind.REFUND])
    last = calls[-1] if calls else None
    if last is not None and last.status in _OPEN_CALL:
        last = _resolve_now(last)
    if last is not None and last.status == GT.Status.FAILED:
        found = _nothing_happened_at_gateway([gt for gt in calls if gt.status == GT.Status.FAILED])
        if found is None:
            return None
        last = found
    refund = Refund.objects.select_related("payment__gateway_account").get(pk=refund.pk)
    if last is not None and last.status == GT.Status.DECLINED:
        _raise_refund_declined(last, refund)
    return refund


def _raise_refund_declined(gt: GatewayTransaction, refund: Refund) -> None:
    extra = {"refund": refund.public_id, "payment": refund.payment.public_id}
    if gt.reason_code == "54":
        raise PaymentStateError(
            "The payment has not settled at the gateway yet, so it cannot be refunded: void it instead, "
            "or refund after settlement.",
            code="payment_not_settled",
            extra=extra,
        )
    raise PaymentDeclined(gt.message or "Declined by the gateway.", code="refund_declined", extra=extra)


def _refund_execute(refund: Refund, gt: GatewayTransaction, actor: Actor) -> Refund:
    payment = refund.payment
    gateway = gateway_for(payment.gateway_account)
    outcome = _call(
        gateway.refund,
        RefundRequest(gt.reference, payment.gateway_transaction_id, refund.amount, refund.currency, payment.card_last4),
    )
    locked_payment, locked, gt = atomic_with_reconnect(
        lambda: _refund_record(payment.pk, refund.pk, gt.pk, outcome, actor), what="refund_finish"
    )
    if isinstance(outcome.error, GatewayDeclined):
        _raise_refund_declined(gt, locked)
    _raise_for(outcome, payment=locked_payment)
    return locked


def _refund_record(
    payment_id: int, refund_id: int, gt_id: int, outcome: CallOutcome, actor: Actor
) -> tuple[Payment, Refund, GatewayTransaction]:
    """Step 3 of a refund, in the caller's transaction; nothing if the call was recorded already."""
    payment = Payment.objects.select_for_update().get(pk=payment_id)
    refund = Refund.objects.select_for_update().select_related("payment").get(pk=refund_id)
    gt = GatewayTransaction.objects.select_for_update().get(pk=gt_id)
    if gt.status == GT.Status.PENDING:
        _record_call(gt, outcome)
        _finish_refund(payment, refund, gt, actor)
        if outcome.unknown:
            _enqueue_resolution(gt)
    return payment, refund, gt


def _status_after_refunds(payment: Payment) -> str:
    if not payment.amount_refunded:
        return PaymentStatus.CAPTURED
    if payment.amount_refunded == payment.amount_captured:
        return PaymentStatus.REFUNDED
    return PaymentStatus.PARTIALLY_REFUNDED


# Refunds whose amount is held in the payment's amount_refund_pending.
_REFUND_HELD = frozenset({RefundStatus.PENDING_APPROVAL, RefundStatus.PENDING, RefundStatus.UNKNOWN})


def _finish_refund(payment: Payment, refund: Refund, gt: GatewayTransaction, actor: Actor) -> None:
    before = _snapshot(payment)
    if gt.status == GT.Status.UNKNOWN:
        refund.status = RefundStatus.UNKNOWN
        refund.save(update_fields=["status", "updated_at"])
        return
    payment.amount_refund_pending -= refund.amount
    if gt.status == GT.Status.SUCCEEDED:
        payment.amount_refunded += refund.amount
        payment.status = _status_after_refunds(payment)
        refund.status = RefundStatus.SUCCEEDED
        refund.gateway_transaction_id = gt.gateway_transaction_id
        action = "refund.succeeded"
    else:
        refund.status = RefundStatus.FAILED
        refund.failure_code = "payment_not_settled" if gt.reason_code == "54" else (gt.error_code or "refund_failed")
        refund.failure_message = gt.message
        action = "refund.failed"
    payment.save()
    refund.save()
    ledger_record_payment(payment, before, refund=refund)
    audit_record(
        actor=actor,
        action=action,
        target=refund,
        merchant_id=payment.merchant_id,
        before=before,
        after=_snapshot(payment),
    )
    _publish_refund(refund, action)


def refund_approve(*, refund: Refund, approver: User, note: str = "") -> Refund:
    """Maker-checker: a different user with the approver role releases a waiting refund."""
    actor = Actor.staff(approver)
    with transaction.atomic():
        locked = (
            Refund.objects.select_for_update(of=("self", "payment"))
            .select_related("payment__gateway_account")
            .get(pk=refund.pk)
        )
        if locked.status != RefundStatus.PENDING_APPROVAL:
            raise RefundStateError(f"Only refunds waiting for approval can be approved; this one is {locked.status}.")
        if not approver.has_perm("payments.approve_refund"):
            raise ApprovalNotAllowed("Approving refunds needs the Finance approver role.")
        if locked.requested_by_user_id is not None and locked.requested_by_user_id == approver.pk:
            raise ApprovalNotAllowed("A refund cannot be approved by the person who requested it.")
        locked.status = RefundStatus.PENDING
        locked.decided_by_user = approver
        locked.decided_at = timezone.now()
        locked.decision_note = note[:255]
        locked.save()
        audit_record(
            actor=actor, action="refund.approved", target=locked, after={**_refund_snapshot(locked), "note": note}
        )
        gt = _refund_call_record(locked)
    return _refund_execute(locked, gt, actor)


def refund_reject(*, refund: Refund, approver: User, note: str = "") -> Refund:
    actor = Actor.staff(approver)
    with transaction.atomic():
        locked = Refund.objects.select_for_update().get(pk=refund.pk)
        if locked.status != RefundStatus.PENDING_APPROVAL:
            raise RefundStateError(f"Only refunds waiting for approval can be rejected; this one is {locked.status}.")
        if not approver.has_perm("payments.approve_refund"):
            raise ApprovalNotAllowed("Rejecting refunds needs the Finance approver role.")
        payment = Payment.objects.select_for_update().get(pk=locked.payment_id)
        payment.amount_refund_pending -= locked.amount
        payment.save(update_fields=["amount_refund_pending", "updated_at"])
        locked.status = RefundStatus.REJECTED
        locked.decided_by_user = approver
        locked.decided_at = timezone.now()
        locked.decision_note = note[:255]
        locked.save()
        audit_record(
            actor=actor, action="refund.rejected", target=locked, after={**_refund_snapshot(locked), "note": note}
        )
    return locked


# --- resolving unknown outcomes ---------------------------------------------------------------


def _details_to_result(details: TransactionDetails, kind: str) -> GatewayResult:
    by_kind: dict[str, set[TransactionState]] = {
        GT.Kind.SALE: {TransactionState.CAPTURED, TransactionState.SETTLED},
        GT.Kind.AUTHORIZE: {TransactionState.AUTHORIZED, TransactionState.CAPTURED, TransactionState.SETTLED},
        GT.Kind.REFUND: {TransactionState.REFUND_PENDING, TransactionState.REFUND_SETTLED},
    }
    if details.state in by_kind[kind]:
        outcome = Outcome.APPROVED
    elif details.state is TransactionState.UNDER_REVIEW:
        outcome = Outcome.HELD
    else:
        outcome = Outcome.DECLINED
    return GatewayResult(
        outcome=outcome,
        transaction_id=details.transaction_id,
        response_code=details.response_code,
        reason_code=details.reason_code,
        message=details.message,
        card_brand=details.card_brand,
        card_last4=details.card_last4,
        decline_code="" if outcome is not Outcome.DECLINED else "card_declined",
    )


def _resolved_outcome(gt: GatewayTransaction, *, positive_only: bool = False) -> CallOutcome | None:
    """Ask the gateway what became of a call. None: not known yet (ask again later); with
    `positive_only` (the call may still be in flight) also None where the answer would be "it did
    not happen"."""
    gateway = gateway_for(gt.gateway_account)
    payment = gt.payment
    age = timezone.now() - gt.created_at
    not_found_is_final = age > timedelta(seconds=settings.GATEWAY_NOT_FOUND_GRACE_SECONDS)
    if gt.kind == GT.Kind.ORDER:
        # A checkout order whose creation we lost was never handed to a customer: nobody can pay
        # it, so it is abandoned (a gateway order left unpaid simply expires there).
        if positive_only:
            return None
        return CallOutcome(None, GatewayRetryable("The checkout order was never handed out; abandoned."), 0)
    if gt.kind in {GT.Kind.SALE, GT.Kind.AUTHORIZE, GT.Kind.REFUND}:
        details = (
            gateway.fetch_transaction(gt.gateway_transaction_id)
            if gt.gateway_transaction_id
            else gateway.find_transaction(
                gt.reference, payment.gateway_transaction_id if gt.kind == GT.Kind.REFUND else ""
            )
        )
        if details is None:
            if positive_only or not not_found_is_final:
                return None
            return CallOutcome(None, GatewayRetryable("The gateway has no record of this call; nothing happened."), 0)
        result = _details_to_result(details, gt.kind)
        if result.outcome is Outcome.HELD:
            return None
        error = GatewayDeclined(result) if result.outcome is Outcome.DECLINED else None
        return CallOutcome(result, error, 0)
    # Capture and void change the original transaction: its state tells.
    original = gateway.fetch_transaction(payment.gateway_transaction_id)
    done_states = (
        {TransactionState.CAPTURED, TransactionState.SETTLED}
        if gt.kind == GT.Kind.CAPTURE
        else {TransactionState.VOIDED}
    )
    if original.state in done_states:
        return CallOutcome(
            GatewayResult(
                Outcome.APPROVED, original.transaction_id, original.response_code, "1", "Confirmed with the gateway."
            ),
            None,
            0,
        )
    if positive_only:
        return None
    return CallOutcome(None, GatewayRetryable(f"The {gt.kind} did not take effect at the gateway."), 0)


def gateway_transaction_resolve(
    *, gateway_transaction_id: int, actor: Actor | None = None, positive_only: bool = False
) -> bool:
    """Settle the truth of a call whose outcome was unknown. Safe to run any number of times.

    Returns True when nothing is left to do, False when the gateway cannot tell yet. Raises
    GatewayRetryable / GatewayOutcomeUnknown when the gateway cannot be asked right now.
    `positive_only`: the call may still be in flight, so only the gateway's word that it happened
    (or was declined) settles it; "not found" or "not done yet" leaves it open.
    """
    actor = actor or Actor.system("unknown-outcome resolver")
    gt = GatewayTransaction.objects.select_related("payment", "gateway_account", "refund").get(
        pk=gateway_transaction_id
    )
    if gt.status not in {GT.Status.UNKNOWN, GT.Status.PENDING}:
        return True
    GatewayTransaction.objects.filter(pk=gt.pk).update(resolution_attempts=gt.resolution_attempts + 1)
    outcome = _resolved_outcome(gt, positive_only=positive_only)
    if outcome is None:
        return False
    with transaction.atomic():
        payment = Payment.objects.select_for_update().get(pk=gt.payment_id)
        locked = GatewayTransaction.objects.select_for_update().get(pk=gt.pk)
        if locked.status not in {GT.Status.UNKNOWN, GT.Status.PENDING}:
            return True  # resolved by a concurrent run
        latency = locked.latency_ms
        _record_call(locked, outcome)
        locked.latency_ms = latency
        locked.save(update_fields=["latency_ms"])
        if locked.kind in {GT.Kind.SALE, GT.Kind.AUTHORIZE}:
            _apply_charge_result(payment, locked, outcome.result, actor)
        elif locked.kind == GT.Kind.ORDER:
            order_apply_result(payment, locked, actor)
        elif locked.kind == GT.Kind.CAPTURE:
            _finish_capture(payment, locked, locked.amount or payment.amount_authorized, actor)
        elif locked.kind == GT.Kind.VOID:
            _finish_void(payment, locked, actor)
        else:
            assert locked.refund_id is not None  # noqa: S101 - refund calls always have a refund
            refund = Refund.objects.select_for_update().get(pk=locked.refund_id)
            _finish_refund(payment, refund, locked, actor)
    return True


def gateway_transactions_sweep() -> list[int]:
    """Calls left pending (the process died mid-call) become unknown; every unknown call is
    queued for resolution again. Returns the ids queued."""
    from .tasks import gateway_transaction_resolve as resolve_task

    stale_before = timezone.now() - timedelta(seconds=settings.GATEWAY_STALE_CALL_SECONDS)
    GatewayTransaction.objects.filter(status=GT.Status.PENDING, created_at__lt=stale_before).update(
        status=GT.Status.UNKNOWN
    )
    actor = Actor.system("gateway sweeper")
    with transaction.atomic():
        stuck_payments = Payment.objects.select_for_update().filter(
            status=PaymentStatus.PENDING, gateway_transactions__status=GT.Status.UNKNOWN
        )
        for payment in stuck_payments:
            before = _snapshot(payment)
            payment.status = PaymentStatus.UNKNOWN
            payment.save(update_fields=["status", "updated_at"])
            audit_record(
                actor=actor, action="payment.outcome_unknown", target=payment, before=before, after=_snapshot(payment)
            )
        stuck_refunds = Refund.objects.select_for_update().filter(
            status=RefundStatus.PENDING, gateway_transactions__status=GT.Status.UNKNOWN
        )
        for refund in stuck_refunds:
            refund.status = RefundStatus.UNKNOWN
            refund.save(update_fields=["status", "updated_at"])
            audit_record(actor=actor, action="refund.outcome_unknown", target=refund, merchant_id=refund.merchant_id)
    ids = list(GatewayTransaction.objects.filter(status=GT.Status.UNKNOWN).values_list("pk", flat=True)[:1000])
    for pk in ids:
        enqueue(resolve_task, pk)
    return ids


def payment_capture_confirmed(*, payment: Payment, actor: Actor) -> Payment:
    """The gateway reports this payment captured while a capture call of ours is still open (its
    request died, or its answer was lost): settle that call now from the gateway's word, which
    releases the payment's operation. Returns the payment as it now is."""
    open_calls = GatewayTransaction.objects.filter(payment=payment, kind=GT.Kind.CAPTURE, status__in=_OPEN_CALL)
    for call_id in open_calls.order_by("id").values_list("pk", flat=True):
        gateway_transaction_resolve(gateway_transaction_id=call_id, actor=actor)
    return Payment.objects.select_related("gateway_account").get(pk=payment.pk)


# --- syncing with the gateway (webhooks, reconciliation) ---------------------------------------


class GatewayCallInFlight(GatewayRetryable):
    """One of our own calls for this payment is still waiting for its answer: ask again later
    (the call records its own result; syncing now could record it twice)."""


def _payment_apply_details(payment_id: int, details: TransactionDetails, actor: Actor) -> str:
    """Move a payment forward to what the gateway says of its charge. Never backwards: a later
    state we already know (refunds, a capture) is kept; only captured/voided news is applied."""
    with transaction.atomic():
        payment = Payment.objects.select_for_update(of=("self",)).select_related("gateway_account").get(pk=payment_id)
        if payment.operation:
            return f"{payment.operation} in flight; left to it"
        state, before = details.state, _snapshot(payment)
        if payment.status == PaymentStatus.AUTHORIZED and state in {
            TransactionState.CAPTURED,
            TransactionState.SETTLED,
        }:
            payment.amount_captured = min(
                details.settled_amount or payment.amount_authorized, payment.amount_authorized
            )
            payment.status, action = PaymentStatus.CAPTURED, "payment.captured"
        elif (
            payment.status in {PaymentStatus.AUTHORIZED, PaymentStatus.CAPTURED}
            and state is TransactionState.VOIDED
            and not (payment.amount_refunded or payment.amount_refund_pending)
        ):
            payment.amount_captured = 0
            payment.status, action = PaymentStatus.VOIDED, "payment.voided"
        else:
            return f"{payment.status}; gateway says {state}: no change"
        payment.save()
        ledger_record_payment(payment, before)
        audit_record(actor=actor, action=action, target=payment, before=before, after=_snapshot(payment))
        _publish_payment(payment, action)
    return f"{before['status']} -> {payment.status} (gateway says {state})"


def payment_sync_with_gateway(*, payment: Payment, actor: Actor) -> str:
    """Ask the gateway about a payment and bring ours up to date: first settle any call of ours
    whose outcome is unknown, then apply the charge's current state. Idempotent; raises
    GatewayRetryable / GatewayOutcomeUnknown when the gateway cannot be asked now. Returns what
    happened, for the record."""
    done: list[str] = []
    fresh = timezone.now() - timedelta(seconds=settings.GATEWAY_STALE_CALL_SECONDS)
    open_calls = GatewayTransaction.objects.filter(payment=payment, status__in=[GT.Status.PENDING, GT.Status.UNKNOWN])
    for call in open_calls.order_by("id"):
        if call.status == GT.Status.PENDING and call.created_at > fresh:
            raise GatewayCallInFlight(f"our {call.kind} call {call.reference} is still in flight")
        if not gateway_transaction_resolve(gateway_transaction_id=call.pk, actor=actor):
            raise GatewayCallInFlight(f"the gateway cannot tell yet what became of {call.reference}")
        done.append(f"{call.kind} call resolved")
    payment.refresh_from_db()
    if payment.gateway_transaction_id and payment.status not in {PaymentStatus.FAILED, PaymentStatus.VOIDED}:
        details = gateway_for(payment.gateway_account).fetch_transaction(payment.gateway_transaction_id)
        done.append(_payment_apply_details(payment.pk, details, actor))
    return "; ".join(done) or f"{payment.status}: no change"


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
    actor: Actor,
) -> tuple[Payment, GatewayTransaction]:
    """Inside the caller's transaction: a pending payment and its pending order call
    (`call_reference`: from checkout_payment_recover, "" for a random one)."""
    _check_currency(account, currency)
    payment = Payment.objects.create(
        merchant=merchant,
        gateway_account=account,
        customer=customer,
        livemode=account.mode == "live",
        amount=amount,
        currency=currency,
        capture=True,
        description=description[:255],
        metadata=metadata,
    )
    gt = GatewayTransaction(
        payment=payment,
        gateway_account=account,
        kind=GT.Kind.ORDER,
        amount=amount,
        currency=currency,
        correlation_id=current_request_id() or "",
    )
    if call_reference:
        gt.reference = call_reference
    gt.save(force_insert=True)
    audit_record(actor=actor, action="payment.created", target=payment, after=_snapshot(payment))
    return payment, gt


def checkout_payment_recover(*, idempotency_reference: str) -> tuple[Payment | None, str]:
    """For a retried checkout request: the payment whose gateway order its first run created
    (None if it created none, or one nobody can pay), and the reference for a new order call."""
    earlier = earlier_calls(idempotency_reference, kinds=[GT.Kind.ORDER])
    if earlier:
        last = earlier[-1]
        if last.status in _OPEN_CALL:
            last = _order_find(last)
        if last.status == GT.Status.SUCCEEDED:
            return Payment.objects.get(pk=last.payment_id), ""
    return None, next_attempt_reference(idempotency_reference, earlier)


def _order_find(gt: GatewayTransaction) -> GatewayTransaction:
    """An order call whose request died: the order, if the gateway made it, is looked up by our
    reference (its receipt) and handed out after all; if it made none, the call is abandoned."""
    gateway = checkout_gateway_for(gt.gateway_account)
    try:
        order = gateway.find_order(gt.reference)
    except GatewayError as exc:
        raise GatewayUnavailable(
            "The gateway could not be reached to find this checkout's order; retry shortly.",
            extra={"payment": gt.payment.public_id},
        ) from exc
    if order is None:
        if _may_be_in_flight(gt):
            raise RequestInFlight()  # its first run may still be creating it
        return _resolve_now(gt)
    result = GatewayResult(Outcome.APPROVED, order.order_id, response_code="1", message=f"order {order.status}")
    actor = Actor.system("idempotent retry")
    atomic_with_reconnect(
        lambda: _order_record(gt.payment_id, gt.pk, CallOutcome(result, None, 0), actor, open_statuses=_OPEN_CALL),
        what="order_found",
    )
    gt.refresh_from_db()
    return gt


def checkout_payment_open_order(
    *, payment: Payment, gt: GatewayTransaction, notes: dict[str, str], actor: Actor
) -> Payment:
    """Create the gateway's order for a pending checkout payment (after the caller committed).
    On failure the payment fails and GatewayUnavailable / GatewayMisconfiguredError is raised."""

    gateway = checkout_gateway_for(payment.gateway_account)
    started = time.perf_counter()
    result: GatewayResult | None = None
    error: GatewayError | None = None
    try:
        order = gateway.create_order(OrderRequest(gt.reference, payment.amount, payment.currency, notes))
        result = GatewayResult(Outcome.APPROVED, order.order_id, response_code="1", message=f"order {order.status}")
    except GatewayOutcomeUnknown as exc:
        # Never handed to the customer, so never payable: abandon rather than look it up.
        error = GatewayRetryable(f"{exc.message}; the order is abandoned")
    except GatewayError as exc:
        error = exc
    outcome = CallOutcome(result, error, int((time.perf_counter() - started) * 1000))
    payment = atomic_with_reconnect(lambda: _order_record(payment.pk, gt.pk, outcome, actor), what="order_finish")
    _raise_for(outcome, payment=payment)
    return payment


def _order_record(
    payment_id: int,
    gt_id: int,
    outcome: CallOutcome,
    actor: Actor,
    *,
    open_statuses: frozenset[str] = frozenset({GT.Status.PENDING}),
) -> Payment:
    payment = Payment.objects.select_for_update(of=("self",)).select_related("gateway_account").get(pk=payment_id)
    gt = GatewayTransaction.objects.select_for_update().get(pk=gt_id)
    if gt.status in open_statuses:
        _record_call(gt, outcome)
        order_apply_result(payment, gt, actor)
    return payment


def order_apply_result(payment: Payment, gt: GatewayTransaction, actor: Actor) -> None:
    """Under the payment's lock: the order call's recorded result, applied to its payment (pending,
    or unknown once the sweeper gave up waiting for the call)."""
    if payment.status not in {PaymentStatus.PENDING, PaymentStatus.UNKNOWN}:
        return
    before = _snapshot(payment)
    if gt.status == GT.Status.SUCCEEDED:
        payment.gateway_order_id = gt.gateway_transaction_id
        payment.save(update_fields=["gateway_order_id", "updated_at"])
        audit_record(
            actor=actor, action="payment.order_created", target=payment, after={"order": payment.gateway_order_id}
        )
        return
    payment.status = PaymentStatus.FAILED
    payment.failure_code = gt.error_code or "gateway_unavailable"
    payment.failure_message = gt.message or "The checkout order could not be created."
    payment.save(update_fields=["status", "failure_code", "failure_message", "updated_at"])
    audit_record(actor=actor, action="payment.failed", target=payment, before=before, after=_snapshot(payment))
    _publish_payment(payment, "payment.failed")


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
    before = _snapshot(payment)
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
    audit_record(actor=actor, action=action, target=payment, before=before, after=_snapshot(payment))
    _publish_payment(payment, action)
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
        _publish_payment(payment, "payment.attempt_failed")
    return payment


def checkout_payment_expire(*, payment_id: int, actor: Actor) -> Payment:
    """Nobody paid the order in time: the pending payment expires."""
    with transaction.atomic():
        payment = Payment.objects.select_for_update().get(pk=payment_id)
        if payment.status not in {PaymentStatus.PENDING, PaymentStatus.UNKNOWN}:
            return payment
        before = _snapshot(payment)
        payment.status = PaymentStatus.EXPIRED
        payment.save(update_fields=["status", "updated_at"])
        audit_record(actor=actor, action="payment.expired", target=payment, before=before, after=_snapshot(payment))
        _publish_payment(payment, "payment.expired")
    return payment


# --- charges the gateway made on its own schedule (Authorize.Net ARB) ------------------------------


def payment_record_gateway_charge(
    *,
    account: GatewayAccount,
    customer: Customer | None,
    details: TransactionDetails,
    call_reference: str,
    description: str = "",
    metadata: dict[str, Any] | None = None,
    actor: Actor,
) -> Payment:
    """Inside the caller's transaction: record a charge we did not make (the gateway's recurring
    schedule made it) as a payment, from the gateway's own account of it. `call_reference`
    identifies it for us (unique), so recording the same charge twice returns the first."""
    existing = GatewayTransaction.objects.filter(reference=call_reference).select_related("payment").first()
    if existing is not None:
        return existing.payment
    approved = details.state in {TransactionState.CAPTURED, TransactionState.SETTLED, TransactionState.AUTHORIZED}
    amount = details.authorized_amount or details.settled_amount
    payment = Payment.objects.create(
        merchant_id=account.merchant_id,
        gateway_account=account,
        customer=customer,
        livemode=account.mode == "live",
        amount=amount,
        amount_authorized=amount if approved else 0,
        amount_captured=amount if approved else 0,
        currency=details.currency or account.currency,
        status=PaymentStatus.CAPTURED if approved else PaymentStatus.FAILED,
        description=description[:255],
        metadata=metadata or {},
        card_brand=details.card_brand,
        card_last4=details.card_last4,
        gateway_transaction_id=details.transaction_id,
        failure_code="" if approved else "card_declined",
        failure_message="" if approved else (details.message or "Declined by the gateway.")[:255],
    )
    GatewayTransaction.objects.create(
        payment=payment,
        gateway_account=account,
        kind=GT.Kind.SALE,
        status=GT.Status.SUCCEEDED if approved else GT.Status.DECLINED,
        reference=call_reference,
        amount=amount,
        currency=payment.currency,
        gateway_transaction_id=details.transaction_id,
        response_code=details.response_code,
        reason_code=details.reason_code,
        message=details.message[:255],
        error_code="" if approved else "card_declined",
        completed_at=timezone.now(),
    )
    action = "payment.captured" if approved else "payment.failed"
    ledger_record_payment(payment, None)
    audit_record(actor=actor, action=action, target=payment, after=_snapshot(payment))
    _publish_payment(payment, action)
    return payment


# --- corrections from reconciliation (the gateway's settlement is the evidence) --------------------


def refund_adopt_gateway_success(*, refund: Refund, gateway_transaction_id: str, actor: Actor) -> Refund:
    """Inside the caller's transaction: the gateway settled a refund we recorded as failed (or
    never learned the outcome of). Records it as succeeded, with its ledger entry."""
    payment = Payment.objects.select_for_update(of=("self",)).get(pk=refund.payment_id)
    locked = Refund.objects.select_for_update().get(pk=refund.pk)
    if locked.status == RefundStatus.SUCCEEDED:
        return locked
    held = locked.amount if locked.status in _REFUND_HELD else 0
    if locked.amount > payment.refundable_amount + held:
        raise RefundStateError("The payment has no room left for this refund; adjust it by hand.")
    before = _snapshot(payment)
    payment.amount_refund_pending -= held
    payment.amount_refunded += locked.amount
    payment.status = _status_after_refunds(payment)
    locked.status = RefundStatus.SUCCEEDED
    locked.gateway_transaction_id = gateway_transaction_id or locked.gateway_transaction_id
    locked.failure_code = locked.failure_message = ""
    payment.save()
    locked.save()
    ledger_record_payment(payment, before, refund=locked)
    audit_record(
        actor=actor, action="refund.succeeded", target=locked, merchant_id=payment.merchant_id,
        before=before, after={**_snapshot(payment), "by": "settlement"},
    )  # fmt: skip
    _publish_refund(locked, "refund.succeeded")
    return locked


def payment_adopt_gateway_capture(
    *, payment: Payment, amount: int, gateway_transaction_id: str, actor: Actor
) -> Payment:
    """Inside the caller's transaction: the gateway settled a charge we recorded as failed,
    voided or expired. Records it as captured for the settled amount, with its ledger entry."""
    locked = Payment.objects.select_for_update(of=("self",)).get(pk=payment.pk)
    if locked.status not in {PaymentStatus.FAILED, PaymentStatus.VOIDED, PaymentStatus.EXPIRED, PaymentStatus.UNKNOWN}:
        raise PaymentStateError(
            f"Only a failed, voided, expired or unknown payment can be corrected; this one is {locked.status}."
        )
    if not 0 < amount <= locked.amount:
        raise PaymentStateError("The settled amount is more than the payment's amount; adjust it by hand.")
    before = _snapshot(locked)
    locked.amount_authorized = max(locked.amount_authorized, amount)
    locked.amount_captured = amount
    locked.gateway_transaction_id = gateway_transaction_id or locked.gateway_transaction_id
    locked.status = PaymentStatus.CAPTURED
    locked.failure_code = locked.failure_message = ""
    locked.save()
    ledger_record_payment(locked, before)
    audit_record(
        actor=actor,
        action="payment.captured",
        target=locked,
        before=before,
        after={**_snapshot(locked), "by": "settlement"},
    )
    _publish_payment(locked, "payment.captured")
    return locked


def payment_adjust_captured(*, payment: Payment, amount: int, reason: str, actor: Actor) -> Payment:
    """Inside the caller's transaction: correct what a payment captured to what the gateway
    settled (0 when it never settled). The ledger follows with a capture or a reversal."""
    locked = Payment.objects.select_for_update(of=("self",)).get(pk=payment.pk)
    floor = locked.amount_refunded + locked.amount_refund_pending
    if not floor <= amount <= locked.amount_authorized:
        raise PaymentStateError(
            f"The captured amount can only be set between what was refunded ({floor}) "
            f"and what was authorised ({locked.amount_authorized}).",
            code="adjustment_out_of_range",
        )
    before = _snapshot(locked)
    locked.amount_captured = amount
    if amount == 0:
        locked.status, locked.failure_code = PaymentStatus.FAILED, "not_settled"
        locked.failure_message = (reason or "The gateway never settled this payment.")[:255]
    elif locked.status not in {PaymentStatus.PARTIALLY_REFUNDED, PaymentStatus.REFUNDED}:
        locked.status = PaymentStatus.CAPTURED
    locked.save()
    ledger_record_payment(locked, before)
    audit_record(
        actor=actor,
        action="payment.adjusted",
        target=locked,
        before=before,
        after={**_snapshot(locked), "reason": reason},
    )
    _publish_payment(locked, "payment.adjusted")
    return locked


def refund_mark_not_settled(*, refund: Refund, reason: str, actor: Actor) -> Refund:
    """Inside the caller's transaction: a refund we recorded as succeeded never reached the
    gateway's settlement. It becomes failed and the payment's refunded amount drops back."""
    payment = Payment.objects.select_for_update(of=("self",)).get(pk=refund.payment_id)
    locked = Refund.objects.select_for_update().get(pk=refund.pk)
    if locked.status != RefundStatus.SUCCEEDED:
        raise RefundStateError(f"Only a succeeded refund can be marked as not settled; this one is {locked.status}.")
    before = _snapshot(payment)
    payment.amount_refunded -= locked.amount
    payment.status = _status_after_refunds(payment)
    locked.status, locked.failure_code = RefundStatus.FAILED, "not_settled"
    locked.failure_message = (reason or "The gateway never settled this refund.")[:255]
    payment.save()
    locked.save()
    ledger_record_payment(payment, before, refund=locked)
    audit_record(
        actor=actor,
        action="refund.failed",
        target=locked,
        merchant_id=payment.merchant_id,
        before=before,
        after=_snapshot(payment),
    )
    _publish_refund(locked, "refund.failed")
    return locked
