"""Reads of the ledger: balances come from the postings, never from a stored total."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from django.db.models import Count, F, Q, QuerySet, Sum

from .models import DEBIT_NORMAL, JournalEntry, LedgerAccount, Posting


@dataclass(frozen=True)
class Balance:
    account_id: int
    gateway_account: str
    kind: str
    currency: str
    debits: int
    credits: int

    @property
    def balance(self) -> int:
        """Debits minus credits (positive for a debit balance)."""
        return self.debits - self.credits

    @property
    def natural_balance(self) -> int:
        """The balance on the account's normal side (sales and adjustments read credit-positive)."""
        return self.balance if self.kind in DEBIT_NORMAL else -self.balance


def with_totals(accounts: QuerySet[LedgerAccount]) -> QuerySet[Any]:
    """Accounts annotated with `debits` (sum of positive postings) and `credits` (sum of the
    negative ones, as a negative number)."""
    return accounts.annotate(
        debits=Sum("postings__amount", filter=Q(postings__amount__gt=0), default=0),
        credits=Sum("postings__amount", filter=Q(postings__amount__lt=0), default=0),
    )


def account_balances(*, gateway_account_id: int | None = None, currency: str | None = None) -> list[Balance]:
    accounts = LedgerAccount.objects.select_related("gateway_account")
    if gateway_account_id is not None:
        accounts = accounts.filter(gateway_account_id=gateway_account_id)
    if currency is not None:
        accounts = accounts.filter(currency=currency)
    totals = with_totals(accounts).order_by("gateway_account_id", "currency", "kind")
    return [
        Balance(
            account_id=a.pk,
            gateway_account=a.gateway_account.public_id,
            kind=a.kind,
            currency=a.currency,
            debits=a.debits,
            credits=-a.credits,
        )
        for a in totals
    ]


def account_balance(*, gateway_account_id: int, kind: str, currency: str) -> int:
    """Debits minus credits of one account (0 if it has never been used)."""
    total = Posting.objects.filter(
        account__gateway_account_id=gateway_account_id, account__kind=kind, account__currency=currency
    ).aggregate(total=Sum("amount", default=0))["total"]
    return int(total)


def ledger_problems(*, limit: int = 20) -> list[str]:
    """Everything that breaks the ledger's rules, as readable lines (empty when sound)."""
    # Entries that balance make postings that sum to zero: no separate total is needed.
    problems: list[str] = []
    unbalanced = (
        Posting.objects.values("entry__public_id").annotate(total=Sum("amount")).exclude(total=0).order_by()[:limit]
    )
    problems += [f"entry {row['entry__public_id']} does not balance (off by {row['total']})" for row in unbalanced]
    thin = JournalEntry.objects.annotate(n=Count("postings")).filter(n__lt=2).values_list("public_id", flat=True)
    problems += [f"entry {public_id} has fewer than two postings" for public_id in thin[:limit]]
    crossed = Posting.objects.exclude(account__currency=F("entry__currency"))
    problems += [
        f"posting {pk} in entry {entry} is in {account_currency}, the entry in {entry_currency}"
        for pk, entry, account_currency, entry_currency in crossed.values_list(
            "pk", "entry__public_id", "account__currency", "entry__currency"
        )[:limit]
    ]
    elsewhere = Posting.objects.exclude(account__gateway_account_id=F("entry__gateway_account_id"))
    problems += [
        f"posting {pk} belongs to another gateway account than its entry"
        for pk in elsewhere.values_list("pk", flat=True)[:limit]
    ]
    for check in _CHECKS:
        problems += check(limit)
    return problems


# Checks the apps that post to the ledger add (payments: every payment agrees with its entries), so
# the ledger knows none of them.
_CHECKS: list[Callable[[int], list[str]]] = []


def ledger_check_register(check: Callable[[int], list[str]]) -> None:
    """Add a check to ledger_problems (called from an app's ready()); `check(limit)` returns problems."""
    if check not in _CHECKS:
        _CHECKS.append(check)


@dataclass(frozen=True)
class StatementLine:
    posting_id: int
    entry_id: int
    entry_public_id: str
    entry_kind: str
    memo: str
    occurred_at: datetime
    amount: int  # debit positive, credit negative
    balance: int  # on the account's normal side, after this posting


@dataclass(frozen=True)
class AccountStatement:
    lines: list[StatementLine]
    opening_balance: int  # on the normal side, before the first line shown
    earlier: bool  # whether older postings exist than the lines shown


def account_statement(*, account: LedgerAccount, limit: int = 200) -> AccountStatement:
    """The account's last `limit` postings in booking order (newest last), each with the running
    balance on the account's normal side. Two queries at most, whatever the account holds: the
    lines, and the sum of everything before them when there is more."""
    newest_first = list(
        Posting.objects.filter(account=account).select_related("entry").order_by("-entry_id", "-pk")[: limit + 1]
    )
    earlier = len(newest_first) > limit
    postings = newest_first[:limit][::-1]
    sign = 1 if account.debit_normal else -1
    opening = 0
    if earlier:
        first = postings[0]
        before = Posting.objects.filter(account=account).filter(
            Q(entry_id__lt=first.entry_id) | Q(entry_id=first.entry_id, pk__lt=first.pk)
        )
        opening = sign * int(before.aggregate(total=Sum("amount", default=0))["total"])
    lines, running = [], opening
    for posting in postings:
        running += sign * posting.amount
        entry = posting.entry
        lines.append(
            StatementLine(
                posting_id=posting.pk,
                entry_id=entry.pk,
                entry_public_id=entry.public_id,
                entry_kind=entry.get_kind_display(),
                memo=entry.memo,
                occurred_at=entry.occurred_at,
                amount=posting.amount,
                balance=running,
            )
        )
    return AccountStatement(lines=lines, opening_balance=opening, earlier=earlier)
