"""Many saved-card charges at once, for billing runs: one transaction before the calls, one after."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

from apps.audit.actors import Actor
from apps.audit.services import audit_record_many
from apps.core.bulk import update_rows
from apps.core.context import current_request_id
from apps.customers.models import Customer
from apps.events.services import event_publish_many
from apps.gateways.models import GatewayAccount
from apps.payments.models import GatewayTransaction, Payment

from .common import (
    GT_RESULT_FIELDS,
    PAYMENT_RESULT_FIELDS,
    CallOutcome,
    enqueue_resolution,
    fill_call,
    payment_event,
    payment_snapshot,
)
from .outcomes import charge_result
from .postings import ledger_record_payments

logger = logging.getLogger(__name__)


@dataclass(frozen=True)
class ChargeSpec:
    """One charge of a batch (charges_begin): what charge_begin takes, per charge."""

    account: GatewayAccount
    amount: int
    currency: str
    customer: Customer | None
    call_reference: str
    reference: str = ""
    description: str = ""
    metadata: dict[str, Any] | None = None
    card_brand: str = ""
    card_last4: str = ""


def charges_begin(specs: list[ChargeSpec], *, actor: Actor) -> list[tuple[Payment, GatewayTransaction]]:
    """Step 1 for many saved-card sales at once, inside the caller's transaction: the pending
    payments and their pending calls in two INSERTs, their audit events in one."""
    correlation = current_request_id() or ""
    payments = Payment.objects.bulk_create(
        Payment(
            merchant_id=spec.account.merchant_id,
            gateway_account=spec.account,
            customer=spec.customer,
            livemode=spec.account.mode == "live",
            amount=spec.amount,
            currency=spec.currency,
            capture=True,
            reference=spec.reference,
            description=spec.description,
            metadata=spec.metadata or {},
            card_brand=spec.card_brand,
            card_last4=spec.card_last4,
        )
        for spec in specs
    )
    calls = GatewayTransaction.objects.bulk_create(
        GatewayTransaction(
            payment=payment,
            gateway_account=spec.account,
            kind=GatewayTransaction.Kind.SALE,
            amount=spec.amount,
            currency=spec.currency,
            reference=spec.call_reference,
            correlation_id=correlation,
        )
        for payment, spec in zip(payments, specs, strict=True)
    )
    audit_record_many(
        [{"actor": actor, "action": "payment.created", "target": p, "after": payment_snapshot(p)} for p in payments]
    )
    return list(zip(payments, calls, strict=True))


def charges_finish(items: list[tuple[int, GatewayTransaction, CallOutcome]], *, actor: Actor) -> dict[int, Payment]:
    """Step 3 for many charges at once, inside the caller's transaction: lock the payments and
    their calls (in id order), record each result, then save, audit and publish in bulk. A call
    the resolver settled meanwhile is left as it is. Returns the payments by id."""
    payments = {
        p.pk: p
        for p in Payment.objects.select_for_update(of=("self",))
        .select_related("gateway_account", "customer")
        .filter(pk__in=[payment_id for payment_id, _, _ in items])
        .order_by("pk")
    }
    calls = {
        c.pk: c
        for c in GatewayTransaction.objects.select_for_update()
        .filter(pk__in=[gt.pk for _, gt, _ in items])
        .order_by("pk")
    }
    audits: list[dict[str, Any]] = []
    events: list[dict[str, Any]] = []
    changed_payments, changed_calls = [], []
    moved: list[tuple[Payment, dict[str, Any]]] = []
    for payment_id, gt, outcome in items:
        payment, call = payments[payment_id], calls[gt.pk]
        if call.status != GatewayTransaction.Status.PENDING:
            continue
        fill_call(call, outcome)
        before = payment_snapshot(payment)
        action = charge_result(payment, call, outcome.result)
        changed_calls.append(call)
        changed_payments.append(payment)
        moved.append((payment, before))
        audits.append(
            {"actor": actor, "action": action, "target": payment, "before": before, "after": payment_snapshot(payment)}
        )
        if action != "payment.outcome_unknown":
            events.append(payment_event(payment, action))
        if outcome.unknown:
            enqueue_resolution(call)
    update_rows(GatewayTransaction, changed_calls, GT_RESULT_FIELDS)
    update_rows(Payment, changed_payments, PAYMENT_RESULT_FIELDS)
    ledger_record_payments(moved)
    audit_record_many(audits)
    event_publish_many(events)
    return payments
