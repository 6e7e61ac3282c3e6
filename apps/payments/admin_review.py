"""The risk review queue: payments held for a decision, oldest first, with their risk, the
customer's history and the payment's timeline; approve (captured if the merchant asked for a
capture) or reject (voided, and the card, email or IP optionally blocked). Risk analysts only."""

from __future__ import annotations

from collections.abc import Callable
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
from django.utils.html import format_html_join

from apps.audit.actors import Actor
from apps.core.errors import ApplicationError
from apps.core.money import format_amount

from . import services
from .models import Payment, PaymentStatus, PaymentUnderReview, Review

REVIEW_PERMISSION = "payments.review_payment"
# The merchant and the staff users as names, not as Django's links to their pages: a risk
# analyst may not view merchants or users, and those links answered 403.
SHOWN: tuple[str, ...] = ("public_id", "merchant_name", "status", "amount_display", "card", "customer", "review")
SHOWN += ("assignee", "capture_on_approval", "reviewer", "reviewed_at", "review_note", "history")
BLOCK_CHOICES = [("card_fingerprint", "the card"), ("email", "the email"), ("ip", "the IP address")]
HISTORY = 10


class DecisionFilter(admin.SimpleListFilter):
    title = "decision"
    parameter_name = "decision"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("decided", "Decided"), *[(value, label) for value, label in Review.choices if value != Review.PENDING]]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        value = self.value()
        if value is None:  # the queue itself: waiting, and still authorised
            return queryset.filter(review=Review.PENDING, status=PaymentStatus.AUTHORIZED)
        if value == "decided":
            return queryset.exclude(review=Review.PENDING)
        return queryset.filter(review=value)

    def choices(self, changelist: Any) -> Any:
        yield {
            "selected": self.value() is None,
            "query_string": changelist.get_query_string(remove=[self.parameter_name]),
            "display": "Waiting",
        }
        for lookup, title in self.lookup_choices:
            yield {
                "selected": self.value() == lookup,
                "query_string": changelist.get_query_string({self.parameter_name: lookup}),
                "display": title,
            }


class AssigneeFilter(admin.SimpleListFilter):
    title = "assignee"
    parameter_name = "assignee"

    def lookups(self, request: HttpRequest, model_admin: Any) -> list[tuple[str, str]]:
        return [("me", "Me"), ("none", "Nobody")]

    def queryset(self, request: HttpRequest, queryset: QuerySet[Any]) -> QuerySet[Any]:
        if self.value() == "me":
            return queryset.filter(review_assignee=request.user)
        if self.value() == "none":
            return queryset.filter(review_assignee__isnull=True)
        return queryset


class ReviewDecisionForm(forms.Form):
    note = forms.CharField(max_length=500, required=False, widget=forms.Textarea(attrs={"rows": 2, "cols": 60}))
    block = forms.MultipleChoiceField(
        required=False,
        widget=forms.CheckboxSelectMultiple,
        choices=BLOCK_CHOICES,
        label="Also block (rejecting only)",
    )


@admin.register(PaymentUnderReview)
class ReviewQueueAdmin(admin.ModelAdmin[PaymentUnderReview]):
    list_display = (
        "public_id",
        "merchant",
        "amount_display",
        "score",
        "rules",
        "customer_email",
        "waiting",
        "review_assignee",
    )
    list_filter = (DecisionFilter, AssigneeFilter, "merchant")
    list_select_related = ("merchant", "customer", "review_assignee")
    ordering = ("created_at",)
    search_fields = ("=public_id",)
    actions = ["assign_to_me", "unassign"]
    change_form_template = "admin/payments/paymentunderreview/change_form.html"
    fields = SHOWN
    readonly_fields = SHOWN

    def get_queryset(self, request: HttpRequest) -> QuerySet[PaymentUnderReview]:
        return super().get_queryset(request).exclude(review="")

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="amount", ordering="amount")
    def amount_display(self, obj: Payment) -> str:
        return format_amount(obj.amount, obj.currency)

    @admin.display(description="score")
    def score(self, obj: Payment) -> str:
        return f"{obj.risk.get('score', '—')} ({obj.risk.get('level', '')})" if obj.risk else "—"

    @admin.display(description="why")
    def rules(self, obj: Payment) -> str:
        return "; ".join(match.get("name", "") for match in obj.risk.get("matched", [])) or "—"

    @admin.display(description="customer")
    def customer_email(self, obj: Payment) -> str:
        return obj.customer.email if obj.customer else obj.risk.get("inputs", {}).get("email", "—")

    @admin.display(description="merchant")
    def merchant_name(self, obj: Payment) -> str:
        return str(obj.merchant)

    @admin.display(description="review assignee")
    def assignee(self, obj: Payment) -> str:
        return str(obj.review_assignee) if obj.review_assignee else "—"

    @admin.display(description="reviewed by")
    def reviewer(self, obj: Payment) -> str:
        return str(obj.reviewed_by) if obj.reviewed_by else "—"

    @admin.display(description="card")
    def card(self, obj: Payment) -> str:
        return f"{obj.card_brand or 'card'} ···· {obj.card_last4}" if obj.card_last4 else "—"

    @admin.display(description="waiting")
    def waiting(self, obj: Payment) -> str:
        hours = int((timezone.now() - obj.created_at).total_seconds() // 3600)
        return f"{hours} h" if hours < 48 else f"{hours // 24} days"

    @admin.display(description="the customer's last payments")
    def history(self, obj: Payment) -> Any:
        if obj.customer_id is None:
            return "—"
        earlier = Payment.objects.filter(customer_id=obj.customer_id).exclude(pk=obj.pk).order_by("-id")[:HISTORY]
        # Each linked to its payment page (whoever may view the queue may view payments).
        rows = [
            (
                reverse("admin:payments_payment_change", args=[p.pk]),
                p.public_id,
                format_amount(p.amount, p.currency),
                p.get_status_display(),
            )
            for p in earlier
        ]
        return format_html_join("; ", '<a href="{}">{}</a> {} {}', rows) if rows else "none before this one"

    @admin.action(description="Assign to me", permissions=["review"])
    def assign_to_me(self, request: HttpRequest, queryset: QuerySet[PaymentUnderReview]) -> None:
        self._assign(request, queryset, request.user)

    @admin.action(description="Unassign", permissions=["review"])
    def unassign(self, request: HttpRequest, queryset: QuerySet[PaymentUnderReview]) -> None:
        self._assign(request, queryset, None)

    def has_review_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm(REVIEW_PERMISSION)

    def _assign(self, request: HttpRequest, queryset: QuerySet[PaymentUnderReview], user: Any) -> None:
        waiting = list(queryset.filter(review=Review.PENDING))
        for payment in waiting:
            services.payment_review_assign(payment=payment, assignee=user, actor=Actor.staff(request.user))
        done = "assigned to you" if user else "unassigned"
        payments = "payment" if len(waiting) == 1 else "payments"
        self.message_user(request, f"{len(waiting)} {payments} waiting for review {done}.")

    def get_urls(self) -> list[Any]:
        def wrap(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
            wrapped: Callable[..., HttpResponse] = self.admin_site.admin_view(view)
            return wrapped

        return [
            path("<int:object_id>/decide/", wrap(self.decide_view), name="payments_paymentunderreview_decide"),
            *super().get_urls(),
        ]

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        payment = Payment.objects.filter(pk=object_id).first() if object_id.isdigit() else None
        can_decide = bool(
            payment
            and payment.review == Review.PENDING
            and payment.status == PaymentStatus.AUTHORIZED
            and request.user.has_perm(REVIEW_PERMISSION)
        )
        return super().change_view(request, object_id, form_url, {**(extra_context or {}), "can_decide": can_decide})

    def decide_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        if not request.user.has_perm(REVIEW_PERMISSION):
            raise PermissionDenied
        payment = get_object_or_404(Payment.objects.select_related("gateway_account", "merchant"), pk=object_id)
        change_url = reverse("admin:payments_paymentunderreview_change", args=[payment.pk])
        form = ReviewDecisionForm(request.POST or None)
        if request.method == "POST" and form.is_valid():
            approve = request.POST.get("decision") == "approve"
            note = form.cleaned_data["note"]
            try:
                if approve:
                    done = services.payment_review_approve(payment=payment, user=request.user, note=note)
                else:
                    block = tuple(form.cleaned_data["block"])
                    done = services.payment_review_reject(payment=payment, user=request.user, note=note, block=block)
            except ApplicationError as exc:
                self.message_user(request, f"{payment.public_id}: {exc.message}", messages.ERROR)
            else:
                money = format_amount(done.amount, done.currency)
                verdict = "approved" if approve else "rejected"
                message = f"Payment {done.public_id} of {money} {verdict}: {done.get_status_display().lower()}"
                blocked = [] if approve else self._blocked(done, form.cleaned_data["block"])
                self.message_user(request, f"{message}; blocked {', '.join(blocked)}." if blocked else f"{message}.")
                return HttpResponseRedirect(change_url)
        context = {
            **self.admin_site.each_context(request),
            "title": f"Review {payment.public_id}",
            "payment": payment,
            "money": format_amount(payment.amount, payment.currency),
            "form": form,
            "opts": self.model._meta,
            "change_url": change_url,
            "queue_url": reverse("admin:payments_paymentunderreview_changelist"),
        }
        return TemplateResponse(request, "admin/payments/paymentunderreview/decide.html", context)

    @staticmethod
    def _blocked(payment: Payment, ticked: list[str]) -> list[str]:
        """What the rejection put on the block list, as the form named it: each ticked kind the
        payment was identified by (the service skips a kind the payment has no value for)."""
        inputs = payment.risk.get("inputs", {})
        return [label for kind, label in BLOCK_CHOICES if kind in ticked and inputs.get(kind)]
