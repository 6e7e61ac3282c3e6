"""Reconciliation in the back office: the discrepancy queue with filters, assignee and age, and a
resolve page that shows what each resolution posts. Write-offs wait for a second person's
approval. The settlement pages (batches and lines, read-only; CSV mappings and upload) are in
admin_settlements."""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

from django import forms
from django.contrib import admin, messages
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
from apps.webhooks.models import IncomingWebhook

from . import admin_settlements, discrepancies  # noqa: F401  (admin_settlements registers its pages)
from .models import Discrepancy
from .selectors import resolutions_for
from .wording import (
    difference_sentence,
    discrepancy_sentence,
    gateway_status_words,
    our_currency,
    receivable_sentence,
    resolution_sentence,
)
from .wording import money as _money


def _link(obj: Any, text: str) -> str:
    """A link to a related row's admin page, by its id only: its amount is already on the page."""
    if obj is None:
        return "—"
    opts = obj._meta
    return format_html(
        '<a href="{}">{}</a>', reverse(f"admin:{opts.app_label}_{opts.model_name}_change", args=[obj.pk]), text
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


def _resolved_message(d: Discrepancy) -> str:
    """What a resolution did, as an admin message. It starts with a word, never with the id: the
    admin capitalises a message's first letter ("Dsc_…")."""
    if d.status == Discrepancy.Status.PENDING_APPROVAL:
        money = _money(d.resolution_amount, d.currency)
        return f"Write-off of {money} requested for discrepancy {d.public_id}: it waits for another approver."
    return f"Discrepancy {d.public_id}: {d.get_status_display().lower()} ({d.get_resolution_display().lower()})."


@admin.register(Discrepancy)
class DiscrepancyAdmin(PublicIdChangeMixin, CsvExportMixin, ReadOnlyAdmin):
    # Ours may be in another currency (a currency mismatch): the sentence columns stay text; the
    # gateway's amount is a number in the discrepancy's currency.
    csv_money = {"gateways": ("gateway_amount", "currency")}
    # What finance reads first (amounts, age, who has it) comes before the long text.
    list_display = (
        "public_id",
        "ours",
        "gateways",
        "difference_display",
        "age",
        "assignee",
        "status",
        "what_happened",
        "gateway_transaction_id",
        "gateway_account",
        "resolution",
    )
    list_filter = (OpenByDefault, "kind", AssigneeFilter, AgeFilter, "resolution", "gateway_account__gateway")
    search_fields = ("=public_id", "=gateway_transaction_id", "=payment__public_id")
    search_help_text = "Exact discrepancy id, gateway transaction id or payment id."
    # The sentence reads the line, our entry and our payment or refund: joined, not one query a row.
    list_select_related = ("gateway_account__merchant", "assignee", "entry", "line", "payment", "refund", "batch")
    ordering = ("detected_at",)
    actions = ("assign_to_me", "unassign")
    readonly_fields = (
        "what_happened",
        "public_id",
        "kind",
        "status",
        "gateway_account",
        "gateway_transaction_id",
        "gateway_status",
        "settlement_line",
        "our_entry",
        "our_payment",
        "our_refund",
        "ours",
        "gateways",
        "difference_explained",
        "left_in_receivable",
        "what_each_resolution_does",
        "detected_at",
        "assignee",
        "resolution",
        "resolution_amount_display",
        "resolution_note",
        "requested_by",
        "requested_at",
        "approved_by",
        "resolved_at",
        "resolution_entry",
        "notifications",
    )
    # Only these: each amount appears once, with its currency (ours, gateways), never as bare minor
    # units; the related rows are linked by id (their own labels repeat the amounts); the gateway's
    # status codes (the line's status, the raw detail) appear in words.
    fields = readonly_fields
    change_form_template = "admin/reconciliation/discrepancy/change_form.html"

    @admin.display(description="what happened")
    def what_happened(self, obj: Discrepancy) -> str:
        return discrepancy_sentence(obj)

    @admin.display(description="ours")
    def ours(self, obj: Discrepancy) -> str:
        return _money(obj.our_amount, our_currency(obj))

    @admin.display(description="gateway")
    def gateways(self, obj: Discrepancy) -> str:
        return _money(obj.gateway_amount, obj.currency)

    @admin.display(description="gateway minus ours")
    def difference_display(self, obj: Discrepancy) -> str:
        if obj.our_amount is None or obj.gateway_amount is None or our_currency(obj) != obj.currency:
            return ""
        return _money(obj.difference, obj.currency)

    @admin.display(description="difference")
    def difference_explained(self, obj: Discrepancy) -> str:
        return difference_sentence(obj) or "—"

    @admin.display(description="gateway receivable")
    def left_in_receivable(self, obj: Discrepancy) -> str:
        return receivable_sentence(obj)

    @admin.display(description="what each resolution does")
    def what_each_resolution_does(self, obj: Discrepancy) -> str:
        choices = resolutions_for(obj)
        if not choices:
            return "—"
        return format_html_join(
            mark_safe(""), "<p>{}</p>", ((resolution_sentence(obj, choice.value),) for choice in choices)
        )

    @admin.display(description="gateway status")
    def gateway_status(self, obj: Discrepancy) -> str:
        return gateway_status_words(obj.line.gateway_status) if obj.line is not None else "—"

    @admin.display(description="settlement line")
    def settlement_line(self, obj: Discrepancy) -> str:
        line = obj.line
        if line is None and obj.batch is not None:
            return _link(obj.batch, f"batch {obj.batch.gateway_batch_id}")
        return _link(line, f"{line.get_kind_display()} in batch {line.batch.gateway_batch_id}") if line else "—"

    @admin.display(description="our entry")
    def our_entry(self, obj: Discrepancy) -> str:
        return _link(obj.entry, obj.entry.public_id) if obj.entry else "—"

    @admin.display(description="our payment")
    def our_payment(self, obj: Discrepancy) -> str:
        payment = obj.payment
        return _link(payment, f"{payment.public_id} ({payment.get_status_display().lower()})") if payment else "—"

    @admin.display(description="our refund")
    def our_refund(self, obj: Discrepancy) -> str:
        refund = obj.refund
        return _link(refund, f"{refund.public_id} ({refund.get_status_display().lower()})") if refund else "—"

    @admin.display(description="resolution amount")
    def resolution_amount_display(self, obj: Discrepancy) -> str:
        return _money(obj.resolution_amount, obj.currency)

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
                "our_currency": our_currency(d),
                "what_happened": discrepancy_sentence(d),
                "difference": difference_sentence(d),
                "receivable": receivable_sentence(d),
                "gateway_status": gateway_status_words(d.line.gateway_status) if d.line is not None else "",
                "opts": self.model._meta,
                "change_url": reverse("admin:reconciliation_discrepancy_change", args=[d.pk]),
                **context,
            },
        )

    def resolve_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        if not request.user.has_perm("reconciliation.resolve_discrepancy"):
            raise PermissionDenied
        d = get_object_or_404(
            Discrepancy.objects.select_related("line", "entry", "payment", "refund", "gateway_account", "batch"),
            pk=object_id,
        )
        choices = resolutions_for(d)
        form = ResolveForm(request.POST or None, choices=[(c.value, resolution_sentence(d, c.value)) for c in choices])
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
                self.message_user(request, _resolved_message(done), messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:reconciliation_discrepancy_change", args=[d.pk]))
        return self._page(request, d, f"Resolve {d.public_id}", form=form, choices=choices)

    def decide_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        if not request.user.has_perm("reconciliation.approve_writeoff"):
            raise PermissionDenied
        d = get_object_or_404(
            Discrepancy.objects.select_related(
                "line", "entry", "payment", "refund", "gateway_account", "requested_by", "batch"
            ),
            pk=object_id,
        )
        form = DecisionForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            approve = request.POST.get("decision") == "approve"
            decide = (
                discrepancies.discrepancy_approve_write_off if approve else discrepancies.discrepancy_reject_write_off
            )
            write_off = f"Write-off of {_money(d.resolution_amount, d.currency)} for discrepancy {d.public_id}"
            try:
                done = decide(discrepancy=d, approver=request.user, note=form.cleaned_data["note"])  # type: ignore[arg-type]
            except ApplicationError as exc:
                self.message_user(request, exc.message, messages.ERROR)
            else:
                outcome = "approved" if approve else "rejected"
                status = done.get_status_display().lower()
                self.message_user(request, f"{write_off} {outcome}: {status}.", messages.SUCCESS)
                return HttpResponseRedirect(reverse("admin:reconciliation_discrepancy_change", args=[d.pk]))
        return self._page(request, d, f"Write-off of {d.public_id}", form=form, deciding=True)
