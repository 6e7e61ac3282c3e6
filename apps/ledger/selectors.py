"""Reads of the ledger: balances come from the postings, never from a stored total."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass
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
