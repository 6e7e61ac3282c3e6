"""Settlements in the back office: the saved CSV column mappings, the upload of a settlement
report, the imported batches and lines (read-only, amounts as money), and from the batch list
the on-demand "Fetch and reconcile…" runs (admin_runs)."""

from __future__ import annotations

from datetime import UTC, datetime, time
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied, ValidationError
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html

from apps.audit.actors import Actor
from apps.audit.admin_export import CsvExportMixin
from apps.core.admin_readonly import ReadOnlyAdmin
from apps.core.errors import ApplicationError
from apps.core.money import format_amount
from apps.gateways.models import GatewayAccount

from . import admin_runs, services  # admin_runs registers the reconciliation run pages
from .models import CsvMapping, SettlementBatch, SettlementLine


@admin.register(CsvMapping)
class CsvMappingAdmin(admin.ModelAdmin[CsvMapping]):
    """Saved column mappings for settlement CSV uploads (editable by finance operators)."""

    list_display = ("name", "gateway", "transaction_id_column", "amount_column", "amount_format", "updated_at")
    fieldsets = (
        (None, {"fields": ("name", "gateway", "delimiter")}),
        ("Required columns", {"fields": ("transaction_id_column", "amount_column", "amount_format")}),
        (
            "Optional columns",
            {
                "fields": (
                    "batch_id_column",
                    "kind_column",
                    "charge_values",
                    "refund_values",
                    "currency_column",
                    "fee_column",
                    "tax_column",
                    "reference_column",
                    "status_column",
                    "settled_at_column",
                    "occurred_at_column",
                    "date_format",
                )
            },
        ),
    )

    # Staff edit through the audited services: a mapping decides how settlement amounts are read
    # into the ledger.
    def save_model(self, request: HttpRequest, obj: CsvMapping, form: Any, change: bool) -> None:
        actor = Actor.staff(request.user)
        if change:
            changes = {name: getattr(obj, name) for name in form.changed_data if name in services.CSV_MAPPING_FIELDS}
            services.csv_mapping_update(mapping=obj, changes=changes, actor=actor)
            return
        values = {name: getattr(obj, name) for name in services.CSV_MAPPING_FIELDS}
        obj.pk = services.csv_mapping_create(values=values, actor=actor).pk

    def changeform_view(
        self, request: HttpRequest, object_id: str | None = None, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        try:
            return super().changeform_view(request, object_id, form_url, extra_context)
        except ValidationError:
            # Another mapping took the name after this form checked it (saved at the same moment):
            # the services answer the database's unique violation with the form's own error. The
            # page's transaction rolled back, nothing changed; shown again, the form's uniqueness
            # check finds that mapping and says so beside the name.
            return super().changeform_view(request, object_id, form_url, extra_context)

    def delete_model(self, request: HttpRequest, obj: CsvMapping) -> None:
        services.csv_mapping_delete(mapping=obj, actor=Actor.staff(request.user))

    def delete_queryset(self, request: HttpRequest, queryset: QuerySet[CsvMapping]) -> None:
        for mapping in queryset:
            services.csv_mapping_delete(mapping=mapping, actor=Actor.staff(request.user))


class SettlementUploadForm(forms.Form):
    gateway_account = forms.ModelChoiceField(queryset=GatewayAccount.objects.filter(is_active=True))
    mapping = forms.ModelChoiceField(queryset=CsvMapping.objects.all(), help_text="How to read the file's columns")
    file = forms.FileField(help_text="The gateway's settlement report, CSV, UTF-8")
    batch_id = forms.CharField(
        max_length=64, required=False, help_text="For files without a batch column: the settlement's id"
    )
    settled_on = forms.DateField(help_text="For files without a settlement date column (UTC), YYYY-MM-DD")


@admin.register(SettlementBatch)
class SettlementBatchAdmin(CsvExportMixin, ReadOnlyAdmin):
    csv_money = {
        "charges": ("charges_amount", "currency"),
        "refunds": ("refunds_amount", "currency"),
        "fees": ("fees_amount", "currency"),
        "payout": ("payout_amount", "currency"),
    }
    list_display = (
        "gateway_batch_id",
        "gateway_account",
        "settled_at",
        "source",
        "line_count",
        "charges",
        "refunds",
        "fees",
        "payout",
        "payout_reference",
        "lines_link",
    )
    list_filter = ("source", "gateway_account__gateway", "currency", ("settled_at", admin.DateFieldListFilter))
    search_fields = ("=gateway_batch_id", "=payout_reference")
    list_select_related = ("gateway_account__merchant",)
    date_hierarchy = "settled_at"
    ordering = ("-settled_at",)
    # Amounts are shown with their currency, never as bare minor units.
    fields = (
        "gateway_account",
        "gateway_batch_id",
        "source",
        "settled_at",
        "line_count",
        "charges",
        "refunds",
        "fees",
        "payout",
        "payout_reference",
        "imported_at",
    )
    readonly_fields = fields

    change_list_template = "admin/reconciliation/settlementbatch/change_list.html"

    def get_urls(self) -> list[Any]:
        upload = path(
            "upload/", self.admin_site.admin_view(self.upload_view), name="reconciliation_settlementbatch_upload"
        )
        return [upload, *super().get_urls()]

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        can_upload = request.user.has_perm("reconciliation.upload_settlement")
        context = {
            **(extra_context or {}),
            "can_upload": can_upload,
            "can_run": request.user.has_perm(admin_runs.RUN_PERMISSION),
            "can_view_runs": request.user.has_perm("reconciliation.view_reconciliationrun"),
        }
        return super().changelist_view(request, context)

    def upload_view(self, request: HttpRequest) -> HttpResponse:
        """Upload a settlement report CSV: stored all-or-nothing, then matched like an API import."""
        if not request.user.has_perm("reconciliation.upload_settlement"):
            raise PermissionDenied
        form = SettlementUploadForm(request.POST or None, request.FILES or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                report = services.settlement_csv_import(
                    account=data["gateway_account"],
                    mapping=data["mapping"],
                    content=data["file"].read(),
                    batch_id=data["batch_id"],
                    settled_at=datetime.combine(data["settled_on"], time(23, 59), tzinfo=UTC),
                    actor=Actor.staff(request.user),
                )
            except ApplicationError as exc:
                self.message_user(request, exc.message, messages.ERROR)
            else:
                if report.skipped:
                    self.message_user(
                        request, f"Imported before, left as it was: {', '.join(report.skipped)}.", messages.WARNING
                    )
                self.message_user(request, report.summary(), messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:reconciliation_settlementbatch_changelist"))
        context = {
            **self.admin_site.each_context(request),
            "title": "Upload a settlement report (CSV)",
            "form": form,
            "adminform": helpers.AdminForm(form, [(None, {"fields": list(form.fields)})], {}),  # type: ignore[arg-type]
            "opts": self.model._meta,
            "back_url": reverse("admin:reconciliation_settlementbatch_changelist"),
        }
        return TemplateResponse(request, "admin/reconciliation/settlementbatch/upload.html", context)

    @admin.display(description="charges", ordering="charges_amount")
    def charges(self, obj: SettlementBatch) -> str:
        return format_amount(obj.charges_amount, obj.currency)

    @admin.display(description="refunds")
    def refunds(self, obj: SettlementBatch) -> str:
        return format_amount(obj.refunds_amount, obj.currency)

    @admin.display(description="fees and tax")
    def fees(self, obj: SettlementBatch) -> str:
        return format_amount(obj.fees_amount, obj.currency)

    @admin.display(description="payout", ordering="payout_amount")
    def payout(self, obj: SettlementBatch) -> str:
        return format_amount(obj.payout_amount, obj.currency)

    @admin.display(description="lines")
    def lines_link(self, obj: SettlementBatch) -> str:
        url = reverse("admin:reconciliation_settlementline_changelist")
        return format_html('<a href="{}?batch__id__exact={}">{} lines</a>', url, obj.pk, obj.line_count)


@admin.register(SettlementLine)
class SettlementLineAdmin(CsvExportMixin, ReadOnlyAdmin):
    csv_fields = (
        "gateway_transaction_id",
        "kind",
        "gateway_status",
        "amount_display",
        "fee_only_display",
        "tax_display",
        "match_status",
        "matched_by",
        "reference",
        "batch",
        "occurred_at",
    )
    csv_money = {
        "amount_display": ("amount", "currency"),
        "fee_only_display": ("fee", "currency"),
        "tax_display": ("tax", "currency"),
    }
    list_display = (
        "gateway_transaction_id",
        "kind",
        "gateway_status",
        "amount_display",
        "fee_display",
        "match_status",
        "matched_by",
        "payment_link",
        "batch",
        "occurred_at",
    )
    list_filter = ("match_status", "kind", "matched_by", "gateway_account__gateway", "currency")
    search_fields = ("=gateway_transaction_id", "=reference", "=batch__gateway_batch_id")
    search_help_text = "Exact gateway transaction id, our reference or batch id."
    list_select_related = ("batch", "entry__payment")
    raw_id_fields = ("batch", "entry")
    ordering = ("-id",)
    # Amounts are shown with their currency, never as bare minor units.
    fields = (
        "batch",
        "gateway_account",
        "gateway_transaction_id",
        "kind",
        "gateway_status",
        "amount_display",
        "fee_only_display",
        "tax_display",
        "reference",
        "parent_transaction_id",
        "occurred_at",
        "entry",
        "match_status",
        "matched_by",
    )
    readonly_fields = fields

    @admin.display(description="amount", ordering="amount")
    def amount_display(self, obj: SettlementLine) -> str:
        return format_amount(obj.amount, obj.currency)

    @admin.display(description="fee + tax")
    def fee_display(self, obj: SettlementLine) -> str:
        return format_amount(obj.fee + obj.tax, obj.currency) if obj.fee or obj.tax else ""

    @admin.display(description="fee")
    def fee_only_display(self, obj: SettlementLine) -> str:
        return format_amount(obj.fee, obj.currency)

    @admin.display(description="tax")
    def tax_display(self, obj: SettlementLine) -> str:
        return format_amount(obj.tax, obj.currency)

    @admin.display(description="our payment")
    def payment_link(self, obj: SettlementLine) -> str:
        payment = obj.entry.payment if obj.entry else None
        if payment is None:
            return ""
        return format_html(
            '<a href="{}">{}</a>', reverse("admin:payments_payment_change", args=[payment.pk]), payment.public_id
        )
