"""Aggregates for finance: transaction and settlement reports, and the dashboard's figures.

Every figure is one grouped query over an indexed time range, so the number of queries is fixed
whatever the size of the tables; amounts stay per currency (never summed across currencies).
"""

from __future__ import annotations

from datetime import UTC, date, datetime, timedelta
from typing import Any

from django.db.models import Count, F, Q, QuerySet, Sum
from django.db.models.functions import TruncDate
from django.utils import timezone

from apps.core.dates import utc_days
from apps.events.models import WebhookDelivery
from apps.payments.models import Payment, PaymentStatus, Refund, RefundStatus
from apps.reconciliation.models import Discrepancy, SettlementBatch
from apps.subscriptions.models import Subscription, SubscriptionStatus
from apps.webhooks.models import IncomingWebhook

from .fraud import risk_panel
from .models import DailyTotal, DailyTotalDay

# The gateway said yes: card payments, and bank debits it accepted (processing until they settle,
# returned if the customer's bank sent them back afterwards).
APPROVED = [
    PaymentStatus.AUTHORIZED,
    PaymentStatus.CAPTURED,
    PaymentStatus.PARTIALLY_REFUNDED,
    PaymentStatus.REFUNDED,
    PaymentStatus.VOIDED,
    PaymentStatus.PROCESSING,
    PaymentStatus.RETURNED,
]
GROUPS = ("day", "gateway")
# A report row's columns after its group (day or gateway), in order.
TRANSACTION_REPORT_COLUMNS = (
    "currency", "payments", "approved", "declined", "captured", "refunded", "returned", "approval_rate", "net",
)  # fmt: skip
SETTLEMENT_REPORT_COLUMNS = ("currency", "batches", "lines", "charges", "refunds", "fees", "payout")
CHART_DAYS = 30


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
    since, until = utc_days(start, end)
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
            # Bank debits the customer's bank sent back after they settled: their money is gone.
            returned=Sum("amount_captured", filter=Q(status=PaymentStatus.RETURNED), default=0),
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
                "net": row["captured"] - row["refunded"] - row["returned"],
            }
        )
    return result


def settlement_report(*, start: date, end: date, group_by: str, merchant_id: int | None = None) -> list[dict[str, Any]]:
    """Settlement batches settled in the range, grouped by day or gateway and currency."""
    since, until = utc_days(start, end)
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


# --- daily totals and the dashboard ------------------------------------------------------------

TOTAL_FIELDS = ("payments", "approved", "declined", "captured", "refunds", "refunded")


def day_totals(
    *, since: datetime, until: datetime | None = None, gateway_account_id: int | None = None
) -> list[dict[str, Any]]:
    """Per UTC day, gateway account and currency: payments created (approved, declined, what they
    captured) and refunds that succeeded (by the day they were asked for). The shape of a
    DailyTotal row: the dashboard reads stored rows for closed days and these for the rest."""
    payments = Payment.objects.filter(created_at__gte=since)
    refunds = Refund.objects.filter(created_at__gte=since, status=RefundStatus.SUCCEEDED)
    if until is not None:
        payments, refunds = payments.filter(created_at__lt=until), refunds.filter(created_at__lt=until)
    if gateway_account_id is not None:
        payments = payments.filter(gateway_account_id=gateway_account_id)
        refunds = refunds.filter(payment__gateway_account_id=gateway_account_id)
    rows: dict[tuple[Any, int, str], dict[str, Any]] = {}

    def row(day: date, gateway_account_id: int, currency: str) -> dict[str, Any]:
        key = (day, gateway_account_id, currency)
        if key not in rows:
            rows[key] = {"day": day, "gateway_account_id": gateway_account_id, "currency": currency}
            rows[key].update(dict.fromkeys(TOTAL_FIELDS, 0))
        return rows[key]

    for p in (
        payments.annotate(day=TruncDate("created_at", tzinfo=UTC))
        .values("day", "gateway_account_id", "currency")
        .annotate(
            n=Count("id"),
            approved_n=Count("id", filter=Q(status__in=APPROVED)),
            declined_n=Count("id", filter=Q(status=PaymentStatus.FAILED)),
            captured_sum=Sum("amount_captured", default=0),
        )
        .order_by()
    ):
        total = row(p["day"], p["gateway_account_id"], p["currency"])
        total.update(payments=p["n"], approved=p["approved_n"], declined=p["declined_n"], captured=p["captured_sum"])
    for r in (
        refunds.annotate(day=TruncDate("created_at", tzinfo=UTC))
        .values("day", "payment__gateway_account_id", "currency")
        .annotate(n=Count("id"), amount_sum=Sum("amount", default=0))
        .order_by()
    ):
        total = row(r["day"], r["payment__gateway_account_id"], r["currency"])
        total.update(refunds=r["n"], refunded=r["amount_sum"])
    return list(rows.values())


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


def _period_figures(rows: list[dict[str, Any]], since_day: date) -> dict[str, Any]:
    """Volume, refunds and approval counts of the day rows from `since_day` on."""
    volume: dict[str, int] = {}
    refunds: dict[str, int] = {}
    decided = approved = 0
    for row in rows:
        if row["day"] < since_day:
            continue
        if row["payments"]:
            volume[row["currency"]] = volume.get(row["currency"], 0) + row["captured"]
        refunds[row["currency"]] = refunds.get(row["currency"], 0) + row["refunded"]
        approved += row["approved"]
        decided += row["approved"] + row["declined"]
    return {
        "volume": dict(sorted(volume.items())),
        "refunds": {k: v for k, v in sorted(refunds.items()) if v},
        "payments": decided,
        "approval_rate": approved / decided if decided else None,
    }


def _daily_volume(rows: list[dict[str, Any]], first: date, days: int) -> dict[str, list[tuple[date, int]]]:
    """Captured volume per day and currency from `first` for `days` days (zero-filled), for the chart."""
    series: dict[str, dict[date, int]] = {}
    for row in rows:
        if row["day"] >= first:
            by_day = series.setdefault(row["currency"], {})
            by_day[row["day"]] = by_day.get(row["day"], 0) + row["captured"]
    every_day = [first + timedelta(days=i) for i in range(days)]
    return {currency: [(day, totals.get(day, 0)) for day in every_day] for currency, totals in sorted(series.items())}


def dashboard(now: datetime | None = None) -> dict[str, Any]:
    """Everything on the finance dashboard, in a fixed number of queries: the day rows of the month
    and the chart's 30 days are read once (closed days from the daily totals, the rest live, which
    normally is only today) and every period and the chart are summed from them."""
    now = now or timezone.now()
    today = now.date()
    month = today.replace(day=1)
    chart_first = today - timedelta(days=CHART_DAYS - 1)
    first = min(month, chart_first)
    live_from = _first_uncomputed(first, today)
    rows = [
        *DailyTotal.objects.filter(day__gte=first, day__lt=live_from).values("day", "currency", *TOTAL_FIELDS),
        *day_totals(since=utc_days(live_from)[0]),
    ]
    figures = []
    for label, since_day in (("Today", today), ("This month", month)):
        batches = SettlementBatch.objects.filter(settled_at__gte=utc_days(since_day)[0])
        figures.append(
            {
                "label": label,
                **_period_figures(rows, since_day),
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
        "daily": _daily_volume(rows, chart_first, CHART_DAYS),
        "discrepancies": open_discrepancies,
        "webhooks": webhooks,
        "deliveries": deliveries,
        "dunning": dunning,
        "risk": risk_panel(now),
    }
