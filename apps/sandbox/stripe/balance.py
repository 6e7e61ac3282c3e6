"""Balance transactions (`txn_…`): one per captured charge (type charge, Stripe's 2.9 % + 30 fee),
per refund (type refund, negative), per failed refund (refund_failure, giving it back) and per
dispute (adjustment, with the 15.00 dispute fee). Funds become available two days after the
charge, at midnight UTC; refunds and disputes take effect at once. `payout_id` is left for payouts
to set (`?payout=po_…` filters on it)."""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.utils import timezone

from apps.sandbox.models import StripeAccount, StripeBalanceTransaction

from . import lists
from . import params as check
from .context import Call
from .errors import resource_missing
from .ids import new_id
from .money_objects import balance_transaction_object

FEE_PERMILLE = 29  # 2.9 %
FEE_FIXED = 30
DISPUTE_FEE = 1500
AVAILABLE_AFTER = timedelta(days=2)
TYPES = ("charge", "refund", "refund_failure", "adjustment", "payout")


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
    for param, lookup in (("payout", "payout_id"), ("type", "type"), ("source", "source_id"), ("currency", "currency")):
        value = check.string(params, param)
        if value:
            found = found.filter(**{lookup: value})
    return lists.page(
        found, params, url="/v1/balance_transactions", kind="balance_transaction", render=balance_transaction_object
    )
