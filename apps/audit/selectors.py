from __future__ import annotations

from collections.abc import Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any

from django.db.models import Q, QuerySet

from .chain import GENESIS_HASH, compute_hash, row_fields
from .models import AuditEvent

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
    event_id: int
    reason: str


@dataclass(frozen=True)
class ChainReport:
    checked: int
    first_break: ChainBreak | None

    @property
    def ok(self) -> bool:
        return self.first_break is None


def _events_in_order(batch_size: int) -> Iterator[AuditEvent]:
    return AuditEvent.objects.order_by("id").iterator(chunk_size=batch_size)


def audit_chain_verify(*, batch_size: int = 5000) -> ChainReport:
    """Walk the chain from the genesis row and report the first link that does not hold."""
    expected_prev = GENESIS_HASH
    checked = 0
    for event in _events_in_order(batch_size):
        if event.prev_hash != expected_prev:
            return ChainReport(
                checked,
                ChainBreak(event.id, "prev_hash does not match the previous event (a row was removed or reordered)"),
            )
        if compute_hash(row_fields(event), event.prev_hash) != event.hash:
            return ChainReport(checked, ChainBreak(event.id, "content does not match its hash (the row was altered)"))
        expected_prev = event.hash
        checked += 1
    return ChainReport(checked, None)


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
