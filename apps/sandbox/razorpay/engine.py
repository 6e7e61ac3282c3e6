"""The Razorpay sandbox's REST API: orders, payments and refunds, as the SDK sees them.

Each operation takes the authenticated account and the request data (JSON body for writes, query
parameters for reads) and returns the entity or collection to send, or raises RzpError.
"""

from __future__ import annotations

import base64
import binascii
import hmac
from collections.abc import Mapping
from typing import Any, TypeVar

from django.db import transaction
from django.db.models import F
from django.utils import timezone

from apps.sandbox.models import RzpAccount, RzpCustomer, RzpOrder, RzpPayment, RzpRefund, RzpSettlement

from . import params as check
from .entities import (
    collection,
    order_entity,
    payment_entity,
    refund_entity,
)
from .errors import RzpError, not_found, recurring_not_enabled
from .ids import new_id
from .notifications import rzp_notify

ModelT = TypeVar("ModelT", RzpOrder, RzpPayment, RzpRefund, RzpSettlement)

FEE_PERCENT = 2
TAX_PERCENT = 18  # GST on the fee
MAX_NOTES = 15
MAX_NOTE_LENGTH = 256
RECON_MAX_COUNT = 1000  # the settlement report's largest page (other lists: 100)


# --- authentication -----------------------------------------------------------------------------


def authenticate(authorization: str) -> RzpAccount | None:
    """The account whose key pair is in this HTTP Basic `Authorization` header, if any."""
    scheme, _, encoded = authorization.partition(" ")
    if scheme.lower() != "basic":
        return None
    try:
        key_id, _, key_secret = base64.b64decode(encoded.strip()).decode().partition(":")
    except (binascii.Error, UnicodeDecodeError):
        return None
    account = RzpAccount.objects.filter(key_id=key_id).first()
    if account is None or not hmac.compare_digest(account.key_secret.encode(), key_secret.encode()):
        return None
    return account


# --- lookups ------------------------------------------------------------------------------------


def _order(account: RzpAccount, order_id: str) -> RzpOrder:
    order = RzpOrder.objects.select_related("customer").filter(account=account, rzp_id=order_id).first()
    if order is None:
        raise not_found()
    return order


def _payment(account: RzpAccount, payment_id: str, *, for_update: bool = False) -> RzpPayment:
    queryset = RzpPayment.objects.select_related("order").filter(account=account, rzp_id=payment_id)
    payment = (queryset.select_for_update(of=("self",)) if for_update else queryset).first()
    if payment is None:
        raise not_found()
    return payment


# --- orders -------------------------------------------------------------------------------------


def order_create(account: RzpAccount, data: Mapping[str, Any]) -> dict[str, Any]:
    check.only(
        data,
        {"amount", "currency", "receipt", "notes", "partial_payment", "payment", "payment_capture"}
        | {"customer_id", "method", "token"},  # a recurring (saved card) authorisation order
    )
    customer = _order_customer(account, data)
    currency = check.currency(data.get("currency"))
    amount = check.amount(data.get("amount"), currency)
    receipt = check.receipt(data.get("receipt"))
    notes = check.notes(data.get("notes"))
    if data.get("partial_payment") not in (None, False, 0, "0", "false"):
        raise RzpError("Partial payments are not supported by the sandbox.", field="partial_payment")
    capture = _legacy_capture(data.get("payment_capture"))
    payment = data.get("payment")
    if payment is not None:
        if not isinstance(payment, dict):
            raise RzpError("The payment field must be an object.", field="payment")
        check.only(payment, {"capture", "capture_options"})
        capture_value = payment.get("capture", RzpOrder.Capture.AUTOMATIC)
        if capture_value not in RzpOrder.Capture.values:
            raise RzpError("The selected payment.capture is invalid.", field="payment.capture")
        capture = RzpOrder.Capture(capture_value)
    order = RzpOrder.objects.create(
        account=account,
        rzp_id=new_id("order_"),
        amount=amount,
        currency=currency,
        receipt=receipt,
        notes=notes,
        payment_capture=capture,
        customer=customer,
    )
    return order_entity(order)


def _order_customer(account: RzpAccount, data: Mapping[str, Any]) -> RzpCustomer | None:
    """The customer of a recurring authorisation order (`customer_id`, `method`, `token{…}`):
    `token` (max_amount, expire_at, frequency) is checked to be an object and otherwise ignored."""
    if data.get("method") not in (None, "card"):
        raise RzpError("The selected method is invalid.", field="method")
    token = data.get("token")
    if token is not None and not isinstance(token, dict):
        raise RzpError("The token field must be an object.", field="token")
    if token is not None and not account.recurring_enabled:
        raise recurring_not_enabled()
    customer_id = data.get("customer_id")
    if customer_id in (None, ""):
        return None
    customer = RzpCustomer.objects.filter(account=account, rzp_id=str(customer_id)).first()
    if customer is None:
        raise RzpError("The id provided does not exist", field="customer_id")
    return customer


def _legacy_capture(value: Any) -> RzpOrder.Capture:
    """`payment_capture` (documented beside the newer `payment.capture`): 1 or true captures
    automatically, 0 or false leaves the payment authorized for a manual capture."""
    if value in (None, 1, True, "1", "true"):
        return RzpOrder.Capture.AUTOMATIC
    if value in (0, False, "0", "false"):
        return RzpOrder.Capture.MANUAL
    raise RzpError("The payment capture field must be 0 or 1.", field="payment_capture")


def order_fetch(account: RzpAccount, order_id: str, params: Mapping[str, Any]) -> dict[str, Any]:
    return order_entity(_order(account, order_id))


def order_list(account: RzpAccount, params: Mapping[str, Any]) -> dict[str, Any]:
    check.only(params, {"count", "skip", "from", "to", "receipt", "authorized", "expand[]"})
    queryset = RzpOrder.objects.filter(account=account)
    if params.get("receipt"):
        queryset = queryset.filter(receipt=params["receipt"])
    return collection(order_entity(order) for order in check.paged(queryset, check.page(params)))


def order_payments(account: RzpAccount, order_id: str, params: Mapping[str, Any]) -> dict[str, Any]:
    order = _order(account, order_id)
    payments = order.payments.select_related("order").order_by("-created_at", "-pk")
    return collection(payment_entity(payment, expand_card=_expands_card(params)) for payment in payments)


def _expands_card(params: Mapping[str, Any]) -> bool:
    return params.get("expand[]") == "card"


# --- payments -----------------------------------------------------------------------------------


def payment_fetch(account: RzpAccount, payment_id: str, params: Mapping[str, Any]) -> dict[str, Any]:
    return payment_entity(_payment(account, payment_id), expand_card=_expands_card(params))


def fee_and_tax(amount: int) -> tuple[int, int]:
    """Razorpay's standard pricing: 2 % of the amount, plus 18 % GST on that fee, each rounded half
    up to whole paise (integers only). `fee` includes the tax, as Razorpay reports it on payments
    and in settlement reports (credit = amount - fee): ₹499.00 pays 998 + 180 = 1178 paise."""
    base = (amount * FEE_PERCENT + 50) // 100
    tax = (base * TAX_PERCENT + 50) // 100
    return base + tax, tax


def capture_locked(payment: RzpPayment) -> None:
    """Capture an authorized payment (row locked by the caller) and mark its order paid."""
    payment.status = RzpPayment.Status.CAPTURED
    payment.captured = True
    payment.captured_at = timezone.now()
    payment.fee, payment.tax = fee_and_tax(payment.amount)
    payment.save(update_fields=["status", "captured", "captured_at", "fee", "tax"])
    RzpOrder.objects.filter(pk=payment.order_id).update(
        amount_paid=F("amount_paid") + payment.amount, status=RzpOrder.Status.PAID
    )
    payment.order.refresh_from_db()
    rzp_notify(event="payment.captured", account=payment.account, payment=payment)
    rzp_notify(event="order.paid", account=payment.account, payment=payment, order=payment.order)


def payment_capture(account: RzpAccount, payment_id: str, data: Mapping[str, Any]) -> dict[str, Any]:
    with transaction.atomic():
        payment = _payment(account, payment_id, for_update=True)
        check.only(data, {"amount", "currency"})
        amount = check.amount(data.get("amount"), payment.currency, minimum=1)
        if data.get("currency") not in (None, payment.currency):
            raise RzpError("Currency should be same as payment currency", field="currency")
        if payment.captured:
            raise RzpError("This payment has already been captured")
        if payment.status != RzpPayment.Status.AUTHORIZED:
            raise RzpError("Only payments which have been authorized and not yet captured can be captured")
        if amount != payment.amount:
            raise RzpError("Capture amount must be equal to the amount authorized", field="amount")
        capture_locked(payment)
        return payment_entity(payment)


def payment_refund(account: RzpAccount, payment_id: str, data: Mapping[str, Any]) -> dict[str, Any]:
    with transaction.atomic():
        payment = _payment(account, payment_id, for_update=True)
        check.only(data, {"amount", "speed", "notes", "receipt"})
        if not payment.captured:
            raise RzpError("The payment has not been captured yet, so it cannot be refunded", field="payment_id")
        remaining = payment.amount - payment.amount_refunded
        if remaining <= 0:
            raise RzpError("The payment has been fully refunded already")
        amount = remaining if data.get("amount") is None else check.amount(data["amount"], payment.currency, minimum=1)
        if amount > remaining:
            raise RzpError("The refund amount provided is greater than amount captured.", field="amount")
        speed = data.get("speed", "normal")
        if speed not in ("normal", "optimum"):
            raise RzpError("The selected speed is invalid.", field="speed")
        refund = RzpRefund.objects.create(
            payment=payment,
            rzp_id=new_id("rfnd_"),
            amount=amount,
            currency=payment.currency,
            receipt=check.receipt(data.get("receipt")),
            notes=check.notes(data.get("notes")),
            speed_requested=speed,
        )
        payment.amount_refunded += amount
        full = payment.amount_refunded == payment.amount
        payment.refund_status = RzpPayment.RefundStatus.FULL if full else RzpPayment.RefundStatus.PARTIAL
        if full:
            payment.status = RzpPayment.Status.REFUNDED
        payment.save(update_fields=["amount_refunded", "refund_status", "status"])
        rzp_notify(event="refund.created", account=account, payment=payment, refund=refund)
        # Test-mode refunds are processed at once.
        refund.status = RzpRefund.Status.PROCESSED
        refund.speed_processed = "instant" if speed == "optimum" else "normal"
        refund.save(update_fields=["status", "speed_processed"])
        rzp_notify(event="refund.processed", account=account, payment=payment, refund=refund)
        return refund_entity(refund)


def payment_refunds(account: RzpAccount, payment_id: str, params: Mapping[str, Any]) -> dict[str, Any]:
    payment = _payment(account, payment_id)
    queryset = payment.refunds.select_related("payment")
    return collection(refund_entity(refund) for refund in check.paged(queryset, check.page(params)))


def payment_refund_fetch(
    account: RzpAccount, payment_id: str, refund_id: str, params: Mapping[str, Any]
) -> dict[str, Any]:
    refund = RzpRefund.objects.select_related("payment").filter(
        payment__account=account, payment__rzp_id=payment_id, rzp_id=refund_id
    )
    found = refund.first()
    if found is None:
        raise not_found()
    return refund_entity(found)


# --- refunds ------------------------------------------------------------------------------------


def refund_fetch(account: RzpAccount, refund_id: str, params: Mapping[str, Any]) -> dict[str, Any]:
    refund = RzpRefund.objects.select_related("payment").filter(payment__account=account, rzp_id=refund_id).first()
    if refund is None:
        raise not_found()
    return refund_entity(refund)


def refund_list(account: RzpAccount, params: Mapping[str, Any]) -> dict[str, Any]:
    check.only(params, {"count", "skip", "from", "to"})
    queryset = RzpRefund.objects.select_related("payment").filter(payment__account=account)
    return collection(refund_entity(refund) for refund in check.paged(queryset, check.page(params)))
