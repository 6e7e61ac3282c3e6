from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from django.db import models
from django.db.models import Count, Max, Q, QuerySet
from django.utils import timezone

from .chain import GENESIS_HASH, checkpoint_signature_valid, checkpoint_stamp, compute_hash, row_fields
from .models import AuditCheckpoint, AuditEvent

# What a finance approver may read of the trail (`audit.view_finance_auditevent`): the events of
# money records, by the target's model label. Write-offs are events of their discrepancy.
FINANCE_TARGET_TYPES = (
    "payments.payment",
    "payments.refund",
    "reconciliation.discrepancy",
    "reconciliation.settlementbatch",
    "ledger.journalentry",
    "reconciliation.reconciliationrun",
    "reports.dayclose",
)


@dataclass(frozen=True)
class ChainBreak:
    event_id: int | None
    reason: str
    checkpoint_id: int | None = None


@dataclass(frozen=True)
class ChainReport:
    checked: int
    first_break: ChainBreak | None
    chains: int = 0
    checkpoint_id: int | None = None

    @property
    def ok(self) -> bool:
        return self.first_break is None


def _events_in_order(batch_size: int) -> Iterator[AuditEvent]:
    # One pass in (chain, id) order, along the audit_chain_idx index.
    return AuditEvent.objects.order_by("chain", "id").iterator(chunk_size=batch_size)


def _walk_chains(batch_size: int) -> tuple[int, int, ChainBreak | None]:
    """Check every link of every chain. Returns (events checked, chains, first break)."""
    checked = chains = 0
    chain: int | None = None
    expected_prev = GENESIS_HASH
    for event in _events_in_order(batch_size):
        if event.chain != chain:
            chain, expected_prev, chains = event.chain, GENESIS_HASH, chains + 1
        if event.prev_hash != expected_prev:
            reason = (
                f"prev_hash does not match the previous event of chain {event.chain} (a row was removed or reordered)"
            )
            return checked, chains, ChainBreak(event.id, reason)
        if compute_hash(row_fields(event), event.prev_hash) != event.hash:
            return checked, chains, ChainBreak(event.id, "content does not match its hash (the row was altered)")
        expected_prev = event.hash
        checked += 1
    return checked, chains, None


def _checkpoint_break(batch_size: int) -> tuple[int | None, ChainBreak | None]:
    """Check the checkpoints' signatures and links, and that the latest one's heads are still in
    their chains with the same hashes. Returns (latest checkpoint id, first break)."""
    prev_signature = ""
    latest: AuditCheckpoint | None = None
    for checkpoint in AuditCheckpoint.objects.order_by("id").iterator(chunk_size=batch_size):
        if checkpoint.prev_signature != prev_signature:
            return None, ChainBreak(None, "a checkpoint before it was removed or reordered", checkpoint.id)
        stamp = checkpoint_stamp(checkpoint.created_at)
        if not checkpoint_signature_valid(
            created_at=stamp, heads=checkpoint.heads, prev_signature=prev_signature, signature=checkpoint.signature
        ):
            reason = "its signature does not match (forged, or signed with another key)"
            return None, ChainBreak(None, reason, checkpoint.id)
        prev_signature, latest = checkpoint.signature, checkpoint
    if latest is None:
        return None, None
    recorded = {event_id: (chain, digest) for chain, event_id, digest in latest.heads}
    found = {
        event.id: (event.chain, event.hash)
        for event in AuditEvent.objects.filter(id__in=recorded).only("id", "chain", "hash")
    }
    for event_id, (chain, digest) in sorted(recorded.items()):
        if event_id not in found:
            reason = f"the head of chain {chain} it signed is gone (the chain was truncated or the row deleted)"
            return latest.id, ChainBreak(event_id, reason, latest.id)
        if found[event_id] != (chain, digest):
            reason = f"the head of chain {chain} it signed has another hash now (the chain was rewritten)"
            return latest.id, ChainBreak(event_id, reason, latest.id)
    return latest.id, None


def _unsigned_break(stale_after: timedelta | None, expected: tuple[int, str] | None) -> ChainBreak | None:
    """Events the checkpoints should cover by now but do not (the task stopped, or the newest
    checkpoints were removed), and a checkpoint known from outside (the log) that is not here."""
    latest = AuditCheckpoint.objects.order_by("-id").only("id", "created_at").first()
    if expected is not None:
        checkpoint_id, signature = expected
        if not AuditCheckpoint.objects.filter(id=checkpoint_id, signature=signature).exists():
            reason = "the checkpoint recorded outside the database is not here (removed or altered)"
            return ChainBreak(None, reason, checkpoint_id)
    if stale_after is None:
        return None
    unsigned = AuditEvent.objects.filter(occurred_at__lt=timezone.now() - stale_after)
    if latest is not None:
        unsigned = unsigned.filter(occurred_at__gt=latest.created_at)
    oldest = unsigned.order_by("occurred_at").only("id").first()
    if oldest is None:
        return None
    reason = (
        f"no checkpoint signs events older than {stale_after.total_seconds():.0f}s "
        "(the checkpoint task is not running, or the newest checkpoints were removed)"
    )
    return ChainBreak(oldest.id, reason, latest.id if latest else None)


def audit_chain_verify(
    *, batch_size: int = 5000, stale_after: timedelta | None = None, expected: tuple[int, str] | None = None
) -> ChainReport:
    """Walk every chain from its genesis row and report the first link that does not hold, then
    check the signed checkpoints against the chains. With `stale_after`, events that old must be
    signed by a checkpoint; with `expected` (id, signature: a copy from the log), that checkpoint
    must be here."""
    checked, chains, first_break = _walk_chains(batch_size)
    if first_break is not None:
        return ChainReport(checked, first_break, chains)
    checkpoint_id, checkpoint_break = _checkpoint_break(batch_size)
    if checkpoint_break is None and (stale_after is not None or expected is not None):
        checkpoint_break = _unsigned_break(stale_after, expected)
    return ChainReport(checked, checkpoint_break, chains, checkpoint_id)


def audit_events_for(*, target_type: str, target_id: str) -> list[AuditEvent]:
    return list(AuditEvent.objects.filter(target_type=target_type, target_id=target_id).order_by("id"))


def audit_events_for_targets(*, targets: Mapping[str, Iterable[str]], newest: int | None = None) -> list[AuditEvent]:
    """The events of several targets ({target type: ids}) in one query, oldest first; with `newest`,
    only that many of the latest. The rows' before/after snapshots are not loaded."""
    match = Q(pk__in=[])
    for target_type, target_ids in targets.items():
        ids = list(target_ids)
        if ids:
            match |= Q(target_type=target_type, target_id__in=ids)
    events = AuditEvent.objects.filter(match).defer("before", "after").order_by("-id")
    return list(events[:newest] if newest is not None else events)[::-1]


def audit_action_history(
    *, action: str, target_type: str, target_ids: Iterable[str]
) -> dict[str, tuple[int, datetime]]:
    """How often `action` was audited of each target, and when last: {target id: (count, last)},
    in one query (targets never audited so are left out)."""
    rows = (
        AuditEvent.objects.filter(action=action, target_type=target_type, target_id__in=list(target_ids))
        .values("target_id")
        .annotate(times=Count("id"), last=Max("occurred_at"))
    )
    return {row["target_id"]: (row["times"], row["last"]) for row in rows}


def audit_recorded(*, action: str, target: models.Model, after: dict[str, Any]) -> bool:
    """Whether `action` was audited of `target` with (at least) these `after` values."""
    target_id = str(getattr(target, "public_id", None) or target.pk)
    events = AuditEvent.objects.filter(action=action, target_type=target._meta.label_lower, target_id=target_id)
    return events.filter(**{f"after__{key}": value for key, value in after.items()}).exists()


def changes_committed_by(request_ids: list[str]) -> bool:
    """Did work tagged with one of these request ids commit a change? Every change writes its
    audit row in its own transaction with the request's correlation id, so none means nothing."""
    ids = [request_id for request_id in request_ids if request_id]
    return bool(ids) and AuditEvent.objects.filter(correlation_id__in=ids).exists()


def audit_events_visible_to(user: Any, events: QuerySet[AuditEvent]) -> QuerySet[AuditEvent]:
    """The part of `events` this staff user may read: all of it with `audit.view_auditevent`,
    the events of finance objects with `audit.view_finance_auditevent`, otherwise nothing."""
    if user.has_perm("audit.view_auditevent"):
        return events
    if user.has_perm("audit.view_finance_auditevent"):
        return events.filter(target_type__in=FINANCE_TARGET_TYPES)
    return events.none()
