"""What every payment service shares: snapshots and events, calling a gateway and recording the call,
the merchant's gateway account and input checks."""

from __future__ import annotations

import logging
import time
from collections.abc import Callable
from dataclasses import dataclass
from datetime import timedelta
from typing import Any

from django.conf import settings
from django.utils import timezone

from apps.core.errors import ApplicationError
from apps.core.queueing import enqueue_on_commit
from apps.events.services import event_publish
from apps.gateways.api_errors import GatewayMisconfiguredError, PaymentDeclined, gateway_unavailable
from apps.gateways.base import (
    GatewayResult,
    Outcome,
)
from apps.gateways.errors import (
    GatewayDeclined,
    GatewayError,
    GatewayMisconfigured,
    GatewayNotFound,
    GatewayOutcomeUnknown,
    GatewayRetryable,
)
from apps.payments.models import GatewayTransaction, Payment, Refund
from apps.payments.representations import payment_representation, refund_representation

logger = logging.getLogger(__name__)


def payment_snapshot(payment: Payment) -> dict[str, Any]:
    return {
        "status": payment.status,
        "amount": payment.amount,
        "amount_authorized": payment.amount_authorized,
        "amount_captured": payment.amount_captured,
        "amount_refunded": payment.amount_refunded,
        "amount_refund_pending": payment.amount_refund_pending,
        "currency": payment.currency,
    }


def refund_snapshot(refund: Refund) -> dict[str, Any]:
    return {
        "status": refund.status,
        "amount": refund.amount,
        "currency": refund.currency,
        "payment": refund.payment.public_id,
    }


def publish_payment(payment: Payment, event_type: str) -> None:
    """The outbox event for a payment change, in the change's transaction."""
    event_publish(**payment_event(payment, event_type))


def payment_event(payment: Payment, event_type: str) -> dict[str, Any]:
    return {
        "merchant_id": payment.merchant_id,
        "livemode": payment.livemode,
        "type": event_type,
        "object_type": "payment",
        "object_id": payment.public_id,
        "data": payment_representation(payment),
    }


def publish_refund(refund: Refund, event_type: str) -> None:
    event_publish(
        merchant_id=refund.merchant_id,
        livemode=refund.payment.livemode,
        type=event_type,
        object_type="refund",
        object_id=refund.public_id,
        data=refund_representation(refund),
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


def call_gateway(function: Callable[[Any], GatewayResult], request: Any) -> CallOutcome:
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


PENDING_CALL = frozenset({GatewayTransaction.Status.PENDING})
GT_RESULT_FIELDS = [
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
PAYMENT_RESULT_FIELDS = [
    "status",
    "card_brand",
    "card_last4",
    "gateway_transaction_id",
    "amount_authorized",
    "amount_captured",
    "failure_code",
    "failure_message",
    "authentication",
    "action_url",
    "updated_at",
]


def call_mark_sent(gt: GatewayTransaction, *, was: str = GatewayTransaction.Status.PENDING) -> bool:
    """Right before a call opened ahead of time goes out (a billing batch's charge waiting its turn,
    a refund queued for a worker): claim it as sent, in one guarded UPDATE (no transaction needed).
    It becomes pending and its age starts now: the stale-call sweeper and the resolver's not-found
    grace count from created_at (the gateway search window starts there too, still before the
    call), so a call that waited its turn is not ruled "never happened" and then sent anyway.
    False when the call is no longer `was`: ruled on meanwhile, or claimed by another run of its
    sender. It must not be sent then."""
    sent_at = timezone.now()
    claimed = GatewayTransaction.objects.filter(pk=gt.pk, status=was).update(
        status=GatewayTransaction.Status.PENDING, created_at=sent_at
    )
    if claimed:
        gt.status, gt.created_at = GatewayTransaction.Status.PENDING, sent_at
    return bool(claimed)


def record_call(gt: GatewayTransaction, outcome: CallOutcome) -> None:
    fill_call(gt, outcome)
    gt.save(update_fields=GT_RESULT_FIELDS)


def record_open_call(
    gt: GatewayTransaction, outcome: CallOutcome, *, open_statuses: frozenset[str] = PENDING_CALL
) -> bool:
    """Record the call's result on its row if the row is still open (by default: pending), in the
    caller's transaction: one guarded UPDATE writing only the result's fields, no locking read.
    False when something else (the resolver) settled it first; `gt` then holds the row's result as
    that left it (read again), not this outcome. Callers read only what no one changes while a
    call is open (its kind, amount, payment) besides the fields written here."""
    fill_call(gt, outcome)
    fields = {name: getattr(gt, name) for name in GT_RESULT_FIELDS}
    if GatewayTransaction.objects.filter(pk=gt.pk, status__in=open_statuses).update(**fields) == 1:
        return True
    gt.refresh_from_db(fields=GT_RESULT_FIELDS)
    return False


def fill_call(gt: GatewayTransaction, outcome: CallOutcome) -> None:
    result, error = outcome.result, outcome.error
    if outcome.unknown:
        gt.status = GatewayTransaction.Status.UNKNOWN
    elif isinstance(error, GatewayDeclined):
        gt.status = GatewayTransaction.Status.DECLINED
    elif error is not None:
        gt.status = GatewayTransaction.Status.FAILED
    elif result is not None and result.outcome is Outcome.REQUIRES_ACTION:
        gt.status = GatewayTransaction.Status.REQUIRES_ACTION
    else:
        gt.status = GatewayTransaction.Status.SUCCEEDED
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


RESOLVE_TASK = "apps.payments.tasks.gateway_transaction_resolve"
REFUND_SEND_TASK = "apps.payments.tasks.refund_send"


def enqueue_resolution(gt: GatewayTransaction) -> None:
    enqueue_on_commit(RESOLVE_TASK, gt.pk)


# Refusals whose gateway wording says nothing to the person who asked (Authorize.Net answers a
# void of a settled charge with "The transaction cannot be found.").
_EXPLAINED = {
    "payment_already_settled": (
        "The payment has settled at the gateway, so it can no longer be voided: refund it instead."
    ),
}


# What did not happen when a call of this kind never took effect (the 503's message says so).
NOT_DONE: dict[str, str] = {
    GatewayTransaction.Kind.SALE: "nothing was charged",
    GatewayTransaction.Kind.AUTHORIZE: "nothing was charged",
    GatewayTransaction.Kind.ORDER: "nothing was charged",
    GatewayTransaction.Kind.CAPTURE: "nothing was captured",
    GatewayTransaction.Kind.VOID: "nothing was voided",
    GatewayTransaction.Kind.REFUND: "nothing was refunded",
}


def unavailable(error: GatewayError | None, *, kind: str, payment: Payment) -> Exception:
    """The API's 503 for a call of `kind` that never took effect."""
    return gateway_unavailable(error, f"{NOT_DONE[kind]}. Retry later.", extra={"payment": payment.public_id})


class GatewayRequestRefused(ApplicationError):
    """The gateway refused the request as it stands (an amount above its maximum or below its
    minimum, a state it does not allow): nothing happened there, and repeating it will not help.
    The failed payment stays and can be fetched."""

    status_code = 422
    code = "gateway_request_refused"
    default_message = "The payment gateway refused the request."


def raise_for_outcome(
    outcome: CallOutcome,
    *,
    payment: Payment,
    kind: str = GatewayTransaction.Kind.SALE,
    declined_code: str | None = None,
) -> None:
    """After the result is committed: turn a failed call of `kind` into the API's error. Every
    error is raised but an unknown outcome (the payment answers as it stands, to be confirmed)."""
    error = outcome.error
    if error is None or isinstance(error, GatewayOutcomeUnknown):
        return
    extra = {"payment": payment.public_id}
    if isinstance(error, GatewayDeclined):
        code = declined_code or error.result.decline_code or "card_declined"
        message = _EXPLAINED.get(code) or error.result.message or "Declined by the gateway."
        raise PaymentDeclined(message, code=code, extra=extra)
    if isinstance(error, GatewayRetryable):
        raise unavailable(error, kind=kind, payment=payment)
    if isinstance(error, GatewayMisconfigured | GatewayNotFound):
        raise GatewayMisconfiguredError(f"{GatewayMisconfiguredError.default_message} ({error.message})", extra=extra)
    # Any other refusal (Stripe's invalid_request_error, Razorpay's BAD_REQUEST_ERROR): the call
    # is recorded failed; the caller must hear it rather than be answered as if it had worked.
    raise GatewayRequestRefused(f"The payment gateway refused the request: {error.message}", extra=extra)


# --- retries of a request: what did its first run do? --------------------------------------------

OPEN_CALL = frozenset({GatewayTransaction.Status.PENDING, GatewayTransaction.Status.UNKNOWN})


def may_be_in_flight(gt: GatewayTransaction) -> bool:
    """A pending call younger than GATEWAY_STALE_CALL_SECONDS may still be waiting for its answer."""
    fresh = timezone.now() - timedelta(seconds=settings.GATEWAY_STALE_CALL_SECONDS)
    return gt.status == GatewayTransaction.Status.PENDING and gt.created_at > fresh


def recorded_result(gt: GatewayTransaction) -> GatewayResult:
    return GatewayResult(
        Outcome.DECLINED, gt.gateway_transaction_id, gt.response_code, gt.reason_code, gt.message,
        decline_code=gt.error_code,
    )  # fmt: skip
