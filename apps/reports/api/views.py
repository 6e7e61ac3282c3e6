"""/api/v1/reports/transactions, /settlements and /fraud: JSON, or CSV with `?format=csv` (or
`Accept: text/csv`)."""

from __future__ import annotations

import csv
import io
from datetime import date, timedelta
from typing import Any

from drf_spectacular.types import OpenApiTypes
from drf_spectacular.utils import OpenApiParameter, extend_schema
from rest_framework import serializers
from rest_framework.renderers import BaseRenderer, JSONRenderer
from rest_framework.request import Request
from rest_framework.response import Response

from apps.api.fields import InputSerializer
from apps.api.views import MerchantApiView, query_names
from apps.audit.admin_export import spreadsheet_text
from apps.reports import fraud, selectors

MAX_DAYS = 366
# Days whose UTC bounds every database and datetime can hold (the day after the last one too).
FIRST_DAY, LAST_DAY = date(1970, 1, 1), date(9999, 12, 30)


class CsvRenderer(BaseRenderer):
    media_type = "text/csv"
    format = "csv"
    charset = "utf-8"

    def render(self, data: Any, accepted_media_type: str | None = None, renderer_context: Any = None) -> bytes:
        rows: list[dict[str, Any]] = data["data"] if isinstance(data, dict) and "data" in data else list(data or [])
        view = (renderer_context or {}).get("view")
        columns = getattr(view, "csv_columns", None)
        fieldnames = list(rows[0]) if rows else list(columns or [])
        out = io.StringIO()
        writer = csv.DictWriter(out, fieldnames=fieldnames)
        writer.writeheader()  # an empty report is its header line
        writer.writerows({name: _cell(value) for name, value in row.items()} for row in rows)
        return out.getvalue().encode()


def _cell(value: Any) -> Any:
    # Spreadsheets run a cell that starts like a formula: keep such text text (CSV injection).
    return spreadsheet_text(value) if isinstance(value, str) else value


class ReportQuerySerializer(InputSerializer):
    start = serializers.DateField(help_text="First day, YYYY-MM-DD (UTC)")
    end = serializers.DateField(required=False, help_text="Last day, included; default: start")
    group_by = serializers.ChoiceField(choices=selectors.GROUPS, default="day")

    def validate(self, attrs: dict[str, Any]) -> dict[str, Any]:
        attrs.setdefault("end", attrs["start"])
        for name in ("start", "end"):
            if not FIRST_DAY <= attrs[name] <= LAST_DAY:
                raise serializers.ValidationError({name: f"Days run from {FIRST_DAY} to {LAST_DAY}."})
        if attrs["end"] < attrs["start"]:
            raise serializers.ValidationError({"end": "The end must not be before the start."})
        if attrs["end"] - attrs["start"] > timedelta(days=MAX_DAYS):
            raise serializers.ValidationError({"end": f"A report covers at most {MAX_DAYS} days."})
        return attrs


PARAMETERS = [
    OpenApiParameter("start", OpenApiTypes.DATE, required=True, description="First day (UTC)"),
    OpenApiParameter("end", OpenApiTypes.DATE, description="Last day, included (default: start)"),
    OpenApiParameter("group_by", OpenApiTypes.STR, enum=list(selectors.GROUPS), description="day (default) or gateway"),
    OpenApiParameter("format", OpenApiTypes.STR, enum=["json", "csv"], description="csv for a spreadsheet"),
]


class _ReportApi(MerchantApiView):
    query_parameters = {"GET": query_names(PARAMETERS)}
    renderer_classes = [JSONRenderer, CsvRenderer]
    report = staticmethod(selectors.transaction_report)
    name = ""
    columns: tuple[str, ...] = ()  # after the group column
    csv_columns: list[str] | None = None
    query_serializer: type[ReportQuerySerializer] = ReportQuerySerializer

    def finalize_response(self, request: Request, response: Response, *args: Any, **kwargs: Any) -> Response:
        # Errors are the JSON envelope whatever format was asked for (the document says so).
        if response.status_code >= 400:
            request.accepted_renderer, request.accepted_media_type = JSONRenderer(), "application/json"
        return super().finalize_response(request, response, *args, **kwargs)

    def rows(self, *, as_csv: bool, start: date, end: date, group_by: str, merchant_id: int) -> list[dict[str, Any]]:
        self.csv_columns = [group_by, *self.columns]
        return self.report(start=start, end=end, group_by=group_by, merchant_id=merchant_id)

    def _get(self, request: Request) -> Response:
        query = self.query_serializer(data={k: v for k, v in request.query_params.items() if k != "format"})
        query.is_valid(raise_exception=True)
        start: date = query.validated_data["start"]
        end: date = query.validated_data["end"]
        group_by: str = query.validated_data["group_by"]
        as_csv = getattr(request.accepted_renderer, "format", "") == "csv"
        rows = self.rows(as_csv=as_csv, start=start, end=end, group_by=group_by, merchant_id=self.merchant(request).pk)
        response = Response(
            {
                "object": "report",
                "report": self.name,
                "start": start.isoformat(),
                "end": end.isoformat(),
                "group_by": group_by,
                "data": rows,
            }
        )
        if as_csv:
            response["Content-Disposition"] = f'attachment; filename="{self.name}-{start}-{end}-{group_by}.csv"'
        return response


class TransactionReportApi(_ReportApi):
    report = staticmethod(selectors.transaction_report)
    name = "transactions"
    columns = selectors.TRANSACTION_REPORT_COLUMNS

    @extend_schema(
        operation_id="reports_transactions", parameters=PARAMETERS, responses=OpenApiTypes.OBJECT, tags=["reports"]
    )
    def get(self, request: Request) -> Response:
        """Payments by day or gateway and currency: count, approved, declined, approval rate,
        captured, refunded and net, in minor units."""
        return self._get(request)


class SettlementReportApi(_ReportApi):
    report = staticmethod(selectors.settlement_report)
    name = "settlements"
    columns = selectors.SETTLEMENT_REPORT_COLUMNS

    @extend_schema(
        operation_id="reports_settlements", parameters=PARAMETERS, responses=OpenApiTypes.OBJECT, tags=["reports"]
    )
    def get(self, request: Request) -> Response:
        """Settled batches by day or gateway and currency: batches, lines, charges, refunds, fees
        and payout, in minor units."""
        return self._get(request)


class FraudReportQuerySerializer(ReportQuerySerializer):
    group_by = serializers.ChoiceField(choices=fraud.GROUPS, default="day")


FRAUD_PARAMETERS = [
    *PARAMETERS[:2],
    OpenApiParameter("group_by", OpenApiTypes.STR, enum=list(fraud.GROUPS), description="day (default) or rule"),
    PARAMETERS[3],
]


class FraudReportApi(_ReportApi):
    query_parameters = {"GET": query_names(FRAUD_PARAMETERS)}
    query_serializer = FraudReportQuerySerializer
    name = "fraud"

    def rows(self, *, as_csv: bool, start: date, end: date, group_by: str, merchant_id: int) -> list[dict[str, Any]]:
        self.csv_columns = fraud.fraud_report_columns(group_by)
        report = fraud.fraud_report_flat if as_csv else fraud.fraud_report
        return report(start=start, end=end, group_by=group_by, merchant_id=merchant_id)

    @extend_schema(
        operation_id="reports_fraud", parameters=FRAUD_PARAMETERS, responses=OpenApiTypes.OBJECT, tags=["reports"]
    )
    def get(self, request: Request) -> Response:
        """Risk assessments by day or rule: evaluated, allowed, reviewed, request_3ds and blocked
        (count, amounts in minor units per currency), review outcomes and seconds to a decision
        (median, p90), 3-D Secure requested and passed, and per rule its matches. As CSV: a row
        per group and currency, amounts in major units."""
        return self._get(request)
