"""A double-entry ledger of every money movement.

A journal entry is one movement (a capture, a refund, a settled batch, a fee, a write-off ...);
its postings debit (+) and credit (-) ledger accounts and sum to zero. Entries and postings are
append-only: a mistake is corrected by a reversing entry, never by an edit. On PostgreSQL
triggers (migration 0002) reject an INSERT statement that leaves an entry unbalanced and any
UPDATE or DELETE; `verify_ledger` checks the same on demand, on any database.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from apps.core.ids import public_id
from apps.core.money import format_amount


def new_entry_id() -> str:
    return public_id("je")


class AccountKind(models.TextChoices):
    # Assets (debit balances)
    RECEIVABLE = "receivable", "Gateway receivable (captured, not settled)"
    CLEARING = "clearing", "Gateway clearing (settled, not paid out)"
    BANK = "bank", "Bank settlement"
    # Expenses (debit balances)
    FEES = "fees", "Gateway fees and tax"
    WRITE_OFFS = "write_offs", "Write-offs"
    # Contra-revenue (debit balance)
    REFUNDS = "refunds", "Refunds"
    # Revenue (credit balance)
    SALES = "sales", "Sales"
    # Either side: reconciliation corrections
    ADJUSTMENTS = "adjustments", "Reconciliation adjustments"


DEBIT_NORMAL = {
    AccountKind.RECEIVABLE,
    AccountKind.CLEARING,
    AccountKind.BANK,
    AccountKind.FEES,
    AccountKind.WRITE_OFFS,
    AccountKind.REFUNDS,
}


class LedgerAccount(models.Model):
    """One account per gateway account, kind and currency (created on first use)."""

    gateway_account = models.ForeignKey("gateways.GatewayAccount", on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=20, choices=AccountKind.choices)
    currency = models.CharField(max_length=3)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["gateway_account", "kind", "currency"], name="ledger_account_unique")
        ]

    def __str__(self) -> str:
        return f"{self.get_kind_display()} {self.currency} · {self.gateway_account.public_id}"

    @property
    def debit_normal(self) -> bool:
        return self.kind in DEBIT_NORMAL


# The memo of the ADJUSTMENT apps.payments posts when a payment's refunded amount falls (a refund
# that failed after succeeding): readers tell "refund reversed" adjustments from others by it.
REFUND_REVERSED_MEMO = "refund reversed"


class EntryKind(models.TextChoices):
    CAPTURE = "capture", "Capture"
    CAPTURE_REVERSAL = "capture_reversal", "Capture reversed (void)"
    REFUND = "refund", "Refund"
    RETURN = "return", "Bank debit returned (ACH return)"
    SETTLEMENT = "settlement", "Settlement"
    FEE = "fee", "Fee"
    PAYOUT = "payout", "Payout to bank"
    WRITE_OFF = "write_off", "Write-off"
    ADJUSTMENT = "adjustment", "Adjustment"


class JournalEntry(models.Model):
    public_id = models.CharField(max_length=40, unique=True, default=new_entry_id, editable=False)
    gateway_account = models.ForeignKey("gateways.GatewayAccount", on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=20, choices=EntryKind.choices)
    currency = models.CharField(max_length=3)
    # The movement's size (positive), what reconciliation compares with the gateway's figure.
    amount = models.BigIntegerField()
    payment = models.ForeignKey(
        "payments.Payment", null=True, blank=True, on_delete=models.PROTECT, related_name="journal_entries"
    )
    refund = models.ForeignKey(
        "payments.Refund", null=True, blank=True, on_delete=models.PROTECT, related_name="journal_entries"
    )
    gateway_transaction_id = models.CharField(max_length=64, blank=True)
    # Where the entry came from when it is not a payment or refund ("settlement_batch:12").
    source = models.CharField(max_length=64, blank=True)
    memo = models.CharField(max_length=255, blank=True)
    occurred_at = models.DateTimeField()
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "journal entries"
        indexes = [
            models.Index(fields=["gateway_account", "kind", "occurred_at"], name="journal_account_kind_idx"),
            models.Index(fields=["gateway_account", "gateway_transaction_id"], name="journal_gateway_txn_idx"),
            models.Index(fields=["source"], name="journal_source_idx", condition=~Q(source="")),
        ]
        constraints = [models.CheckConstraint(condition=Q(amount__gte=0), name="journal_amount_nonnegative")]

    def __str__(self) -> str:
        return f"{self.public_id} {self.get_kind_display()} {format_amount(self.amount, self.currency)}"


class Posting(models.Model):
    entry = models.ForeignKey(JournalEntry, on_delete=models.PROTECT, related_name="postings")
    account = models.ForeignKey(LedgerAccount, on_delete=models.PROTECT, related_name="postings")
    # Minor units: debit positive, credit negative.
    amount = models.BigIntegerField()

    class Meta:
        constraints = [models.CheckConstraint(condition=~Q(amount=0), name="posting_amount_nonzero")]
        indexes = [models.Index(fields=["account", "entry"], name="posting_account_idx")]

    def __str__(self) -> str:
        side = "Dr" if self.amount > 0 else "Cr"
        # The account's currency is the entry's (ledger_problems checks it).
        return f"{side} {self.account} {format_amount(abs(self.amount), self.account.currency)}"
