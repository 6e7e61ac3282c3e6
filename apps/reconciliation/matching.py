"""Set-based matching of settlement lines against the ledger, in a handful of SQL statements
per gateway account (no per-line Python), so a million lines match in seconds.

Order: by the gateway's transaction id first, then by our reference with the same amount within
a few days. What stays unmatched, or matched with a different amount, currency or status, or
matched twice, becomes a discrepancy; our own captures and refunds that no settlement carried by
the cutoff become `missing_at_gateway`.
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from typing import Any

from django.conf import settings
from django.db import connection, transaction
from django.db.models import Count, Exists, F, Max, Min, OuterRef, Q, QuerySet, Subquery
from django.utils import timezone

from apps.audit.actors import Actor
from apps.audit.services import audit_record, audit_record_many
from apps.core.money import format_amount
from apps.gateways.models import GatewayAccount
from apps.ledger.models import EntryKind, JournalEntry
from apps.payments.models import GatewayTransaction, Payment, PaymentStatus, Refund, RefundStatus

from .late_settlement import reverse_bookings_settled_late
from .models import Discrepancy, DiscrepancyKind, LineKind, MatchStatus, Resolution, SettlementBatch, SettlementLine

ENTRY_KIND_OF_LINE = {
    LineKind.CHARGE: EntryKind.CAPTURE,
    LineKind.REFUND: EntryKind.REFUND,
    LineKind.RETURN: EntryKind.RETURN,  # a returned bank debit: the reversal posted when it was imported
}


@dataclass
class MatchReport:
    matched: int = 0
    opened: dict[str, int] = field(default_factory=dict)
    settled_late: int = 0


def _open_lines(account: GatewayAccount) -> QuerySet[SettlementLine]:
    return SettlementLine.objects.filter(gateway_account=account, match_status=MatchStatus.UNMATCHED)


# PostgreSQL: one hash join links lines by gateway transaction id and, where amount and currency
# agree, marks them matched in the same row write (a million rows are rewritten once, not twice).
# Not to an entry we have since undone (`_undone`): a charge we marked failed, a refund we marked
# failed ("adjust ours" on a missing-at-gateway); a line settling it later is a status mismatch.
# Lines repeating an earlier line's transaction are linked first and left open, so `classify`
# opens their duplicate discrepancies.
_LINK_REPEATS_SQL = """
UPDATE reconciliation_settlementline l
   SET entry_id = e.id, matched_by = 'gateway_id'
  FROM ledger_journalentry e
 WHERE l.gateway_account_id = %(account)s AND l.match_status = 'unmatched' AND l.entry_id IS NULL
   AND l.kind = %(line_kind)s
   AND e.gateway_account_id = l.gateway_account_id AND e.kind = %(entry_kind)s
   AND e.gateway_transaction_id = l.gateway_transaction_id
   AND EXISTS (SELECT 1 FROM reconciliation_settlementline o
                WHERE o.gateway_account_id = l.gateway_account_id AND o.kind = l.kind
                  AND o.gateway_transaction_id = l.gateway_transaction_id AND o.id < l.id)
"""
_LINK_AND_MATCH_SQL = """
WITH linked AS (
UPDATE reconciliation_settlementline l
   SET entry_id = e.id, matched_by = 'gateway_id',
       match_status = CASE WHEN l.amount = e.amount AND l.currency = e.currency THEN 'matched' ELSE 'unmatched' END
  FROM ledger_journalentry e
 WHERE l.gateway_account_id = %(account)s AND l.match_status = 'unmatched' AND l.entry_id IS NULL
   AND l.kind = %(line_kind)s
   AND e.gateway_account_id = l.gateway_account_id AND e.kind = %(entry_kind)s
   AND e.gateway_transaction_id = l.gateway_transaction_id
   AND NOT EXISTS (SELECT 1 FROM reconciliation_settlementline o
                    WHERE o.entry_id = e.id AND o.id <> l.id)
   AND NOT EXISTS (SELECT 1 FROM payments_payment p
                    WHERE p.id = e.payment_id AND e.kind = 'capture' AND p.status = 'failed')
   AND NOT EXISTS (SELECT 1 FROM payments_refund r WHERE r.id = e.refund_id AND r.status = 'failed')
RETURNING l.match_status
)
SELECT count(*), count(*) FILTER (WHERE match_status = 'matched') FROM linked
"""


def _link_by_gateway_id_postgresql(account: GatewayAccount, line_kind: str, entry_kind: str) -> tuple[int, int]:
    params: dict[str, str | int] = {"account": account.pk, "line_kind": line_kind, "entry_kind": entry_kind}
    with connection.cursor() as cursor:
        cursor.execute(_LINK_REPEATS_SQL, params)
        repeats = cursor.rowcount
        cursor.execute(_LINK_AND_MATCH_SQL, params)
        linked, matched = cursor.fetchone()
    return repeats + linked, matched


def _undone(entries: QuerySet[JournalEntry]) -> QuerySet[JournalEntry]:
    """Less the entries of a charge or refund we have since marked failed (see above)."""
    return entries.exclude(kind=EntryKind.CAPTURE, payment__status=PaymentStatus.FAILED).exclude(
        refund__status=RefundStatus.FAILED
    )


def link_lines(account: GatewayAccount) -> tuple[int, int]:
    """Point unmatched lines at the ledger entry they settle (by the gateway's transaction id,
    then by our reference, amount and date). On PostgreSQL lines that agree are marked matched
    in the same statement. Returns how many were linked and how many of those already matched."""
    linked = matched = 0
    for line_kind, entry_kind in ENTRY_KIND_OF_LINE.items():
        if connection.vendor == "postgresql":
            found, agreed = _link_by_gateway_id_postgresql(account, line_kind, entry_kind)
            linked, matched = linked + found, matched + agreed
        else:
            by_gateway_id = _undone(
                JournalEntry.objects.filter(
                    gateway_account_id=account.pk,
                    kind=entry_kind,
                    gateway_transaction_id=OuterRef("gateway_transaction_id"),
                )
            ).order_by("pk")
            linked += (
                _open_lines(account)
                .filter(kind=line_kind, entry__isnull=True)
                .filter(Exists(by_gateway_id))
                .update(entry_id=Subquery(by_gateway_id.values("pk")[:1]), matched_by="gateway_id")
            )
        window = timedelta(days=settings.RECON_MATCH_WINDOW_DAYS)
        our_call = GatewayTransaction.objects.filter(reference=OuterRef(OuterRef("reference")))
        by_reference = _undone(
            JournalEntry.objects.filter(
                gateway_account_id=account.pk,
                kind=entry_kind,
                amount=OuterRef("amount"),
                occurred_at__gte=OuterRef("occurred_at") - window,
                occurred_at__lte=OuterRef("occurred_at") + window,
            )
        )
        if line_kind in {LineKind.CHARGE, LineKind.RETURN}:
            by_reference = by_reference.filter(payment_id__in=our_call.values("payment_id"))
        else:
            by_reference = by_reference.filter(refund_id__in=our_call.values("refund_id"))
        by_reference = by_reference.order_by("pk")
        linked += (
            _open_lines(account)
            .filter(kind=line_kind, entry__isnull=True)
            .exclude(reference="")
            .filter(occurred_at__isnull=False)
            .filter(Exists(by_reference))
            .update(entry_id=Subquery(by_reference.values("pk")[:1]), matched_by="reference")
        )
    return linked, matched


def payments_to_sync(account: GatewayAccount, *, limit: int = 200) -> list[int]:
    """Payments whose outcome we do not know (or that never left pending) but that a settlement
    line names, by the gateway's id or our reference: asking the gateway settles them."""
    lines = _open_lines(account).filter(kind=LineKind.CHARGE, entry__isnull=True)
    open_states = [PaymentStatus.UNKNOWN, PaymentStatus.PENDING]
    by_id = Payment.objects.filter(
        gateway_account=account,
        status__in=open_states,
        gateway_transaction_id__in=lines.values("gateway_transaction_id"),
    )
    by_reference = Payment.objects.filter(
        gateway_account=account,
        status__in=open_states,
        gateway_transactions__reference__in=lines.exclude(reference="").values("reference"),
    )
    return sorted(
        set(by_id.values_list("pk", flat=True)[:limit]) | set(by_reference.values_list("pk", flat=True)[:limit])
    )


def classify(account: GatewayAccount, *, actor: Actor, now: datetime | None = None) -> MatchReport:
    """Inside the caller's transaction, holding the account's lock: every linked or unlinkable
    line becomes matched or a discrepancy, our unsettled movements past the cutoff become
    discrepancies, late settlements close theirs."""
    if not transaction.get_connection().in_atomic_block:
        raise RuntimeError("classify runs inside the reconciliation's transaction")
    now = now or timezone.now()
    report = MatchReport()
    opened: list[Discrepancy] = []

    def open_for(queryset: QuerySet[Any], kind: str, *, detail: str = "", with_entry: bool = True) -> None:
        fields = ["pk", "gateway_transaction_id", "currency", "amount", "entry_id", "entry__amount"]
        fields += ["entry__payment_id", "entry__refund_id", "gateway_status"]
        rows = list(queryset.values_list(*fields))
        for pk, txn, currency, amount, entry_id, entry_amount, payment_id, refund_id, status in rows:
            opened.append(
                Discrepancy(
                    gateway_account=account,
                    kind=kind,
                    line_id=pk,
                    entry_id=entry_id if with_entry else None,
                    payment_id=payment_id,
                    refund_id=refund_id,
                    gateway_transaction_id=txn,
                    currency=currency,
                    gateway_amount=amount,
                    our_amount=entry_amount if with_entry else None,
                    detail=(detail or status)[:255],
                )
            )
        if rows:
            SettlementLine.objects.filter(pk__in=[row[0] for row in rows]).update(match_status=MatchStatus.DISCREPANCY)
            report.opened[kind] = report.opened.get(kind, 0) + len(rows)

    open_for(
        SettlementLine.objects.filter(pk__in=_repeated_lines(account)),
        DiscrepancyKind.DUPLICATE,
        detail="settled more than once",
    )
    linked = _open_lines(account).filter(entry__isnull=False)
    open_for(linked.exclude(currency=F("entry__currency")), DiscrepancyKind.CURRENCY_MISMATCH)
    open_for(
        _open_lines(account).filter(entry__isnull=False).exclude(amount=F("entry__amount")),
        DiscrepancyKind.AMOUNT_MISMATCH,
    )
    report.matched = _open_lines(account).filter(entry__isnull=False).update(match_status=MatchStatus.MATCHED)

    _open_status_mismatches(account, open_for, opened)
    open_for(_open_lines(account), DiscrepancyKind.MISSING_ON_OUR_SIDE, with_entry=False)
    _open_missing_at_gateway(account, opened, report)
    _open_batch_totals(account, opened, report)

    report.settled_late = _close_settled_late(account, actor=actor, now=now)
    report.settled_late += reverse_bookings_settled_late(account, actor=actor, now=now)
    Discrepancy.objects.bulk_create(opened, batch_size=5000)
    if opened:
        audit_record_many(
            [
                {
                    "actor": actor,
                    "action": "discrepancy.opened",
                    "target": d,
                    "merchant_id": account.merchant_id,
                    "after": {
                        "kind": d.kind,
                        "gateway_transaction_id": d.gateway_transaction_id,
                        "gateway_amount": d.gateway_amount,
                        "our_amount": d.our_amount,
                        "currency": d.currency,
                    },
                }
                for d in opened
            ]
        )
    audit_record(
        actor=actor,
        action="reconciliation.matched",
        target=account,
        merchant_id=account.merchant_id,
        after={"matched": report.matched, "opened": report.opened, "settled_late": report.settled_late},
    )
    return report


def _repeated_lines(account: GatewayAccount) -> list[int]:
    """Open, linked lines whose entry another, earlier line already settles (set-based: lines
    carry no index on entry_id, so no lookup per line)."""
    candidates = _open_lines(account).filter(entry__isnull=False).values("entry_id")
    first_of = dict(
        SettlementLine.objects.filter(entry_id__in=candidates)
        .values("entry_id")
        .annotate(first=Min("id"), n=Count("id"))
        .filter(n__gt=1)
        .values_list("entry_id", "first")
    )
    if not first_of:
        return []
    return [
        pk
        for pk, entry_id in _open_lines(account).filter(entry_id__in=list(first_of)).values_list("pk", "entry_id")
        if pk != first_of[entry_id]
    ]


def _open_status_mismatches(account: GatewayAccount, open_for: Callable[..., None], opened: list[Discrepancy]) -> None:
    """Lines the gateway settled for something we hold in another state: a refund we think
    failed, a charge we think failed or was voided, or a line that is no charge or refund."""
    # The open lines are few by now: fetch them, then look their transactions and references up
    # in two set queries per kind (not a correlated lookup per line).
    refund_lines = list(
        _open_lines(account)
        .filter(kind=LineKind.REFUND, entry__isnull=True)
        .values_list("pk", "gateway_transaction_id", "reference")
    )
    if refund_lines:
        refunds = Refund.objects.filter(payment__gateway_account_id=account.pk).exclude(status=RefundStatus.SUCCEEDED)
        by_txn = {
            txn: (refund, payment)
            for txn, refund, payment in refunds.filter(
                gateway_transaction_id__in={t for _, t, _ in refund_lines}
            ).values_list("gateway_transaction_id", "pk", "payment_id")
        }
        by_reference = {
            reference: (refund, payment)
            for reference, refund, payment in GatewayTransaction.objects.filter(
                kind=GatewayTransaction.Kind.REFUND,
                reference__in={r for *_, r in refund_lines if r},
                refund__in=refunds,
            ).values_list("reference", "refund_id", "payment_id")
        }
        found = {pk: by_txn.get(t) or by_reference.get(r) for pk, t, r in refund_lines}
        _open_linked({pk: ours for pk, ours in found.items() if ours}, "refund", open_for, opened)

    charge_lines = list(
        _open_lines(account)
        .filter(kind=LineKind.CHARGE, entry__isnull=True)
        .values_list("pk", "gateway_transaction_id", "reference")
    )
    if charge_lines:
        payments = Payment.objects.filter(
            gateway_account_id=account.pk,
            status__in=[PaymentStatus.FAILED, PaymentStatus.VOIDED, PaymentStatus.EXPIRED],
        )
        payment_by_txn = dict(
            payments.filter(gateway_transaction_id__in={t for _, t, _ in charge_lines}).values_list(
                "gateway_transaction_id", "pk"
            )
        )
        payment_by_reference = dict(
            GatewayTransaction.objects.filter(
                reference__in={r for *_, r in charge_lines if r}, payment__in=payments
            ).values_list("reference", "payment_id")
        )
        payment_of = {pk: payment_by_txn.get(t) or payment_by_reference.get(r) for pk, t, r in charge_lines}
        _open_linked(
            {pk: (None, payment) for pk, payment in payment_of.items() if payment}, "payment", open_for, opened
        )

    open_for(_open_lines(account).filter(kind=LineKind.ADJUSTMENT), DiscrepancyKind.STATUS_MISMATCH, with_entry=False)


def _open_linked(
    ours: dict[int, tuple[int | None, int]], what: str, open_for: Callable[..., None], opened: list[Discrepancy]
) -> None:
    """Status mismatches for lines (by pk) whose refund and payment of ours (`ours`) did not succeed."""
    if not ours:
        return
    first = len(opened)
    open_for(
        SettlementLine.objects.filter(pk__in=ours), DiscrepancyKind.STATUS_MISMATCH, with_entry=False,
        detail=f"settled by the gateway; our {what} did not succeed",
    )  # fmt: skip
    for discrepancy in opened[first:]:
        if discrepancy.line_id is not None:
            discrepancy.refund_id, discrepancy.payment_id = ours[discrepancy.line_id]


def _open_missing_at_gateway(account: GatewayAccount, opened: list[Discrepancy], report: MatchReport) -> None:
    last = SettlementBatch.objects.filter(gateway_account=account).order_by("-settled_at").first()
    if last is None:
        return
    # The gateway's latest settlement carried transactions up to its newest line: ours from before
    # that should have been in one by now (Authorize.Net settles the same night, Razorpay days
    # later; this follows either). Gateways report whole seconds (Razorpay), so that line covers
    # its whole second. Lines without a time fall back to the settlement's time.
    newest = SettlementLine.objects.filter(batch=last).aggregate(newest=Max("occurred_at"))["newest"]
    covered = newest + timedelta(seconds=1) if newest is not None else last.settled_at
    cutoff = min(covered, last.settled_at) - timedelta(minutes=settings.RECON_SETTLEMENT_GRACE_MINUTES)
    since = cutoff - timedelta(days=settings.RECON_LOOKBACK_DAYS)
    reversed_payment = JournalEntry.objects.filter(payment_id=OuterRef("payment_id"), kind=EntryKind.CAPTURE_REVERSAL)
    entries = (
        JournalEntry.objects.filter(
            gateway_account=account,
            kind__in=[EntryKind.CAPTURE, EntryKind.REFUND],
            occurred_at__gte=since,
            occurred_at__lt=cutoff,
        )
        .exclude(Exists(SettlementLine.objects.filter(entry_id=OuterRef("pk"))))
        .exclude(Q(kind=EntryKind.CAPTURE) & Exists(reversed_payment))
        .exclude(Exists(Discrepancy.objects.filter(entry_id=OuterRef("pk"), kind=DiscrepancyKind.MISSING_AT_GATEWAY)))
        # The capture "adjust ours" posted to bring an amount mismatch up to what the gateway
        # settled: settled by that line already, it has none of its own.
        .exclude(
            Exists(
                Discrepancy.objects.filter(
                    resolution_entry_id=OuterRef("pk"),
                    kind=DiscrepancyKind.AMOUNT_MISMATCH,
                    resolution=Resolution.ADJUST_OURS,
                )
            )
        )
    )
    rows = list(entries.values_list("pk", "payment_id", "refund_id", "gateway_transaction_id", "currency", "amount"))
    for pk, payment_id, refund_id, txn, currency, amount in rows:
        opened.append(
            Discrepancy(
                gateway_account=account,
                kind=DiscrepancyKind.MISSING_AT_GATEWAY,
                entry_id=pk,
                payment_id=payment_id,
                refund_id=refund_id,
                gateway_transaction_id=txn,
                currency=currency,
                our_amount=amount,
                detail=f"not in any settlement up to {cutoff:%Y-%m-%d %H:%M} UTC",
            )
        )
    if rows:
        report.opened[DiscrepancyKind.MISSING_AT_GATEWAY] = len(rows)


def _open_batch_totals(account: GatewayAccount, opened: list[Discrepancy], report: MatchReport) -> None:
    """Batches whose gateway-reported totals (its statistics) differ from the lines it listed:
    one discrepancy per batch, opened once (the import decided `totals_agree`)."""
    batches = SettlementBatch.objects.filter(gateway_account=account, totals_agree=False).exclude(
        Exists(Discrepancy.objects.filter(batch=OuterRef("pk"), kind=DiscrepancyKind.BATCH_TOTALS))
    )
    rows = list(batches)
    for batch in rows:
        counts = dict(
            SettlementLine.objects.filter(batch=batch, kind__in=[LineKind.CHARGE, LineKind.REFUND])
            .values("kind")
            .annotate(n=Count("id"))
            .values_list("kind", "n")
        )
        reported_net = (batch.reported_charges_amount or 0) - (batch.reported_refunds_amount or 0)
        opened.append(
            Discrepancy(
                gateway_account=account,
                kind=DiscrepancyKind.BATCH_TOTALS,
                batch=batch,
                currency=batch.currency,
                gateway_amount=reported_net,
                our_amount=batch.charges_amount - batch.refunds_amount,
                detail=(
                    f"{counts.get(LineKind.CHARGE, 0)} charges of {format_amount(batch.charges_amount, batch.currency)}"
                    f" and {counts.get(LineKind.REFUND, 0)} refunds of "
                    f"{format_amount(batch.refunds_amount, batch.currency)}"
                ),
            )
        )
    if rows:
        report.opened[DiscrepancyKind.BATCH_TOTALS] = len(rows)


def _close_settled_late(account: GatewayAccount, *, actor: Actor, now: datetime) -> int:
    """`missing_at_gateway` discrepancies whose movement a later batch did settle close themselves:
    open ones, and ones waiting for a write-off's approval (the money arrived: nothing is lost,
    the requested write-off is dropped)."""
    waiting = {
        d.entry_id: d
        for d in Discrepancy.objects.select_for_update().filter(
            gateway_account=account,
            kind=DiscrepancyKind.MISSING_AT_GATEWAY,
            status__in=[Discrepancy.Status.OPEN, Discrepancy.Status.PENDING_APPROVAL],
        )
    }
    if not waiting:
        return 0
    # One scan of the account's lines (no index on entry_id: matching rewrites it in place).
    settled = SettlementLine.objects.filter(
        gateway_account=account, match_status=MatchStatus.MATCHED, entry_id__in=list(waiting)
    ).values_list("entry_id", flat=True)
    closed = [waiting[entry_id] for entry_id in set(settled)]
    if closed:
        Discrepancy.objects.filter(pk__in=[d.pk for d in closed]).update(
            status=Discrepancy.Status.RESOLVED,
            resolution=Resolution.SETTLED_LATE,
            resolution_amount=None,
            resolved_at=now,
        )
        audit_record_many(
            [
                {
                    "actor": actor,
                    "action": "discrepancy.resolved",
                    "target": d,
                    "merchant_id": account.merchant_id,
                    "before": {"status": d.status, "resolution": d.resolution, "amount": d.resolution_amount},
                    "after": {"resolution": Resolution.SETTLED_LATE},
                }
                for d in closed
            ]
        )
    return len(closed)
