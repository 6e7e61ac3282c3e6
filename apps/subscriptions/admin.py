"""Subscriptions in the back office: list and detail with invoices and their attempts; cancel,
pause, resume and retry-now as confirmed actions, each behind its permission; and a dunning
view of what is being chased, soonest retry first. Billing records are read-only."""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.db.models import QuerySet
from django.http import HttpRequest, HttpResponse
from django.template.response import TemplateResponse
from django.urls import reverse
from django.utils import timezone
from django.utils.html import format_html, format_html_join

from apps.audit.actors import Actor
from apps.audit.admin_export import CsvExportMixin
from apps.core.admin_readonly import ReadOnlyAdmin
from apps.core.errors import ApplicationError
from apps.core.money import format_amount
from apps.customers.models import PaymentMethod

from . import billing, invoice_payments, services
from .models import BillingAttempt, Invoice, PastDueSubscription, Plan, Subscription, SubscriptionStatus

S = SubscriptionStatus


@admin.register(Plan)
class PlanAdmin(ReadOnlyAdmin):
    list_display = (
        "public_id",
        "merchant",
        "name",
        "price",
        "interval_display",
        "trial_days",
        "billing_mode",
        "active",
    )
    list_filter = ("active", "billing_mode", "interval")
    search_fields = ("=public_id", "name")
    list_select_related = ("merchant",)
    ordering = ("-id",)
    # Only these: the price appears with its currency, never as bare minor units.
    fields = (
        "public_id",
        "merchant",
        "name",
        "price",
        "interval_display",
        "trial_days",
        "billing_mode",
        "active",
        "metadata",
        "created_at",
    )
    readonly_fields = fields

    @admin.display(description="price", ordering="amount")
    def price(self, obj: Plan) -> str:
        return format_amount(obj.amount, obj.currency)

    @admin.display(description="every")
    def interval_display(self, obj: Plan) -> str:
        return obj.interval if obj.interval_count == 1 else f"{obj.interval_count} {obj.interval}s"


class InvoiceInline(admin.TabularInline[Any, Any]):
    model = Invoice
    fk_name = "subscription"
    extra = 0
    can_delete = False
    show_change_link = True
    ordering = ("-period_start",)
    fields = readonly_fields = (
        "public_id",
        "period_start",
        "period_end",
        "amount_display",
        "status",
        "attempt_count",
        "next_attempt_at",
        "paid_at",
    )

    @admin.display(description="amount")
    def amount_display(self, obj: Invoice) -> str:
        return format_amount(obj.amount, obj.currency)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


def _attempt_rows(invoices: QuerySet[Invoice]) -> str:
    attempts = (
        BillingAttempt.objects.filter(invoice__in=invoices)
        .select_related("invoice", "payment")
        .order_by("-invoice__period_start", "number")
    )
    return format_html(
        "<table><tr><th>invoice</th><th>attempt</th><th>when</th><th>status</th><th>reason</th><th>payment</th></tr>"
        "{}</table>",
        format_html_join(
            "",
            '<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td><a href="{}">{}</a></td></tr>',
            (
                (
                    a.invoice.public_id,
                    a.number,
                    a.created_at.strftime("%Y-%m-%d %H:%M"),
                    a.get_status_display(),
                    a.failure_message or a.failure_code or "",
                    reverse("admin:payments_payment_change", args=[a.payment_id]),
                    a.payment.public_id,
                )
                for a in attempts
            ),
        ),
    )


# Which statuses each action applies to.
_ACTIONS: dict[str, tuple[str, set[str]]] = {
    "cancel_now": ("Cancel now (an unpaid invoice is voided)?", {S.TRIALING, S.ACTIVE, S.PAST_DUE, S.UNPAID, S.PAUSED}),
    "cancel_at_period_end": ("Cancel at the end of the current period?", {S.TRIALING, S.ACTIVE, S.PAST_DUE}),
    "pause": ("Pause billing (dunning stops too)?", {S.TRIALING, S.ACTIVE, S.PAST_DUE, S.UNPAID}),
    "resume": ("Resume billing (an owed invoice is retried now)?", {S.PAUSED}),
    "retry_payment_now": ("Charge what is owed now?", {S.PAST_DUE, S.UNPAID}),
}


class SubscriptionActionsMixin:
    actions: Any = ["cancel_now", "cancel_at_period_end", "pause", "resume", "retry_payment_now"]
    admin_site: Any
    model: Any

    message_user: Callable[..., None]  # ModelAdmin's

    def has_cancel_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("subscriptions.cancel_subscription")

    def has_pause_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("subscriptions.pause_subscription")

    def has_retry_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("subscriptions.retry_subscription_payment")

    def _confirm_then(
        self, request: HttpRequest, queryset: QuerySet[Subscription], action: str,
        perform: Callable[[Subscription, Actor], str],
    ) -> HttpResponse | None:  # fmt: skip
        question, allowed = _ACTIONS[action]
        chosen = list(queryset.select_related("customer", "plan"))
        eligible = [sub for sub in chosen if sub.status in allowed]
        if request.POST.get("confirm") != "yes":
            context = {
                **self.admin_site.each_context(request),
                "title": "Confirm",
                "question": question,
                "subscriptions": eligible,
                "skipped": [sub.public_id for sub in chosen if sub.status not in allowed],
                "action": action,
                "opts": self.model._meta,
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
                "back_url": request.get_full_path(),
            }
            return TemplateResponse(request, "admin/subscriptions/confirm_action.html", context)
        actor = Actor.staff(request.user)
        for sub in eligible:
            try:
                # "Subscription sub_…": the admin capitalises a message's first letter ("Sub_…").
                self.message_user(request, f"Subscription {sub.public_id}: {perform(sub, actor)}", messages.SUCCESS)
            except ApplicationError as exc:
                self.message_user(request, f"Subscription {sub.public_id}: {exc.message}", messages.ERROR)
        return None

    @admin.action(description="Cancel now", permissions=["cancel"])
    def cancel_now(self, request: HttpRequest, queryset: QuerySet[Subscription]) -> HttpResponse | None:
        def perform(sub: Subscription, actor: Actor) -> str:
            return services.subscription_cancel(subscription=sub, reason="canceled_by_staff", actor=actor).status

        return self._confirm_then(request, queryset, "cancel_now", perform)

    @admin.action(description="Cancel at period end", permissions=["cancel"])
    def cancel_at_period_end(self, request: HttpRequest, queryset: QuerySet[Subscription]) -> HttpResponse | None:
        def perform(sub: Subscription, actor: Actor) -> str:
            done = services.subscription_cancel(subscription=sub, at_period_end=True, actor=actor)
            return f"ends {done.current_period_end:%Y-%m-%d %H:%M}"

        return self._confirm_then(request, queryset, "cancel_at_period_end", perform)

    @admin.action(description="Pause", permissions=["pause"])
    def pause(self, request: HttpRequest, queryset: QuerySet[Subscription]) -> HttpResponse | None:
        def perform(sub: Subscription, actor: Actor) -> str:
            return services.subscription_pause(subscription=sub, actor=actor).status

        return self._confirm_then(request, queryset, "pause", perform)

    @admin.action(description="Resume", permissions=["pause"])
    def resume(self, request: HttpRequest, queryset: QuerySet[Subscription]) -> HttpResponse | None:
        def perform(sub: Subscription, actor: Actor) -> str:
            done = services.subscription_resume(subscription=sub, actor=actor)
            if done.status == S.PAST_DUE:
                outcome = billing.subscription_bill(subscription_id=sub.pk, as_of=timezone.now(), actor=actor)
                return f"past due; retried: {outcome}"
            return done.status

        return self._confirm_then(request, queryset, "resume", perform)

    @admin.action(description="Retry payment now", permissions=["retry"])
    def retry_payment_now(self, request: HttpRequest, queryset: QuerySet[Subscription]) -> HttpResponse | None:
        def perform(sub: Subscription, actor: Actor) -> str:
            return invoice_payments.subscription_retry_now(subscription=sub, actor=actor)

        return self._confirm_then(request, queryset, "retry_payment_now", perform)


@admin.register(Subscription)
class SubscriptionAdmin(CsvExportMixin, SubscriptionActionsMixin, ReadOnlyAdmin):
    list_display = (
        "public_id",
        "merchant",
        "customer",
        "plan",
        "status",
        "billing_mode",
        "current_period_end",
        "next_billing_at",
        "cancel_at_period_end",
    )
    list_filter = ("status", "billing_mode", "cancel_at_period_end", ("merchant", admin.RelatedFieldListFilter))
    search_fields = ("=public_id", "=customer__public_id", "=customer__email", "=gateway_subscription_id")
    search_help_text = "Exact subscription id, customer id or email, or ARB subscription id."
    list_select_related = ("merchant", "customer", "plan")
    ordering = ("-id",)
    inlines = (InvoiceInline,)
    readonly_fields = (
        "public_id",
        "merchant",
        "customer",
        "plan",
        "payment_method",
        "status",
        "billing_mode",
        "livemode",
        "current_period_start",
        "current_period_end",
        "trial_end",
        "cancel_at_period_end",
        "next_billing_at",
        "pending_plan",
        "pending_payment_method",
        "gateway_subscription_id",
        "canceled_at",
        "cancellation_reason",
        "ended_at",
        "paused_at",
        "created_at",
        "billing_history",
    )
    fieldsets = (
        (None, {"fields": ("public_id", "merchant", "customer", "plan", "payment_method", "status", "livemode")}),
        (
            "Billing",
            {
                "fields": (
                    "billing_mode",
                    "current_period_start",
                    "current_period_end",
                    "trial_end",
                    "next_billing_at",
                    "cancel_at_period_end",
                    "pending_plan",
                    "pending_payment_method",
                    "gateway_subscription_id",
                )
            },
        ),
        ("End", {"fields": ("canceled_at", "cancellation_reason", "ended_at", "paused_at", "created_at")}),
        ("Attempts", {"fields": ("billing_history",)}),
    )

    @admin.display(description="billing attempts")
    def billing_history(self, obj: Subscription) -> str:
        return _attempt_rows(obj.invoices.all())


@admin.register(PastDueSubscription)
class DunningAdmin(SubscriptionActionsMixin, ReadOnlyAdmin):
    list_display = ("public_id", "merchant", "customer", "plan", "status", "owed", "attempts", "next_retry", "card")
    list_select_related = ("merchant", "customer", "plan", "payment_method")
    search_fields = ("=public_id", "=customer__email")
    ordering = ("next_billing_at",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Subscription]:
        return super().get_queryset(request).filter(status__in=[S.PAST_DUE, S.UNPAID])

    def _open_invoice(self, obj: Subscription) -> Invoice | None:
        return obj.invoices.exclude(status="paid").exclude(status="void").order_by("-id").first()

    @admin.display(description="owed")
    def owed(self, obj: Subscription) -> str:
        invoice = self._open_invoice(obj)
        return format_amount(invoice.amount, invoice.currency) if invoice else "-"

    @admin.display(description="attempts")
    def attempts(self, obj: Subscription) -> int:
        invoice = self._open_invoice(obj)
        return invoice.attempt_count if invoice else 0

    @admin.display(description="next retry", ordering="next_billing_at")
    def next_retry(self, obj: Subscription) -> str:
        return f"{obj.next_billing_at:%Y-%m-%d %H:%M}" if obj.next_billing_at else "none (dunning exhausted)"

    @admin.display(description="card")
    def card(self, obj: Subscription) -> str:
        return str(obj.payment_method)


class AttemptInline(admin.TabularInline[Any, Any]):
    model = BillingAttempt
    extra = 0
    can_delete = False
    fields = readonly_fields = ("number", "status", "failure_code", "failure_message", "payment", "created_at")
    ordering = ("number",)

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


@admin.register(Invoice)
class InvoiceAdmin(ReadOnlyAdmin):
    list_display = (
        "public_id",
        "subscription",
        "period_start",
        "period_end",
        "amount_display",
        "status",
        "attempt_count",
    )
    list_filter = ("status",)
    search_fields = ("=public_id", "=subscription__public_id")
    list_select_related = ("subscription",)
    ordering = ("-id",)
    inlines = (AttemptInline,)
    # Only these: the amount appears with its currency, never as bare minor units.
    fields = (
        "public_id",
        "subscription",
        "plan",
        "period_start",
        "period_end",
        "amount_display",
        "status",
        "attempt_count",
        "first_declined_at",
        "next_attempt_at",
        "payment",
        "paid_at",
        "created_at",
    )
    readonly_fields = fields

    @admin.display(description="amount", ordering="amount")
    def amount_display(self, obj: Invoice) -> str:
        return format_amount(obj.amount, obj.currency)


@admin.register(PaymentMethod)
class PaymentMethodAdmin(ReadOnlyAdmin):
    list_display = ("public_id", "customer", "__str__", "is_default", "status", "created_at")
    list_filter = ("status",)
    search_fields = ("=public_id", "=customer__public_id", "=customer__email", "=card_last4")
    list_select_related = ("customer",)
    ordering = ("-id",)
    exclude = ("merchant",)
