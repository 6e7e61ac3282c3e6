"""Disputes (`dp_…`): opened on a captured charge by `stripe_dispute_create` (tests, demos), which
withdraws the amount plus the 15.00 dispute fee from the balance and sends charge.dispute.created.
`GET /v1/disputes[/{id}]` reads them."""

from __future__ import annotations

from datetime import timedelta
from typing import Any

from django.utils import timezone

from apps.sandbox.models import StripeCharge, StripeDispute

from . import balance, lists
from . import params as check
from .context import Call
from .errors import resource_missing
from .events import emit
from .ids import new_id
from .money_objects import dispute_object

EVIDENCE_WINDOW = timedelta(days=7)
REASONS = (
    "bank_cannot_process",
    "credit_not_processed",
    "customer_initiated",
    "debit_not_authorized",
    "duplicate",
    "fraudulent",
    "general",
    "incorrect_account_details",
    "insufficient_funds",
    "product_not_received",
    "product_unacceptable",
    "subscription_canceled",
    "unrecognized",
)
RELATED = ("charge__payment_intent", "balance_transaction")


def dispute_open(call: Call, charge: StripeCharge, *, reason: str, amount: int | None = None) -> StripeDispute:
    """Open a dispute on a captured charge (row locked by the caller)."""
    if not charge.captured:
        raise ValueError(f"{charge.stripe_id} was never captured: there is nothing to dispute")
    if reason not in REASONS:
        raise ValueError(f"unknown dispute reason {reason!r}")
    disputed = amount if amount is not None else charge.amount_captured
    dispute = StripeDispute(
        account=call.account,
        stripe_id=new_id("dp_"),
        charge=charge,
        amount=disputed,
        currency=charge.currency,
        reason=reason,
        evidence_due_by=timezone.now() + EVIDENCE_WINDOW,
    )
    dispute.balance_transaction = balance.record(
        call.account,
        kind="adjustment",
        reporting_category="dispute",
        amount=-disputed,
        currency=charge.currency,
        source_id=dispute.stripe_id,
        description=f"Chargeback withdrawal for {charge.stripe_id}",
        fee=balance.DISPUTE_FEE,
        fee_description="Dispute fee",
    )
    dispute.save()
    charge.disputed = True
    charge.save(update_fields=["disputed"])
    emit(call, "charge.dispute.created", dispute_object(dispute))
    return dispute


def dispute_retrieve(call: Call, dispute_id: str, params: check.Params) -> dict[str, Any]:
    dispute = StripeDispute.objects.select_related(*RELATED).filter(account=call.account, stripe_id=dispute_id).first()
    if dispute is None:
        raise resource_missing("dispute", dispute_id)
    return dispute_object(dispute)


def dispute_list(call: Call, params: check.Params) -> dict[str, Any]:
    check.only(params, (*lists.LIST_PARAMS, "charge", "payment_intent", "created"))
    disputes = StripeDispute.objects.select_related(*RELATED).filter(
        account=call.account, **check.created_range(params)
    )
    for param, lookup in (("charge", "charge__stripe_id"), ("payment_intent", "charge__payment_intent__stripe_id")):
        value = check.string(params, param)
        if value:
            disputes = disputes.filter(**{lookup: value})
    return lists.page(disputes, params, url="/v1/disputes", kind="dispute", render=dispute_object)
