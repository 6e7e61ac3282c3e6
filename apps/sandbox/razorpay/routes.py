"""Routing the Razorpay sandbox's REST paths to their operations."""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from apps.sandbox.models import RzpAccount

from .engine import (
    order_create,
    order_fetch,
    order_list,
    order_payments,
    payment_capture,
    payment_fetch,
    payment_refund,
    payment_refund_fetch,
    payment_refunds,
    refund_fetch,
    refund_list,
)
from .settlements import settlement_fetch, settlement_list, settlement_recon
from .vault import (
    customer_create,
    customer_edit,
    customer_fetch,
    customer_list,
    payment_create_recurring,
    token_delete,
    token_fetch,
    token_list,
)

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
    Route("POST", ("payments", "create", "recurring"), "payments.create_recurring", payment_create_recurring),
    Route("GET", ("payments", "{id}"), "payments.fetch", payment_fetch),
    Route("POST", ("payments", "{id}", "capture"), "payments.capture", payment_capture),
    Route("POST", ("payments", "{id}", "refund"), "payments.refund", payment_refund),
    Route("GET", ("payments", "{id}", "refunds"), "payments.refunds", payment_refunds),
    Route("GET", ("payments", "{id}", "refunds", "{id}"), "payments.refunds", payment_refund_fetch),
    Route("GET", ("refunds", "{id}"), "refunds.fetch", refund_fetch),
    Route("GET", ("refunds",), "refunds.all", refund_list),
    Route("POST", ("customers",), "customers.create", customer_create),
    Route("GET", ("customers",), "customers.all", customer_list),
    Route("GET", ("customers", "{id}"), "customers.fetch", customer_fetch),
    Route("PUT", ("customers", "{id}"), "customers.edit", customer_edit),
    Route("GET", ("customers", "{id}", "tokens"), "tokens.all", token_list),
    Route("GET", ("customers", "{id}", "tokens", "{id}"), "tokens.fetch", token_fetch),
    Route("DELETE", ("customers", "{id}", "tokens", "{id}"), "tokens.delete", token_delete),
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
