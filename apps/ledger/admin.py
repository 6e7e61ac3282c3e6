from __future__ import annotations

from typing import Any

from django.contrib import admin
from django.db.models import QuerySet
from django.http import HttpRequest
from django.urls import reverse
from django.utils.html import format_html, format_html_join

from apps.audit.admin_export import CsvExportMixin
from apps.core.admin_readonly import ReadOnlyAdmin
from apps.core.money import format_amount

from .models import JournalEntry, LedgerAccount, Posting
from .selectors import account_statement, with_totals

# How many postings the account page shows (the latest ones, with the balance carried before them).
STATEMENT_LINES = 200


@admin.register(LedgerAccount)
class LedgerAccountAdmin(ReadOnlyAdmin):
    list_display = ("__str__", "kind", "balance", "debits_display", "credits_display", "currency", "gateway_account")
    list_filter = ("kind", "currency", "gateway_account__gateway")
    list_select_related = ("gateway_account__merchant",)
    fields = ("gateway_account", "kind", "currency", "balance", "statement")
    readonly_fields = fields

    def get_queryset(self, request: HttpRequest) -> QuerySet[LedgerAccount]:
        return with_totals(super().get_queryset(request))

    @admin.display(description="postings")
    def statement(self, obj: LedgerAccount) -> str:
        statement = account_statement(account=obj, limit=STATEMENT_LINES)
        if not statement.lines:
            return "none"
        currency = obj.currency

        def debit_credit(amount: int) -> tuple[str, str]:
            return (format_amount(amount, currency), "") if amount > 0 else ("", format_amount(-amount, currency))

        note = (
            format_html(
                "<p>The last {} postings, newest last; the balance before them was {}.</p>",
                STATEMENT_LINES,
                format_amount(statement.opening_balance, currency),
            )
            if statement.earlier
            else ""
        )
        rows = format_html_join(
            "",
            '<tr><td><a href="{}">{}</a></td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td><td>{}</td></tr>',
            (
                (
                    reverse("admin:ledger_journalentry_change", args=[line.entry_id]),
                    line.entry_public_id,
                    line.occurred_at.strftime("%Y-%m-%d %H:%M:%S"),
                    line.entry_kind,
                    line.memo,
                    *debit_credit(line.amount),
                    format_amount(line.balance, currency),
                )
                for line in statement.lines
            ),
        )
        return format_html(
            "{}<table><tr><th>entry</th><th>occurred</th><th>kind</th><th>memo</th><th>debit</th><th>credit</th>"
            "<th>balance (normal side)</th></tr>{}</table>",
            note,
            rows,
        )

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

    def get_queryset(self, request: HttpRequest) -> QuerySet[Posting]:
        # Each row reads its entry's currency and its account's name (which names the gateway
        # account): one query for all rows, not one per row.
        return super().get_queryset(request).select_related("entry", "account__gateway_account").order_by("pk")

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
    csv_money = {"amount_display": ("amount", "currency")}
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
        "amount_display",
        "payment",
        "refund",
        "gateway_transaction_id",
        "source",
        "memo",
        "occurred_at",
        "created_at",
    )
    exclude = ("amount",)  # shown as money by amount_display

    @admin.display(description="amount", ordering="amount")
    def amount_display(self, obj: JournalEntry) -> str:
        return format_amount(obj.amount, obj.currency)
