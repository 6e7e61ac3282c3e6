"""Reconciliation in the back office: settlement batches and lines (read-only), the discrepancy
queue with filters, assignee and age, and a resolve page that shows what each resolution posts.
Write-offs wait for a second person's approval."""

from __future__ import annotations

from collections.abc import Callable
from datetime import UTC, datetime, time, timedelta
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join
from django.utils.safestring import mark_safe
from django.utils.timesince import timesince

from apps.audit.actors import Actor
from apps.audit.admin_export import CsvExportMixin
from apps.core.admin_lookup import PublicIdChangeMixin
from apps.core.admin_readonly import ReadOnlyAdmin
from apps.core.cards import reject_card_numbers
from apps.core.errors import ApplicationError
from apps.core.money import format_amount
from apps.gateways.models import GatewayAccount
from apps.webhooks.models import IncomingWebhook

from . import discrepancies, services
from .models import CsvMapping, Discrepancy, SettlementBatch, SettlementLine
from .selectors import resolutions_for


def _money(amount: int | None, currency: str) -> str:
    return "" if amount is None else format_amount(amount, currency)


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

    change_list_template = "admin/reconciliation/settlementbatch/change_list.html"

    def get_urls(self) -> list[Any]:
        upload = path(
            "upload/", self.admin_site.admin_view(self.upload_view), name="reconciliation_settlementbatch_upload"
        )
        return [upload, *super().get_urls()]

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        can_upload = request.user.has_perm("reconciliation.upload_settlement")
        return super().changelist_view(request, {**(extra_context or {}), "can_upload": can_upload})

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
        return _money(obj.charges_amount, obj.currency)

    @admin.display(description="refunds")
    def refunds(self, obj: SettlementBatch) -> str:
        return _money(obj.refunds_amount, obj.currency)

    @admin.display(description="fees and tax")
    def fees(self, obj: SettlementBatch) -> str:
        return _money(obj.fees_amount, obj.currency)

    @admin.display(description="payout", ordering="payout_amount")
    def payout(self, obj: SettlementBatch) -> str:
        return _money(obj.payout_amount, obj.currency)

    @admin.display(description="lines")
    def lines_link(self, obj: SettlementBatch) -> str:
        url = reverse("admin:reconciliation_settlementline_changelist")
        return format_html('<a href="{}?batch__id__exact={}">{} lines</a>', url, obj.pk, obj.line_count)


@admin.register(SettlementLine)
class SettlementLineAdmin(CsvExportMixin, ReadOnlyAdmin):
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

    @admin.display(description="amount", ordering="amount")
    def amount_display(self, obj: SettlementLine) -> str:
        return _money(obj.amount, obj.currency)

    @admin.display(description="fee + tax")
    def fee_display(self, obj: SettlementLine) -> str:
        return _money(obj.fee + obj.tax, obj.currency) if obj.fee or obj.tax else ""

    @admin.display(description="our payment")
    def payment_link(self, obj: SettlementLine) -> str:
        payment = obj.entry.payment if obj.entry else None
        if payment is None:
            return ""
        return format_html(
            '<a href="{}">{}</a>', reverse("admin:payments_payment_change", args=[payment.pk]), payment.public_id
        )


class AgeFilter(admin.SimpleListFilter):
    title = "age"
    parameter_name = "age"
    BUCKETS = {"1d": (0, 1), "3d": (1, 3), "7d": (3, 7), "older": (7, None)}

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("1d", "under a day"), ("3d", "1 to 3 days"), ("7d", "3 to 7 days"), ("older", "over a week")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Discrepancy]) -> QuerySet[Discrepancy]:
        bucket = self.BUCKETS.get(self.value() or "")
        if bucket is None:
            return queryset
        now = timezone.now()
        young, old = bucket
        queryset = queryset.filter(detected_at__lte=now - timedelta(days=young))
        return queryset if old is None else queryset.filter(detected_at__gt=now - timedelta(days=old))


class AssigneeFilter(admin.SimpleListFilter):
    title = "assignee"
    parameter_name = "assignee"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("me", "assigned to me"), ("none", "unassigned")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Discrepancy]) -> QuerySet[Discrepancy]:
        if self.value() == "me":
            return queryset.filter(assignee_id=request.user.pk)
        if self.value() == "none":
            return queryset.filter(assignee__isnull=True)
        return queryset


class OpenByDefault(admin.SimpleListFilter):
    title = "status"
    parameter_name = "status"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("todo", "open or waiting for approval"), *Discrepancy.Status.choices, ("all", "all")]

    def choices(self, changelist: Any) -> Any:
        value = self.value() or "todo"
        for lookup, title in self.lookup_choices:
            yield {
                "selected": value == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }

    def queryset(self, request: HttpRequest, queryset: QuerySet[Discrepancy]) -> QuerySet[Discrepancy]:
        value = self.value() or "todo"
        if value == "todo":
            return queryset.exclude(status=Discrepancy.Status.RESOLVED)
        if value == "all":
            return queryset
        return queryset.filter(status=value)


class ResolveForm(forms.Form):
    resolution = forms.ChoiceField(widget=forms.RadioSelect)
    note = forms.CharField(
        max_length=255, required=False, widget=forms.TextInput(attrs={"size": 80}), validators=[reject_card_numbers]
    )

    def __init__(self, *args: Any, choices: list[tuple[str, str]], **kwargs: Any) -> None:
        super().__init__(*args, **kwargs)
        self.fields["resolution"].choices = choices  # type: ignore[attr-defined]


class DecisionForm(forms.Form):
    note = forms.CharField(
        max_length=255, required=False, widget=forms.TextInput(attrs={"size": 80}), validators=[reject_card_numbers]
    )


@admin.register(Discrepancy)
class DiscrepancyAdmin(PublicIdChangeMixin, CsvExportMixin, ReadOnlyAdmin):
    list_display = (
        "public_id",
        "kind",
        "status",
        "gateway_account",
        "gateway_transaction_id",
        "ours",
        "gateways",
        "difference_display",
        "age",
        "assignee",
        "resolution",
    )
    list_filter = (OpenByDefault, "kind", AssigneeFilter, AgeFilter, "resolution", "gateway_account__gateway")
    search_fields = ("=public_id", "=gateway_transaction_id", "=payment__public_id")
    search_help_text = "Exact discrepancy id, gateway transaction id or payment id."
    list_select_related = ("gateway_account__merchant", "assignee")
    ordering = ("detected_at",)
    actions = ("assign_to_me", "unassign")
    readonly_fields = (
        "public_id",
        "kind",
        "status",
        "gateway_account",
        "gateway_transaction_id",
        "line",
        "entry",
        "payment",
        "refund",
        "ours",
        "gateways",
        "difference_display",
        "detail",
        "detected_at",
        "assignee",
        "resolution",
        "resolution_amount",
        "resolution_note",
        "requested_by",
        "requested_at",
        "approved_by",
        "resolved_at",
        "resolution_entry",
        "notifications",
    )
    change_form_template = "admin/reconciliation/discrepancy/change_form.html"

    @admin.display(description="ours")
    def ours(self, obj: Discrepancy) -> str:
        return _money(obj.our_amount, obj.currency)

    @admin.display(description="gateway")
    def gateways(self, obj: Discrepancy) -> str:
        return _money(obj.gateway_amount, obj.currency)

    @admin.display(description="difference")
    def difference_display(self, obj: Discrepancy) -> str:
        if obj.our_amount is None or obj.gateway_amount is None:
            return ""
        return _money(obj.difference, obj.currency)

    @admin.display(description="gateway notifications about it")
    def notifications(self, obj: Discrepancy) -> str:
        """Webhooks the gateway sent about this transaction (an unmatched one is processed again
        once a payment of ours has the transaction)."""
        if not obj.gateway_transaction_id:
            return "—"
        hooks = IncomingWebhook.objects.filter(
            gateway_account_id=obj.gateway_account_id, object_id=obj.gateway_transaction_id
        ).order_by("id")[:20]
        if not hooks:
            return "none"
        return format_html_join(
            mark_safe("<br>"),
            '<a href="{}">{}</a> {} — {}',
            (
                (reverse("admin:webhooks_incomingwebhook_change", args=[h.pk]), h.public_id, h.event_type,
                 h.get_status_display())
                for h in hooks
            ),
        )  # fmt: skip

    @admin.display(description="age", ordering="detected_at")
    def age(self, obj: Discrepancy) -> str:
        return timesince(obj.detected_at).split(",")[0]

    # --- assignment ------------------------------------------------------------------------

    def has_resolve_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("reconciliation.resolve_discrepancy")

    @admin.action(description="Assign to me", permissions=["resolve"])
    def assign_to_me(self, request: HttpRequest, queryset: QuerySet[Discrepancy]) -> None:
        self._assign(request, queryset, request.user)

    @admin.action(description="Unassign", permissions=["resolve"])
    def unassign(self, request: HttpRequest, queryset: QuerySet[Discrepancy]) -> None:
        self._assign(request, queryset, None)

    def _assign(self, request: HttpRequest, queryset: QuerySet[Discrepancy], user: Any) -> None:
        actor = Actor.staff(request.user)
        still_open = list(queryset.exclude(status=Discrepancy.Status.RESOLVED))
        for discrepancy in still_open:
            discrepancies.discrepancy_assign(discrepancy=discrepancy, assignee=user, actor=actor)
        done = "assigned to you" if user else "unassigned"
        self.message_user(request, f"{len(still_open)} open discrepancies {done} (resolved ones are left as they are).")

    # --- resolve and decide ----------------------------------------------------------------

    def get_urls(self) -> list[Any]:
        def wrap(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
            wrapped: Callable[..., HttpResponse] = self.admin_site.admin_view(view)
            return wrapped

        return [
            path("<int:object_id>/resolve/", wrap(self.resolve_view), name="reconciliation_discrepancy_resolve"),
            path("<int:object_id>/decide/", wrap(self.decide_view), name="reconciliation_discrepancy_decide"),
            *super().get_urls(),
        ]

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        if not object_id.isdigit():
            return self.change_view_by_public_id(request, object_id)
        d = Discrepancy.objects.filter(pk=object_id).first()
        user = request.user
        extra_context = {
            **(extra_context or {}),
            "can_resolve": bool(
                d and d.status == Discrepancy.Status.OPEN and user.has_perm("reconciliation.resolve_discrepancy")
            ),
            "can_decide": bool(
                d
                and d.status == Discrepancy.Status.PENDING_APPROVAL
                and user.has_perm("reconciliation.approve_writeoff")
                and d.requested_by_id != user.pk
            ),
        }
        return super().change_view(request, object_id, form_url, extra_context)

    def _page(self, request: HttpRequest, d: Discrepancy, title: str, **context: Any) -> TemplateResponse:
        return TemplateResponse(
            request,
            "admin/reconciliation/discrepancy/resolve.html",
            {
                **self.admin_site.each_context(request),
                "title": title,
                "d": d,
                "residual": _money(discrepancies.discrepancy_residual(d), d.currency),
                "opts": self.model._meta,
                "change_url": reverse("admin:reconciliation_discrepancy_change", args=[d.pk]),
                **context,
            },
        )

    def resolve_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        if not request.user.has_perm("reconciliation.resolve_discrepancy"):
            raise PermissionDenied
        d = get_object_or_404(Discrepancy.objects.select_related("line", "entry", "gateway_account"), pk=object_id)
        choices = resolutions_for(d)
        form = ResolveForm(request.POST or None, choices=[(c.value, f"{c.label}: {c.effect}") for c in choices])
        if request.method == "POST" and form.is_valid():
            try:
                done = discrepancies.discrepancy_resolve(
                    discrepancy=d,
                    resolution=form.cleaned_data["resolution"],
                    user=request.user,  # type: ignore[arg-type]
                    note=form.cleaned_data["note"],
                )
            except ApplicationError as exc:
                self.message_user(request, exc.message, messages.ERROR)
            else:
                self.message_user(request, f"{done.public_id}: {done.get_status_display().lower()}.", messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:reconciliation_discrepancy_change", args=[d.pk]))
        return self._page(request, d, f"Resolve {d.public_id}", form=form, choices=choices)

    def decide_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        if not request.user.has_perm("reconciliation.approve_writeoff"):
            raise PermissionDenied
        d = get_object_or_404(
            Discrepancy.objects.select_related("line", "entry", "gateway_account", "requested_by"), pk=object_id
        )
        form = DecisionForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            decide = (
                discrepancies.discrepancy_approve_write_off
                if request.POST.get("decision") == "approve"
                else discrepancies.discrepancy_reject_write_off
            )
            try:
                done = decide(discrepancy=d, approver=request.user, note=form.cleaned_data["note"])  # type: ignore[arg-type]
            except ApplicationError as exc:
                self.message_user(request, exc.message, messages.ERROR)
            else:
                self.message_user(request, f"{done.public_id}: {done.get_status_display().lower()}.", messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:reconciliation_discrepancy_change", args=[d.pk]))
        return self._page(request, d, f"Write-off of {d.public_id}", form=form, deciding=True)
