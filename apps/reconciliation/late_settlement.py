"""Missing-at-gateway discrepancies whose amount was booked away (the gateway's view accepted:
to adjustments; a write-off approved: to write-offs) and that a later batch settled after all:
the money arrived, so the booking is reversed and the discrepancy is settled late."""

from __future__ import annotations

from datetime import datetime

from django.db.models import Exists, OuterRef

from apps.audit.actors import Actor
from apps.audit.services import audit_record_many
from apps.gateways.models import GatewayAccount
from apps.ledger.models import AccountKind
from apps.ledger.services import EntrySpec, ledger_post_many

from .models import Discrepancy, DiscrepancyKind, MatchStatus, Resolution, SettlementLine

# Where each resolution took the amount out of the receivable (see discrepancies._adjustment).
BOOKED_TO: dict[str, str] = {
    Resolution.ACCEPT_GATEWAY: AccountKind.ADJUSTMENTS,
    Resolution.WRITE_OFF: AccountKind.WRITE_OFFS,
}


def reverse_bookings_settled_late(account: GatewayAccount, *, actor: Actor, now: datetime) -> int:
    """Inside the reconciliation's transaction, holding the account's lock. Each such booking is
    reversed once: the discrepancy then reads settled late, its entry the reversal."""
    booked = list(
        Discrepancy.objects.select_for_update(of=("self",))
        .select_related("resolution_entry")
        .filter(
            gateway_account=account,
            kind=DiscrepancyKind.MISSING_AT_GATEWAY,
            status=Discrepancy.Status.RESOLVED,
            resolution__in=list(BOOKED_TO),
            resolution_entry__isnull=False,
            resolution_amount__isnull=False,
            entry__isnull=False,
        )
        .filter(Exists(SettlementLine.objects.filter(entry_id=OuterRef("entry_id"), match_status=MatchStatus.MATCHED)))
    )
    if not booked:
        return 0
    reversals = ledger_post_many(
        [
            EntrySpec(
                gateway_account_id=d.gateway_account_id,
                kind=d.resolution_entry.kind,  # type: ignore[union-attr]
                currency=d.currency,
                amount=abs(d.resolution_amount or 0),
                lines=(
                    (BOOKED_TO[d.resolution], -(d.resolution_amount or 0)),
                    (AccountKind.RECEIVABLE, d.resolution_amount or 0),
                ),
                payment_id=d.payment_id,
                refund_id=d.refund_id,
                gateway_transaction_id=d.gateway_transaction_id,
                source=f"discrepancy:{d.public_id}",
                memo=f"settled late: reverses {d.resolution_entry.public_id}",  # type: ignore[union-attr]
            )
            for d in booked
        ]
    )
    events = []
    for d, reversal in zip(booked, reversals, strict=True):
        before = {
            "status": d.status,
            "resolution": d.resolution,
            "amount": d.resolution_amount,
            "entry": d.resolution_entry.public_id,  # type: ignore[union-attr]
        }
        d.resolution, d.resolution_entry, d.resolution_amount, d.resolved_at = (
            Resolution.SETTLED_LATE, reversal, None, now,
        )  # fmt: skip
        d.save(update_fields=["resolution", "resolution_entry", "resolution_amount", "resolved_at"])
        events.append(
            {
                "actor": actor,
                "action": "discrepancy.resolved",
                "target": d,
                "merchant_id": account.merchant_id,
                "before": before,
                "after": {"resolution": Resolution.SETTLED_LATE, "entry": reversal.public_id},
            }
        )
    audit_record_many(events)
    return len(booked)
