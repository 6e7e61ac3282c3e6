"""Reads for closing the day: one UTC day of one gateway account in figures, what is still open on
it, the closes of recent days, and what changed on a closed day after it was closed.

Captured, refunded and returned are the ledger's entries of the day (by the entry's date, under a
close's cut-off), so every entry of the day is in a close's figures or recorded after it; settled,
fees and payout are the settlement batches settled that day. Amounts stay per currency, in minor
units, and are formatted only on the page. A close stored before a figure existed reads as 0 for
it.
"""

from __future__ import annotations

import operator
from dataclasses import dataclass
from datetime import date, timedelta
from functools import reduce
from typing import Any, cast

from django.db.models import Count, Q, QuerySet, Sum

from apps.core.dates import utc_days
from apps.gateways.models import GatewayAccount
from apps.ledger.models import REFUND_REVERSED_MEMO, EntryKind, JournalEntry
from apps.reconciliation.models import Discrepancy, MatchStatus, SettlementBatch, SettlementLine

from .models import DayClose

# Money figures (per currency) and counts, in the order the page shows them.
MONEY_FIGURES = ("captured", "refunded", "returned", "settled", "fees", "payout")
COUNT_FIGURES = ("captures", "capture_reversals", "refunds", "refund_reversals", "returns", "batches")
OVERVIEW_DAYS = 30
LATE_ENTRIES_SHOWN = 100
# A close stored before captured and refunded were read from the ledger (December 2026) took them
# from the payments and refunds created that day and counted those payments under this name.
CREATED_BASIS_COUNT = "payments"

# The ledger's entries behind each money figure read from it, with the count of each, as
# (figure, count, entries, sign): captured is captures less their reversals (voids, corrections),
# refunded is refunds less the refunds reversed (a refund that failed after succeeding; the
# adjustment apps.payments posts for it, as payments_disagreeing_with_ledger reads it).
_LEDGER_FIGURES = (
    ("captured", "captures", Q(kind=EntryKind.CAPTURE), 1),
    ("captured", "capture_reversals", Q(kind=EntryKind.CAPTURE_REVERSAL), -1),
    ("refunded", "refunds", Q(kind=EntryKind.REFUND), 1),
    ("refunded", "refund_reversals", Q(kind=EntryKind.ADJUSTMENT, memo=REFUND_REVERSED_MEMO), -1),
    ("returned", "returns", Q(kind=EntryKind.RETURN), 1),
)


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


def day_figures(*, account_id: int, day: date, last_entry_id: int | None = None) -> dict[str, Any]:
    """The day's figures: {"money": {figure: {currency: minor units}}, "counts": {name: n}}.

    Captured, refunded and returned are what the ledger's entries of the day (by occurred_at)
    moved, up to `last_entry_id` when given (a close's cut-off): captured is the capture entries
    less the capture reversals (voids, corrections), refunded the refund entries less the refunds
    reversed, returned what customers' banks took back (ACH returns); each entry kind is counted.
    So a refund asked for one day and sent the next is in the next day's figures, with its entry.
    Settled is what the day's batches settled net of refunds and returns (what the ledger's
    settlement entries move out of the receivable), so that settled less fees is the payout;
    fees include the gateway's tax."""
    money: dict[str, dict[str, int]] = {name: {} for name in MONEY_FIGURES}
    counts = dict.fromkeys(COUNT_FIGURES, 0)
    since, until = utc_days(day)
    entries = JournalEntry.objects.filter(
        reduce(operator.or_, (which for _, _, which, _ in _LEDGER_FIGURES)),
        gateway_account_id=account_id,
        occurred_at__gte=since,
        occurred_at__lt=until,
    )
    if last_entry_id is not None:
        entries = entries.filter(pk__lte=last_entry_id)
    aggregates: dict[str, Any] = {}
    for _, count, which, _ in _LEDGER_FIGURES:
        aggregates[f"{count}_n"] = Count("id", filter=which)
        aggregates[f"{count}_amount"] = Sum("amount", filter=which, default=0)
    for values in entries.values("currency").annotate(**aggregates).order_by("currency"):
        row = cast("dict[str, Any]", values)  # the annotations' names are built above
        currency = row["currency"]
        for figure, count, _, sign in _LEDGER_FIGURES:
            if row[f"{count}_n"]:
                money[figure][currency] = money[figure].get(currency, 0) + sign * row[f"{count}_amount"]
                counts[count] += row[f"{count}_n"]
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


# What a close stored on the created basis read another way: not compared with today's figures.
LEDGER_BASIS_ONLY = frozenset({"captured", "refunded", "captures", "capture_reversals", "refunds", "refund_reversals"})


def figures_changed(*, stored: dict[str, Any], current: dict[str, Any]) -> list[FigureChange]:
    """Every money figure (per currency) and count that differs now from its value at closing (a
    figure the stored close lacks, being older than the figure, was 0). A close stored on the
    created basis (CREATED_BASIS_COUNT among its counts) is compared only on what both bases read
    alike: its captured and refunded differ from the ledger's without anything having changed
    since (what did change is in its list of entries recorded after the close)."""
    skipped = LEDGER_BASIS_ONLY if CREATED_BASIS_COUNT in stored.get("counts", {}) else frozenset()
    changes = []
    for figure in (name for name in MONEY_FIGURES if name not in skipped):
        was_by_currency = stored.get("money", {}).get(figure, {})
        now_by_currency = current["money"][figure]
        for currency in sorted({*was_by_currency, *now_by_currency}):
            was, now = was_by_currency.get(currency, 0), now_by_currency.get(currency, 0)
            if was != now:
                changes.append(FigureChange(figure, currency, was, now))
    for name in (name for name in COUNT_FIGURES if name not in skipped):
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
