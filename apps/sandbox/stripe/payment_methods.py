"""PaymentMethods (cards only): create, retrieve, update, attach, detach, list; and the one way
intents turn a `payment_method` / `payment_method_data` parameter into a stored card."""

from __future__ import annotations

from typing import Any

from apps.sandbox.models import StripeCustomer, StripePaymentMethod

from . import cards, lists
from . import params as check
from .context import Call
from .errors import StripeError, invalid_param, missing_param, resource_missing
from .events import emit
from .ids import new_id
from .objects import payment_method_object

BILLING_FIELDS = ("address", "email", "name", "phone")
ADDRESS_FIELDS = ("city", "country", "line1", "line2", "postal_code", "state")


def _billing_details(params: check.Params) -> dict[str, Any]:
    details = check.hash_(params, "billing_details")
    check.only(details, BILLING_FIELDS, prefix="billing_details")
    address = check.hash_(details, "address")
    check.only(address, ADDRESS_FIELDS, prefix="billing_details[address]")
    return {**{key: details[key] for key in ("email", "name", "phone") if details.get(key)}, "address": address}


def card_create(call: Call, params: check.Params, *, prefix: str = "") -> StripePaymentMethod:
    """A card from `type=card&card[...]` (or `payment_method_data[...]` when prefix is set)."""
    check.only(params, ("type", "card", "billing_details", "metadata"), prefix=prefix)
    kind = params.get("type")
    if kind in (None, ""):
        raise missing_param(f"{prefix}[type]" if prefix else "type")
    if kind != "card":
        raise invalid_param(f"{prefix}[type]" if prefix else "type", f"The sandbox only has cards, not {kind}.")
    card = check.hash_(params, "card")
    check.only(card, ("number", "exp_month", "exp_year", "cvc"), prefix="card")
    facts = cards.read_card(card)
    return _store(call, facts, billing_details=_billing_details(params), metadata=check.metadata(params))


def _store(call: Call, facts: cards.CardFacts, **extra: Any) -> StripePaymentMethod:
    return StripePaymentMethod.objects.create(
        account=call.account,
        stripe_id=new_id("pm_"),
        brand=facts.brand,
        last4=facts.last4,
        exp_month=facts.exp_month,
        exp_year=facts.exp_year,
        fingerprint=facts.fingerprint,
        funding=facts.funding,
        country=facts.country,
        scenario=facts.scenario,
        cvc_supplied=facts.cvc_supplied,
        **extra,
    )


def resolve(call: Call, value: Any, *, param: str = "payment_method") -> StripePaymentMethod:
    """A stored card from its id; `pm_card_visa` and the other test ids make a new one each time."""
    if not isinstance(value, str) or not value:
        raise missing_param(param)
    facts = cards.test_payment_method(value)
    if facts is not None:
        return _store(call, facts)
    method = StripePaymentMethod.objects.select_related("customer").filter(account=call.account, stripe_id=value)
    found = method.first()
    if found is None:
        raise resource_missing("payment_method", value, param=param)
    return found


def from_params(call: Call, params: check.Params) -> StripePaymentMethod | None:
    """The card an intent's create/confirm names: `payment_method` or `payment_method_data`."""
    if params.get("payment_method") not in (None, "") and "payment_method_data" in params:
        raise StripeError(
            "You may only specify one of these parameters: payment_method, payment_method_data.",
            param="payment_method_data",
        )
    if "payment_method_data" in params:
        return card_create(call, check.hash_(params, "payment_method_data"), prefix="payment_method_data")
    if params.get("payment_method") in (None, ""):
        return None
    return resolve(call, params["payment_method"])


def customer_get(call: Call, customer_id: str, *, param: str = "customer") -> StripeCustomer:
    customer = StripeCustomer.objects.filter(account=call.account, stripe_id=customer_id, deleted=False).first()
    if customer is None:
        raise resource_missing("customer", customer_id, param=param)
    return customer


def attach(call: Call, method: StripePaymentMethod, customer: StripeCustomer, *, set_up: bool = False) -> None:
    """Attach (idempotent for the same customer), with Stripe's checks and event."""
    if method.customer_id == customer.pk:
        if set_up and not method.set_up:
            method.set_up = True
            method.save(update_fields=["set_up"])
        return
    if method.customer_id is not None:
        raise StripeError(
            "The payment method you provided has already been attached to a customer.", param="payment_method"
        )
    if method.consumed:
        raise StripeError(
            "This PaymentMethod was previously used without being attached to a Customer or was detached from a "
            "Customer, and may not be used again.",
            param="payment_method",
        )
    method.customer = customer
    method.set_up = method.set_up or set_up
    method.save(update_fields=["customer", "set_up"])
    emit(call, "payment_method.attached", payment_method_object(method), {"customer": None})


def _method(call: Call, method_id: str, *, for_update: bool = True) -> StripePaymentMethod:
    method = StripePaymentMethod.objects.select_related("customer").filter(account=call.account, stripe_id=method_id)
    found = (method.select_for_update(of=("self",)) if for_update else method).first()
    if found is None:
        raise resource_missing("payment_method", method_id)
    return found


def payment_method_create(call: Call, params: check.Params) -> dict[str, Any]:
    return payment_method_object(card_create(call, params))


def payment_method_retrieve(call: Call, method_id: str, params: check.Params) -> dict[str, Any]:
    return payment_method_object(_method(call, method_id, for_update=False))


def payment_method_update(call: Call, method_id: str, params: check.Params) -> dict[str, Any]:
    check.only(params, ("billing_details", "metadata", "card"))
    method = _method(call, method_id)
    if "billing_details" in params:
        method.billing_details = _billing_details(params)
    card = check.hash_(params, "card")
    check.only(card, ("exp_month", "exp_year"), prefix="card")
    if card:
        facts = cards.read_card(
            {"number": "4242424242424242", "exp_month": method.exp_month, "exp_year": method.exp_year, **card}
        )
        method.exp_month, method.exp_year = facts.exp_month, facts.exp_year
    method.metadata = check.metadata(params, method.metadata)
    method.save()
    emit(call, "payment_method.updated", payment_method_object(method))
    return payment_method_object(method)


def payment_method_attach(call: Call, method_id: str, params: check.Params) -> dict[str, Any]:
    check.only(params, ("customer",))
    customer_id = check.required(params, "customer")
    method = _method(call, method_id)
    customer = customer_get(call, customer_id)
    decline = cards.setup_decline_for(method.scenario)
    if decline is not None:
        error = decline.error()
        error.commit = False  # nothing was attached
        raise error
    attach(call, method, customer)
    return payment_method_object(method)


def payment_method_detach(call: Call, method_id: str, params: check.Params) -> dict[str, Any]:
    method = _method(call, method_id)
    if method.customer is None:
        raise StripeError(
            "The payment method you provided is not attached to a customer so detachment is impossible.",
            param="payment_method",
        )
    customer = method.customer
    method.customer = None
    method.consumed = True
    method.save(update_fields=["customer", "consumed"])
    StripeCustomer.objects.filter(pk=customer.pk, default_payment_method=method.stripe_id).update(
        default_payment_method=None
    )
    emit(call, "payment_method.detached", payment_method_object(method), {"customer": customer.stripe_id})
    return payment_method_object(method)


def payment_method_list(call: Call, params: check.Params) -> dict[str, Any]:
    check.only(params, (*lists.LIST_PARAMS, "customer", "type"))
    methods = StripePaymentMethod.objects.select_related("customer").filter(account=call.account)
    customer_id = check.string(params, "customer")
    if customer_id:
        methods = methods.filter(customer=customer_get(call, customer_id))
    kind = check.string(params, "type")
    if kind:
        methods = methods.filter(type=kind)
    return lists.page(methods, params, url="/v1/payment_methods", kind="payment_method", render=payment_method_object)


def customer_payment_method_list(call: Call, customer_id: str, params: check.Params) -> dict[str, Any]:
    check.only(params, (*lists.LIST_PARAMS, "type"))
    customer = customer_get(call, customer_id)
    methods = StripePaymentMethod.objects.select_related("customer").filter(account=call.account, customer=customer)
    kind = check.string(params, "type")
    if kind:
        methods = methods.filter(type=kind)
    return lists.page(
        methods,
        params,
        url=f"/v1/customers/{customer_id}/payment_methods",
        kind="payment_method",
        render=payment_method_object,
    )


def customer_payment_method_retrieve(
    call: Call, customer_id: str, method_id: str, params: check.Params
) -> dict[str, Any]:
    customer = customer_get(call, customer_id)
    method = StripePaymentMethod.objects.select_related("customer").filter(
        account=call.account, customer=customer, stripe_id=method_id
    )
    found = method.first()
    if found is None:
        raise resource_missing("payment_method", method_id)
    return payment_method_object(found)
