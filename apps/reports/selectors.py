"""Aggregates for finance: transaction and settlement reports, and the dashboard's figures.

Every figure is one grouped query over an indexed time range, so the number of queries is fixed
whatever the size of the tables; amounts stay per currency (never summed across currencies).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.db.models import Count, F, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from apps.payments.models import Payment, PaymentStatus, Refund, RefundStatus
from apps.reconciliation.models import Discrepancy, SettlementBatch
from apps.subscriptions.models import Subscription, SubscriptionStatus
from apps.webhooks.models import IncomingWebhook, WebhookDelivery

from .models import DailyTotal, DailyTotalDay

APPROVED = [
    PaymentStatus.AUTHORIZED,
    PaymentStatus.CAPTURED,
    PaymentStatus.PARTIALLY_REFUNDED,
    PaymentStatus.REFUNDED,
    PaymentStatus.VOIDED,
]
DECIDED = [*APPROVED, PaymentStatus.FAILED]
GROUPS = ("day", "gateway")
CHART_DAYS = 30


def _bounds(start: date, end: date) -> tuple[datetime, datetime]:
    """[start 00:00, end+1 00:00) in UTC: both days included."""
    return datetime.combine(start, time.min, tzinfo=UTC), datetime.combine(
        end + timedelta(days=1), time.min, tzinfo=UTC
    )


def _group_key(group_by: str, time_field: str) -> dict[str, Any]:
    if group_by == "day":
        return {"day": TruncDate(time_field, tzinfo=UTC)}
    return {"gateway": F("gateway_account__gateway")}


def _scoped(queryset: QuerySet[Any], merchant_id: int | None, field: str = "merchant_id") -> QuerySet[Any]:
    return queryset if merchant_id is None else queryset.filter(**{field: merchant_id})


def transaction_report(
    *, start: date, end: date, group_by: str, merchant_id: int | None = None
) -> list[dict[str, Any]]:
    """Payments created in the range, grouped by day or gateway and currency: how many, how many
    approved, the approval rate, what was captured and refunded."""
    since, until = _bounds(start, end)
    payments = _scoped(Payment.objects.filter(created_at__gte=since, created_at__lt=until), merchant_id)
    rows = (
        payments.annotate(**_group_key(group_by, "created_at"))
        .values(group_by, "currency")
        .annotate(
            payments=Count("id"),
            approved=Count("id", filter=Q(status__in=APPROVED)),
            declined=Count("id", filter=Q(status=PaymentStatus.FAILED)),
            captured=Sum("amount_captured", default=0),
            refunded=Sum("amount_refunded", default=0),
        )
        .order_by(group_by, "currency")
    )
    result = []
    for row in rows:
        decided = row["approved"] + row["declined"]
        result.append(
            {
                **row,
                group_by: row[group_by].isoformat() if group_by == "day" else row[group_by],
                "approval_rate": round(row["approved"] / decided, 4) if decided else None,
                "net": row["captured"] - row["refunded"],
            }
        )
    return result


def settlement_report(*, start: date, end: date, group_by: str, merchant_id: int | None = None) -> list[dict[str, Any]]:
    """Settlement batches settled in the range, grouped by day or gateway and currency."""
    since, until = _bounds(start, end)
    batches = _scoped(
        SettlementBatch.objects.filter(settled_at__gte=since, settled_at__lt=until),
        merchant_id,
        "gateway_account__merchant_id",
    )
    rows = (
        batches.annotate(**_group_key(group_by, "settled_at"))
        .values(group_by, "currency")
        .annotate(
            batches=Count("id"),
            lines=Sum("line_count", default=0),
            charges=Sum("charges_amount", default=0),
            refunds=Sum("refunds_amount", default=0),
            fees=Sum("fees_amount", default=0),
            payout=Sum("payout_amount", default=0),
        )
        .order_by(group_by, "currency")
    )
    return [{**row, group_by: row[group_by].isoformat() if group_by == "day" else row[group_by]} for row in rows]


# --- the dashboard -----------------------------------------------------------------------------


def _money_by_currency(queryset: QuerySet[Any], field: str) -> dict[str, int]:
    return {
        row["currency"]: row["total"]
        for row in queryset.values("currency").annotate(total=Sum(field)).order_by("currency")
    }


def _first_uncomputed(since_day: date, today: date) -> date:
    """The first day of [since_day, today) without computed totals (today if none): from there
    on the dashboard reads the payment table live. Normally today (the beat keeps days computed)."""
    computed = set(DailyTotalDay.objects.filter(day__gte=since_day, day__lt=today).values_list("day", flat=True))
    day = since_day
    while day < today and day in computed:
        day += timedelta(days=1)
    return day


def _period_figures(since_day: date, live_from: date) -> dict[str, Any]:
    """Volume, refunds and approval counts from `since_day`: closed days from the daily totals,
    the rest (today, or days never computed) live."""
    live_since = datetime.combine(live_from, time.min, tzinfo=UTC)
    closed = DailyTotal.objects.filter(day__gte=since_day, day__lt=live_from)
    volume: dict[str, int] = {}
    refunds: dict[str, int] = {}
    decided = approved = 0
    for row in closed.values("currency").annotate(
        captured_sum=Sum("captured"), refunded_sum=Sum("refunded"), approved_sum=Sum("approved"),
        declined_sum=Sum("declined"),
    ).order_by("currency"):  # fmt: skip
        volume[row["currency"]] = row["captured_sum"] or 0
        refunds[row["currency"]] = row["refunded_sum"] or 0
        approved += row["approved_sum"] or 0
        decided += (row["approved_sum"] or 0) + (row["declined_sum"] or 0)
    live = Payment.objects.filter(created_at__gte=live_since)
    for live_row in (
        live.values("currency")
        .annotate(
            captured_sum=Sum("amount_captured"),
            approved_n=Count("id", filter=Q(status__in=APPROVED)),
            declined_n=Count("id", filter=Q(status=PaymentStatus.FAILED)),
        )
        .order_by("currency")
    ):
        volume[live_row["currency"]] = volume.get(live_row["currency"], 0) + (live_row["captured_sum"] or 0)
        approved += live_row["approved_n"]
        decided += live_row["approved_n"] + live_row["declined_n"]
    live_refunds = Refund.objects.filter(created_at__gte=live_since, status=RefundStatus.SUCCEEDED)
    for currency, total in _money_by_currency(live_refunds, "amount").items():
        refunds[currency] = refunds.get(currency, 0) + (total or 0)
    return {
        "volume": dict(sorted(volume.items())),
        "refunds": {k: v for k, v in sorted(refunds.items()) if v},
        "payments": decided,
        "approval_rate": approved / decided if decided else None,
    }


def dashboard(now: datetime | None = None) -> dict[str, Any]:
    """Everything on the finance dashboard: a fixed number of queries; closed days come from the
    daily totals, so only today's payments are aggregated live."""
    now = now or timezone.now()
    today = now.date()
    month = today.replace(day=1)
    chart_first = today - timedelta(days=CHART_DAYS - 1)
    live_from = _first_uncomputed(min(month, chart_first), today)
    figures = []
    for label, since_day in (("Today", today), ("This month", month)):
        since = datetime.combine(since_day, time.min, tzinfo=UTC)
        batches = SettlementBatch.objects.filter(settled_at__gte=since)
        figures.append(
            {
                "label": label,
                **_period_figures(since_day, max(live_from, since_day)),
                "net_settled": _money_by_currency(batches, "payout_amount"),
                "fees": _money_by_currency(batches, "fees_amount"),
            }
        )
    open_discrepancies = Discrepancy.objects.exclude(status=Discrepancy.Status.RESOLVED).aggregate(
        under_1d=Count("id", filter=Q(detected_at__gt=now - timedelta(days=1))),
        d1_3=Count("id", filter=Q(detected_at__lte=now - timedelta(days=1), detected_at__gt=now - timedelta(days=3))),
        d3_7=Count("id", filter=Q(detected_at__lte=now - timedelta(days=3), detected_at__gt=now - timedelta(days=7))),
        over_7d=Count("id", filter=Q(detected_at__lte=now - timedelta(days=7))),
        pending_approval=Count("id", filter=Q(status=Discrepancy.Status.PENDING_APPROVAL)),
    )
    webhooks = IncomingWebhook.objects.filter(
        status__in=[IncomingWebhook.Status.RECEIVED, IncomingWebhook.Status.FAILED, IncomingWebhook.Status.DEAD]
    ).aggregate(
        backlog=Count("id", filter=~Q(status=IncomingWebhook.Status.DEAD)),
        dead=Count("id", filter=Q(status=IncomingWebhook.Status.DEAD)),
    )
    deliveries = WebhookDelivery.objects.filter(
        status__in=[WebhookDelivery.Status.PENDING, WebhookDelivery.Status.FAILED]
    ).aggregate(
        pending=Count("id", filter=Q(status=WebhookDelivery.Status.PENDING)),
        failed=Count("id", filter=Q(status=WebhookDelivery.Status.FAILED)),
    )
    dunning = Subscription.objects.filter(status__in=[SubscriptionStatus.PAST_DUE, SubscriptionStatus.UNPAID]).count()
    return {
        "now": now,
        "periods": figures,
        "daily": _daily_volume(today, live_from=max(live_from, chart_first), days=CHART_DAYS),
        "discrepancies": open_discrepancies,
        "webhooks": webhooks,
        "deliveries": deliveries,
        "dunning": dunning,
    }


def _daily_volume(today: date, *, live_from: date, days: int) -> dict[str, list[tuple[date, int]]]:
    """Captured volume per day and currency for the last `days` days (zero-filled), for the chart."""
    first = today - timedelta(days=days - 1)
    series: dict[str, dict[date, int]] = {}
    closed = DailyTotal.objects.filter(day__gte=first, day__lt=live_from).values("day", "currency")
    for row in closed.annotate(total=Sum("captured")).order_by():
        series.setdefault(row["currency"], {})[row["day"]] = row["total"] or 0
    live = (
        Payment.objects.filter(created_at__gte=datetime.combine(live_from, time.min, tzinfo=UTC))
        .annotate(day=TruncDate("created_at", tzinfo=UTC))
        .values("day", "currency")
        .annotate(total=Sum("amount_captured"))
        .order_by()
    )
    for row in live:
        series.setdefault(row["currency"], {})[row["day"]] = row["total"] or 0
    every_day = [first + timedelta(days=i) for i in range(days)]
    return {currency: [(day, totals.get(day, 0)) for day in every_day] for currency, totals in sorted(series.items())}
