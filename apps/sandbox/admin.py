from __future__ import annotations

from typing import Any

from django.contrib import admin, messages
from django.db.models import QuerySet
from django.http import HttpRequest

from apps.audit.actors import Actor

from .models import AnetAccount, AnetBatch, AnetTransaction, SandboxFault
from .services import anet_settle


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
