from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest

from apps.audit.admin_export import CsvExportMixin
from apps.core.admin_readonly import ReadOnlyAdmin
from apps.core.money import format_amount

from .models import JournalEntry, LedgerAccount, Posting
from .selectors import with_totals


@admin.register(LedgerAccount)
class LedgerAccountAdmin(ReadOnlyAdmin):
    list_display = ("__str__", "kind", "currency", "gateway_account", "debits_display", "credits_display", "balance")
    list_filter = ("kind", "currency", "gateway_account__gateway")
    list_select_related = ("gateway_account__merchant",)

    def get_queryset(self, request: HttpRequest) -> QuerySet[LedgerAccount]:
        return with_totals(super().get_queryset(request))

    @admin.display(description="debits")
    def debits_display(self, obj: Any) -> str:
        return format_amount(obj.debits, obj.currency)

    @admin.display(description="credits")
    def credits_display(self, obj: Any) -> str:
        return format_amount(-obj.credits, obj.currency)

    @admin.display(description="balance (normal side)")
    def balance(self, obj: Any) -> str:
        total = obj.debits + obj.credits
        return format_amount(total if obj.debit_normal else -total, obj.currency)


class PostingInline(admin.TabularInline[Any, Any]):
    model = Posting
    fields = ("account", "debit", "credit")
    readonly_fields = fields
    extra = 0
    can_delete = False

    def has_add_permission(self, request: HttpRequest, obj: Any = None) -> bool:
        return False

    @admin.display(description="debit")
    def debit(self, obj: Posting) -> str:
        return format_amount(obj.amount, obj.entry.currency) if obj.amount > 0 else ""

    @admin.display(description="credit")
    def credit(self, obj: Posting) -> str:
        return format_amount(-obj.amount, obj.entry.currency) if obj.amount < 0 else ""


@admin.register(JournalEntry)
class JournalEntryAdmin(CsvExportMixin, ReadOnlyAdmin):
    list_display = ("public_id", "occurred_at", "kind", "amount_display", "gateway_account", "payment", "memo")
    list_filter = ("kind", "currency", "gateway_account__gateway")
    search_fields = ("=public_id", "=gateway_transaction_id", "=payment__public_id", "=refund__public_id", "=source")
    list_select_related = ("gateway_account__merchant", "payment")
    raw_id_fields = ("payment", "refund")
    date_hierarchy = "occurred_at"
    inlines = [PostingInline]
    readonly_fields = (
        "public_id",
        "kind",
        "gateway_account",
        "currency",
        "amount",
        "payment",
        "refund",
        "gateway_transaction_id",
        "source",
        "memo",
        "occurred_at",
        "created_at",
    )

    @admin.display(description="amount", ordering="amount")
    def amount_display(self, obj: JournalEntry) -> str:
        return format_amount(obj.amount, obj.currency)
