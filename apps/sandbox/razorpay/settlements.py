"""The Razorpay sandbox's settlement cycle and its settlement API (list, fetch, the combined recon report)."""

from __future__ import annotations

import secrets
import string
from collections.abc import Mapping
from datetime import UTC, datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import Prefetch
from django.utils import timezone

from apps.sandbox.models import RzpAccount, RzpPayment, RzpRefund, RzpSettlement

from . import params as check
from .entities import collection, recon_payment_item, recon_refund_item, settled_amount, settlement_entity
from .errors import RzpError, not_found
from .ids import new_id

RECON_MAX_COUNT = 1000  # the settlement report's largest page (other lists: 100)


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
    check.only(params, {"count", "skip", "from", "to"})
    queryset = RzpSettlement.objects.filter(account=account)
    return collection(settlement_entity(settlement) for settlement in check.paged(queryset, check.page(params)))


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
    year, month = check.integer(params["year"], "year"), check.integer(params["month"], "month")
    day = params.get("day")
    try:
        if day in (None, ""):
            start = datetime(year, month, 1, tzinfo=UTC)
            return start, datetime(year + month // 12, month % 12 + 1, 1, tzinfo=UTC)
        start = datetime(year, month, check.integer(day, "day"), tzinfo=UTC)
    except ValueError as exc:
        raise RzpError("The date provided is invalid.", field="day" if day else "month") from exc
    return start, start + timedelta(days=1)


def settlement_recon(account: RzpAccount, params: Mapping[str, Any]) -> dict[str, Any]:
    """GET /v1/settlements/recon/combined: every payment and refund settled in a day (or month),
    settlement by settlement, paged with count/skip."""
    check.only(params, {"year", "month", "day", "count", "skip"})
    start, end = _recon_period(params)
    count = check.integer(params.get("count", 10), "count")
    skip = check.integer(params.get("skip", 0), "skip")
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
