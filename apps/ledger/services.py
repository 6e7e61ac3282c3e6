"""Posting to the ledger, always inside the transaction that makes the change it records."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime

from django.db import connection
from django.utils import timezone

from .errors import LedgerUnbalanced
from .models import JournalEntry, LedgerAccount, Posting

AccountKey = tuple[int, str, str]  # gateway account id, kind, currency


@dataclass(frozen=True)
class EntrySpec:
    """One journal entry to post: `lines` are (account kind, signed amount), debit positive."""

    gateway_account_id: int
    kind: str
    currency: str
    amount: int
    lines: tuple[tuple[str, int], ...]
    payment_id: int | None = None
    refund_id: int | None = None
    gateway_transaction_id: str = ""
    source: str = ""
    memo: str = ""
    occurred_at: datetime | None = None

    def check(self) -> None:
        if sum(amount for _, amount in self.lines) != 0:
            raise LedgerUnbalanced(f"{self.kind} entry does not balance: {self.lines}")
        if len(self.lines) < 2 or any(amount == 0 for _, amount in self.lines):
            raise LedgerUnbalanced(f"{self.kind} entry needs two or more non-zero lines: {self.lines}")
        if self.amount < 0 or len(self.currency) != 3:
            raise LedgerUnbalanced(f"{self.kind} entry has a bad amount or currency")


def _accounts(keys: Iterable[AccountKey]) -> dict[AccountKey, int]:
    """Ledger account ids for (gateway account, kind, currency), created on first use."""
    wanted = set(keys)
    if not wanted:
        return {}

    def load() -> dict[AccountKey, int]:
        # One lookup by the unique (gateway account, kind, currency) index; written out because the
        # ORM's three IN filters cost a purchase more to build than the statement costs to run.
        keys = sorted(wanted)
        with connection.cursor() as cursor:
            cursor.execute(
                f"SELECT gateway_account_id, kind, currency, id FROM {LedgerAccount._meta.db_table}"  # noqa: S608 - the model's name
                f" WHERE (gateway_account_id, kind, currency) IN ({', '.join(['(%s, %s, %s)'] * len(keys))})",
                [value for ga, kind, cur in keys for value in (ga, str(kind), str(cur))],
            )
            return {(ga, kind, cur): pk for ga, kind, cur, pk in cursor.fetchall()}

    found = load()
    missing = wanted - found.keys()
    if missing:
        LedgerAccount.objects.bulk_create(
            [LedgerAccount(gateway_account_id=ga, kind=kind, currency=cur) for ga, kind, cur in sorted(missing)],
            ignore_conflicts=True,
        )
        found = load()
    return found


def ledger_post_many(specs: Sequence[EntrySpec]) -> list[JournalEntry]:
    """Post entries: one INSERT for the entries and one for all their postings (the database
    checks each entry's balance per statement on PostgreSQL)."""
    if not specs:
        return []
    if not connection.in_atomic_block:
        raise RuntimeError("ledger postings must be made inside the transaction that makes the change")
    for spec in specs:
        spec.check()
    accounts = _accounts((spec.gateway_account_id, kind, spec.currency) for spec in specs for kind, _ in spec.lines)
    now = timezone.now()
    entries = JournalEntry.objects.bulk_create(
        [
            JournalEntry(
                gateway_account_id=spec.gateway_account_id,
                kind=spec.kind,
                currency=spec.currency,
                amount=spec.amount,
                payment_id=spec.payment_id,
                refund_id=spec.refund_id,
                gateway_transaction_id=spec.gateway_transaction_id,
                source=spec.source,
                memo=spec.memo[:255],
                occurred_at=spec.occurred_at or now,
            )
            for spec in specs
        ]
    )
    Posting.objects.bulk_create(
        [
            Posting(
                entry_id=entry.pk, account_id=accounts[(spec.gateway_account_id, kind, spec.currency)], amount=amount
            )
            for entry, spec in zip(entries, specs, strict=True)
            for kind, amount in spec.lines
        ]
    )
    return entries


def ledger_post(spec: EntrySpec) -> JournalEntry:
    return ledger_post_many([spec])[0]
