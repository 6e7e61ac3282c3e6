"""The finance dashboard in the back office (/admin/dashboard/): server-rendered, charts as
inline SVG, so it works offline with no script or CDN."""

from __future__ import annotations

from typing import Any

from django.contrib.admin import site
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse

from apps.core.money import format_amount

from . import selectors

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
    context = {
        **site.each_context(request),
        "title": "Finance dashboard",
        "data": data,
        "periods": periods,
        "charts": [_bars(series, currency) for currency, series in data["daily"].items()],
        "chart_width": CHART_WIDTH,
        "chart_height": CHART_HEIGHT,
    }
    return TemplateResponse(request, "admin/reports/dashboard.html", context)
