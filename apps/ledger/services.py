"""Posting to the ledger, always inside the transaction that makes the change it records."""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db import IntegrityError, connection, transaction
from django.utils import timezone

from .errors import LedgerUnbalanced
from .models import JournalEntry, LedgerAccount, Posting

AccountKey = tuple[int, str, str]  # gateway account id, kind, currency

# pg_advisory_xact_lock(key, gateway account) of one gateway account's entries ("JRNL"): a
# transaction posting entries for the account holds it shared until it ends, a cut-off
# (ledger_cutoff) exclusively.
ENTRY_LOCK_ID = 0x4A524E4C


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
    """Ledger account ids for (gateway account, kind, currency), created on first use (the entry
    locks are the posting statement's, _insert_postgresql)."""
    wanted = set(keys)
    if not wanted:
        return {}

    def load() -> dict[AccountKey, int]:
        # One lookup by the unique (gateway account, kind, currency) index; written out because the
        # ORM's three IN filters cost more to build than the statement costs to run.
        keys = sorted(wanted)
        sql = (
            f"SELECT gateway_account_id, kind, currency, id FROM {LedgerAccount._meta.db_table}"  # noqa: S608 - the model's name
            f" WHERE (gateway_account_id, kind, currency) IN ({', '.join(['(%s, %s, %s)'] * len(keys))})"
        )
        params: list[int | str] = [value for ga, kind, cur in keys for value in (ga, str(kind), str(cur))]
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
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


# Ledger account ids this process has seen committed: an account is never deleted (PROTECT from
# its postings and its gateway account) nor re-keyed, so a committed id stays right. Ids read or
# made inside a transaction are kept only once it commits.
_known: dict[AccountKey, int] = {}


def known_accounts(keys: Iterable[AccountKey]) -> dict[AccountKey, int]:
    """Ledger account ids for (gateway account, kind, currency): from what this process has seen
    committed, else read (and created on first use) inside the caller's transaction."""
    wanted = set(keys)
    missing = wanted - _known.keys()
    if not missing:
        return {key: _known[key] for key in wanted}
    found = _accounts(missing)
    transaction.on_commit(lambda: _known.update(found))
    return {key: _known.get(key) or found[key] for key in wanted}


def forget_known_accounts() -> None:
    """Tests: a database emptied between tests makes every kept id stale."""
    _known.clear()


def ledger_post_many(specs: Sequence[EntrySpec]) -> list[JournalEntry]:
    """Post entries inside the caller's transaction. On PostgreSQL one statement takes the gateway
    accounts' entry locks, inserts the entries and all their postings (the database checks each
    entry's balance at its end); elsewhere one INSERT for the entries and one for the postings."""
    if not specs:
        return []
    if not connection.in_atomic_block:
        raise RuntimeError("ledger postings must be made inside the transaction that makes the change")
    for spec in specs:
        spec.check()
    now = timezone.now()
    entries = [
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
            created_at=now,
        )
        for spec in specs
    ]
    keys = [(spec.gateway_account_id, kind, spec.currency) for spec in specs for kind, _ in spec.lines]
    accounts = known_accounts(keys)
    if connection.vendor == "postgresql":
        _insert_postgresql(entries, specs, accounts)
        return entries
    JournalEntry.objects.bulk_create(entries)
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


_ENTRY_COLUMNS = (
    "public_id", "gateway_account_id", "kind", "currency", "amount", "payment_id", "refund_id",
    "gateway_transaction_id", "source", "memo", "occurred_at", "created_at",
)  # fmt: skip
_POSTING_ROW = "(%s, %s::bigint, %s::bigint, %s, %s, %s::bigint)"
_ENTRY_ROW = (
    "(%s, %s::bigint, %s, %s, %s::bigint, %s::bigint, %s::bigint, %s, %s, %s, %s::timestamptz, %s::timestamptz)"
)


def _insert_postgresql(
    entries: list[JournalEntry], specs: Sequence[EntrySpec], accounts: dict[AccountKey, int]
) -> None:
    """One statement: the entry locks shared (a one-time filter, evaluated before any row is
    inserted and so before any entry id is drawn: ledger_cutoff), the entries, their postings
    joined to them by public id and to their ledger accounts by id and key. Sets each entry's pk.

    A kept account id that no longer names that account (a database restored under running
    processes) posts nothing: its posting is dropped (the entry no longer balances, or the postings
    come up short), the kept ids are forgotten and the caller's transaction fails with
    LedgerUnbalanced; its retry reads the accounts again."""
    held = sorted({entry.gateway_account_id for entry in entries})
    params: list[Any] = [ENTRY_LOCK_ID, *held]
    for entry in entries:
        params += [getattr(entry, column) for column in _ENTRY_COLUMNS]
    postings = [
        (entry.public_id, accounts[key], *key, amount)
        for entry, spec in zip(entries, specs, strict=True)
        for kind, amount in spec.lines
        for key in [(spec.gateway_account_id, str(kind), spec.currency)]
    ]
    for posting in postings:
        params += posting
    entry_table, posting_table = JournalEntry._meta.db_table, Posting._meta.db_table
    account_table = LedgerAccount._meta.db_table
    sql = (
        "WITH held AS (SELECT count(pg_advisory_xact_lock_shared(%s, h.ga)) AS n"  # noqa: S608 - our own table and column names, every value a placeholder
        f" FROM (VALUES {', '.join(['(%s::integer)'] * len(held))}) AS h(ga)),"
        f" entries AS (INSERT INTO {entry_table} ({', '.join(_ENTRY_COLUMNS)})"
        f" SELECT * FROM (VALUES {', '.join([_ENTRY_ROW] * len(entries))}) AS v"
        " WHERE (SELECT n FROM held) > 0 RETURNING id, public_id),"
        f" posted AS (INSERT INTO {posting_table} (entry_id, account_id, amount)"
        " SELECT entries.id, a.id, p.amount"
        f" FROM (VALUES {', '.join([_POSTING_ROW] * len(postings))}) AS p(entry, account, ga, kind, currency, amount)"
        " JOIN entries ON entries.public_id = p.entry"
        f" JOIN {account_table} a ON a.id = p.account AND a.gateway_account_id = p.ga AND a.kind = p.kind"
        " AND a.currency = p.currency RETURNING 1)"
        " SELECT id, public_id, (SELECT count(*) FROM posted) FROM entries"
    )
    try:
        with connection.cursor() as cursor:
            cursor.execute(sql, params)
            rows = cursor.fetchall()
    except IntegrityError as exc:
        # The entries balance (checked above): a posting the account join dropped unbalances one.
        forget_known_accounts()
        raise LedgerUnbalanced(f"entries refused ({exc}): ledger accounts changed?") from exc
    ids = {public_id: pk for pk, public_id, _ in rows}
    if len(ids) != len(entries) or rows[0][2] != len(postings):
        forget_known_accounts()
        raise LedgerUnbalanced(f"{len(rows)} of {len(entries)} entries and postings short (ledger accounts changed?)")
    for entry in entries:
        entry.pk = ids[entry.public_id]
        entry._state.adding, entry._state.db = False, connection.alias


def ledger_post(spec: EntrySpec) -> JournalEntry:
    return ledger_post_many([spec])[0]


def ledger_cutoff(*, gateway_account_id: int) -> int:
    """Inside the caller's transaction: a cut-off in the account's entries, by commit. Returns the
    id of the last entry so far; every entry of the account with an id up to it is committed and
    seen by the transaction's next reads, every entry with a higher id is committed after them.

    An entry's id comes from the sequence when it is inserted, not when its transaction commits,
    and neither does its created_at: a long transaction could commit an entry dated before a
    cut-off after it. So on PostgreSQL posting and cut-off serialise per gateway account: a
    transaction posting entries for the account holds its entry lock shared, from its first
    posting (before the insert) to its end, and the cut-off takes it exclusively until the
    caller's transaction ends. It waits for the transactions that posted and are still open
    (their entries are committed, with lower ids, before it reads), and postings after it wait
    for it (their ids, drawn later, are higher). Reads are READ COMMITTED (Django's default):
    each statement sees what committed before it began.

    Keep the caller's transaction short and read-only: the account's postings wait for it, and
    a transaction about to post may hold a lock (audit_record's chain, a row) while it waits for
    the cut-off, which must not then wait for that lock in turn. On SQLite transactions that
    write are serialised: an entry not committed yet was inserted after every committed one and
    already has a higher id.
    """
    if not connection.in_atomic_block:
        raise RuntimeError("a ledger cut-off holds until the end of the caller's transaction")
    if connection.vendor == "postgresql":
        with connection.cursor() as cursor:
            cursor.execute("SELECT pg_advisory_xact_lock(%s, %s)", [ENTRY_LOCK_ID, gateway_account_id])
    last = JournalEntry.objects.order_by("-pk").values_list("pk", flat=True).first()
    return last or 0
