from __future__ import annotations

from typing import Any, TypeVar

from django.contrib import admin, messages
from django.db.models import Model, QuerySet
from django.http import HttpRequest

from apps.audit.actors import Actor

from .models import (
    AnetAccount,
    AnetBatch,
    AnetTransaction,
    RzpAccount,
    RzpNotification,
    RzpOrder,
    RzpPayment,
    RzpRefund,
    RzpSettlement,
    RzpWebhook,
    SandboxFault,
)
from .services import anet_settle, rzp_settle


@admin.register(AnetAccount)
class AnetAccountAdmin(admin.ModelAdmin[AnetAccount]):
    list_display = ("api_login_id", "currency", "duplicate_window_seconds", "created_at")
    actions = ["settle_now"]
    exclude = ("transaction_key", "signature_key")

    @admin.action(description="Settle now (run the nightly cutoff)")
    def settle_now(self, request: HttpRequest, queryset: QuerySet[AnetAccount]) -> None:
        count = 0
        for account in queryset:
            count += len(anet_settle(account=account, actor=Actor.staff(request.user)))
        self.message_user(request, f"Settled {count} batch(es).", messages.SUCCESS)


@admin.register(AnetTransaction)
class AnetTransactionAdmin(admin.ModelAdmin[AnetTransaction]):
    list_display = (
        "trans_id",
        "account",
        "transaction_type",
        "status",
        "auth_amount",
        "settle_amount",
        "card_last4",
        "invoice_number",
        "submitted_at",
    )
    list_filter = ("status", "transaction_type")
    search_fields = ("=invoice_number", "=card_last4")
    list_select_related = ("account",)
    show_full_result_count = False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(AnetBatch)
class AnetBatchAdmin(admin.ModelAdmin[AnetBatch]):
    list_display = ("batch_id", "account", "settled_at")


@admin.register(SandboxFault)
class SandboxFaultAdmin(admin.ModelAdmin[SandboxFault]):
    list_display = ("kind", "value", "match", "remaining", "gateway", "created_at")


# --- Razorpay -----------------------------------------------------------------------------------

ModelT = TypeVar("ModelT", bound=Model)


class _ReadOnlyAdmin(admin.ModelAdmin[ModelT]):
    """Sandbox money records: looked at, never edited by hand (the API and Checkout change them)."""

    show_full_result_count = False

    def has_change_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    def has_add_permission(self, request: HttpRequest) -> bool:
        return False


@admin.register(RzpAccount)
class RzpAccountAdmin(admin.ModelAdmin[RzpAccount]):
    list_display = ("key_id", "created_at")
    search_fields = ("=key_id",)
    exclude = ("key_secret",)
    readonly_fields = ("key_id", "created_at")
    actions = ["settle_now"]

    @admin.action(description="Settle now (run the settlement cycle)")
    def settle_now(self, request: HttpRequest, queryset: QuerySet[RzpAccount]) -> None:
        count = 0
        for account in queryset:
            count += len(rzp_settle(account=account, actor=Actor.staff(request.user)))
        self.message_user(request, f"Made {count} settlement(s).", messages.SUCCESS)


@admin.register(RzpOrder)
class RzpOrderAdmin(_ReadOnlyAdmin[RzpOrder]):
    list_display = ("rzp_id", "account", "amount", "amount_paid", "currency", "status", "attempts", "created_at")
    list_filter = ("status", "payment_capture")
    search_fields = ("=rzp_id", "=receipt")
    list_select_related = ("account",)
    raw_id_fields = ("account",)


@admin.register(RzpPayment)
class RzpPaymentAdmin(_ReadOnlyAdmin[RzpPayment]):
    list_display = ("rzp_id", "order", "amount", "currency", "status", "card_network", "card_last4", "created_at")
    list_filter = ("status", "refund_status")
    search_fields = ("=rzp_id", "=order__rzp_id", "=card_last4")
    list_select_related = ("order",)
    raw_id_fields = ("account", "order")


@admin.register(RzpRefund)
class RzpRefundAdmin(_ReadOnlyAdmin[RzpRefund]):
    list_display = ("rzp_id", "payment", "amount", "currency", "status", "speed_processed", "created_at")
    list_filter = ("status",)
    search_fields = ("=rzp_id", "=payment__rzp_id")
    list_select_related = ("payment",)
    raw_id_fields = ("payment",)


@admin.register(RzpSettlement)
class RzpSettlementAdmin(_ReadOnlyAdmin[RzpSettlement]):
    list_display = ("rzp_id", "account", "amount", "fees", "tax", "currency", "status", "utr", "created_at")
    list_filter = ("status",)
    search_fields = ("=rzp_id", "=utr")
    list_select_related = ("account",)
    raw_id_fields = ("account",)


@admin.register(RzpWebhook)
class RzpWebhookAdmin(admin.ModelAdmin[RzpWebhook]):
    list_display = ("url", "account", "events", "active", "created_at")
    list_filter = ("active",)
    raw_id_fields = ("account",)


@admin.register(RzpNotification)
class RzpNotificationAdmin(_ReadOnlyAdmin[RzpNotification]):
    list_display = ("event_id", "event", "webhook", "status", "attempts", "last_status_code", "created_at")
    list_filter = ("status", "event")
    search_fields = ("=event_id",)
    list_select_related = ("webhook",)
    exclude = ("body",)
