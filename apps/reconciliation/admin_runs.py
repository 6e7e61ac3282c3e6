"""Reconciliation runs in the back office: the "Fetch and reconcile…" form (a range of days for
one gateway account or all), each run's page with its progress and result, and the list of recent
runs (read-only)."""

from __future__ import annotations

from datetime import date, timedelta
from typing import Any

from django import forms
from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils import timezone

from apps.audit.actors import Actor
from apps.core.admin_lookup import PublicIdChangeMixin
from apps.core.admin_readonly import ReadOnlyAdmin
from apps.gateways.models import GatewayAccount

from .errors import RunInProgress, RunRequestInvalid
from .models_runs import MAX_RUN_DAYS, ReconciliationRun
from .run_selectors import run_imported_batches, run_opened_discrepancies, run_progress
from .runs import reconciliation_run_request

RUN_PERMISSION = "reconciliation.run_reconciliation"


def _yesterday() -> date:
    return timezone.now().date() - timedelta(days=1)


class RunRequestForm(forms.Form):
    gateway_account = forms.ModelChoiceField(
        queryset=GatewayAccount.objects.filter(is_active=True).select_related("merchant").order_by("pk"),
        required=False,
        empty_label="All active gateway accounts",
    )
    first_day = forms.DateField(initial=_yesterday, help_text="UTC, YYYY-MM-DD")
    last_day = forms.DateField(
        initial=_yesterday, help_text=f"UTC, YYYY-MM-DD; at most {MAX_RUN_DAYS} days from the first, not in the future"
    )


@admin.register(ReconciliationRun)
class ReconciliationRunAdmin(PublicIdChangeMixin, ReadOnlyAdmin):
    list_display = ("public_id", "scope", "first_day", "last_day", "status", "progress", "requested_by", "created_at")
    list_filter = ("status",)
    search_fields = ("=public_id",)
    list_select_related = ("gateway_account__merchant", "requested_by")
    ordering = ("-created_at", "-id")
    fields = (
        "public_id",
        "scope",
        "first_day",
        "last_day",
        "requested_by",
        "status",
        "progress",
        "current",
        "error",
        "created_at",
        "started_at",
        "finished_at",
    )
    readonly_fields = fields
    change_form_template = "admin/reconciliation/reconciliationrun/change_form.html"
    change_list_template = "admin/reconciliation/reconciliationrun/change_list.html"

    def get_urls(self) -> list[Any]:
        request_view = self.admin_site.admin_view(self.request_view)
        return [path("request/", request_view, name="reconciliation_reconciliationrun_request"), *super().get_urls()]

    def changelist_view(self, request: HttpRequest, extra_context: Any = None) -> HttpResponse:
        can_run = request.user.has_perm(RUN_PERMISSION)
        return super().changelist_view(request, {**(extra_context or {}), "can_run": can_run})

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        run = self.get_queryset(request).filter(pk=object_id).first() if object_id.isdigit() else None
        context = {**(extra_context or {})}
        if run is not None:
            context.update(
                run=run,
                refresh=run.is_active,
                batches=run_imported_batches(run),
                opened=[
                    (item, f"{reverse('admin:reconciliation_discrepancy_changelist')}?kind__exact={item.kind}")
                    for item in run_opened_discrepancies(run)
                ],
                result=run.result,
                can_run=request.user.has_perm(RUN_PERMISSION),
            )
        return super().change_view(request, object_id, form_url, context)

    def request_view(self, request: HttpRequest) -> HttpResponse:
        """Ask for a run; the page of the new run follows its progress."""
        if not request.user.has_perm(RUN_PERMISSION):
            raise PermissionDenied
        form = RunRequestForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            data = form.cleaned_data
            try:
                run = reconciliation_run_request(
                    account=data["gateway_account"],
                    first_day=data["first_day"],
                    last_day=data["last_day"],
                    actor=Actor.staff(request.user),
                    user=request.user,
                )
            except RunRequestInvalid as exc:
                form.add_error(exc.param if exc.param in form.fields else None, exc.message)
            except RunInProgress as exc:
                self.message_user(request, exc.message, messages.ERROR)
            else:
                self.message_user(request, f"Run {run.public_id} is queued.", messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:reconciliation_reconciliationrun_change", args=[run.pk]))
        context = {
            **self.admin_site.each_context(request),
            "title": "Fetch and reconcile settlements",
            "form": form,
            "adminform": helpers.AdminForm(form, [(None, {"fields": list(form.fields)})], {}),  # type: ignore[arg-type]
            "opts": self.model._meta,
            "back_url": reverse("admin:reconciliation_settlementbatch_changelist"),
        }
        return TemplateResponse(request, "admin/reconciliation/reconciliationrun/request.html", context)

    @admin.display(description="account")
    def scope(self, run: ReconciliationRun) -> str:
        if run.gateway_account is None:
            return f"all active accounts ({len(run.account_ids)})"
        return f"{run.gateway_account.public_id} {run.gateway_account}"

    @admin.display(description="progress")
    def progress(self, run: ReconciliationRun) -> str:
        return run_progress(run)

    @admin.display(description="now at")
    def current(self, run: ReconciliationRun) -> str:
        return f"{run.current_account}, {run.current_day}" if run.current_account else "—"
