"""CSV export of an admin list exactly as filtered, searched and ordered on screen.

The export streams rows (no full list in memory, fine on a table of millions), uses the list's
columns (or `csv_fields`), and writes an audit event: who took which data out. Cells are made for
spreadsheets: money as a number in major units with its own currency column (`csv_money` names
the columns that show money), choices as their labels, times in UTC ISO 8601 to the second, UTF-8
(with `?excel=1`, a byte-order mark so that Excel reads it as UTF-8).
"""

from __future__ import annotations

import csv
import re
from collections.abc import Callable, Iterator
from datetime import UTC, date, datetime
from decimal import Decimal
from typing import Any, ClassVar

from django.contrib import admin
from django.contrib.admin.options import IncorrectLookupParameters
from django.contrib.admin.utils import label_for_field, lookup_field
from django.contrib.admin.views.main import ERROR_FLAG
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponseRedirect, StreamingHttpResponse
from django.http.response import HttpResponseBase
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import strip_tags
from django.utils.text import capfirst

from apps.audit.actors import Actor
from apps.audit.services import audit_record_atomic
from apps.core.money import to_decimal

CHUNK = 2000
EMPTY = {"", "-", "—"}  # the admin's "empty" display
BOM = "\ufeff"


_FORMULA_STARTS = frozenset({"=", "+", "-", "@", "\t", "\r"})
_PLAIN_NEGATIVE = re.compile(r"-\d+(\.\d+)?")


def spreadsheet_text(text: str) -> str:
    """`text` as a spreadsheet keeps it: a cell starting like a formula (= + - @, a tab or a
    carriage return) runs when opened (CSV injection), so it is kept text with a leading '.
    Only a plain negative number ("-12.50") stays a number: "-1+HYPERLINK(...)" starts with a
    digit after its minus and is still a formula."""
    if text[:1] in _FORMULA_STARTS and not _PLAIN_NEGATIVE.fullmatch(text):
        return f"'{text}"
    return text


class _Echo:
    def write(self, value: str) -> str:
        return value


def _cell(value: Any) -> str:
    if value is None:
        return ""
    if isinstance(value, bool):
        return "true" if value else "false"
    if isinstance(value, datetime):
        moment = value.astimezone(UTC) if value.tzinfo else value
        return moment.replace(microsecond=0).isoformat()
    if isinstance(value, date):
        return value.isoformat()
    if isinstance(value, int | Decimal):
        return str(value)  # a number (money in major units, counts): negative ones stay numbers
    text = strip_tags(str(value))
    if text.strip() in EMPTY:
        return ""
    return spreadsheet_text(text)


Column = tuple[str, Callable[[Any], Any]]


class CsvExportMixin:
    """Adds `export.csv` to a ModelAdmin's URLs and an "Export CSV" button to its list."""

    csv_fields: tuple[str, ...] = ()
    # Columns that show money: column -> (amount attribute in minor units, currency attribute).
    csv_money: ClassVar[dict[str, tuple[str, str]]] = {}
    change_list_template: ClassVar[Any] = "admin/csv_export_change_list.html"
    model: Any
    admin_site: Any

    def get_csv_fields(self, request: HttpRequest) -> list[str]:
        fields = self.csv_fields or tuple(self.get_list_display(request))  # type: ignore[attr-defined]
        return [name for name in fields if name != "action_checkbox"]

    def get_urls(self) -> list[Any]:
        opts = self.model._meta
        return [
            path(
                "export.csv",
                self.admin_site.admin_view(self.export_csv_view),
                name=f"{opts.app_label}_{opts.model_name}_export",
            ),
            *super().get_urls(),  # type: ignore[misc]
        ]

    def _columns(self, fields: list[str]) -> list[Column]:
        model_admin: admin.ModelAdmin[Any] = self  # type: ignore[assignment]
        columns: list[Column] = []
        currency_shown = "currency" in fields
        for name in fields:
            label = capfirst(strip_tags(str(label_for_field(name, self.model, model_admin))))
            if name in self.csv_money:
                amount_attr, currency_attr = self.csv_money[name]
                columns.append((label, _money_getter(amount_attr, currency_attr)))
                if not currency_shown:
                    columns.append(("Currency", _path_getter(currency_attr)))
                    currency_shown = True
            else:
                columns.append((label, _field_getter(name, model_admin)))
        return columns

    def export_csv_view(self, request: HttpRequest) -> HttpResponseBase:
        if not self.has_view_permission(request):  # type: ignore[attr-defined]
            raise PermissionDenied
        excel = request.GET.get("excel") == "1"
        if "excel" in request.GET:  # ours, not a filter of the list
            query = request.GET.copy()
            query.pop("excel")
            request.GET = query  # type: ignore[assignment]
        try:
            changelist = self.get_changelist_instance(request)  # type: ignore[attr-defined]
        except IncorrectLookupParameters:
            # As the list itself does with a filter it does not know: back to the list, flagged.
            list_url = reverse(f"admin:{self.model._meta.app_label}_{self.model._meta.model_name}_changelist")
            return HttpResponseRedirect(f"{list_url}?{ERROR_FLAG}=1")
        queryset = changelist.get_queryset(request)
        fields = self.get_csv_fields(request)
        columns = self._columns(fields)
        audit_record_atomic(
            actor=Actor.staff(request.user),
            action="admin.exported",
            after={"model": self.model._meta.label_lower, "filters": request.GET.urlencode(), "columns": fields},
        )

        def rows() -> Iterator[list[str]]:
            yield [header for header, _ in columns]
            for obj in queryset.iterator(chunk_size=CHUNK):
                yield [_cell(getter(obj)) for _, getter in columns]

        writer = csv.writer(_Echo())
        lines = (writer.writerow(row) for row in rows())
        body = _prefixed(BOM, lines) if excel else lines
        response = StreamingHttpResponse(body, content_type="text/csv; charset=utf-8")
        stamp = timezone.now().strftime("%Y%m%d-%H%M%S")
        response["Content-Disposition"] = f'attachment; filename="{self.model._meta.model_name}-{stamp}.csv"'
        return response


def _prefixed(first: str, lines: Iterator[str]) -> Iterator[str]:
    yield first
    yield from lines


def _path_getter(path: str) -> Callable[[Any], Any]:
    def get(obj: Any) -> Any:
        for part in path.split("__"):
            obj = getattr(obj, part, None)
        return obj

    return get


def _money_getter(amount_attr: str, currency_attr: str) -> Callable[[Any], Any]:
    amount_of, currency_of = _path_getter(amount_attr), _path_getter(currency_attr)

    def get(obj: Any) -> Any:
        amount, currency = amount_of(obj), currency_of(obj)
        return None if amount is None or not currency else to_decimal(amount, currency)

    return get


def _field_getter(name: str, model_admin: Any) -> Callable[[Any], Any]:
    def get(obj: Any) -> Any:
        field, _attr, value = lookup_field(name, obj, model_admin)
        choices = getattr(field, "flatchoices", None)
        if choices and value is not None:
            return dict(choices).get(value, value)  # the label finance reads on screen
        return value

    return get
