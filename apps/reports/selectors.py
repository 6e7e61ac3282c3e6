"""Aggregates for finance: transaction and settlement reports, and the dashboard's figures.

Every figure is one grouped query over an indexed time range, so the number of queries is fixed
whatever the size of the tables; amounts stay per currency (never summed across currencies).
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import UTC, date, datetime, time, timedelta
from typing import Any

from django.db.models import Count, F, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from apps.payments.models import Payment, PaymentStatus, Refund, RefundStatus
from apps.reconciliation.models import Discrepancy, SettlementBatch
from apps.subscriptions.models import Subscription, SubscriptionStatus
from apps.webhooks.models import IncomingWebhook, WebhookDelivery

APPROVED = [
    PaymentStatus.AUTHORIZED,
    PaymentStatus.CAPTURED,
    PaymentStatus.PARTIALLY_REFUNDED,
    PaymentStatus.REFUNDED,
    PaymentStatus.VOIDED,
]
DECIDED = [*APPROVED, PaymentStatus.FAILED]
GROUPS = ("day", "gateway")


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


@dataclass(frozen=True)
class Period:
    label: str
    since: datetime


def _money_by_currency(queryset: QuerySet[Any], field: str) -> dict[str, int]:
    return {
        row["currency"]: row["total"]
        for row in queryset.values("currency").annotate(total=Sum(field)).order_by("currency")
    }


def dashboard(now: datetime | None = None) -> dict[str, Any]:
    """Everything on the finance dashboard: a fixed number of queries, each over an indexed range."""
    now = now or timezone.now()
    today = datetime.combine(now.date(), time.min, tzinfo=UTC)
    month = today.replace(day=1)
    periods = [Period("Today", today), Period("This month", month)]
    figures = []
    for period in periods:
        payments = Payment.objects.filter(created_at__gte=period.since)
        counts = payments.aggregate(
            decided=Count("id", filter=Q(status__in=DECIDED)), approved=Count("id", filter=Q(status__in=APPROVED))
        )
        refunds = Refund.objects.filter(created_at__gte=period.since, status=RefundStatus.SUCCEEDED)
        batches = SettlementBatch.objects.filter(settled_at__gte=period.since)
        figures.append(
            {
                "label": period.label,
                "volume": _money_by_currency(payments, "amount_captured"),
                "payments": counts["decided"],
                "approval_rate": counts["approved"] / counts["decided"] if counts["decided"] else None,
                "refunds": _money_by_currency(refunds, "amount"),
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
        "daily": _daily_volume(now, days=30),
        "discrepancies": open_discrepancies,
        "webhooks": webhooks,
        "deliveries": deliveries,
        "dunning": dunning,
    }


def _daily_volume(now: datetime, *, days: int) -> dict[str, list[tuple[date, int]]]:
    """Captured volume per day and currency for the last `days` days (zero-filled), for the chart."""
    first = now.date() - timedelta(days=days - 1)
    since = datetime.combine(first, time.min, tzinfo=UTC)
    rows = (
        Payment.objects.filter(created_at__gte=since)
        .annotate(day=TruncDate("created_at", tzinfo=UTC))
        .values("day", "currency")
        .annotate(total=Sum("amount_captured"))
        .order_by()
    )
    series: dict[str, dict[date, int]] = {}
    for row in rows:
        series.setdefault(row["currency"], {})[row["day"]] = row["total"] or 0
    every_day = [first + timedelta(days=i) for i in range(days)]
    return {currency: [(day, totals.get(day, 0)) for day in every_day] for currency, totals in sorted(series.items())}
