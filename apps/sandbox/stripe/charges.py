"""Charges: one per confirm attempt that reached the card network (succeeded or failed), the
capture of their money into the balance, and `GET /v1/charges[/{id}]`, `/v1/charges/search`."""

from __future__ import annotations

from typing import Any

from apps.sandbox.models import StripeCharge, StripePaymentIntent, StripePaymentMethod

from . import balance, lists, search
from . import params as check
from .cards import Decline, outcome
from .context import Call
from .errors import StripeError, resource_missing
from .events import emit
from .ids import new_id
from .money_objects import charge_object

RELATED = ("payment_method", "payment_intent", "customer", "balance_transaction")


def charge_attempt(
    call: Call,
    intent: StripePaymentIntent,
    method: StripePaymentMethod,
    *,
    decline: Decline | None,
    three_d_secure: bool,
) -> StripeCharge:
    """The charge of one authorization attempt: failed with the decline, or succeeded (uncaptured)."""
    return StripeCharge.objects.create(
        account=call.account,
        stripe_id=new_id("ch_"),
        payment_intent=intent,
        payment_method=method,
        customer=intent.customer,
        amount=intent.amount,
        currency=intent.currency,
        status=StripeCharge.Status.FAILED if decline else StripeCharge.Status.SUCCEEDED,
        failure_code=decline.code if decline else None,
        failure_message=decline.message if decline else None,
        outcome=outcome(decline),
        three_d_secure=three_d_secure,
        description=intent.description,
        receipt_email=intent.receipt_email,
        metadata=intent.metadata,
    )


def capture(call: Call, charge: StripeCharge, amount: int) -> None:
    """Capture `amount` of an authorized charge: the money enters the balance (less the fee); what
    is left of the authorization is released and shows in `amount_refunded`, as at Stripe."""
    charge.captured = True
    charge.amount_captured = amount
    charge.amount_refunded = charge.amount - amount
    charge.balance_transaction = balance.for_charge(
        call.account,
        charge_id=charge.stripe_id,
        amount=amount,
        currency=charge.currency,
        description=charge.description,
    )
    charge.save(update_fields=["captured", "amount_captured", "amount_refunded", "balance_transaction"])


def release(call: Call, charge: StripeCharge) -> None:
    """An authorization given up (the PaymentIntent canceled): refunded in full, nothing captured."""
    charge.amount_refunded = charge.amount
    charge.save(update_fields=["amount_refunded"])
    emit(call, "charge.refunded", charge_object(charge), {"amount_refunded": 0, "refunded": False})


def charge_get(call: Call, charge_id: str, *, param: str = "id", for_update: bool = False) -> StripeCharge:
    charges = StripeCharge.objects.select_related(*RELATED).filter(account=call.account, stripe_id=charge_id)
    found = (charges.select_for_update(of=("self",)) if for_update else charges).first()
    if found is None:
        raise resource_missing("charge", charge_id, param=param)
    return found


def charge_lock(charge_pk: int | None) -> StripeCharge:
    if charge_pk is None:
        raise StripeError("There is no charge to act on.")
    return StripeCharge.objects.select_related(*RELATED).select_for_update(of=("self",)).get(pk=charge_pk)


def charge_retrieve(call: Call, charge_id: str, params: check.Params) -> dict[str, Any]:
    return charge_object(charge_get(call, charge_id))


def charge_list(call: Call, params: check.Params) -> dict[str, Any]:
    check.only(params, (*lists.LIST_PARAMS, "payment_intent", "customer", "created", "transfer_group"))
    charges = StripeCharge.objects.select_related(*RELATED).filter(account=call.account, **check.created_range(params))
    for param, lookup in (("payment_intent", "payment_intent__stripe_id"), ("customer", "customer__stripe_id")):
        value = check.string(params, param)
        if value:
            charges = charges.filter(**{lookup: value})
    return lists.page(charges, params, url="/v1/charges", kind="charge", render=charge_object)


def charge_search(call: Call, params: check.Params) -> dict[str, Any]:
    check.only(params, ("query", "limit", "page"))
    query = check.required(params, "query")
    charges = StripeCharge.objects.select_related(*RELATED).filter(account=call.account)
    condition = search.parse(query, search.CHARGE_FIELDS)
    return lists.search_page(charges, condition, params, url="/v1/charges/search", render=charge_object)
