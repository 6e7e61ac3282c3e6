"""Refunds: create (by PaymentIntent or charge; the whole remainder unless `amount`), retrieve,
update, cancel, list; and `refund_advance`, the later step of Stripe's refund test cards.

Test cards decide what a refund does, as at Stripe: a charge of 4000000000007726
(`pm_card_pendingRefund`) refunds `pending` until advanced, one of 4000000000005126
(`pm_card_refundFail`) refunds `succeeded` and fails when advanced (refund.failed, the money back
on the balance). Every other card refunds `succeeded` at once.
"""

from __future__ import annotations

from typing import Any

from apps.sandbox.models import StripeCharge, StripePaymentIntent, StripeRefund

from . import balance, cards, lists
from . import params as check
from .charges import charge_get, charge_lock
from .context import Call
from .errors import StripeError, resource_missing
from .events import emit
from .ids import new_id
from .money_objects import charge_object, refund_object

Status = StripeRefund.Status
RELATED = ("charge__payment_intent", "charge__payment_method", "balance_transaction", "failure_balance_transaction")
REASONS = ("duplicate", "fraudulent", "requested_by_customer")


def _money(amount: int, currency: str) -> str:
    return f"{amount / 100:.2f} {currency}" if currency != "jpy" else f"{amount} {currency}"


def _charge_for(call: Call, params: check.Params) -> StripeCharge:
    intent_id, charge_id = check.string(params, "payment_intent"), check.string(params, "charge")
    if not intent_id and not charge_id:
        raise StripeError("Must provide either `charge` or `payment_intent`.", code="parameter_missing")
    if intent_id:
        intent = StripePaymentIntent.objects.filter(account=call.account, stripe_id=intent_id).first()
        if intent is None:
            raise resource_missing("payment_intent", intent_id, param="payment_intent")
        if intent.status == StripePaymentIntent.Status.REQUIRES_CAPTURE:
            raise StripeError(
                "This PaymentIntent has not been captured. Cancel it to release the authorized funds.",
                param="payment_intent",
            )
        if intent.status != StripePaymentIntent.Status.SUCCEEDED or intent.latest_charge_id is None:
            raise StripeError("This PaymentIntent does not have a successful charge to refund.", param="payment_intent")
        charge = charge_lock(intent.latest_charge_id)
        if charge_id and charge.stripe_id != charge_id:
            raise StripeError(
                f"The charge {charge_id} does not belong to the PaymentIntent {intent_id}.", param="charge"
            )
        return charge
    return charge_get(call, charge_id or "", param="charge", for_update=True)


def refund_create(call: Call, params: check.Params) -> dict[str, Any]:
    check.only(params, ("payment_intent", "charge", "amount", "reason", "metadata"))
    charge = _charge_for(call, params)
    if charge.status != StripeCharge.Status.SUCCEEDED:
        raise StripeError(f"Charge {charge.stripe_id} has not succeeded, so it cannot be refunded.", param="charge")
    if not charge.captured:
        raise StripeError(
            f"Charge {charge.stripe_id} has not been captured. Cancel its PaymentIntent to release "
            "the authorized funds.",
            param="charge",
        )
    refundable = charge.refundable
    if refundable <= 0:
        raise StripeError(f"Charge {charge.stripe_id} has already been refunded.", code="charge_already_refunded")
    amount = check.integer(params, "amount", minimum=1)
    amount = refundable if amount is None else amount
    if amount > refundable:
        raise StripeError(
            f"Refund amount ({_money(amount, charge.currency)}) is greater than unrefunded amount on charge "
            f"({_money(refundable, charge.currency)})",
            code="amount_too_large",
            param="amount",
        )
    refund = StripeRefund(
        account=call.account,
        stripe_id=new_id("re_"),
        charge=charge,
        amount=amount,
        currency=charge.currency,
        reason=check.enum(params, "reason", REASONS),
        metadata=check.metadata(params),
        status=Status.PENDING if charge.payment_method.scenario == cards.REFUND_PENDING else Status.SUCCEEDED,
    )
    refund.balance_transaction = balance.record(
        call.account,
        kind="refund",
        amount=-amount,
        currency=charge.currency,
        source_id=refund.stripe_id,
        description=f"REFUND FOR CHARGE ({charge.description or 'Payment'})",
    )
    refund.save()
    before = charge_object(charge)
    charge.amount_refunded += amount
    charge.save(update_fields=["amount_refunded"])
    emit(call, "refund.created", refund_object(refund))
    after = charge_object(charge)
    emit(
        call,
        "charge.refunded",
        after,
        {key: before[key] for key in ("amount_refunded", "refunded") if before[key] != after[key]},
    )
    return refund_object(refund)


def _refund(call: Call, refund_id: str, *, for_update: bool = False) -> StripeRefund:
    refunds = StripeRefund.objects.select_related(*RELATED).filter(account=call.account, stripe_id=refund_id)
    found = (refunds.select_for_update(of=("self",)) if for_update else refunds).first()
    if found is None:
        raise resource_missing("refund", refund_id)
    return found


def _changed(call: Call, refund: StripeRefund, previous: dict[str, Any]) -> None:
    emit(call, "refund.updated", refund_object(refund), previous)
    emit(call, "charge.refund.updated", refund_object(refund), previous)


def refund_retrieve(call: Call, refund_id: str, params: check.Params) -> dict[str, Any]:
    return refund_object(_refund(call, refund_id))


def refund_update(call: Call, refund_id: str, params: check.Params) -> dict[str, Any]:
    check.only(params, ("metadata",))
    refund = _refund(call, refund_id, for_update=True)
    previous = {"metadata": refund.metadata}
    refund.metadata = check.metadata(params, refund.metadata)
    refund.save(update_fields=["metadata"])
    if previous["metadata"] != refund.metadata:
        _changed(call, refund, previous)
    return refund_object(refund)


def refund_cancel(call: Call, refund_id: str, params: check.Params) -> dict[str, Any]:
    refund = _refund(call, refund_id, for_update=True)
    if refund.status != Status.PENDING:
        raise StripeError(
            f"Can't cancel a refund that is {refund.status}: only pending refunds can be canceled.", param="refund"
        )
    _give_back(call, refund, Status.CANCELED)
    return refund_object(refund)


def _give_back(call: Call, refund: StripeRefund, status: str) -> None:
    """The refund did not happen after all: its money returns to the balance and the charge."""
    previous = {"status": refund.status}
    charge = charge_lock(refund.charge_id)
    charge.amount_refunded -= refund.amount
    charge.save(update_fields=["amount_refunded"])
    refund.charge = charge
    refund.status = status
    transaction = balance.record(
        call.account,
        kind="refund_failure",
        amount=refund.amount,
        currency=refund.currency,
        source_id=refund.stripe_id,
        description=f"REFUND FAILURE FOR CHARGE ({charge.description or 'Payment'})",
    )
    if status == Status.FAILED:
        refund.failure_reason = "expired_or_canceled_card"
        refund.failure_balance_transaction = transaction
    refund.save()
    _changed(call, refund, previous)
    if status == Status.FAILED:
        emit(call, "refund.failed", refund_object(refund), previous)


def refund_advance(call: Call, refund: StripeRefund) -> bool:
    """What the bank does later with a test card's refund: a pending one succeeds, one of the
    failing card fails. False when there is nothing left to do."""
    scenario = refund.charge.payment_method.scenario
    if refund.status == Status.PENDING:
        previous = {"status": refund.status}
        refund.status = Status.SUCCEEDED
        refund.save(update_fields=["status"])
        _changed(call, refund, previous)
        return True
    if refund.status == Status.SUCCEEDED and scenario == cards.REFUND_FAILS:
        _give_back(call, refund, Status.FAILED)
        return True
    return False


def refund_list(call: Call, params: check.Params) -> dict[str, Any]:
    check.only(params, (*lists.LIST_PARAMS, "payment_intent", "charge", "created"))
    refunds = StripeRefund.objects.select_related(*RELATED).filter(account=call.account, **check.created_range(params))
    for param, lookup in (("payment_intent", "charge__payment_intent__stripe_id"), ("charge", "charge__stripe_id")):
        value = check.string(params, param)
        if value:
            refunds = refunds.filter(**{lookup: value})
    return lists.page(refunds, params, url="/v1/refunds", kind="refund", render=refund_object)
