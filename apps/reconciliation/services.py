"""Settlement import and reconciliation runs (discrepancies are resolved in discrepancies.py)."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from datetime import date, datetime
from typing import Any

from django.core.exceptions import ValidationError
from django.db import DataError, IntegrityError, transaction

from apps.audit.actors import Actor
from apps.audit.services import audit_record, audited_update
from apps.core.dates import utc_days
from apps.gateways.errors import GatewayError
from apps.gateways.models import GatewayAccount
from apps.gateways.registry import settlement_gateway_for
from apps.gateways.settlement_interface import SettlementBatchData, SettlementLineData, SettlementLineKind
from apps.ledger.models import AccountKind, EntryKind
from apps.ledger.services import EntrySpec, ledger_post_many
from apps.payments.models import Payment
from apps.payments.services import (
    bank_debit_returned,
    bank_debits_settled,
    payment_sync_with_gateway,
)
from apps.webhooks.models import IncomingWebhook
from apps.webhooks.services import incoming_webhooks_replay

from . import matching
from .csv_import import CsvImportError, parse_settlement_csv
from .errors import ReconciliationError
from .models import (
    CsvMapping,
    SettlementBatch,
    SettlementLine,
)

logger = logging.getLogger(__name__)

R, CLEARING, BANK, FEES = AccountKind.RECEIVABLE, AccountKind.CLEARING, AccountKind.BANK, AccountKind.FEES
ADJ, WO = AccountKind.ADJUSTMENTS, AccountKind.WRITE_OFFS
LINE_BATCH = 5000


# --- CSV column mappings -----------------------------------------------------------------------

# What a mapping says about reading a file: the fields staff set (all of them but the times).
CSV_MAPPING_FIELDS = tuple(
    field.name for field in CsvMapping._meta.concrete_fields if field.name not in ("id", "created_at", "updated_at")
)


def csv_mapping_snapshot(mapping: CsvMapping) -> dict[str, Any]:
    """How `mapping` reads a file, as its audit rows and the imports read through it record it."""
    return {"id": mapping.pk, **{name: getattr(mapping, name) for name in CSV_MAPPING_FIELDS}}


def _name_taken(name: str, *, other_than: int | None = None) -> ValidationError | None:
    """After a unique violation: the error the admin form's own uniqueness check shows for a name
    another mapping holds ("CSV column mapping with this Name already exists."), or None when no
    other mapping holds it (the violation was something else)."""
    holders = CsvMapping.objects.filter(name=name)
    if other_than is not None:
        holders = holders.exclude(pk=other_than)
    if not holders.exists():
        return None
    return ValidationError({"name": CsvMapping(name=name).unique_error_message(CsvMapping, ("name",))})


def csv_mapping_create(*, values: dict[str, Any], actor: Actor) -> CsvMapping:
    """A saved column mapping for settlement CSV uploads; audited with everything it says.
    ValidationError (on `name`) when another mapping has the name, also one saved at the same
    moment, after any check of the caller's."""
    unknown = set(values) - set(CSV_MAPPING_FIELDS)
    if unknown:
        raise ValueError(f"A CSV mapping has no {', '.join(sorted(unknown))}")
    try:
        with transaction.atomic():
            mapping = CsvMapping.objects.create(**values)
            audit_record(actor=actor, action="csv_mapping.created", target=mapping, after=csv_mapping_snapshot(mapping))
    except IntegrityError as exc:
        taken = _name_taken(values.get("name", ""))
        if taken is None:
            raise
        raise taken from exc
    return mapping


def csv_mapping_update(*, mapping: CsvMapping, changes: dict[str, Any], actor: Actor) -> CsvMapping:
    """Change how a mapping reads files (later uploads only: a stored batch keeps its amounts);
    audited before and after. ValidationError (on `name`) when renamed to another mapping's name."""
    try:
        with transaction.atomic():
            locked = CsvMapping.objects.select_for_update().get(pk=mapping.pk)
            audited_update(
                target=locked, changes=changes, allowed=CSV_MAPPING_FIELDS, action="csv_mapping.updated", actor=actor
            )
    except IntegrityError as exc:
        taken = _name_taken(changes["name"], other_than=mapping.pk) if "name" in changes else None
        if taken is None:
            raise
        raise taken from exc
    return locked


def csv_mapping_delete(*, mapping: CsvMapping, actor: Actor) -> None:
    """Remove a mapping from the upload's choices; audited with what it said."""
    with transaction.atomic():
        locked = CsvMapping.objects.select_for_update().get(pk=mapping.pk)
        audit_record(actor=actor, action="csv_mapping.deleted", target=locked, before=csv_mapping_snapshot(locked))
        locked.delete()


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
    *,
    account: GatewayAccount,
    data: SettlementBatchData,
    source: str,
    actor: Actor,
    mapping: dict[str, Any] | None = None,
) -> SettlementBatch | None:
    """One transaction: the batch, its lines and its ledger entries (settled money moves from
    the receivable to clearing, fees out of clearing, the payout from clearing to the bank).
    None if the batch was imported before. `mapping`: the snapshot of the CSV mapping the lines
    were read through, recorded in the audit row."""
    lines = data.lines
    charges = sum(line.amount for line in lines if line.kind == SettlementLineKind.CHARGE)
    refunds = sum(line.amount for line in lines if line.kind == SettlementLineKind.REFUND)
    returns = sum(line.amount for line in lines if line.kind == SettlementLineKind.RETURN)
    fees = sum(line.fee + line.tax for line in lines)
    payout = data.payout_amount if data.payout_amount is not None else charges - refunds - returns - fees
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
                returns_amount=returns,
                fees_amount=fees,
                payout_amount=payout,
                payout_reference=data.payout_reference[:64],
                **_reported_totals(data),
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
            _bank_debits_follow(account, lines, actor)
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
                    **({"mapping": mapping} if mapping is not None else {}),
                },
            )
    except IntegrityError:
        if SettlementBatch.objects.filter(gateway_account=account, gateway_batch_id=data.batch_id).exists():
            return None  # imported before (or by a run alongside this one)
        raise
    return batch


def _bank_debits_follow(account: GatewayAccount, lines: list[SettlementLineData], actor: Actor) -> None:
    """Bank debits (ACH) follow their settlement: settled ones succeed, returned ones are reversed
    (each once: the batch is imported once and the payment's status guards a repeat)."""
    charged = [line.transaction_id for line in lines if line.kind == SettlementLineKind.CHARGE]
    bank_debits_settled(gateway_account_id=account.pk, transaction_ids=charged, actor=actor)
    for line in lines:
        if line.kind == SettlementLineKind.RETURN:
            bank_debit_returned(
                gateway_account_id=account.pk,
                transaction_id=line.transaction_id,
                amount=line.amount,
                return_code=line.return_code,
                return_reason=line.return_reason,
                returned_at=line.occurred_at,
                actor=actor,
            )


def _reported_totals(data: SettlementBatchData) -> dict[str, Any]:
    """The gateway's own totals for the batch and whether its lines add up to them (charges and
    refunds, amounts and counts); matching opens a discrepancy where they do not."""
    totals = data.reported_totals
    if totals is None:
        return {}
    charges = [line.amount for line in data.lines if line.kind == SettlementLineKind.CHARGE]
    refunds = [line.amount for line in data.lines if line.kind == SettlementLineKind.REFUND]
    reported = (totals.charge_amount, totals.charge_count, totals.refund_amount, totals.refund_count)
    return {
        "reported_charges_amount": totals.charge_amount,
        "reported_charge_count": totals.charge_count,
        "reported_refunds_amount": totals.refund_amount,
        "reported_refund_count": totals.refund_count,
        "totals_agree": reported == (sum(charges), len(charges), sum(refunds), len(refunds)),
    }


def _settlement_entries(account: GatewayAccount, batch: SettlementBatch, fees: int) -> list[EntrySpec]:
    common: dict[str, Any] = {
        "gateway_account_id": account.pk,
        "currency": batch.currency,
        "source": f"settlement_batch:{batch.pk}",
        "occurred_at": batch.settled_at,
    }
    specs = []
    net = batch.charges_amount - batch.refunds_amount - batch.returns_amount
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
    """Store a settlement report uploaded as CSV (all its batches or none), then match. Each
    batch's audit row records the mapping as the file was read through it."""
    snapshot = csv_mapping_snapshot(mapping)  # the very object the file is read through
    try:
        batches = parse_settlement_csv(
            content, mapping=mapping, currency=account.currency, default_batch_id=batch_id, settled_at=settled_at
        )
    except CsvImportError as exc:
        raise ReconciliationError(f"The file was not imported: {exc}", code="invalid_settlement_file") from exc
    try:
        with transaction.atomic():
            stored = [
                settlement_batch_store(
                    account=account, data=data, source=SettlementBatch.Source.CSV, actor=actor, mapping=snapshot
                )
                for data in batches
            ]
    except (IntegrityError, DataError, OverflowError) as exc:
        # The parser refuses what it can name (a repeated line, totals past 64 bits); whatever else
        # the database refuses to store from the file (a NUL character ...) is still the file's
        # fault, and nothing was stored.
        logger.warning("settlement_csv_refused", extra={"account": account.public_id, "error": str(exc)[:200]})
        raise ReconciliationError(
            f"The file was not imported: the database refused to store its lines ({str(exc).splitlines()[0][:200]}).",
            code="invalid_settlement_file",
        ) from exc
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
    # Not logged here: each caller reports the summary once (the command prints it, the task's
    # return value is its log line, a run keeps it in its row).
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
