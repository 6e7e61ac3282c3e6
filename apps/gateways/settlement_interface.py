"""The gateway interface for settlement reports, which reconciliation imports, beside
apps/gateways/base.py."""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from enum import StrEnum
from typing import Protocol, runtime_checkable

from .base import Gateway

# --- settlement reports (reconciliation) ------------------------------------------------------


class SettlementLineKind(StrEnum):
    CHARGE = "charge"
    REFUND = "refund"
    ADJUSTMENT = "adjustment"  # anything else the gateway moved: a chargeback, a correction ...
    RETURN = "return"  # a bank debit the customer's bank returned after it settled (ACH return)


@dataclass(frozen=True)
class SettlementLineData:
    """One transaction in a settlement, as the gateway reports it. Amounts are positive minor units."""

    transaction_id: str
    kind: SettlementLineKind
    status: str  # the gateway's own word for it ("settledSuccessfully", "processed" ...)
    amount: int
    currency: str
    fee: int = 0
    tax: int = 0
    reference: str = ""  # our reference, where the gateway echoes it (invoiceNumber, receipt)
    parent_transaction_id: str = ""  # for a refund: the charge it returns
    occurred_at: datetime | None = None
    # For a RETURN: the ACH (NACHA) return code and its text, e.g. "R01", "Insufficient Funds".
    return_code: str = ""
    return_reason: str = ""


@dataclass(frozen=True)
class SettlementTotals:
    """A batch's totals as the gateway's own summary states them (Authorize.Net's batch
    statistics), to be checked against the sum of the batch's lines. Positive minor units."""

    charge_amount: int
    charge_count: int
    refund_amount: int
    refund_count: int


@dataclass(frozen=True)
class SettlementBatchData:
    """A settled batch (Authorize.Net) or settlement (Razorpay) with its transactions."""

    batch_id: str
    settled_at: datetime
    currency: str
    lines: list[SettlementLineData]
    # What the gateway paid out for it and the bank transfer's reference, where it reports them.
    payout_amount: int | None = None
    payout_reference: str = ""
    # The gateway's own totals for the batch, where it reports them apart from the lines.
    reported_totals: SettlementTotals | None = None


@runtime_checkable
class SettlementGateway(Gateway, Protocol):
    def settlements(self, *, since: datetime, until: datetime) -> list[SettlementBatchData]:
        """Every batch settled in [since, until), with all its transactions (all pages)."""
        ...
