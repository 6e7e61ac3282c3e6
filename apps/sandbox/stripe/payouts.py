"""Payouts (`po_…`): `GET/POST /v1/payouts`, `GET /v1/payouts/{id}`, and the sandbox's payout run.

The run (what Stripe's automatic payout schedule does, run when told to) sweeps every balance
transaction of an account not yet paid out into one automatic payout per currency: charges less
their fees, refunds, disputes, failed refunds given back, and manual payouts already sent. Each
swept transaction's `payout_id` names the payout, which has a balance transaction of its own (type
`payout`, negative), so `GET /v1/balance_transactions?payout=po_…` lists what it carried. The
sandbox's bank is instant: a payout is `paid` on creation, arriving at the next whole second (after
everything it carries). Funds still pending (two days after a charge) are paid out too unless the
run is told to take available funds only: the sandbox skips the wait, as the Razorpay sandbox
skips T+2.

A manual payout (POST) takes an amount from the available balance; it sweeps nothing (Stripe lists
transactions only for automatic payouts) and is itself swept by the next automatic payout.

Discrepancy injection for tests and the demo (`stripe_settlement_discrepancy`) mirrors the other
sandboxes: `missing` holds a charge out of payouts, `amount` pays it out for another amount,
`unknown` makes a payment the merchant's system never saw, `refund_we_think_failed` makes the next
refund go through but answer with a card decline.
"""

from __future__ import annotations

from datetime import datetime, timedelta
from typing import Any

from django.db import transaction
from django.db.models import QuerySet
from django.utils import timezone

from apps.audit.actors import Actor
from apps.audit.services import audit_record
from apps.sandbox.models import SandboxFault, StripeAccount, StripeBalanceTransaction, StripeCharge, StripePaymentIntent
from apps.sandbox.models.stripe import StripePayout
from apps.sandbox.services import _settlement_discrepancy

from . import balance, lists
from . import params as check
from .context import Call
from .errors import StripeError, resource_missing
from .events import emit
from .ids import new_id
from .objects import related_id, unix
from .payment_intents import payment_intent_create

STATUSES = ("paid", "pending", "in_transit", "canceled", "failed")
CREATE_PARAMS = (
    "amount",
    "currency",
    "description",
    "destination",
    "metadata",
    "method",
    "source_type",
    "statement_descriptor",
)
DESCRIPTION = "STRIPE PAYOUT"
INSUFFICIENT_FUNDS = (
    "You have insufficient funds in your Stripe account. One likely reason you have insufficient funds is that "
    "your funds are automatically being paid out; try enabling manual payouts by going to "
    "https://dashboard.stripe.com/account/payouts."
)


def bank_account(account: StripeAccount) -> str:
    """The account's one bank account (`ba_…`), where every payout goes."""
    return f"ba_{account.stripe_id.removeprefix('acct_')}"


def payout_object(payout: StripePayout) -> dict[str, Any]:
    return {
        "id": payout.stripe_id,
        "object": "payout",
        "amount": payout.amount,
        "arrival_date": unix(payout.arrival_date),
        "automatic": payout.automatic,
        "balance_transaction": related_id(payout.balance_transaction),
        "created": unix(payout.created_at),
        "currency": payout.currency,
        "description": payout.description,
        "destination": payout.destination,
        "failure_balance_transaction": None,
        "failure_code": None,
        "failure_message": None,
        "livemode": False,
        "metadata": payout.metadata,
        "method": payout.method,
        "original_payout": None,
        "reconciliation_status": "completed" if payout.automatic else "not_applicable",
        "reversed_by": None,
        "source_type": "card",
        "statement_descriptor": payout.statement_descriptor,
        "status": payout.status,
        "type": "bank_account",
    }


def _whole_second_after(moment: datetime) -> datetime:
    """The API speaks whole seconds: a payout arriving at the next one comes after every
    transaction it carries."""
    return moment if not moment.microsecond else moment.replace(microsecond=0) + timedelta(seconds=1)


def _paid(call: Call, *, amount: int, currency: str, automatic: bool, now: datetime, **fields: Any) -> StripePayout:
    """A payout paid at once, with its own (negative) balance transaction; `payout.created` and
    `payout.paid` are emitted."""
    payout = StripePayout(
        account=call.account,
        stripe_id=new_id("po_"),
        amount=amount,
        currency=currency,
        arrival_date=_whole_second_after(now),
        automatic=automatic,
        status="paid",
        destination=bank_account(call.account),
        created_at=now,
        **fields,
    )
    payout.balance_transaction = balance.record(
        call.account,
        kind="payout",
        amount=-amount,
        currency=currency,
        source_id=payout.stripe_id,
        description=payout.description or DESCRIPTION,
    )
    payout.save()
    if automatic:
        StripeBalanceTransaction.objects.filter(pk=payout.balance_transaction.pk).update(payout_id=payout.stripe_id)
    emit(call, "payout.created", payout_object(payout))
    emit(call, "payout.paid", payout_object(payout))
    return payout


# --- the API -------------------------------------------------------------------------------------


def payout_get(call: Call, payout_id: str) -> StripePayout:
    found = (
        StripePayout.objects.select_related("balance_transaction")
        .filter(account=call.account, stripe_id=payout_id)
        .first()
    )
    if found is None:
        raise resource_missing("payout", payout_id)
    return found


def payout_retrieve(call: Call, payout_id: str, params: check.Params) -> dict[str, Any]:
    return payout_object(payout_get(call, payout_id))


def payout_list(call: Call, params: check.Params) -> dict[str, Any]:
    check.only(params, (*lists.LIST_PARAMS, "created", "arrival_date", "status", "destination"))
    arrival = {
        lookup.replace("created_at", "arrival_date"): moment
        for lookup, moment in check.created_range(params, "arrival_date").items()
    }
    found = StripePayout.objects.select_related("balance_transaction").filter(
        account=call.account, **check.created_range(params), **arrival
    )
    status = check.enum(params, "status", STATUSES)
    if status:
        found = found.filter(status=status)
    destination = check.string(params, "destination")
    if destination:
        found = found.filter(destination=destination)
    return lists.page(found, params, url="/v1/payouts", kind="payout", render=payout_object)


def payout_create(call: Call, params: check.Params) -> dict[str, Any]:
    """A manual payout of `amount` from the available balance (`balance_insufficient` beyond it)."""
    check.only(params, CREATE_PARAMS)
    currency = check.currency(params)
    amount = check.required_integer(params, "amount")
    if amount < 1:
        raise StripeError("Invalid positive integer", code="parameter_invalid_integer", param="amount")
    method = check.enum(params, "method", ("standard", "instant"), default="standard")
    check.enum(params, "source_type", ("bank_account", "card", "fpx"))
    destination = check.string(params, "destination")
    if destination and destination != bank_account(call.account):
        raise resource_missing("external account", destination, param="destination")
    fields = {
        "description": check.string(params, "description", max_length=350),
        "statement_descriptor": check.string(params, "statement_descriptor", max_length=22),
        "metadata": check.metadata(params),
        "method": method,
    }
    StripeAccount.objects.select_for_update().filter(pk=call.account.pk).first()  # one payout at a time
    now = timezone.now()
    available = balance.balances(call.account, now).get(currency, (0, 0))[0]
    if amount > available:
        raise StripeError(INSUFFICIENT_FUNDS, code="balance_insufficient")
    return payout_object(_paid(call, amount=amount, currency=currency, automatic=False, now=now, **fields))


# --- the payout run --------------------------------------------------------------------------------


def run(*, account: StripeAccount | None = None, available_only: bool = False) -> list[StripePayout]:
    """Each account's balance transactions not yet paid out (and not held back) into one automatic
    payout per currency. A currency whose total is not positive waits for more funds."""
    payouts: list[StripePayout] = []
    accounts = [account] if account is not None else list(StripeAccount.objects.order_by("pk"))
    for current in accounts:
        with transaction.atomic():
            StripeAccount.objects.select_for_update().filter(pk=current.pk).first()  # one run at a time
            now = timezone.now()
            due = StripeBalanceTransaction.objects.select_for_update().filter(
                account=current, payout_id__isnull=True, held_from_settlement=False
            )
            if available_only:
                due = due.filter(available_on__lte=now)
            rows = list(due.order_by("pk"))
            for currency in sorted({row.currency for row in rows}):
                swept = [row for row in rows if row.currency == currency]
                for row in swept:
                    if row.settle_amount is not None:  # an injected amount discrepancy
                        row.amount, row.net = row.settle_amount, row.settle_amount - row.fee
                    row.available_on = min(row.available_on, now)
                total = sum(row.net for row in swept)
                if total <= 0:
                    continue
                payout = _paid(
                    Call(account=current), amount=total, currency=currency, automatic=True, now=now,
                    description=DESCRIPTION,
                )  # fmt: skip
                for row in swept:
                    row.payout_id = payout.stripe_id
                StripeBalanceTransaction.objects.bulk_update(swept, ["amount", "net", "available_on", "payout_id"])
                payouts.append(payout)
    return payouts


def stripe_payout_run(
    *, account: StripeAccount | None = None, actor: Actor, available_only: bool = False
) -> list[StripePayout]:
    """Run the Stripe sandbox's automatic payouts now (see `run`), audited."""
    payouts = run(account=account, available_only=available_only)
    if payouts:
        with transaction.atomic():
            for payout in payouts:
                audit_record(
                    actor=actor,
                    action="sandbox.payout_paid",
                    target=payout,
                    after={
                        "payout_id": payout.stripe_id,
                        "amount": payout.amount,
                        "currency": payout.currency,
                        "transactions": StripeBalanceTransaction.objects.filter(payout_id=payout.stripe_id).count(),
                    },
                )
    return payouts


# --- discrepancy injection -------------------------------------------------------------------------


def unpaid_charges(account: StripeAccount) -> QuerySet[StripeBalanceTransaction]:
    """The account's charge balance transactions no payout has swept yet, newest first."""
    return StripeBalanceTransaction.objects.filter(account=account, type="charge", payout_id__isnull=True).order_by(
        "-pk"
    )


def intent_of(transaction_: StripeBalanceTransaction) -> str:
    """The PaymentIntent (what the merchant knows a payment by) of a charge's balance transaction."""
    charge = StripeCharge.objects.select_related("payment_intent").filter(stripe_id=transaction_.source_id).first()
    intent = related_id(charge.payment_intent) if charge is not None else None
    return intent or transaction_.source_id


def stripe_settlement_discrepancy(
    *, account: StripeAccount, kind: str, transaction_id: str = "", amount: int | None = None, actor: Actor
) -> StripeBalanceTransaction | StripePaymentIntent | SandboxFault:
    """Make the next payout disagree with the merchant's books, for tests and the demo: `missing`
    holds a charge (`transaction_id`: its PaymentIntent or charge) out of payouts, `amount` pays it
    out for `amount`, `unknown` makes a card payment of `amount` (default 42.00 USD) the merchant's
    system never saw (as if taken in the Dashboard), `refund_we_think_failed` makes the next refund
    go through but answer with a card decline. Raises StripeBalanceTransaction.DoesNotExist when the
    charge is not captured or already paid out, ValueError for a bad kind or amount."""

    def unsettled() -> StripeBalanceTransaction:
        charges = StripeCharge.objects.filter(account=account, captured=True)
        if transaction_id.startswith("ch_"):
            charges = charges.filter(stripe_id=transaction_id)
        else:
            charges = charges.filter(payment_intent__stripe_id=transaction_id)
        return (
            unpaid_charges(account)
            .select_for_update()
            .get(source_id__in=list(charges.values_list("stripe_id", flat=True)))
        )

    def unknown() -> StripePaymentIntent:
        made = payment_intent_create(
            Call(account=account),
            {
                "amount": str(amount or 4200),
                "currency": "usd",
                "payment_method": "pm_card_visa",
                "payment_method_types": {"0": "card"},
                "confirm": "true",
                "description": "Dashboard payment",
            },
        )
        return StripePaymentIntent.objects.get(stripe_id=made["id"])

    return _settlement_discrepancy(  # type: ignore[no-any-return]
        kind,
        refund_fault=("stripe", "refunds.create"),
        unknown=unknown,
        unsettled=unsettled,
        amount=amount,
        reference=transaction_id,
        actor=actor,
    )
