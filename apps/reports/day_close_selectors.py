"""Reads for closing the day: one UTC day of one gateway account in figures, what is still open on
it, the closes of recent days, and what changed on a closed day after it was closed.

The figures reuse the dashboard's day totals (payments created and refunds asked for that day),
add the bank debits returned that day (the ledger's return entries, by the return's date) and the
settlement batches settled that day; amounts stay per currency, in minor units, and are formatted
only on the page. A close stored before a figure existed reads as 0 for it.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import date, timedelta
from typing import Any

from django.db.models import Count, Q, QuerySet, Sum

from apps.core.dates import utc_days
from apps.gateways.models import GatewayAccount
from apps.ledger.models import EntryKind, JournalEntry
from apps.reconciliation.models import Discrepancy, MatchStatus, SettlementBatch, SettlementLine

from .models import DayClose
from .selectors import day_totals

# Money figures (per currency) and counts, in the order the page shows them.
MONEY_FIGURES = ("captured", "refunded", "returned", "settled", "fees", "payout")
COUNT_FIGURES = ("payments", "refunds", "returns", "batches")
OVERVIEW_DAYS = 30
LATE_ENTRIES_SHOWN = 100


def _day_batches(*, account_id: int, day: date) -> QuerySet[SettlementBatch]:
    since, until = utc_days(day)
    return SettlementBatch.objects.filter(gateway_account_id=account_id, settled_at__gte=since, settled_at__lt=until)


def day_unmatched_lines(*, account_id: int, day: date) -> QuerySet[SettlementLine]:
    """Lines of the batches settled that day that nothing of ours matches yet."""
    since, until = utc_days(day)
    return SettlementLine.objects.filter(
        gateway_account_id=account_id,
        batch__settled_at__gte=since,
        batch__settled_at__lt=until,
        match_status=MatchStatus.UNMATCHED,
    )


def day_open_discrepancies(*, account_id: int, day: date) -> QuerySet[Discrepancy]:
    """Discrepancies not resolved yet about that day: about a line of a batch settled that day, or
    (no line) about one of our entries of that day."""
    since, until = utc_days(day)
    of_the_day = Q(line__batch__settled_at__gte=since, line__batch__settled_at__lt=until) | Q(
        line__isnull=True, entry__occurred_at__gte=since, entry__occurred_at__lt=until
    )
    return (
        Discrepancy.objects.filter(gateway_account_id=account_id)
        .exclude(status=Discrepancy.Status.RESOLVED)
        .filter(of_the_day)
    )


def day_open_items(*, account_id: int, day: date) -> dict[str, list[Any]]:
    """What a close carries forward: open discrepancies (public ids) and unmatched lines (ids)."""
    return {
        "discrepancies": sorted(
            day_open_discrepancies(account_id=account_id, day=day).values_list("public_id", flat=True)
        ),
        "unmatched_lines": sorted(day_unmatched_lines(account_id=account_id, day=day).values_list("pk", flat=True)),
    }


def day_figures(*, account_id: int, day: date) -> dict[str, Any]:
    """The day's figures: {"money": {figure: {currency: minor units}}, "counts": {name: n}}.

    Returned is what customers' banks took back that day (ACH returns): the return entries the
    ledger posted for the day, by the return's date, as the payment became returned. Settled is
    what the day's batches settled net of refunds and returns (what the ledger's settlement
    entries move out of the receivable), so that settled less fees is the payout; fees include
    the gateway's tax."""
    money: dict[str, dict[str, int]] = {name: {} for name in MONEY_FIGURES}
    counts = dict.fromkeys(COUNT_FIGURES, 0)
    since, until = utc_days(day)
    for row in day_totals(since=since, until=until, gateway_account_id=account_id):
        currency = row["currency"]
        for figure, field in (("captured", "captured"), ("refunded", "refunded")):
            money[figure][currency] = money[figure].get(currency, 0) + row[field]
        counts["payments"] += row["payments"]
        counts["refunds"] += row["refunds"]
    returns = (
        JournalEntry.objects.filter(
            gateway_account_id=account_id, kind=EntryKind.RETURN, occurred_at__gte=since, occurred_at__lt=until
        )
        .values("currency")
        .annotate(n=Count("id"), amount=Sum("amount", default=0))
        .order_by("currency")
    )
    for returned in returns:
        money["returned"][returned["currency"]] = returned["amount"]
        counts["returns"] += returned["n"]
    batches = (
        _day_batches(account_id=account_id, day=day)
        .values("currency")
        .annotate(
            n=Count("id"),
            charges=Sum("charges_amount", default=0),
            refunds=Sum("refunds_amount", default=0),
            returns=Sum("returns_amount", default=0),
            fees=Sum("fees_amount", default=0),
            payout=Sum("payout_amount", default=0),
        )
        .order_by("currency")
    )
    for batch in batches:
        currency = batch["currency"]
        money["settled"][currency] = batch["charges"] - batch["refunds"] - batch["returns"]
        money["fees"][currency] = batch["fees"]
        money["payout"][currency] = batch["payout"]
        counts["batches"] += batch["n"]
    return {
        "money": {figure: dict(sorted(amounts.items())) for figure, amounts in money.items()},
        "counts": counts,
    }


@dataclass(frozen=True)
class FigureChange:
    """A figure that differs from the one stored at closing; `currency` is empty for a count."""

    figure: str
    currency: str
    was: int
    now: int


def figures_changed(*, stored: dict[str, Any], current: dict[str, Any]) -> list[FigureChange]:
    """Every money figure (per currency) and count that differs now from its value at closing (a
    figure the stored close lacks, being older than the figure, was 0)."""
    changes = []
    for figure in MONEY_FIGURES:
        was_by_currency = stored.get("money", {}).get(figure, {})
        now_by_currency = current["money"][figure]
        for currency in sorted({*was_by_currency, *now_by_currency}):
            was, now = was_by_currency.get(currency, 0), now_by_currency.get(currency, 0)
            if was != now:
                changes.append(FigureChange(figure, currency, was, now))
    for name in COUNT_FIGURES:
        was, now = stored.get("counts", {}).get(name, 0), current["counts"][name]
        if was != now:
            changes.append(FigureChange(name, "", was, now))
    return changes


def entries_after_close(close: DayClose) -> QuerySet[JournalEntry]:
    """Journal entries of the closed day (by occurred_at) committed after its figures were read:
    those past the close's ledger cut-off (see day_close). An entry's created_at is when it was
    built, not when its transaction committed, so it only stands in for a close stored before
    the cut-off was kept (last_entry_id null), where an entry committed late can be missed."""
    since, until = utc_days(close.day)
    of_the_day = JournalEntry.objects.filter(
        gateway_account_id=close.gateway_account_id, occurred_at__gte=since, occurred_at__lt=until
    )
    if close.last_entry_id is None:
        return of_the_day.filter(created_at__gt=close.closed_at).order_by("created_at", "pk")
    return of_the_day.filter(pk__gt=close.last_entry_id).order_by("pk")


def day_close_get(*, account_id: int, day: date) -> DayClose | None:
    return DayClose.objects.select_related("closed_by").filter(gateway_account_id=account_id, day=day).first()


def gateway_account_for_day_close(public_id: str) -> GatewayAccount | None:
    return GatewayAccount.objects.select_related("merchant").filter(public_id=public_id).first()


@dataclass(frozen=True)
class DayRow:
    day: date
    account: GatewayAccount
    close: DayClose | None


def day_close_overview(*, today: date, days: int = OVERVIEW_DAYS) -> list[DayRow]:
    """The last `days` ended days (newest first) of every active gateway account, each with its
    close if it has one: two queries whatever the number of rows."""
    accounts = list(GatewayAccount.objects.filter(is_active=True).select_related("merchant").order_by("pk"))
    first = today - timedelta(days=days)
    closes = {
        (close.gateway_account_id, close.day): close
        for close in DayClose.objects.filter(
            day__gte=first, day__lt=today, gateway_account_id__in=[account.pk for account in accounts]
        ).select_related("closed_by")
    }
    return [
        DayRow(day, account, closes.get((account.pk, day)))
        for day in (today - timedelta(days=n) for n in range(1, days + 1))
        for account in accounts
    ]
