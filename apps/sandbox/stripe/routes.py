"""The Stripe sandbox's v1 paths and the operation (fault-injection and SandboxCall name) of each."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from . import (
    balance,
    charges,
    customers,
    disputes,
    events,
    payment_intents,
    payment_methods,
    payouts,
    refunds,
    setup_intents,
    webhooks,
)

Handler = Callable[..., dict[str, Any]]


@dataclass(frozen=True)
class Route:
    method: str
    parts: tuple[str, ...]  # "{id}" marks an id segment
    operation: str
    handler: Handler
    publishable: bool = False  # also open to the publishable key (what Stripe.js calls)


def _crud(resource: str, module: Any, name: str, *, delete: bool = False) -> list[Route]:
    routes = [
        Route("POST", (resource,), f"{resource}.create", getattr(module, f"{name}_create")),
        Route("GET", (resource,), f"{resource}.list", getattr(module, f"{name}_list")),
        Route("GET", (resource, "{id}"), f"{resource}.retrieve", getattr(module, f"{name}_retrieve")),
        Route("POST", (resource, "{id}"), f"{resource}.update", getattr(module, f"{name}_update")),
    ]
    if delete:
        routes.append(Route("DELETE", (resource, "{id}"), f"{resource}.delete", getattr(module, f"{name}_delete")))
    return routes


ROUTES: tuple[Route, ...] = (
    Route("GET", ("payment_intents", "search"), "payment_intents.search", payment_intents.payment_intent_search),
    Route(
        "POST",
        ("payment_intents", "{id}", "confirm"),
        "payment_intents.confirm",
        payment_intents.payment_intent_confirm,
        publishable=True,
    ),
    Route(
        "POST",
        ("payment_intents", "{id}", "capture"),
        "payment_intents.capture",
        payment_intents.payment_intent_capture,
    ),
    Route(
        "POST", ("payment_intents", "{id}", "cancel"), "payment_intents.cancel", payment_intents.payment_intent_cancel
    ),
    Route(
        "GET",
        ("payment_intents", "{id}"),
        "payment_intents.retrieve",
        payment_intents.payment_intent_retrieve,
        publishable=True,
    ),
    *_crud("payment_intents", payment_intents, "payment_intent"),
    Route(
        "POST", ("payment_methods",), "payment_methods.create", payment_methods.payment_method_create, publishable=True
    ),
    Route(
        "POST", ("payment_methods", "{id}", "attach"), "payment_methods.attach", payment_methods.payment_method_attach
    ),
    Route(
        "POST", ("payment_methods", "{id}", "detach"), "payment_methods.detach", payment_methods.payment_method_detach
    ),
    *_crud("payment_methods", payment_methods, "payment_method"),
    Route("GET", ("customers", "search"), "customers.search", customers.customer_search),
    Route(
        "GET",
        ("customers", "{id}", "payment_methods"),
        "customers.list_payment_methods",
        payment_methods.customer_payment_method_list,
    ),
    Route(
        "GET",
        ("customers", "{id}", "payment_methods", "{id}"),
        "customers.retrieve_payment_method",
        payment_methods.customer_payment_method_retrieve,
    ),
    *_crud("customers", customers, "customer", delete=True),
    Route(
        "POST",
        ("setup_intents", "{id}", "confirm"),
        "setup_intents.confirm",
        setup_intents.setup_intent_confirm,
        publishable=True,
    ),
    Route("POST", ("setup_intents", "{id}", "cancel"), "setup_intents.cancel", setup_intents.setup_intent_cancel),
    Route(
        "GET",
        ("setup_intents", "{id}"),
        "setup_intents.retrieve",
        setup_intents.setup_intent_retrieve,
        publishable=True,
    ),
    *_crud("setup_intents", setup_intents, "setup_intent"),
    Route("GET", ("charges", "search"), "charges.search", charges.charge_search),
    Route("GET", ("charges",), "charges.list", charges.charge_list),
    Route("GET", ("charges", "{id}"), "charges.retrieve", charges.charge_retrieve),
    Route("POST", ("refunds", "{id}", "cancel"), "refunds.cancel", refunds.refund_cancel),
    *_crud("refunds", refunds, "refund"),
    Route("GET", ("balance_transactions",), "balance_transactions.list", balance.balance_transaction_list),
    Route(
        "GET", ("balance_transactions", "{id}"), "balance_transactions.retrieve", balance.balance_transaction_retrieve
    ),
    Route("GET", ("balance",), "balance.retrieve", balance.balance_retrieve),
    Route("POST", ("payouts",), "payouts.create", payouts.payout_create),
    Route("GET", ("payouts",), "payouts.list", payouts.payout_list),
    Route("GET", ("payouts", "{id}"), "payouts.retrieve", payouts.payout_retrieve),
    *_crud("webhook_endpoints", webhooks, "webhook_endpoint", delete=True),
    Route("GET", ("events",), "events.list", events.event_list),
    Route("GET", ("events", "{id}"), "events.retrieve", events.event_retrieve),
    Route("GET", ("disputes",), "disputes.list", disputes.dispute_list),
    Route("GET", ("disputes", "{id}"), "disputes.retrieve", disputes.dispute_retrieve),
)


def resolve(method: str, path: str) -> tuple[Route, list[str]] | None:
    """The route for `POST payment_intents/pi_X/confirm`, with the ids it names; None if none."""
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
