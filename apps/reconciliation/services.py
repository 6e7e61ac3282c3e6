"""Settlement import, reconciliation runs and the resolution of discrepancies."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from django.contrib.auth.models import User
from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.audit.actors import Actor
from apps.audit.services import audit_record
from apps.core.dates import utc_days
from apps.gateways.base import SettlementBatchData, SettlementLineKind
from apps.gateways.errors import GatewayError
from apps.gateways.models import GatewayAccount
from apps.gateways.registry import gateway_for, settlement_gateway_for
from apps.ledger.models import AccountKind, EntryKind, JournalEntry
from apps.ledger.services import EntrySpec, ledger_post, ledger_post_many
from apps.payments.models import Payment
from apps.payments.services import (
    payment_adjust_captured,
    payment_adopt_gateway_capture,
    payment_record_gateway_charge,
    payment_sync_with_gateway,
    refund_adopt_gateway_success,
    refund_mark_not_settled,
)
from apps.webhooks.models import IncomingWebhook
from apps.webhooks.services import incoming_webhooks_replay

from . import matching
from .csv_import import CsvImportError, parse_settlement_csv
from .errors import DiscrepancyStateError, ReconciliationError, ResolutionNotAllowed
from .models import (
    CsvMapping,
    Discrepancy,
    DiscrepancyKind,
    LineKind,
    MatchStatus,
    Resolution,
    SettlementBatch,
    SettlementLine,
)

logger = logging.getLogger(__name__)

R, CLEARING, BANK, FEES = AccountKind.RECEIVABLE, AccountKind.CLEARING, AccountKind.BANK, AccountKind.FEES
ADJ, WO = AccountKind.ADJUSTMENTS, AccountKind.WRITE_OFFS
LINE_BATCH = 5000


# --- import ----------------------------------------------------------------------------------


def settlement_import(*, account: GatewayAccount, day: date, actor: Actor) -> list[SettlementBatch]:
    """Read the batches the gateway settled on `day` (UTC) and store the ones we have not seen.
    The gateway is asked before any transaction opens; importing twice changes nothing."""
    since, until = utc_days(day)
    batches = settlement_gateway_for(account).settlements(since=since, until=until)
    stored = [
        settlement_batch_store(account=account, data=data, source=SettlementBatch.Source.API, actor=actor)
        for data in batches
    ]
    return [batch for batch in stored if batch is not None]


def settlement_batch_store(
    *, account: GatewayAccount, data: SettlementBatchData, source: str, actor: Actor
) -> SettlementBatch | None:
    """One transaction: the batch, its lines and its ledger entries (settled money moves from
    the receivable to clearing, fees out of clearing, the payout from clearing to the bank).
    None if the batch was imported before."""
    lines = data.lines
    charges = sum(line.amount for line in lines if line.kind == SettlementLineKind.CHARGE)
    refunds = sum(line.amount for line in lines if line.kind == SettlementLineKind.REFUND)
    fees = sum(line.fee + line.tax for line in lines)
    payout = data.payout_amount if data.payout_amount is not None else charges - refunds - fees
    try:
        with transaction.atomic():
            batch = SettlementBatch.objects.create(
                gateway_account=account,
                gateway_batch_id=data.batch_id,
                source=source,
                settled_at=data.settled_at,
                currency=data.currency,
                line_count=len(lines),
                charges_amount=charges,
                refunds_amount=refunds,
                fees_amount=fees,
                payout_amount=payout,
                payout_reference=data.payout_reference[:64],
            )
            SettlementLine.objects.bulk_create(
                [
                    SettlementLine(
                        batch=batch,
                        gateway_account=account,
                        gateway_transaction_id=line.transaction_id,
                        kind=str(line.kind),
                        gateway_status=line.status[:40],
                        amount=line.amount,
                        currency=line.currency or data.currency,
                        fee=line.fee,
                        tax=line.tax,
                        reference=line.reference[:64],
                        parent_transaction_id=line.parent_transaction_id,
                        occurred_at=line.occurred_at,
                    )
                    for line in lines
                ],
                batch_size=LINE_BATCH,
            )
            ledger_post_many(_settlement_entries(account, batch, fees))
            audit_record(
                actor=actor,
                action="settlement.imported",
                target=batch,
                merchant_id=account.merchant_id,
                after={
                    "batch": batch.gateway_batch_id,
                    "lines": len(lines),
                    "charges": charges,
                    "refunds": refunds,
                    "fees": fees,
                    "payout": payout,
                    "currency": batch.currency,
                },
            )
    except IntegrityError:
        if SettlementBatch.objects.filter(gateway_account=account, gateway_batch_id=data.batch_id).exists():
            return None  # imported before (or by a run alongside this one)
        raise
    return batch


def _settlement_entries(account: GatewayAccount, batch: SettlementBatch, fees: int) -> list[EntrySpec]:
    common: dict[str, Any] = {
        "gateway_account_id": account.pk,
        "currency": batch.currency,
        "source": f"settlement_batch:{batch.pk}",
        "occurred_at": batch.settled_at,
    }
    specs = []
    net = batch.charges_amount - batch.refunds_amount
    if net:
        specs.append(
            EntrySpec(
                kind=EntryKind.SETTLEMENT,
                amount=abs(net),
                lines=((CLEARING, net), (R, -net)),
                memo=f"batch {batch.gateway_batch_id}: {batch.line_count} lines",
                **common,
            )
        )
    if fees:
        specs.append(
            EntrySpec(
                kind=EntryKind.FEE,
                amount=abs(fees),
                lines=((FEES, fees), (CLEARING, -fees)),
                memo=f"fees and tax, batch {batch.gateway_batch_id}",
                **common,
            )
        )
    if batch.payout_amount:
        specs.append(
            EntrySpec(
                kind=EntryKind.PAYOUT,
                amount=abs(batch.payout_amount),
                lines=((BANK, batch.payout_amount), (CLEARING, -batch.payout_amount)),
                memo=f"payout {batch.payout_reference or batch.gateway_batch_id}",
                **common,
            )
        )
    return specs


def settlement_csv_import(
    *,
    account: GatewayAccount,
    mapping: CsvMapping,
    content: bytes,
    batch_id: str,
    settled_at: datetime,
    actor: Actor,
) -> ReconcileReport:
    """Store a settlement report uploaded as CSV (all its batches or none), then match."""
    try:
        batches = parse_settlement_csv(
            content, mapping=mapping, currency=account.currency, default_batch_id=batch_id, settled_at=settled_at
        )
    except CsvImportError as exc:
        raise ReconciliationError(f"The file was not imported: {exc}", code="invalid_settlement_file") from exc
    with transaction.atomic():
        stored = [
            settlement_batch_store(account=account, data=data, source=SettlementBatch.Source.CSV, actor=actor)
            for data in batches
        ]
    report = reconcile(account=account, day=None, actor=actor, fetch=False)
    report.imported = [batch.gateway_batch_id for batch in stored if batch is not None]
    report.skipped = [data.batch_id for data, batch in zip(batches, stored, strict=True) if batch is None]
    return report


# --- a reconciliation run ----------------------------------------------------------------------


@dataclass
class ReconcileReport:
    account: str
    day: date | None
    imported: list[str] = field(default_factory=list)
    skipped: list[str] = field(default_factory=list)  # batches imported before
    synced: list[str] = field(default_factory=list)
    matched: int = 0
    opened: dict[str, int] = field(default_factory=dict)
    settled_late: int = 0
    webhooks_replayed: int = 0

    def summary(self) -> str:
        opened = ", ".join(f"{kind} {count}" for kind, count in sorted(self.opened.items())) or "none"
        return (
            f"{self.account} {self.day or ''}: {len(self.imported)} batch(es) imported, {self.matched} lines matched, "
            f"discrepancies opened: {opened}; {self.settled_late} settled late; {len(self.synced)} payment(s) synced; "
            f"{self.webhooks_replayed} unmatched gateway notification(s) replayed"
        )


def _locked(account: GatewayAccount) -> GatewayAccount:
    """Serialise reconciliation runs of one account (two at once would open discrepancies twice)."""
    return GatewayAccount.objects.select_for_update().get(pk=account.pk)


def reconcile(*, account: GatewayAccount, day: date | None, actor: Actor, fetch: bool = True) -> ReconcileReport:
    """Import `day`'s settlements (when `fetch`), then match every open line of the account.
    Payments whose outcome we did not know and that a line names are asked about first (no
    transaction open meanwhile), so they match instead of becoming discrepancies."""
    report = ReconcileReport(account=account.public_id, day=day)
    if fetch and day is not None:
        report.imported = [b.gateway_batch_id for b in settlement_import(account=account, day=day, actor=actor)]
    with transaction.atomic():
        _locked(account)
        matched_early = matching.link_lines(account)[1]
        to_sync = matching.payments_to_sync(account)
    for payment in Payment.objects.filter(pk__in=to_sync).select_related("gateway_account"):
        try:
            payment_sync_with_gateway(payment=payment, actor=actor)
            report.synced.append(payment.public_id)
        except GatewayError as exc:
            logger.warning("recon_sync_failed", extra={"payment": payment.public_id, "error": str(exc)})
    with transaction.atomic():
        _locked(account)
        matched_early += matching.link_lines(account)[1]
        result = matching.classify(account, actor=actor)
    report.matched = matched_early + result.matched
    report.opened, report.settled_late = result.opened, result.settled_late
    report.webhooks_replayed = unmatched_webhooks_replay(account=account, actor=actor)
    logger.info("reconciled", extra={"summary": report.summary()})
    return report


def unmatched_webhooks_replay(*, account: GatewayAccount, actor: Actor, transaction_id: str = "") -> int:
    """Gateway notifications kept as unmatched (no payment of ours had their transaction) are
    processed again once a payment of ours has that transaction: found by reconciliation or
    created from the gateway's record."""
    known = Payment.objects.filter(gateway_account=account).exclude(gateway_transaction_id="")
    if transaction_id:
        known = known.filter(gateway_transaction_id=transaction_id)
    waiting = IncomingWebhook.objects.filter(
        gateway_account=account,
        status=IncomingWebhook.Status.UNMATCHED,
        object_id__in=known.values("gateway_transaction_id"),
    )
    return incoming_webhooks_replay(webhooks=list(waiting[:1000]), actor=actor)


# --- discrepancies -----------------------------------------------------------------------------


def discrepancy_residual(discrepancy: Discrepancy) -> int:
    """What this discrepancy leaves in the gateway receivable: positive when we booked more than
    the gateway settled (money we are still owed), negative when the gateway settled money our
    books do not hold."""
    kind, ours, theirs = discrepancy.kind, discrepancy.our_amount or 0, discrepancy.gateway_amount or 0
    line_kind = discrepancy.line.kind if discrepancy.line is not None else None
    if kind == DiscrepancyKind.AMOUNT_MISMATCH:
        return ours - theirs if line_kind != LineKind.REFUND else theirs - ours
    if kind == DiscrepancyKind.MISSING_AT_GATEWAY:
        return (
            -ours
            if discrepancy.refund_id or (discrepancy.entry and discrepancy.entry.kind == EntryKind.REFUND)
            else ours
        )
    if kind == DiscrepancyKind.DUPLICATE:
        return -theirs if line_kind != LineKind.REFUND else theirs
    if kind in {DiscrepancyKind.MISSING_ON_OUR_SIDE, DiscrepancyKind.STATUS_MISMATCH}:
        if line_kind == LineKind.CHARGE:
            return -theirs
        if line_kind == LineKind.REFUND:
            return theirs
        return 0  # an adjustment line: the settlement did not count it
    return 0  # currency mismatches are settled in two currencies, see _accept_currency


def _lock_open(discrepancy: Discrepancy, *, status: str = Discrepancy.Status.OPEN) -> Discrepancy:
    locked = (
        Discrepancy.objects.select_for_update(of=("self",))
        .select_related("line", "entry", "gateway_account")
        .get(pk=discrepancy.pk)
    )
    if locked.status != status:
        raise DiscrepancyStateError(f"The discrepancy is {locked.get_status_display().lower()}.")
    return locked


def _adjustment(
    d: Discrepancy, residual: int, *, kind: str = EntryKind.ADJUSTMENT, to: str = ADJ, memo: str
) -> JournalEntry:
    """Take `residual` out of the receivable against `to` (adjustments or write-offs)."""
    return ledger_post(
        EntrySpec(
            gateway_account_id=d.gateway_account_id,
            kind=kind,
            currency=d.currency,
            amount=abs(residual),
            lines=((to, residual), (R, -residual)),
            payment_id=d.payment_id,
            refund_id=d.refund_id,
            gateway_transaction_id=d.gateway_transaction_id,
            source=f"discrepancy:{d.public_id}",
            memo=memo,
        )
    )


def _close(
    d: Discrepancy,
    *,
    resolution: str,
    user: User | None,
    actor: Actor,
    note: str,
    entry: JournalEntry | None,
    amount: int | None = None,
) -> Discrepancy:
    d.status, d.resolution, d.resolution_note = Discrepancy.Status.RESOLVED, resolution, note[:255]
    d.resolution_entry, d.resolution_amount, d.resolved_at = entry, amount, timezone.now()
    if d.requested_by_id is None and user is not None:
        d.requested_by, d.requested_at = user, d.resolved_at
    d.save()
    audit_record(
        actor=actor,
        action="discrepancy.resolved",
        target=d,
        merchant_id=d.gateway_account.merchant_id,
        after={"resolution": resolution, "amount": amount, "note": note, "entry": entry.public_id if entry else None},
    )
    return d


def discrepancy_assign(*, discrepancy: Discrepancy, assignee: User | None, actor: Actor) -> Discrepancy:
    with transaction.atomic():
        locked = Discrepancy.objects.select_for_update().select_related("gateway_account").get(pk=discrepancy.pk)
        before = {"assignee": locked.assignee.get_username() if locked.assignee else None}
        locked.assignee = assignee
        locked.save(update_fields=["assignee"])
        audit_record(
            actor=actor, action="discrepancy.assigned", target=locked, merchant_id=locked.gateway_account.merchant_id,
            before=before, after={"assignee": assignee.get_username() if assignee else None},
        )  # fmt: skip
    return locked


def discrepancy_resolve(*, discrepancy: Discrepancy, resolution: str, user: User, note: str = "") -> Discrepancy:
    """Apply a resolution. Every one posts to the ledger (except a write-off, which waits for a
    second person's approval) and is audited, in one transaction with the discrepancy's lock."""
    if not user.has_perm("reconciliation.resolve_discrepancy"):
        raise ResolutionNotAllowed()
    actor = Actor.staff(user)
    if resolution == Resolution.CREATE_PAYMENT:
        return _create_payment(discrepancy, user=user, actor=actor, note=note)
    with transaction.atomic():
        d = _lock_open(discrepancy)
        if resolution == Resolution.WRITE_OFF:
            return _request_write_off(d, user=user, actor=actor, note=note)
        if resolution == Resolution.ACCEPT_GATEWAY:
            return _accept_gateway(d, user=user, actor=actor, note=note)
        if resolution == Resolution.ADJUST_OURS:
            return _adjust_ours(d, user=user, actor=actor, note=note)
    raise ReconciliationError(f"Unknown resolution {resolution!r}.")


def _accept_gateway(d: Discrepancy, *, user: User, actor: Actor, note: str) -> Discrepancy:
    """The gateway's figure stands: book the difference, so the receivable holds nothing for it."""
    if d.kind == DiscrepancyKind.CURRENCY_MISMATCH:
        return _accept_currency(d, user=user, actor=actor, note=note)
    residual = discrepancy_residual(d)
    if residual == 0:
        raise ReconciliationError(
            "Nothing to book: this line moved no money in the settlement. Adjust our record instead."
        )
    entry = _adjustment(d, residual, memo=f"{d.get_kind_display()}: gateway's figure accepted")
    return _close(
        d, resolution=Resolution.ACCEPT_GATEWAY, user=user, actor=actor, note=note, entry=entry, amount=residual
    )


def _accept_currency(d: Discrepancy, *, user: User, actor: Actor, note: str) -> Discrepancy:
    """Our movement was booked in one currency and settled in another: clear ours from the
    receivable in our currency and what arrived in the gateway's, both against adjustments."""
    ours, line = d.entry, d.line
    if ours is None or line is None:
        raise ReconciliationError("A currency mismatch needs both our entry and the gateway's line.")
    sign = 1 if line.kind == LineKind.CHARGE else -1
    common: dict[str, Any] = {
        "gateway_account_id": d.gateway_account_id,
        "kind": EntryKind.ADJUSTMENT,
        "payment_id": d.payment_id,
        "gateway_transaction_id": d.gateway_transaction_id,
        "source": f"discrepancy:{d.public_id}",
    }
    ours_out, theirs_in = sign * ours.amount, sign * line.amount
    first, _ = ledger_post_many(
        [
            EntrySpec(
                currency=ours.currency,
                amount=ours.amount,
                lines=((ADJ, ours_out), (R, -ours_out)),
                memo="booked in our currency",
                **common,
            ),
            EntrySpec(
                currency=line.currency,
                amount=line.amount,
                lines=((R, theirs_in), (ADJ, -theirs_in)),
                memo="settled in the gateway's currency",
                **common,
            ),
        ]
    )
    return _close(d, resolution=Resolution.ACCEPT_GATEWAY, user=user, actor=actor, note=note, entry=first, amount=None)


def _adjust_ours(d: Discrepancy, *, user: User, actor: Actor, note: str) -> Discrepancy:
    """Our record was wrong: correct the payment or refund to what the gateway settled; the
    ledger follows through the payment's own entries."""
    line = d.line
    if d.kind == DiscrepancyKind.AMOUNT_MISMATCH and line is not None and line.kind == LineKind.CHARGE and d.payment_id:
        payment = Payment.objects.get(pk=d.payment_id)
        target = payment.amount_captured + (line.amount - (d.our_amount or 0))
        payment_adjust_captured(
            payment=payment, amount=target, reason=f"settled for {line.amount} ({d.public_id})", actor=actor
        )
    elif d.kind == DiscrepancyKind.STATUS_MISMATCH and line is not None and d.refund_id:
        refund_adopt_gateway_success(refund=d.refund, gateway_transaction_id=line.gateway_transaction_id, actor=actor)  # type: ignore[arg-type]
    elif (
        d.kind == DiscrepancyKind.STATUS_MISMATCH and line is not None and line.kind == LineKind.CHARGE and d.payment_id
    ):
        payment_adopt_gateway_capture(
            payment=Payment.objects.get(pk=d.payment_id),
            amount=line.amount,
            gateway_transaction_id=line.gateway_transaction_id,
            actor=actor,
        )
    elif d.kind == DiscrepancyKind.MISSING_AT_GATEWAY and d.refund_id:
        refund_mark_not_settled(refund=d.refund, reason=f"not in the gateway's settlement ({d.public_id})", actor=actor)  # type: ignore[arg-type]
    elif d.kind == DiscrepancyKind.MISSING_AT_GATEWAY and d.payment_id:
        payment = Payment.objects.get(pk=d.payment_id)
        payment_adjust_captured(
            payment=payment,
            amount=payment.amount_captured - (d.our_amount or 0),
            reason=f"never settled ({d.public_id})",
            actor=actor,
        )
    else:
        raise ReconciliationError(
            f"Our record cannot be adjusted for a {d.get_kind_display().lower()}; "
            "accept the gateway's view or write it off."
        )
    entry = JournalEntry.objects.filter(payment=d.payment).order_by("-pk").first() if d.payment_id else None
    if d.kind == DiscrepancyKind.STATUS_MISMATCH and line is not None and entry is not None:
        # The refund or capture now on our books is what the line settled: link them, so later
        # runs do not report that entry as missing at the gateway.
        SettlementLine.objects.filter(pk=line.pk, entry__isnull=True).update(
            entry=entry, matched_by="resolution", match_status=MatchStatus.MATCHED
        )
    return _close(
        d,
        resolution=Resolution.ADJUST_OURS,
        user=user,
        actor=actor,
        note=note,
        entry=entry,
        amount=discrepancy_residual(d),
    )


def _create_payment(discrepancy: Discrepancy, *, user: User, actor: Actor, note: str) -> Discrepancy:
    """A charge the gateway settled that we never recorded: ask the gateway for its full record
    (getTransactionDetails; no transaction open), then record it as a captured payment."""
    d = Discrepancy.objects.select_related("line", "gateway_account").get(pk=discrepancy.pk)
    if d.kind not in {DiscrepancyKind.MISSING_ON_OUR_SIDE} or d.line is None or d.line.kind != LineKind.CHARGE:
        raise ReconciliationError(
            "A payment can only be created for a charge the gateway settled that we never recorded."
        )
    details = gateway_for(d.gateway_account).fetch_transaction(d.line.gateway_transaction_id)
    with transaction.atomic():
        d = _lock_open(discrepancy)
        payment = payment_record_gateway_charge(
            account=d.gateway_account,
            customer=None,
            details=details,
            call_reference=f"rc{d.line_id}"[:20],
            description=f"Recorded from settlement ({d.public_id})",
            metadata={"discrepancy": d.public_id},
            actor=actor,
        )
        entry = JournalEntry.objects.filter(payment=payment, kind=EntryKind.CAPTURE).order_by("-pk").first()
        d.payment = payment
        SettlementLine.objects.filter(discrepancies=d).update(
            entry=entry, matched_by="created", match_status=MatchStatus.MATCHED
        )
        closed = _close(
            d,
            resolution=Resolution.CREATE_PAYMENT,
            user=user,
            actor=actor,
            note=note,
            entry=entry,
            amount=payment.amount_captured,
        )
    unmatched_webhooks_replay(account=d.gateway_account, actor=actor, transaction_id=details.transaction_id)
    return closed


def _request_write_off(d: Discrepancy, *, user: User, actor: Actor, note: str) -> Discrepancy:
    residual = discrepancy_residual(d)
    if residual <= 0:
        raise ReconciliationError(
            "Only money we are owed and did not receive can be written off; accept the gateway's view instead."
        )
    d.status, d.resolution, d.resolution_amount = Discrepancy.Status.PENDING_APPROVAL, Resolution.WRITE_OFF, residual
    d.requested_by, d.requested_at, d.resolution_note = user, timezone.now(), note[:255]
    d.save()
    audit_record(
        actor=actor, action="discrepancy.writeoff_requested", target=d, merchant_id=d.gateway_account.merchant_id,
        after={"amount": residual, "currency": d.currency, "note": note},
    )  # fmt: skip
    return d


def discrepancy_approve_write_off(*, discrepancy: Discrepancy, approver: User, note: str = "") -> Discrepancy:
    """A second person approves the write-off: the residual leaves the receivable for write-offs."""
    if not approver.has_perm("reconciliation.approve_writeoff"):
        raise ResolutionNotAllowed("You may not approve write-offs.")
    actor = Actor.staff(approver)
    with transaction.atomic():
        d = _lock_open(discrepancy, status=Discrepancy.Status.PENDING_APPROVAL)
        if d.requested_by_id == approver.pk:
            raise ResolutionNotAllowed("A write-off needs an approver other than the person who asked for it.")
        amount = d.resolution_amount or 0
        entry = _adjustment(d, amount, kind=EntryKind.WRITE_OFF, to=WO, memo=f"write-off {d.public_id}")
        d.approved_by = approver
        return _close(
            d,
            resolution=Resolution.WRITE_OFF,
            user=approver,
            actor=actor,
            note=note or d.resolution_note,
            entry=entry,
            amount=amount,
        )


def discrepancy_reject_write_off(*, discrepancy: Discrepancy, approver: User, note: str = "") -> Discrepancy:
    if not approver.has_perm("reconciliation.approve_writeoff"):
        raise ResolutionNotAllowed("You may not decide on write-offs.")
    with transaction.atomic():
        d = _lock_open(discrepancy, status=Discrepancy.Status.PENDING_APPROVAL)
        d.status, d.resolution, d.resolution_amount = Discrepancy.Status.OPEN, "", None
        d.save()
        audit_record(
            actor=Actor.staff(approver), action="discrepancy.writeoff_rejected", target=d,
            merchant_id=d.gateway_account.merchant_id, after={"note": note},
        )  # fmt: skip
    return d
