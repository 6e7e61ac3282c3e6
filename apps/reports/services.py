"""Keeping the daily totals: recomputed from the payment and refund tables for whole days."""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta

from django.db import transaction
from django.db.models import Count, Q, Sum
from django.utils import timezone

from apps.payments.models import Payment, PaymentStatus, Refund, RefundStatus

from .models import DailyTotal, DailyTotalDay
from .selectors import APPROVED


def _bounds(day: date) -> tuple[datetime, datetime]:
    start = datetime.combine(day, time.min, tzinfo=UTC)
    return start, start + timedelta(days=1)


def daily_totals_refresh(*, days: list[date]) -> int:
    """Recompute the totals of these closed days (not today: it is read live). Idempotent;
    returns the number of rows written."""
    today = timezone.now().date()
    written = 0
    for day in sorted({d for d in days if d < today}):
        since, until = _bounds(day)
        payments = (
            Payment.objects.filter(created_at__gte=since, created_at__lt=until)
            .values("gateway_account_id", "currency")
            .annotate(
                n=Count("id"),
                approved=Count("id", filter=Q(status__in=APPROVED)),
                declined=Count("id", filter=Q(status=PaymentStatus.FAILED)),
                captured=Sum("amount_captured", default=0),
            )
            .order_by()
        )
        refunds = (
            Refund.objects.filter(created_at__gte=since, created_at__lt=until, status=RefundStatus.SUCCEEDED)
            .values("payment__gateway_account_id", "currency")
            .annotate(n=Count("id"), total=Sum("amount", default=0))
            .order_by()
        )
        now = timezone.now()
        rows: dict[tuple[int, str], DailyTotal] = {}
        for row in payments:
            rows[(row["gateway_account_id"], row["currency"])] = DailyTotal(
                day=day, gateway_account_id=row["gateway_account_id"], currency=row["currency"], payments=row["n"],
                approved=row["approved"], declined=row["declined"], captured=row["captured"], computed_at=now,
            )  # fmt: skip
        for refund_row in refunds:
            key = (refund_row["payment__gateway_account_id"], refund_row["currency"])
            total = rows.setdefault(
                key, DailyTotal(day=day, gateway_account_id=key[0], currency=key[1], computed_at=now)
            )
            total.refunds, total.refunded = refund_row["n"], refund_row["total"]
        with transaction.atomic():
            DailyTotal.objects.filter(day=day).delete()
            DailyTotal.objects.bulk_create(rows.values())
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
