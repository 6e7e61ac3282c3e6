"""The Razorpay sandbox's REST API: orders, payments, refunds and settlements, as the SDK sees them.

Each operation takes the authenticated account and the request data (JSON body for writes, query
parameters for reads) and returns the entity or collection to send, or raises RzpError.
"""

from __future__ import annotations

import base64
import binascii
import hmac
import secrets
import string
from collections.abc import Callable, Mapping
from dataclasses import dataclass
from datetime import UTC, datetime, timedelta
from typing import Any, TypeVar

from django.db import transaction
from django.db.models import F, Prefetch, QuerySet
from django.utils import timezone

from apps.core.money import SUPPORTED_CURRENCIES
from apps.sandbox.models import RzpAccount, RzpOrder, RzpPayment, RzpRefund, RzpSettlement

from .entities import (
    collection,
    order_entity,
    payment_entity,
    recon_payment_item,
    recon_refund_item,
    refund_entity,
    settled_amount,
    settlement_entity,
)
from .errors import RzpError, not_found
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


# --- validation ---------------------------------------------------------------------------------


def _only(data: Mapping[str, Any], allowed: set[str]) -> None:
    extra = [key for key in data if key not in allowed]
    if extra:
        raise RzpError(f"{', '.join(extra)} is/are not required and should not be sent", field=extra[0])


def _integer(value: Any, field: str) -> int:
    if isinstance(value, bool):
        raise RzpError(f"The {field} must be an integer.", field=field)
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    raise RzpError(f"The {field} must be an integer.", field=field)


def _amount(value: Any, currency: str, *, minimum: int = 100) -> int:
    if value is None or value == "":
        raise RzpError("The amount field is required.", field="amount")
    amount = _integer(value, "amount")
    if amount < minimum:
        raise RzpError(f"The amount must be at least {currency} 1.00", field="amount")
    return amount


def _currency(value: Any) -> str:
    if value is None:
        return "INR"
    if not isinstance(value, str) or value.upper() not in SUPPORTED_CURRENCIES:
        raise RzpError("Currency is not supported", field="currency")
    return value.upper()


def _receipt(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 40:
        raise RzpError("The receipt may not be greater than 40 characters.", field="receipt")
    return value


def _notes(value: Any) -> dict[str, Any]:
    if value is None or value == []:
        return {}
    if not isinstance(value, dict):
        raise RzpError("The notes field should be an array.", field="notes")
    if len(value) > MAX_NOTES:
        raise RzpError(f"Number of fields in notes should be less than or equal to {MAX_NOTES}", field="notes")
    for key, note in value.items():
        if not isinstance(note, str | int) or isinstance(note, bool) or len(str(note)) > MAX_NOTE_LENGTH:
            raise RzpError(f"The notes.{key} may not be greater than {MAX_NOTE_LENGTH} characters.", field="notes")
    return value


@dataclass(frozen=True)
class Page:
    count: int
    skip: int
    since: datetime | None
    until: datetime | None


def _page(params: Mapping[str, Any]) -> Page:
    count = _integer(params.get("count", 10), "count")
    skip = _integer(params.get("skip", 0), "skip")
    if not 1 <= count <= 100:
        raise RzpError("The count must be between 1 and 100.", field="count")
    since = params.get("from")
    until = params.get("to")
    return Page(
        count=count,
        skip=skip,
        since=datetime.fromtimestamp(_integer(since, "from"), UTC) if since not in (None, "") else None,
        until=datetime.fromtimestamp(_integer(until, "to"), UTC) if until not in (None, "") else None,
    )


def _paged(queryset: QuerySet[ModelT], page: Page) -> list[ModelT]:
    if page.since is not None:
        queryset = queryset.filter(created_at__gte=page.since)
    if page.until is not None:
        queryset = queryset.filter(created_at__lte=page.until)
    return list(queryset.order_by("-created_at", "-pk")[page.skip : page.skip + page.count])


# --- lookups ------------------------------------------------------------------------------------


def _order(account: RzpAccount, order_id: str) -> RzpOrder:
    order = RzpOrder.objects.filter(account=account, rzp_id=order_id).first()
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
    _only(data, {"amount", "currency", "receipt", "notes", "partial_payment", "payment"})
    currency = _currency(data.get("currency"))
    amount = _amount(data.get("amount"), currency)
    receipt = _receipt(data.get("receipt"))
    notes = _notes(data.get("notes"))
    if data.get("partial_payment") not in (None, False, 0, "0", "false"):
        raise RzpError("Partial payments are not supported by the sandbox.", field="partial_payment")
    capture = RzpOrder.Capture.AUTOMATIC
    payment = data.get("payment")
    if payment is not None:
        if not isinstance(payment, dict):
            raise RzpError("The payment field must be an object.", field="payment")
        _only(payment, {"capture", "capture_options"})
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
    )
    return order_entity(order)


def order_fetch(account: RzpAccount, order_id: str, params: Mapping[str, Any]) -> dict[str, Any]:
    return order_entity(_order(account, order_id))


def order_list(account: RzpAccount, params: Mapping[str, Any]) -> dict[str, Any]:
    _only(params, {"count", "skip", "from", "to", "receipt", "authorized", "expand[]"})
    queryset = RzpOrder.objects.filter(account=account)
    if params.get("receipt"):
        queryset = queryset.filter(receipt=params["receipt"])
    return collection(order_entity(order) for order in _paged(queryset, _page(params)))


def order_payments(account: RzpAccount, order_id: str, params: Mapping[str, Any]) -> dict[str, Any]:
    order = _order(account, order_id)
    payments = order.payments.select_related("order").order_by("-created_at", "-pk")
    return collection(payment_entity(payment) for payment in payments)


# --- payments -----------------------------------------------------------------------------------


def payment_fetch(account: RzpAccount, payment_id: str, params: Mapping[str, Any]) -> dict[str, Any]:
    return payment_entity(_payment(account, payment_id))


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
        _only(data, {"amount", "currency"})
        amount = _amount(data.get("amount"), payment.currency, minimum=1)
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
        _only(data, {"amount", "speed", "notes", "receipt"})
        if not payment.captured:
            raise RzpError("The payment has not been captured yet, so it cannot be refunded", field="payment_id")
        remaining = payment.amount - payment.amount_refunded
        if remaining <= 0:
            raise RzpError("The payment has been fully refunded already")
        amount = remaining if data.get("amount") is None else _amount(data["amount"], payment.currency, minimum=1)
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
            receipt=_receipt(data.get("receipt")),
            notes=_notes(data.get("notes")),
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
    return collection(refund_entity(refund) for refund in _paged(queryset, _page(params)))


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
    _only(params, {"count", "skip", "from", "to"})
    queryset = RzpRefund.objects.select_related("payment").filter(payment__account=account)
    return collection(refund_entity(refund) for refund in _paged(queryset, _page(params)))


# --- settlements ----------------------------------------------------------------------------------


def _whole_second_after(moment: datetime) -> datetime:
    """The API speaks whole seconds: a settlement stamped at the next one comes after every
    movement it carries, and after everything the merchant booked before it (as a T+2 one does)."""
    return moment if not moment.microsecond else moment.replace(microsecond=0) + timedelta(seconds=1)


def _utr(moment: datetime) -> str:
    """A bank transfer reference shaped like Razorpay's (`1568176960vxp0rj`)."""
    alphabet = string.ascii_lowercase + string.digits
    return f"{int(moment.timestamp())}" + "".join(secrets.choice(alphabet) for _ in range(6))


def settle(*, account: RzpAccount | None = None) -> list[RzpSettlement]:
    """The settlement cycle, run when told to (the real one runs T+2 working days after capture):
    each account's captured, unsettled payments (less their fees) and processed, unsettled refunds
    go into one settlement per currency, paid out at once (processed, with a UTR). Refunds reduce
    the payout and carry no fee; payments held out by a discrepancy injection stay behind."""
    settlements: list[RzpSettlement] = []
    accounts = [account] if account is not None else list(RzpAccount.objects.order_by("pk"))
    for current in accounts:
        with transaction.atomic():
            payments = list(
                RzpPayment.objects.select_for_update()
                .filter(account=current, captured=True, settlement__isnull=True, held_from_settlement=False)
                .order_by("pk")
            )
            refunds = list(
                RzpRefund.objects.select_for_update(of=("self",))
                .filter(payment__account=current, status=RzpRefund.Status.PROCESSED, settlement__isnull=True)
                .order_by("pk")
            )
            if not payments and not refunds:
                continue
            at = _whole_second_after(timezone.now())
            for currency in sorted({p.currency for p in payments} | {r.currency for r in refunds}):
                credited = [p for p in payments if p.currency == currency]
                debited = [r for r in refunds if r.currency == currency]
                fees = sum(p.fee or 0 for p in credited)
                settlement = RzpSettlement.objects.create(
                    account=current,
                    rzp_id=new_id("setl_"),
                    currency=currency,
                    amount=sum(settled_amount(p) for p in credited) - fees - sum(r.amount for r in debited),
                    fees=fees,
                    tax=sum(p.tax or 0 for p in credited),
                    utr=_utr(at),
                    status=RzpSettlement.Status.PROCESSED,
                    created_at=at,
                )
                RzpPayment.objects.filter(pk__in=[p.pk for p in credited]).update(settlement=settlement)
                RzpRefund.objects.filter(pk__in=[r.pk for r in debited]).update(settlement=settlement)
                settlements.append(settlement)
    return settlements


def settlement_list(account: RzpAccount, params: Mapping[str, Any]) -> dict[str, Any]:
    _only(params, {"count", "skip", "from", "to"})
    queryset = RzpSettlement.objects.filter(account=account)
    return collection(settlement_entity(settlement) for settlement in _paged(queryset, _page(params)))


def settlement_fetch(account: RzpAccount, settlement_id: str, params: Mapping[str, Any]) -> dict[str, Any]:
    settlement = RzpSettlement.objects.filter(account=account, rzp_id=settlement_id).first()
    if settlement is None:
        raise not_found()
    return settlement_entity(settlement)


def _recon_period(params: Mapping[str, Any]) -> tuple[datetime, datetime]:
    """[start, end) of the report's day, or of its month without `day`. The sandbox's days are UTC
    days (the real service's may be Indian ones: the adapter reads items by their `settled_at`)."""
    for required in ("year", "month"):
        if params.get(required) in (None, ""):
            raise RzpError(f"The {required} field is required.", field=required)
    year, month = _integer(params["year"], "year"), _integer(params["month"], "month")
    day = params.get("day")
    try:
        if day in (None, ""):
            start = datetime(year, month, 1, tzinfo=UTC)
            return start, datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
        start = datetime(year, month, _integer(day, "day"), tzinfo=UTC)
    except ValueError as exc:
        raise RzpError("The date provided is invalid.", field="day" if day else "month") from exc
    return start, start + timedelta(days=1)


def settlement_recon(account: RzpAccount, params: Mapping[str, Any]) -> dict[str, Any]:
    """GET /v1/settlements/recon/combined: every payment and refund settled in a day (or month),
    settlement by settlement, paged with count/skip."""
    _only(params, {"year", "month", "day", "count", "skip"})
    start, end = _recon_period(params)
    count = _integer(params.get("count", 10), "count")
    skip = _integer(params.get("skip", 0), "skip")
    if not 1 <= count <= RECON_MAX_COUNT:
        raise RzpError(f"The count must be between 1 and {RECON_MAX_COUNT}.", field="count")
    settlements = (
        RzpSettlement.objects.filter(account=account, created_at__gte=start, created_at__lt=end)
        .order_by("created_at", "pk")
        .prefetch_related(
            Prefetch("payments", queryset=RzpPayment.objects.select_related("order").order_by("pk")),
            Prefetch("refunds", queryset=RzpRefund.objects.select_related("payment__order").order_by("pk")),
        )
    )
    items: list[dict[str, Any]] = []
    for settlement in settlements:
        items += [recon_payment_item(payment, settlement) for payment in settlement.payments.all()]
        items += [recon_refund_item(refund, settlement) for refund in settlement.refunds.all()]
    return collection(items[skip : skip + count])


# --- routing ------------------------------------------------------------------------------------

Handler = Callable[..., dict[str, Any]]


@dataclass(frozen=True)
class Route:
    method: str
    parts: tuple[str, ...]  # "{id}" marks an id segment
    operation: str  # the fault-injection match name
    handler: Handler


ROUTES = (
    Route("POST", ("orders",), "orders.create", order_create),
    Route("GET", ("orders",), "orders.all", order_list),
    Route("GET", ("orders", "{id}"), "orders.fetch", order_fetch),
    Route("GET", ("orders", "{id}", "payments"), "orders.payments", order_payments),
    Route("GET", ("payments", "{id}"), "payments.fetch", payment_fetch),
    Route("POST", ("payments", "{id}", "capture"), "payments.capture", payment_capture),
    Route("POST", ("payments", "{id}", "refund"), "payments.refund", payment_refund),
    Route("GET", ("payments", "{id}", "refunds"), "payments.refunds", payment_refunds),
    Route("GET", ("payments", "{id}", "refunds", "{id}"), "payments.refunds", payment_refund_fetch),
    Route("GET", ("refunds", "{id}"), "refunds.fetch", refund_fetch),
    Route("GET", ("refunds",), "refunds.all", refund_list),
    Route("GET", ("settlements",), "settlements.all", settlement_list),
    Route("GET", ("settlements", "recon", "combined"), "settlements.report", settlement_recon),
    Route("GET", ("settlements", "{id}"), "settlements.fetch", settlement_fetch),
)


def resolve(method: str, path: str) -> tuple[Route, list[str]] | None:
    """The route for `GET orders/order_X/payments`, with the ids it names; None if there is none."""
    parts = tuple(part for part in path.strip("/").split("/") if part)
    for route in ROUTES:
        if route.method != method or len(route.parts) != len(parts):
            continue
        ids = []
        for expected, actual in zip(route.parts, parts, strict=True):
            if expected == "{id}":
                ids.append(actual)
            elif expected != actual:
                break
        else:
            return route, ids
    return None


def handle(route: Route, account: RzpAccount, ids: list[str], data: Mapping[str, Any]) -> dict[str, Any]:
    return route.handler(account, *ids, data)
