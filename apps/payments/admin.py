"""The finance back office for payments and refunds.

Money records are read-only here; changes go through the same services as the API, behind a
form and a confirmation page, and only for roles that hold the matching permission.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from django.contrib import admin, messages
from django.contrib.admin import helpers
from django.core.exceptions import PermissionDenied
from django.db.models import Exists, OuterRef, Q, QuerySet
from django.http import HttpRequest, HttpResponse, HttpResponseRedirect
from django.shortcuts import get_object_or_404
from django.template.response import TemplateResponse
from django.urls import path, reverse
from django.utils.html import format_html, format_html_join

from apps.audit.actors import Actor
from apps.audit.admin_export import CsvExportMixin
from apps.audit.selectors import audit_events_for_targets
from apps.core.admin_lookup import PublicIdChangeMixin
from apps.core.admin_pagination import FastCountPaginator
from apps.core.errors import ApplicationError
from apps.core.money import format_amount
from apps.customers.models import Customer
from apps.gateways.registry import gateway_for

from . import services
from .attempts import new_staff_reference, staff_reference_valid
from .forms import AmountForm, DecisionForm, RefundForm
from .models import GatewayTransaction, Payment, PaymentStatus, Refund, RefundStatus
from .selectors import payment_void_refusal


class ReadOnlyInline(admin.TabularInline[Any, Any]):
    extra = 0
    can_delete = False
    show_change_link = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False


class GatewayTransactionInline(ReadOnlyInline):
    model = GatewayTransaction
    fk_name = "payment"
    fields = readonly_fields = (
        "created_at",
        "kind",
        "status",
        "amount_display",
        "reference",
        "gateway_transaction_id",
        "response_code",
        "reason_code",
        "message",
        "latency_ms",
        "correlation_id",
    )
    ordering = ("id",)

    @admin.display(description="amount")
    def amount_display(self, obj: GatewayTransaction) -> str:
        return _money(obj.amount, obj.currency)


class RefundInline(ReadOnlyInline):
    model = Refund
    fields = readonly_fields = (
        "public_id",
        "status",
        "amount_display",
        "reason",
        "requested_by",
        "created_at",
        "failure_code",
    )
    ordering = ("id",)

    @admin.display(description="amount")
    def amount_display(self, obj: Refund) -> str:
        return _money(obj.amount, obj.currency)


def _money(amount: int | None, currency: str) -> str:
    return "—" if amount is None else format_amount(amount, currency)


@admin.register(Payment)
class PaymentAdmin(PublicIdChangeMixin, CsvExportMixin, admin.ModelAdmin[Payment]):
    csv_fields: tuple[str, ...] = ("public_id", "merchant", "amount_display", "amount_captured", "amount_refunded")
    csv_fields += ("status", "gateway", "gateway_transaction_id", "reference", "card", "customer_email", "created_at")
    csv_money = {
        "amount_display": ("amount", "currency"),
        "amount_captured": ("amount_captured", "currency"),
        "amount_refunded": ("amount_refunded", "currency"),
    }
    list_display = (
        "public_id",
        "merchant",
        "amount_display",
        "status",
        "gateway",
        "card",
        "customer_email",
        "created_at",
    )
    list_filter = (
        "status",
        "gateway_account__gateway",
        "authentication",
        ("merchant", admin.RelatedFieldListFilter),
        ("created_at", admin.DateFieldListFilter),
    )
    search_fields = ("=public_id", "=gateway_transaction_id", "=reference", "=card_last4", "=customer__email")
    search_help_text = "Exact payment id, gateway transaction id, order reference, card last 4 or customer email."
    list_select_related = ("merchant", "customer", "gateway_account")

    def get_search_results(
        self, request: HttpRequest, queryset: QuerySet[Payment], search_term: str
    ) -> tuple[QuerySet[Payment], bool]:
        """Exact, case-sensitive matches on indexed columns only (Django's `=` search compares
        UPPER(column), which no index serves: a scan of the whole table)."""
        term = search_term.strip()
        if not term:
            return queryset, False
        if "@" in term:
            customers = Customer.objects.filter(email__in={term, term.lower()}).values("pk")
            return queryset.filter(customer_id__in=customers), False
        match = Q(public_id=term) | Q(gateway_transaction_id=term) | Q(reference=term)
        if len(term) == 4 and term.isdigit():
            match |= Q(card_last4=term)
        return queryset.filter(match), False

    list_per_page = 50
    show_full_result_count = False
    paginator = FastCountPaginator
    ordering = ("-id",)
    inlines = (GatewayTransactionInline, RefundInline)
    change_form_template = "admin/payments/payment/change_form.html"
    readonly_fields = (
        "public_id",
        "merchant",
        "status",
        "amounts",
        "card",
        "customer",
        "reference",
        "description",
        "metadata",
        "gateway_account",
        "gateway_transaction_id",
        "gateway_order_id",
        "failure_code",
        "failure_message",
        "operation",
        "authentication",
        "action_url",
        "return_url",
        "livemode",
        "created_at",
        "updated_at",
        "audit_trail",
    )
    fieldsets = (
        (None, {"fields": ("public_id", "merchant", "status", "amounts", "card", "customer", "livemode")}),
        ("Order", {"fields": ("reference", "description", "metadata")}),
        (
            "Gateway",
            {
                "fields": (
                    "gateway_account",
                    "gateway_transaction_id",
                    "gateway_order_id",
                    "failure_code",
                    "failure_message",
                    "operation",
                )
            },
        ),
        ("3-D Secure", {"fields": ("authentication", "action_url", "return_url")}),
        ("History", {"fields": ("created_at", "updated_at", "audit_trail")}),
    )

    @admin.display(description="amount", ordering="amount")
    def amount_display(self, obj: Payment) -> str:
        return _money(obj.amount, obj.currency)

    @admin.display(description="gateway")
    def gateway(self, obj: Payment) -> str:
        return obj.gateway_account.get_gateway_display()

    @admin.display(description="card")
    def card(self, obj: Payment) -> str:
        return f"{obj.card_brand} •••• {obj.card_last4}".strip() if obj.card_last4 else "-"

    @admin.display(description="customer")
    def customer_email(self, obj: Payment) -> str:
        return obj.customer.email if obj.customer else "-"

    @admin.display(description="amounts")
    def amounts(self, obj: Payment) -> str:
        rows = [
            ("Amount", obj.amount),
            ("Authorized", obj.amount_authorized),
            ("Captured", obj.amount_captured),
            ("Refunded", obj.amount_refunded),
            ("Refund pending", obj.amount_refund_pending),
            ("Refundable", obj.refundable_amount),
        ]
        return format_html(
            "<table>{}</table>",
            format_html_join("", "<tr><th>{}</th><td>{}</td></tr>", ((k, _money(v, obj.currency)) for k, v in rows)),
        )

    @admin.display(description="audit trail")
    def audit_trail(self, obj: Payment) -> str:
        refund_ids = obj.refunds.values_list("public_id", flat=True)
        rows = audit_events_for_targets(targets={"payments.payment": [obj.public_id], "payments.refund": refund_ids})
        return format_html(
            "<table><tr><th>when</th><th>action</th><th>by</th><th>request</th></tr>{}</table>",
            format_html_join(
                "",
                "<tr><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>",
                (
                    (
                        e.occurred_at.strftime("%Y-%m-%d %H:%M:%S"),
                        e.action,
                        e.actor_label or e.actor_type,
                        e.correlation_id,
                    )
                    for e in rows
                ),
            ),
        )

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    # --- money actions: form, confirmation, service -------------------------------------

    def get_urls(self) -> list[Any]:
        def wrap(view: Callable[..., HttpResponse]) -> Callable[..., HttpResponse]:
            wrapped: Callable[..., HttpResponse] = self.admin_site.admin_view(view)
            return wrapped

        return [
            path("<int:object_id>/capture/", wrap(self.capture_view), name="payments_payment_capture"),
            path("<int:object_id>/void/", wrap(self.void_view), name="payments_payment_void"),
            path("<int:object_id>/refund/", wrap(self.refund_view), name="payments_payment_refund"),
            *super().get_urls(),
        ]

    def change_view(
        self, request: HttpRequest, object_id: str, form_url: str = "", extra_context: Any = None
    ) -> HttpResponse:
        if not object_id.isdigit():
            return self.change_view_by_public_id(request, object_id)
        payment = Payment.objects.select_related("gateway_account").filter(pk=object_id).first()
        user = request.user
        extra_context = {
            **(extra_context or {}),
            "can_capture": bool(
                payment and payment.status == PaymentStatus.AUTHORIZED and user.has_perm("payments.capture_payment")
            ),
            **self._void_offer(payment, user),
            "can_refund": bool(
                payment
                and payment.status in {PaymentStatus.CAPTURED, PaymentStatus.PARTIALLY_REFUNDED}
                and payment.refundable_amount > 0
                and user.has_perm("payments.refund_payment")
            ),
        }
        return super().change_view(request, object_id, form_url, extra_context)

    @staticmethod
    def _void_offer(payment: Payment | None, user: Any) -> dict[str, Any]:
        """Void is offered only when it can succeed; otherwise the page says why (settled, Stripe
        captures, refunds ...), for payments a void might be expected on."""
        if payment is None or not user.has_perm("payments.void_payment"):
            return {"can_void": False}
        if payment.status not in {PaymentStatus.AUTHORIZED, PaymentStatus.CAPTURED}:
            return {"can_void": False}
        refusal = payment_void_refusal(payment, gateway_for(payment.gateway_account))
        return {"can_void": refusal is None, "void_refusal": refusal[1] if refusal else ""}

    def _money_action(
        self,
        request: HttpRequest,
        object_id: int,
        *,
        permission: str,
        title: str,
        form_class: Any,
        describe: Callable[[Payment, dict[str, Any]], str],
        perform: Callable[[Payment, dict[str, Any]], str],
        amount_required: bool = False,
    ) -> HttpResponse:
        if not request.user.has_perm(permission):
            raise PermissionDenied
        payment = get_object_or_404(Payment.objects.select_related("merchant", "gateway_account"), pk=object_id)
        change_url = reverse("admin:payments_payment_change", args=[payment.pk])
        kwargs: dict[str, Any] = {}
        if form_class is not None:
            kwargs = {"currency": payment.currency, "required": amount_required}
        form = form_class(request.POST or None, **kwargs) if form_class is not None else None
        confirmed = request.method == "POST" and request.POST.get("confirm") == "yes"
        if request.method == "POST" and (form is None or form.is_valid()):
            data = form.cleaned_data if form is not None else {}
            if confirmed:
                reference = request.POST.get("request_reference", "")
                if not staff_reference_valid(reference):
                    self.message_user(request, "This confirmation is not valid; start again.", messages.ERROR)
                    return HttpResponseRedirect(change_url)
                data = {**data, "request_reference": reference}
                try:
                    self.message_user(request, perform(payment, data), messages.SUCCESS)
                except ApplicationError as exc:
                    self.message_user(request, exc.message, messages.ERROR)
                return HttpResponseRedirect(change_url)
            context = {
                **self.admin_site.each_context(request),
                "title": f"Confirm: {title}",
                "payment": payment,
                "summary": describe(payment, data),
                "form": form,
                "request_reference": new_staff_reference(),
                "opts": self.model._meta,
                "change_url": change_url,
            }
            return TemplateResponse(request, "admin/payments/payment/confirm_action.html", context)
        context = {
            **self.admin_site.each_context(request),
            "title": title,
            "payment": payment,
            "form": form,
            "adminform": helpers.AdminForm(form, [(None, {"fields": list(form.fields)})], {}) if form else None,
            "opts": self.model._meta,
            "change_url": change_url,
        }
        return TemplateResponse(request, "admin/payments/payment/action_form.html", context)

    def capture_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        def describe(payment: Payment, data: dict[str, Any]) -> str:
            amount = data.get("amount") or payment.amount_authorized
            authorized = _money(payment.amount_authorized, payment.currency)
            return f"Capture {_money(amount, payment.currency)} of {payment.public_id} (authorized {authorized})."

        def perform(payment: Payment, data: dict[str, Any]) -> str:
            done = services.payment_capture(
                payment=payment,
                amount=data.get("amount"),
                idempotency_reference=data["request_reference"],
                actor=Actor.staff(request.user),
            )
            captured = _money(done.amount_captured, done.currency)
            return f"Payment {done.public_id} is {done.status} ({captured} captured)."

        return self._money_action(
            request, object_id, permission="payments.capture_payment", title="Capture payment", form_class=AmountForm,
            describe=describe, perform=perform,
        )  # fmt: skip

    def void_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        def describe(payment: Payment, data: dict[str, Any]) -> str:
            amount = _money(payment.amount, payment.currency)
            return f"Void {payment.public_id} ({amount}, {payment.status}). This cannot be undone."

        def perform(payment: Payment, data: dict[str, Any]) -> str:
            done = services.payment_void(
                payment=payment, idempotency_reference=data["request_reference"], actor=Actor.staff(request.user)
            )
            return f"Payment {done.public_id} is {done.status}."

        return self._money_action(
            request, object_id, permission="payments.void_payment", title="Void payment", form_class=None,
            describe=describe, perform=perform,
        )  # fmt: skip

    def refund_view(self, request: HttpRequest, object_id: int) -> HttpResponse:
        def describe(payment: Payment, data: dict[str, Any]) -> str:
            amount = data.get("amount") or payment.refundable_amount
            note = ""
            if services.refund_needs_approval(
                amount=amount,
                currency=payment.currency,
                requested_by_user=request.user,  # type: ignore[arg-type]
                already_refunded=services.refunds_counted_toward_approval(payment),
            ):
                note = " It will wait for approval by another finance approver."
            return f"Refund {_money(amount, payment.currency)} of {payment.public_id} because: {data['reason']}.{note}"

        def perform(payment: Payment, data: dict[str, Any]) -> str:
            refund = services.refund_create(
                payment=payment,
                amount=data.get("amount"),
                reason=data["reason"],
                actor=Actor.staff(request.user),
                requested_by_user=request.user,  # type: ignore[arg-type]
                idempotency_reference=data["request_reference"],
            )
            money = _money(refund.amount, refund.currency)
            if refund.status == RefundStatus.PENDING_APPROVAL:
                return f"Refund {refund.public_id} of {money} is waiting for approval."
            return f"Refund {refund.public_id} of {money}: {refund.get_status_display().lower()}."

        return self._money_action(
            request, object_id, permission="payments.refund_payment", title="Refund payment", form_class=RefundForm,
            describe=describe, perform=perform,
        )  # fmt: skip


@admin.register(Refund)
class RefundAdmin(CsvExportMixin, admin.ModelAdmin[Refund]):
    csv_money = {"amount_display": ("amount", "currency")}
    list_display = (
        "public_id", "payment_link", "amount_display", "status_display", "requested_by", "created_at", "reason",
    )  # fmt: skip
    list_filter = ("status", ("created_at", admin.DateFieldListFilter))
    search_fields = ("=public_id", "=payment__public_id", "=gateway_transaction_id")
    list_select_related = ("payment",)
    show_full_result_count = False
    paginator = FastCountPaginator
    ordering = ("-id",)
    actions = ["approve_selected", "reject_selected"]
    readonly_fields = (
        "public_id",
        "payment",
        "status",
        "amount_display",
        "reason",
        "requested_by",
        "requested_by_user",
        "decided_by_user",
        "decided_at",
        "decision_note",
        "gateway_transaction_id",
        "failure_code",
        "failure_message",
        "created_at",
    )
    # The amount is shown with its currency (amount_display), never as bare minor units.
    exclude = ("merchant", "amount", "currency")

    @admin.display(description="payment")
    def payment_link(self, obj: Refund) -> str:
        url = reverse("admin:payments_payment_change", args=[obj.payment_id])
        return format_html('<a href="{}">{}</a>', url, obj.payment.public_id)

    @admin.display(description="amount", ordering="amount")
    def amount_display(self, obj: Refund) -> str:
        return _money(obj.amount, obj.currency)

    def get_queryset(self, request: HttpRequest) -> QuerySet[Refund]:
        # An approved refund whose call waits for a worker (bulk approvals) reads "being sent".
        queued = GatewayTransaction.objects.filter(refund=OuterRef("pk"), status=GatewayTransaction.Status.QUEUED)
        return super().get_queryset(request).annotate(being_sent=Exists(queued))

    @admin.display(description="status", ordering="status")
    def status_display(self, obj: Refund) -> str:
        if getattr(obj, "being_sent", False):
            return "Approved, being sent to the gateway"
        return obj.get_status_display()

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_delete_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_approve_permission(self, request: HttpRequest) -> bool:
        return request.user.has_perm("payments.approve_refund")

    def _decide(self, request: HttpRequest, queryset: QuerySet[Refund], *, approve: bool) -> HttpResponse | None:
        waiting = queryset.filter(status=RefundStatus.PENDING_APPROVAL).select_related("payment")
        form = DecisionForm(request.POST if request.POST.get("confirm") == "yes" else None)
        if request.POST.get("confirm") != "yes" or not form.is_valid():
            context = {
                **self.admin_site.each_context(request),
                "title": "Approve refunds?" if approve else "Reject refunds?",
                "refunds": waiting,
                "form": form,
                "action": "approve_selected" if approve else "reject_selected",
                "opts": self.model._meta,
                "action_checkbox_name": helpers.ACTION_CHECKBOX_NAME,
            }
            return TemplateResponse(request, "admin/payments/refund/decision_confirmation.html", context)
        # One refund is sent in the request, as the payment page's refund is: the approver reads
        # how it ended. Several are sent by workers: one request waiting for the gateway once per
        # refund would outlast the web worker's timeout.
        refunds = list(waiting)
        send_later = approve and len(refunds) > 1
        note = form.cleaned_data["note"]
        for refund in refunds:
            # Messages start with a word: the admin capitalises a message's first letter ("Re_…").
            money = _money(refund.amount, refund.currency)
            try:
                if approve:
                    result = services.refund_approve(
                        refund=refund, approver=request.user, note=note, send_later=send_later,  # type: ignore[arg-type]
                    )  # fmt: skip
                else:
                    result = services.refund_reject(refund=refund, approver=request.user, note=note)  # type: ignore[arg-type]
            except ApplicationError as exc:
                self.message_user(request, f"Refund {refund.public_id} of {money}: {exc.message}", messages.ERROR)
            else:
                status = "approved, being sent to the gateway" if send_later else result.get_status_display().lower()
                self.message_user(request, f"Refund {result.public_id} of {money}: {status}.", messages.SUCCESS)
        if send_later:
            self.message_user(request, "The refund list shows each refund's status as the gateway answers.")
        return None

    @admin.action(description="Approve selected refunds", permissions=["approve"])
    def approve_selected(self, request: HttpRequest, queryset: QuerySet[Refund]) -> HttpResponse | None:
        return self._decide(request, queryset, approve=True)

    @admin.action(description="Reject selected refunds", permissions=["approve"])
    def reject_selected(self, request: HttpRequest, queryset: QuerySet[Refund]) -> HttpResponse | None:
        return self._decide(request, queryset, approve=False)


from . import admin_review  # noqa: E402,F401  (the risk review queue, registered there)
