"""Reads for the discrepancy queue: which resolutions apply and what each would post."""

from __future__ import annotations

from dataclasses import dataclass

from apps.core.money import format_amount
from apps.ledger.models import EntryKind

from .discrepancies import discrepancy_residual
from .models import Discrepancy, DiscrepancyKind, LineKind, Resolution


@dataclass(frozen=True)
class ResolutionChoice:
    value: str
    label: str
    effect: str


def resolutions_for(d: Discrepancy) -> list[ResolutionChoice]:
    """The resolutions that apply to an open discrepancy, each with what it would do."""
    if d.status != Discrepancy.Status.OPEN:
        return []
    residual = discrepancy_residual(d)
    money = format_amount(abs(residual), d.currency)
    line = d.line
    choices = []
    if d.kind == DiscrepancyKind.CURRENCY_MISMATCH:
        choices.append(
            ResolutionChoice(
                Resolution.ACCEPT_GATEWAY,
                "Accept the gateway's view",
                "Clears our amount from the receivable in our currency and books what arrived in the gateway's, "
                "both against reconciliation adjustments.",
            )
        )
    elif d.kind == DiscrepancyKind.BATCH_TOTALS:
        choices.append(
            ResolutionChoice(
                Resolution.ACCEPT_GATEWAY,
                "Accept the gateway's view",
                "Posts nothing: the batch's transactions, each matched on its own, stand.",
            )
        )
    elif residual:
        direction = "we are owed and did not get" if residual > 0 else "the gateway settled beyond our books"
        choices.append(
            ResolutionChoice(
                Resolution.ACCEPT_GATEWAY,
                "Accept the gateway's view",
                f"Books {money} ({direction}) from the receivable to reconciliation adjustments.",
            )
        )
    adjustable = {
        DiscrepancyKind.AMOUNT_MISMATCH: line is not None and line.kind == LineKind.CHARGE and d.payment_id,
        DiscrepancyKind.STATUS_MISMATCH: line is not None
        and (d.refund_id or (line.kind == LineKind.CHARGE and d.payment_id)),
        DiscrepancyKind.MISSING_AT_GATEWAY: d.payment_id or d.refund_id,
    }
    if adjustable.get(d.kind):  # type: ignore[call-overload]
        what = {
            DiscrepancyKind.AMOUNT_MISMATCH: "Sets the payment's captured amount to what the gateway settled",
            DiscrepancyKind.STATUS_MISMATCH: "Records the refund (or charge) as the gateway settled it",
            DiscrepancyKind.MISSING_AT_GATEWAY: "Records that the gateway never settled it (as failed)",
        }[DiscrepancyKind(d.kind)]
        choices.append(ResolutionChoice(Resolution.ADJUST_OURS, "Adjust our record", f"{what}; the ledger follows."))
    if d.kind == DiscrepancyKind.MISSING_ON_OUR_SIDE and line is not None and line.kind == LineKind.CHARGE:
        choices.append(
            ResolutionChoice(
                Resolution.CREATE_PAYMENT,
                "Create the missing payment",
                f"Asks the gateway for its record of {d.gateway_transaction_id} and records it as a captured payment "
                f"({format_amount(d.gateway_amount or 0, d.currency)}).",
            )
        )
    if residual > 0:
        choices.append(
            ResolutionChoice(
                Resolution.WRITE_OFF,
                "Write off",
                f"Asks for approval to write off {money}; another approver must approve before it posts "
                f"({EntryKind.WRITE_OFF.label}).",
            )
        )
    return choices
