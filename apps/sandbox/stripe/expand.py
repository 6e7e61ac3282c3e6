"""`expand[]=latest_charge`, `expand[]=data.source`, `expand[]=latest_charge.balance_transaction`:
ids in an answer replaced by the objects they name (up to four levels, as Stripe allows)."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.db.models import Model

from apps.sandbox.models import (
    StripeAccount,
    StripeBalanceTransaction,
    StripeCharge,
    StripeCustomer,
    StripeDispute,
    StripePaymentIntent,
    StripePaymentMethod,
    StripeRefund,
    StripeSetupIntent,
)
from apps.sandbox.models.stripe import StripePayout

from . import money_objects, objects, payouts
from .errors import StripeError

MAX_DEPTH = 4

# The expandable fields (Stripe's x-expandableFields) of the objects the sandbox serves.
EXPANDABLE: dict[str, frozenset[str]] = {
    "payment_intent": frozenset(
        {"customer", "payment_method", "latest_charge", "invoice", "application", "on_behalf_of", "review"}
    ),
    "setup_intent": frozenset(
        {"customer", "payment_method", "latest_attempt", "mandate", "single_use_mandate", "application", "on_behalf_of"}
    ),
    "charge": frozenset(
        {
            "balance_transaction",
            "customer",
            "payment_intent",
            "refunds",
            "invoice",
            "application",
            "application_fee",
            "failure_balance_transaction",
            "on_behalf_of",
            "review",
            "source_transfer",
        }
    ),
    "refund": frozenset(
        {
            "balance_transaction",
            "charge",
            "payment_intent",
            "failure_balance_transaction",
            "source_transfer_reversal",
            "transfer_reversal",
        }
    ),
    "balance_transaction": frozenset({"source"}),
    "payout": frozenset({"balance_transaction"}),
    "payment_method": frozenset({"customer"}),
    "customer": frozenset({"default_source", "test_clock"}),
    "dispute": frozenset({"charge", "payment_intent"}),
    "invoice_settings": frozenset({"default_payment_method"}),  # the customer's nested hash
}

Loader = tuple[type[Model], Callable[[Any], dict[str, Any]], tuple[str, ...]]
LOADERS: dict[str, Loader] = {
    "pi_": (StripePaymentIntent, objects.payment_intent_object, ("customer", "payment_method", "latest_charge")),
    "seti_": (StripeSetupIntent, objects.setup_intent_object, ("customer", "payment_method")),
    "ch_": (
        StripeCharge,
        money_objects.charge_object,
        ("payment_method", "payment_intent", "customer", "balance_transaction"),
    ),
    "cus_": (StripeCustomer, objects.customer_object, ()),
    "pm_": (StripePaymentMethod, objects.payment_method_object, ("customer",)),
    "re_": (StripeRefund, money_objects.refund_object, ("charge__payment_intent", "balance_transaction")),
    "txn_": (StripeBalanceTransaction, money_objects.balance_transaction_object, ()),
    "dp_": (StripeDispute, money_objects.dispute_object, ("charge__payment_intent", "balance_transaction")),
    "po_": (StripePayout, payouts.payout_object, ("balance_transaction",)),
}


def load(account: StripeAccount, object_id: str) -> dict[str, Any] | None:
    for prefix, (model, render, related) in LOADERS.items():
        if object_id.startswith(prefix):
            row = model._default_manager.select_related(*related).filter(account=account, stripe_id=object_id).first()
            return render(row) if row is not None else None
    return None


def apply(account: StripeAccount, body: dict[str, Any], paths: list[str]) -> dict[str, Any]:
    for path in paths:
        parts = path.split(".")
        if len(parts) > MAX_DEPTH:
            raise StripeError(
                f"You cannot expand more than {MAX_DEPTH} levels of a property. Property: {path}", param="expand"
            )
        _expand(account, body, parts, path)
    return body


def _expand(account: StripeAccount, node: dict[str, Any], parts: list[str], path: str) -> None:
    field, rest = parts[0], parts[1:]
    if node.get("object") in ("list", "search_result") and field == "data":
        for item in node["data"]:
            if rest:
                _expand(account, item, rest, path)
        return
    kind = node.get("object") or ""
    value = node.get(field)
    if isinstance(value, dict) and "object" not in value and field in EXPANDABLE:
        if rest:  # a plain hash such as the customer's invoice_settings: look inside it
            node[field] = _inner(account, value, rest, path, field)
        return
    if field not in EXPANDABLE.get(kind, frozenset()):
        raise StripeError(f"This property cannot be expanded ({field}).", param="expand")
    if field == "refunds" and kind == "charge":
        node[field] = _charge_refunds(account, node["id"])
    elif isinstance(value, str):
        loaded = load(account, value)
        if loaded is not None:
            node[field] = loaded
    if rest and isinstance(node.get(field), dict):
        _expand(account, node[field], rest, path)


def _inner(account: StripeAccount, value: dict[str, Any], rest: list[str], path: str, kind: str) -> dict[str, Any]:
    holder = {**value, "object": kind}
    _expand(account, holder, rest, path)
    holder.pop("object")
    return holder


def _charge_refunds(account: StripeAccount, charge_id: str) -> dict[str, Any]:
    refunds = StripeRefund.objects.select_related("charge__payment_intent", "balance_transaction").filter(
        account=account, charge__stripe_id=charge_id
    )
    return objects.list_object(
        (money_objects.refund_object(refund) for refund in refunds.order_by("-pk")),
        url=f"/v1/charges/{charge_id}/refunds",
        has_more=False,
    )
