"""Batch statistics in the Authorize.Net sandbox, as getBatchStatistics and getSettledBatchList
(`includeStatistics`) report them: per account type (Visa, MasterCard, eCheck ...) the charges,
refunds, voids, declines and errors of the batch, and the chargeback and returned-item fields.

Like the real gateway's, a batch's statistics are fixed when it settles (`record`): they are the
settlement's own summary, not recomputed from its transactions at each request. A batch settled
before statistics were kept has none stored, and is summarised from its transactions.
"""

from __future__ import annotations

from typing import Any

from apps.core.money import to_decimal
from apps.sandbox.models import AnetBatch, AnetTransaction

from .xml import Builder

# batchStatisticType's elements, in the XSD's order: amounts are minor units here, written as
# decimals; every field is reported, zero when nothing of its kind happened.
AMOUNT_FIELDS = frozenset(
    {
        "chargeAmount", "refundAmount", "returnedItemAmount", "chargebackAmount", "chargeChargeBackAmount",
        "refundChargeBackAmount", "chargeReturnedItemsAmount", "refundReturnedItemsAmount",
    }
)  # fmt: skip
FIELDS = (
    "chargeAmount", "chargeCount", "refundAmount", "refundCount", "voidCount", "declineCount", "errorCount",
    "returnedItemAmount", "returnedItemCount", "chargebackAmount", "chargebackCount", "correctionNoticeCount",
    "chargeChargeBackAmount", "chargeChargeBackCount", "refundChargeBackAmount", "refundChargeBackCount",
    "chargeReturnedItemsAmount", "chargeReturnedItemsCount", "refundReturnedItemsAmount", "refundReturnedItemsCount",
)  # fmt: skip

_STATUS_FIELDS: dict[str, tuple[str, str]] = {
    AnetTransaction.Status.SETTLED: ("chargeAmount", "chargeCount"),
    AnetTransaction.Status.REFUND_SETTLED: ("refundAmount", "refundCount"),
}


def compute(batch: AnetBatch) -> list[dict[str, Any]]:
    """The batch's statistics from its transactions, one entry per account type."""
    by_type: dict[str, dict[str, Any]] = {}
    for card_type, status, amount in batch.transactions.values_list("card_type", "status", "settle_amount"):
        entry = by_type.setdefault(
            card_type or "Visa", {"accountType": card_type or "Visa", **dict.fromkeys(FIELDS, 0)}
        )
        fields = _STATUS_FIELDS.get(status)
        if fields is None:
            continue  # voids and declines never join a batch in the sandbox: their counts stay 0
        amount_field, count_field = fields
        entry[amount_field] += amount
        entry[count_field] += 1
    return [by_type[name] for name in sorted(by_type)]


def record(batch: AnetBatch) -> None:
    """Fix the statistics of a batch that has just settled (inside the settlement's transaction)."""
    batch.statistics = compute(batch)
    batch.save(update_fields=["statistics"])


def of(batch: AnetBatch) -> list[dict[str, Any]]:
    return batch.statistics or compute(batch)


def write(builder: Builder, parent: Any, batch: AnetBatch) -> None:
    """The batch's <statistics> element (after its product, as batchDetailsType orders it)."""
    entries = of(batch)
    if not entries:
        return
    currency = batch.account.currency
    node = builder.add(parent, "statistics")
    for entry in entries:
        item = builder.add(node, "statistic")
        builder.add(item, "accountType", entry["accountType"])
        for name in FIELDS:
            value = int(entry.get(name, 0))
            builder.add(item, name, f"{to_decimal(value, currency):.2f}" if name in AMOUNT_FIELDS else value)
