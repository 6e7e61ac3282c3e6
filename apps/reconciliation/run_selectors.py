"""Reads for the reconciliation run pages: what a run imported (as money) and opened."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime

from django.db.models import Q

from apps.core.money import format_amount

from .models import DiscrepancyKind, SettlementBatch
from .models_runs import ReconciliationRun


@dataclass(frozen=True)
class ImportedBatch:
    pk: int
    account: str
    batch_id: str
    settled_at: datetime
    lines: int
    payout: str  # money, with its currency


@dataclass(frozen=True)
class OpenedKind:
    kind: str
    label: str
    count: int


def run_progress(run: ReconciliationRun) -> str:
    """ "3 of 7 days" (one account) or "3 of 14 account-days" (several)."""
    unit = "days" if len(run.account_ids) <= 1 else "account-days"
    return f"{run.days_done} of {run.days_total} {unit}"


def run_imported_batches(run: ReconciliationRun) -> list[ImportedBatch]:
    """The batches the run imported, with their payouts as money."""
    wanted = Q()
    for item in run.result.get("batches", []):
        wanted |= Q(gateway_account__public_id=item["account"], gateway_batch_id=item["batch"])
    if not wanted:
        return []
    batches = SettlementBatch.objects.filter(wanted).select_related("gateway_account").order_by("settled_at", "pk")
    return [
        ImportedBatch(
            pk=batch.pk,
            account=batch.gateway_account.public_id,
            batch_id=batch.gateway_batch_id,
            settled_at=batch.settled_at,
            lines=batch.line_count,
            payout=format_amount(batch.payout_amount, batch.currency),
        )
        for batch in batches
    ]


def run_opened_discrepancies(run: ReconciliationRun) -> list[OpenedKind]:
    """Discrepancies the run opened, by kind (known kinds first, in their declared order)."""
    opened: dict[str, int] = run.result.get("opened", {})
    labels = dict(DiscrepancyKind.choices)
    order = {kind: index for index, kind in enumerate(labels)}
    return [
        OpenedKind(kind=kind, label=labels.get(kind, kind), count=count)
        for kind, count in sorted(opened.items(), key=lambda item: (order.get(item[0], len(order)), item[0]))
        if count
    ]
