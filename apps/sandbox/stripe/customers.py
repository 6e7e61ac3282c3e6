"""Customers: create, retrieve, update, delete, list, search."""

from __future__ import annotations

from typing import Any

from apps.sandbox.models import StripeCustomer

from . import lists, search
from . import params as check
from .context import Call
from .errors import resource_missing
from .events import changed, emit
from .ids import new_id
from .objects import customer_object
from .payment_methods import attach, customer_get, resolve

FIELDS = ("email", "name", "phone", "description")
LENGTHS = {"email": 512, "name": 256, "phone": 20, "description": 350}


def _fields(customer: StripeCustomer, params: check.Params) -> None:
    for field in FIELDS:
        if field in params:
            setattr(customer, field, check.string(params, field, max_length=LENGTHS[field]))
    customer.metadata = check.metadata(params, customer.metadata)


def _default_payment_method(call: Call, customer: StripeCustomer, params: check.Params) -> None:
    settings = check.hash_(params, "invoice_settings")
    check.only(
        settings, ("default_payment_method", "custom_fields", "footer", "rendering_options"), prefix="invoice_settings"
    )
    if "default_payment_method" not in settings:
        return
    value = settings["default_payment_method"]
    if value in (None, ""):
        customer.default_payment_method = None
        return
    method = resolve(call, value, param="invoice_settings[default_payment_method]")
    if method.customer_id != customer.pk:
        raise resource_missing("payment_method", str(value), param="invoice_settings[default_payment_method]")
    customer.default_payment_method = method.stripe_id


def customer_create(call: Call, params: check.Params) -> dict[str, Any]:
    check.only(params, (*FIELDS, "metadata", "payment_method", "invoice_settings"))
    customer = StripeCustomer(account=call.account, stripe_id=new_id("cus_", 14))
    _fields(customer, params)
    customer.save()
    if params.get("payment_method"):
        attach(call, resolve(call, params["payment_method"]), customer)
    _default_payment_method(call, customer, params)
    customer.save()
    emit(call, "customer.created", customer_object(customer))
    return customer_object(customer)


def customer_retrieve(call: Call, customer_id: str, params: check.Params) -> dict[str, Any]:
    customer = StripeCustomer.objects.filter(account=call.account, stripe_id=customer_id).first()
    if customer is None:
        raise resource_missing("customer", customer_id)
    return customer_object(customer)


def customer_update(call: Call, customer_id: str, params: check.Params) -> dict[str, Any]:
    check.only(params, (*FIELDS, "metadata", "invoice_settings"))
    customer = customer_get(call, customer_id, param="id")
    before = customer_object(customer)
    _fields(customer, params)
    _default_payment_method(call, customer, params)
    customer.save()
    after = customer_object(customer)
    previous = changed(before, after)
    if previous:
        emit(call, "customer.updated", after, previous)
    return after


def customer_delete(call: Call, customer_id: str, params: check.Params) -> dict[str, Any]:
    customer = customer_get(call, customer_id, param="id")
    last = customer_object(customer)
    customer.deleted = True
    customer.save(update_fields=["deleted"])
    customer.payment_methods.update(customer=None, consumed=True)
    emit(call, "customer.deleted", last)
    return customer_object(customer)


def customer_list(call: Call, params: check.Params) -> dict[str, Any]:
    check.only(params, (*lists.LIST_PARAMS, "email", "created", "test_clock"))
    customers = StripeCustomer.objects.filter(account=call.account, deleted=False, **check.created_range(params))
    email = check.string(params, "email")
    if email:
        customers = customers.filter(email=email)
    return lists.page(customers, params, url="/v1/customers", kind="customer", render=customer_object)


def customer_search(call: Call, params: check.Params) -> dict[str, Any]:
    check.only(params, ("query", "limit", "page"))
    query = check.required(params, "query")
    condition = search.parse(query, search.CUSTOMER_FIELDS)
    customers = StripeCustomer.objects.filter(account=call.account, deleted=False)
    return lists.search_page(customers, condition, params, url="/v1/customers/search", render=customer_object)
