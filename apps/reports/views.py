"""The finance dashboard in the back office (/admin/dashboard/): server-rendered, charts as
inline SVG, so it works offline with no script or CDN. Also the "Timeline" section of the payment
and customer change pages (registered in admin.py, read by timeline.py)."""

from __future__ import annotations

from datetime import UTC
from typing import Any

from django.contrib.admin import site
from django.core.exceptions import PermissionDenied
from django.db.models import Model
from django.http import HttpRequest, HttpResponse
from django.template.loader import render_to_string
from django.template.response import TemplateResponse
from django.urls import NoReverseMatch, reverse
from django.utils.safestring import SafeString, mark_safe

from apps.core.money import format_amount
from apps.customers.models import Customer
from apps.payments.models import Payment

from . import selectors
from .timeline import Timeline, customer_timeline, payment_timeline

CHART_WIDTH, CHART_HEIGHT = 720, 160


def _bars(series: list[tuple[Any, int]], currency: str) -> dict[str, Any]:
    peak = max((value for _, value in series), default=0) or 1
    step = CHART_WIDTH / max(len(series), 1)
    bars = []
    for index, (day, value) in enumerate(series):
        height = round(value / peak * (CHART_HEIGHT - 20), 1)
        bars.append(
            {
                "x": round(index * step + 1, 1),
                "y": round(CHART_HEIGHT - height, 1),
                "width": round(step - 2, 1),
                "height": height,
                "title": f"{day:%Y-%m-%d}: {format_amount(value, currency)}",
                "label": f"{day:%d}" if index % 5 == 0 else "",
                "label_x": round(index * step + step / 2, 1),
            }
        )
    return {"currency": currency, "bars": bars, "peak": format_amount(peak if peak > 1 else 0, currency)}


def _amounts(by_currency: dict[str, int]) -> str:
    return ", ".join(format_amount(value or 0, currency) for currency, value in by_currency.items()) or "—"


def dashboard_view(request: HttpRequest) -> HttpResponse:
    if not request.user.has_perm("payments.view_payment"):
        raise PermissionDenied
    data = selectors.dashboard()
    periods = [
        {
            **period,
            "volume_text": _amounts(period["volume"]),
            "refunds_text": _amounts(period["refunds"]),
            "net_settled_text": _amounts(period["net_settled"]),
            "fees_text": _amounts(period["fees"]),
            "approval_text": f"{period['approval_rate']:.1%}" if period["approval_rate"] is not None else "—",
        }
        for period in data["periods"]
    ]
    risk_periods = [
        {**period, "blocked_text": _amounts(period["blocked_amounts"])} for period in data["risk"]["periods"]
    ]
    context = {
        **site.each_context(request),
        "title": "Finance dashboard",
        "data": data,
        "periods": periods,
        "risk_periods": risk_periods,
        # The review queue, linked only for those who may open it (a finance viewer may not).
        "review_queue_url": reverse("admin:payments_paymentunderreview_changelist")
        if request.user.has_perm("payments.view_paymentunderreview")
        else "",
        "charts": [_bars(series, currency) for currency, series in data["daily"].items()],
        "chart_width": CHART_WIDTH,
        "chart_height": CHART_HEIGHT,
    }
    return TemplateResponse(request, "admin/reports/dashboard.html", context)


def _timeline_section(request: HttpRequest, timeline: Timeline) -> SafeString:
    """The "Timeline" table under a change page's form; links only to pages the user may view."""
    rows = []
    for entry in timeline.entries:
        url = ""
        if entry.link is not None:
            app_label, model_name = entry.link.model.split(".")
            if request.user.has_perm(f"{app_label}.view_{model_name}"):
                try:
                    url = reverse(f"admin:{app_label}_{model_name}_change", args=[entry.link.pk])
                except NoReverseMatch:
                    url = ""
        rows.append(
            {
                "at": entry.at.astimezone(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
                "kind": entry.kind,
                "summary": entry.summary,
                "actor": entry.actor or "—",
                "link_text": entry.link.text if entry.link else "",
                "url": url,
            }
        )
    context = {"rows": rows, "truncated": timeline.truncated, "limit": timeline.limit}
    return mark_safe(render_to_string("admin/reports/timeline.html", context, request=request))  # noqa: S308 (escaped by the template)


def payment_timeline_section(request: HttpRequest, payment: Model) -> SafeString:
    if not isinstance(payment, Payment):
        raise TypeError(f"a payment's timeline, not a {type(payment).__name__}'s")
    return _timeline_section(request, payment_timeline(payment=payment))


def customer_timeline_section(request: HttpRequest, customer: Model) -> SafeString:
    if not isinstance(customer, Customer):
        raise TypeError(f"a customer's timeline, not a {type(customer).__name__}'s")
    return _timeline_section(request, customer_timeline(customer=customer))
