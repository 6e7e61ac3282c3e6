"""Balance transactions (`txn_…`): one per captured charge (type charge, Stripe's 2.9 % + 30 fee),
per refund (type refund, negative), per failed refund (refund_failure, giving it back) and per
dispute (adjustment, with the 15.00 dispute fee). Funds become available two days after the
charge, at midnight UTC; refunds and disputes take effect at once. `payout_id` is set by the
automatic payout that sweeps it (payouts.py; `?payout=po_…` filters on it). Also `GET /v1/balance`:
the sum of the nets, available and pending, per currency."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db.models import Q, Sum
from django.utils import timezone

from apps.sandbox.models import StripeAccount, StripeBalanceTransaction
from apps.sandbox.models.stripe import StripePayout

from . import lists
from . import params as check
from .context import Call
from .errors import StripeError, resource_missing
from .ids import new_id
from .money_objects import balance_transaction_object

FEE_PERMILLE = 29  # 2.9 %
FEE_FIXED = 30
DISPUTE_FEE = 1500
AVAILABLE_AFTER = timedelta(days=2)
TYPES = ("charge", "refund", "refund_failure", "adjustment", "payout")
DEFAULT_CURRENCY = "usd"  # the sandbox account's settlement currency, shown when it has no balance yet


def processing_fee(amount: int) -> int:
    """2.9 % of the amount rounded half up to a whole minor unit, plus 30 (10.00 → 59)."""
    return (amount * FEE_PERMILLE + 500) // 1000 + FEE_FIXED


def _fee_details(amount: int, currency: str, description: str) -> list[dict[str, Any]]:
    return [
        {"amount": amount, "application": None, "currency": currency, "description": description, "type": "stripe_fee"}
    ]


def _midnight_after(moment: datetime, delay: timedelta) -> datetime:
    return (moment + delay).replace(hour=0, minute=0, second=0, microsecond=0)


def record(
    account: StripeAccount,
    *,
    kind: str,
    amount: int,
    currency: str,
    source_id: str,
    description: str | None,
    fee: int = 0,
    fee_description: str = "Stripe processing fees",
    reporting_category: str | None = None,
    available_after: timedelta | None = None,
) -> StripeBalanceTransaction:
    now = timezone.now()
    return StripeBalanceTransaction.objects.create(
        account=account,
        stripe_id=new_id("txn_"),
        type=kind,
        reporting_category=reporting_category or kind,
        amount=amount,
        fee=fee,
        net=amount - fee,
        currency=currency,
        fee_details=_fee_details(fee, currency, fee_description) if fee else [],
        source_id=source_id,
        description=description,
        available_on=_midnight_after(now, available_after) if available_after else now,
        created_at=now,
    )


def for_charge(
    account: StripeAccount, *, charge_id: str, amount: int, currency: str, description: str | None
) -> StripeBalanceTransaction:
    return record(
        account,
        kind="charge",
        amount=amount,
        currency=currency,
        source_id=charge_id,
        description=description,
        fee=processing_fee(amount),
        available_after=AVAILABLE_AFTER,
    )


def balance_transaction_retrieve(call: Call, transaction_id: str, params: check.Params) -> dict[str, Any]:
    found = StripeBalanceTransaction.objects.filter(account=call.account, stripe_id=transaction_id).first()
    if found is None:
        raise resource_missing("balance_transaction", transaction_id)
    return balance_transaction_object(found)


def balance_transaction_list(call: Call, params: check.Params) -> dict[str, Any]:
    check.only(params, (*lists.LIST_PARAMS, "payout", "type", "created", "source", "currency"))
    found = StripeBalanceTransaction.objects.filter(account=call.account, **check.created_range(params))
    payout_id = check.string(params, "payout")
    if payout_id:
        payout = StripePayout.objects.filter(account=call.account, stripe_id=payout_id).first()
        if payout is not None and not payout.automatic:
            raise StripeError(
                "Balance transaction history can only be filtered on automatic transfers, not manual.", param="payout"
            )
    for param, lookup in (("payout", "payout_id"), ("type", "type"), ("source", "source_id"), ("currency", "currency")):
        value = check.string(params, param)
        if value:
            found = found.filter(**{lookup: value})
    return lists.page(
        found, params, url="/v1/balance_transactions", kind="balance_transaction", render=balance_transaction_object
    )


def balances(account: StripeAccount, now: datetime | None = None) -> dict[str, tuple[int, int]]:
    """(available, pending) per lower-case currency: the nets of the account's balance transactions
    whose funds are available by `now`, and of those not yet available."""
    now = now or timezone.now()
    rows = (
        StripeBalanceTransaction.objects.filter(account=account)
        .values("currency")
        .annotate(
            available=Sum("net", filter=Q(available_on__lte=now)), pending=Sum("net", filter=Q(available_on__gt=now))
        )
        .order_by("currency")
    )
    return {row["currency"]: (row["available"] or 0, row["pending"] or 0) for row in rows}


def _amounts(totals: dict[str, int]) -> list[dict[str, Any]]:
    return [
        {"amount": amount, "currency": currency, "source_types": {"card": amount}}
        for currency, amount in sorted(totals.items())
    ]


def balance_retrieve(call: Call, params: check.Params) -> dict[str, Any]:
    """GET /v1/balance."""
    check.only(params, ())
    found = balances(call.account) or {DEFAULT_CURRENCY: (0, 0)}
    return {
        "object": "balance",
        "available": _amounts({currency: available for currency, (available, _) in found.items()}),
        "livemode": False,
        "pending": _amounts({currency: pending for currency, (_, pending) in found.items()}),
    }
