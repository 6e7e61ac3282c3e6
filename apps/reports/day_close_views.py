"""Closing the day in the back office: the recent days of every active gateway account with their
status (/admin/day-close/), and one page per account and day (/admin/day-close/<account>/<day>/)
with the day's figures, what is still open, the "Close day" form and, once closed, what changed
since. The pages only parse input and call the selectors and the service."""

from __future__ import annotations

import re
from datetime import date
from typing import Any
from urllib.parse import urlencode

from django import forms
from django.contrib import messages
from django.contrib.admin import site
from django.core.exceptions import PermissionDenied
from django.http import Http404, HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone

from apps.audit.actors import Actor
from apps.core.cards import reject_card_numbers
from apps.core.dates import utc_days
from apps.gateways.models import GatewayAccount

from . import day_close_selectors as selectors
from .errors import DayAlreadyClosed, DayCloseInvalid, DayCloseNotAllowed
from .services import CLOSE_DAY_PERMISSION, day_close

VIEW_PERMISSION = "reports.view_dayclose"
DAY_FORMAT = re.compile(r"\d{4}-\d{2}-\d{2}")
FIGURE_LABELS = {
    "captured": "Captured",
    "refunded": "Refunded",
    "returned": "Bank debits returned",
    "settled": "Settled (net of refunds and returns)",
    "fees": "Fees and tax",
    "payout": "Payout",
    "captures": "Captures",
    "capture_reversals": "Captures reversed (voids, corrections)",
    "refunds": "Refunds",
    "refund_reversals": "Refunds reversed",
    "returns": "Bank debit returns",
    "batches": "Settlement batches",
    selectors.CREATED_BASIS_COUNT: "Payments created",
}


class DayCloseForm(forms.Form):
    note = forms.CharField(
        max_length=255, required=False, widget=forms.TextInput(attrs={"size": 80}), validators=[reject_card_numbers]
    )
    confirm = forms.BooleanField(label="I have checked this day's figures and what is carried forward")


def _require_view(request: HttpRequest) -> None:
    if not request.user.has_perm(VIEW_PERMISSION):
        raise PermissionDenied


def _day_url(account: GatewayAccount, day: date) -> str:
    return reverse("admin:day_close_day", args=[account.public_id, day.isoformat()])


def _filtered(changelist: str, **params: Any) -> str:
    return f"{reverse(changelist)}?{urlencode(params)}"


def day_close_list_view(request: HttpRequest) -> HttpResponse:
    _require_view(request)
    rows = [
        {"row": row, "url": _day_url(row.account, row.day)}
        for row in selectors.day_close_overview(today=timezone.now().date())
    ]
    context = {**site.each_context(request), "title": "Close the day", "rows": rows}
    return TemplateResponse(request, "admin/reports/day_close_list.html", context)


def _parse_day(text: str, today: date) -> date:
    """A UTC day up to today, written YYYY-MM-DD; anything else is not a page (404)."""
    if not DAY_FORMAT.fullmatch(text):
        raise Http404("No such day.")
    try:
        day = date.fromisoformat(text)
    except ValueError:
        raise Http404("No such day.") from None
    if day > today:
        raise Http404("That day has not begun.")
    return day


def _money_rows(figures: dict[str, Any]) -> list[dict[str, Any]]:
    """A close stored before a figure existed lacks it: it shows as none (0)."""
    return [
        {"label": FIGURE_LABELS[name], "amounts": sorted(figures["money"].get(name, {}).items())}
        for name in selectors.MONEY_FIGURES
    ]


def _count_rows(figures: dict[str, Any]) -> list[tuple[str, int]]:
    """A close stored when captured and refunded were by the payments created that day also shows
    the count of those payments."""
    names = [*selectors.COUNT_FIGURES]
    if selectors.CREATED_BASIS_COUNT in figures["counts"]:
        names.append(selectors.CREATED_BASIS_COUNT)
    return [(FIGURE_LABELS[name], figures["counts"].get(name, 0)) for name in names]


def _links(account: GatewayAccount, day: date) -> dict[str, str]:
    since, until = (moment.isoformat() for moment in utc_days(day))
    unmatched = selectors.day_unmatched_lines(account_id=account.pk, day=day)
    batch_ids = sorted(set(unmatched.values_list("batch_id", flat=True)))
    discrepancy_ids = sorted(
        selectors.day_open_discrepancies(account_id=account.pk, day=day).values_list("pk", flat=True)
    )
    return {
        "payments": _filtered(
            "admin:payments_payment_changelist",
            gateway_account__id__exact=account.pk, created_at__gte=since, created_at__lt=until,
        ),
        "batches": _filtered(
            "admin:reconciliation_settlementbatch_changelist",
            gateway_account__id__exact=account.pk, settled_at__gte=since, settled_at__lt=until,
        ),
        "unmatched": _filtered(
            "admin:reconciliation_settlementline_changelist",
            batch__id__in=",".join(map(str, batch_ids)), match_status__exact="unmatched",
        ),
        "discrepancies": _filtered(
            "admin:reconciliation_discrepancy_changelist", id__in=",".join(map(str, discrepancy_ids))
        ),
        "unmatched_count": str(unmatched.count()),
        "discrepancies_count": str(len(discrepancy_ids)),
    }  # fmt: skip


def _closed_context(close: Any, current: dict[str, Any]) -> dict[str, Any]:
    changes = [
        {"label": FIGURE_LABELS[change.figure].lower(), "change": change}
        for change in selectors.figures_changed(stored=close.figures, current=current)
    ]
    late_entries = list(selectors.entries_after_close(close)[: selectors.LATE_ENTRIES_SHOWN + 1])
    carried = close.carried_forward
    return {
        "close": close,
        "stored_rows": _money_rows(close.figures),
        "stored_counts": _count_rows(close.figures),
        "created_basis": selectors.CREATED_BASIS_COUNT in close.figures.get("counts", {}),
        "changes": changes,
        "late_entries": late_entries[: selectors.LATE_ENTRIES_SHOWN],
        "more_late_entries": len(late_entries) > selectors.LATE_ENTRIES_SHOWN,
        "carried_discrepancies": [
            (public_id, reverse("admin:reconciliation_discrepancy_change", args=[public_id]))
            for public_id in carried.get("discrepancies", [])
        ],
        "carried_lines": [
            (line_id, reverse("admin:reconciliation_settlementline_change", args=[line_id]))
            for line_id in carried.get("unmatched_lines", [])
        ],
    }


def day_close_day_view(request: HttpRequest, account_id: str, day_text: str) -> HttpResponse:
    _require_view(request)
    today = timezone.now().date()
    day = _parse_day(day_text, today)
    account = selectors.gateway_account_for_day_close(account_id)
    if account is None:
        raise Http404("No such gateway account.")
    form = DayCloseForm(request.POST or None)
    if request.method == "POST":
        if not request.user.has_perm(CLOSE_DAY_PERMISSION):
            raise PermissionDenied
        if form.is_valid():
            try:
                day_close(
                    account=account,
                    day=day,
                    user=request.user,
                    actor=Actor.staff(request.user),
                    note=form.cleaned_data["note"],
                )
            except DayCloseNotAllowed:
                raise PermissionDenied from None
            except (DayAlreadyClosed, DayCloseInvalid) as exc:
                messages.error(request, exc.message)
            else:
                messages.success(request, f"{day} is closed for {account.public_id}.")
            return HttpResponseRedirect(_day_url(account, day))
    figures = selectors.day_figures(account_id=account.pk, day=day)
    close = selectors.day_close_get(account_id=account.pk, day=day)
    context = {
        **site.each_context(request),
        "title": f"{day} · {account.public_id}",
        "account": account,
        "day": day,
        "ended": day < today,
        "money_rows": _money_rows(figures),
        "counts": _count_rows(figures),
        "links": _links(account, day),
        "form": form,
        "can_close": close is None and day < today and request.user.has_perm(CLOSE_DAY_PERMISSION),
        "list_url": reverse("admin:day_close"),
        **(_closed_context(close, figures) if close is not None else {}),
    }
    return TemplateResponse(request, "admin/reports/day_close_day.html", context)
