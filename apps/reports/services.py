"""Keeping the daily totals (recomputed from the payment and refund tables for whole days), and
closing a day of a gateway account."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django.db import IntegrityError, transaction
from django.utils import timezone

from apps.audit.actors import Actor
from apps.audit.services import audit_record
from apps.core.dates import utc_days
from apps.gateways.models import GatewayAccount
from apps.ledger.services import ledger_cutoff

from .day_close_selectors import day_close_get, day_figures, day_open_items
from .errors import DayAlreadyClosed, DayCloseInvalid, DayCloseNotAllowed
from .models import DailyTotal, DailyTotalDay, DayClose
from .selectors import day_totals

CLOSE_DAY_PERMISSION = "reports.close_day"


def daily_totals_refresh(*, days: list[date]) -> int:
    """Recompute the totals of these closed days (not today: it is read live). Idempotent;
    returns the number of rows written."""
    today = timezone.now().date()
    written = 0
    for day in sorted({d for d in days if d < today}):
        since, until = utc_days(day)
        now = timezone.now()
        rows = [DailyTotal(computed_at=now, **row) for row in day_totals(since=since, until=until)]
        with transaction.atomic():
            DailyTotal.objects.filter(day=day).delete()
            DailyTotal.objects.bulk_create(rows)
            DailyTotalDay.objects.update_or_create(day=day, defaults={"computed_at": now})
        written += len(rows)
    return written


def daily_totals_catch_up(*, recent_days: int, lookback_days: int = 62) -> int:
    """What the beat task runs: the last `recent_days` closed days again (late captures,
    refunds and corrections land there), plus any day of the lookback never computed."""
    today = timezone.now().date()
    recent = [today - timedelta(days=n) for n in range(1, recent_days + 1)]
    window = [today - timedelta(days=n) for n in range(1, lookback_days + 1)]
    done = set(DailyTotalDay.objects.filter(day__in=window).values_list("day", flat=True))
    return daily_totals_refresh(days=[*recent, *(day for day in window if day not in done)])


def day_close(*, account: GatewayAccount, day: date, user: Any, actor: Actor, note: str = "") -> DayClose:
    """Close `day` (UTC, ended) of `account`: store who closed it, when, its figures and what was
    still open (carried forward). A day is closed once: of two concurrent closes the unique
    constraint lets one through and the other is refused like any second close.

    The figures are read under a cut-off of the account's ledger (ledger_cutoff), in a short
    read-only transaction of their own: a transaction that has posted entries for the account
    and is still open is waited for, so its entries are in the figures; an entry posted after
    has a higher id than the stored cut-off and is listed as recorded after the close. Every
    entry of the day is in one or the other, whatever its created_at: the ledger figures
    (captured, refunded, returned) are read from the entries up to the cut-off. The close and its audit
    row are written in a second transaction, once postings no longer wait (the audit append
    takes a lock a waiting posting may hold)."""
    if not user.has_perm(CLOSE_DAY_PERMISSION):
        raise DayCloseNotAllowed
    if day >= timezone.now().date():
        raise DayCloseInvalid(f"{day} has not ended yet (UTC): only a past day can be closed.", param="day")
    if transaction.get_connection().in_atomic_block:
        raise RuntimeError("day_close runs its own transactions: the cut-off must end before the close is written")
    with transaction.atomic():
        last_entry_id = ledger_cutoff(gateway_account_id=account.pk)
        closed_at = timezone.now()
        figures = day_figures(account_id=account.pk, day=day, last_entry_id=last_entry_id)
        carried_forward = day_open_items(account_id=account.pk, day=day)
    try:
        with transaction.atomic():
            close = DayClose.objects.create(
                gateway_account=account,
                day=day,
                closed_by=user,
                closed_at=closed_at,
                last_entry_id=last_entry_id,
                figures=figures,
                carried_forward=carried_forward,
                note=note.strip(),
            )
            audit_record(
                actor=actor,
                action="day.closed",
                target=close,
                merchant_id=account.merchant_id,
                after={
                    "gateway_account": account.public_id,
                    "day": day.isoformat(),
                    "last_entry_id": close.last_entry_id,
                    "figures": close.figures,
                    "carried_forward": close.carried_forward,
                    "note": close.note,
                },
            )
    except IntegrityError:
        existing = day_close_get(account_id=account.pk, day=day)
        if existing is None:
            raise
        raise DayAlreadyClosed(
            f"{day} is already closed for {account.public_id}: closed by {existing.closed_by.get_username()} "
            f"at {existing.closed_at:%Y-%m-%d %H:%M} UTC."
        ) from None
    return close
