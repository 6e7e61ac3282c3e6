"""What the gateways settled, how each line matched our ledger, and what finance does about the rest."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import Q

from apps.core.ids import public_id
from apps.core.money import format_amount

from .models_runs import ReconciliationRun  # noqa: F401  (a model of this app, in its own module)


def new_discrepancy_id() -> str:
    return public_id("dsc")


class SettlementBatch(models.Model):
    """One settled batch (Authorize.Net) or settlement (Razorpay), imported once."""

    class Source(models.TextChoices):
        API = "api", "Gateway API"
        CSV = "csv", "CSV upload"

    gateway_account = models.ForeignKey("gateways.GatewayAccount", on_delete=models.PROTECT, related_name="+")
    gateway_batch_id = models.CharField(max_length=64)
    source = models.CharField(max_length=8, choices=Source.choices, default=Source.API)
    settled_at = models.DateTimeField(db_index=True)
    currency = models.CharField(max_length=3)
    line_count = models.PositiveIntegerField(default=0)
    charges_amount = models.BigIntegerField(default=0)
    refunds_amount = models.BigIntegerField(default=0)
    returns_amount = models.BigIntegerField(default=0, help_text="Bank debits returned (ACH returns)")
    fees_amount = models.BigIntegerField(default=0, help_text="Fees and tax the gateway kept")
    payout_amount = models.BigIntegerField(default=0)
    payout_reference = models.CharField(max_length=64, blank=True)
    # The gateway's own totals for the batch (Authorize.Net's batch statistics), where it reports
    # them apart from the lines; null where it does not (Razorpay, a CSV upload).
    reported_charges_amount = models.BigIntegerField(null=True, blank=True)
    reported_charge_count = models.PositiveIntegerField(null=True, blank=True)
    reported_refunds_amount = models.BigIntegerField(null=True, blank=True)
    reported_refund_count = models.PositiveIntegerField(null=True, blank=True)
    # Whether those totals agree with the lines (charges and refunds, amounts and counts), decided
    # once at import; null when the gateway reported none. Matching opens a discrepancy for False.
    totals_agree = models.BooleanField(null=True, blank=True)
    imported_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name_plural = "settlement batches"
        permissions = [("upload_settlement", "Can upload settlement reports (CSV)")]
        constraints = [
            models.UniqueConstraint(fields=["gateway_account", "gateway_batch_id"], name="settlement_batch_once")
        ]

    def __str__(self) -> str:
        return f"{self.gateway_batch_id} {format_amount(self.payout_amount, self.currency)}"

    @property
    def net_amount(self) -> int:
        return self.charges_amount - self.refunds_amount - self.returns_amount


class LineKind(models.TextChoices):
    CHARGE = "charge", "Charge"
    REFUND = "refund", "Refund"
    ADJUSTMENT = "adjustment", "Adjustment"
    RETURN = "return", "Returned bank debit"


# Lines that take money back out of a settlement (its net is charges less these): a refund, a
# returned bank debit. Our entries for them take the amount out of the receivable.
MONEY_BACK_LINES = frozenset({LineKind.REFUND, LineKind.RETURN})


class MatchStatus(models.TextChoices):
    UNMATCHED = "unmatched", "Not matched yet"
    MATCHED = "matched", "Matched"
    DISCREPANCY = "discrepancy", "Discrepancy"


class SettlementLine(models.Model):
    # No index of their own: the unique (batch, …) and (gateway account, transaction) indexes lead
    # with them.
    batch = models.ForeignKey(SettlementBatch, on_delete=models.PROTECT, related_name="lines", db_index=False)
    gateway_account = models.ForeignKey(
        "gateways.GatewayAccount", on_delete=models.PROTECT, related_name="+", db_index=False
    )
    gateway_transaction_id = models.CharField(max_length=64)
    kind = models.CharField(max_length=12, choices=LineKind.choices)
    gateway_status = models.CharField(max_length=40, blank=True)
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    fee = models.BigIntegerField(default=0)
    tax = models.BigIntegerField(default=0)
    reference = models.CharField(max_length=64, blank=True)
    parent_transaction_id = models.CharField(max_length=64, blank=True)
    occurred_at = models.DateTimeField(null=True, blank=True)
    # The ledger entry (our capture or refund) this line settles. Matching sets it, the match
    # status and matched_by in one row write; none of the three is indexed, so PostgreSQL updates
    # the row in place (HOT: its pages are filled to 45%, migration 0004) without touching any
    # index: a million lines match in one rewrite. Lookups by entry are hash joins.
    entry = models.ForeignKey(
        "ledger.JournalEntry",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="settlement_lines",
        db_index=False,
    )
    match_status = models.CharField(max_length=12, choices=MatchStatus.choices, default=MatchStatus.UNMATCHED)
    matched_by = models.CharField(max_length=16, blank=True, help_text="gateway_id or reference")

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["batch", "gateway_transaction_id", "kind"], name="settlement_line_once")
        ]
        indexes = [
            models.Index(fields=["gateway_account", "gateway_transaction_id"], name="settlement_line_txn_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.gateway_transaction_id} {format_amount(self.amount, self.currency)}"


class DiscrepancyKind(models.TextChoices):
    MISSING_AT_GATEWAY = "missing_at_gateway", "Missing at the gateway"
    MISSING_ON_OUR_SIDE = "missing_on_our_side", "Missing on our side"
    AMOUNT_MISMATCH = "amount_mismatch", "Amount mismatch"
    STATUS_MISMATCH = "status_mismatch", "Status mismatch"
    CURRENCY_MISMATCH = "currency_mismatch", "Currency mismatch"
    DUPLICATE = "duplicate", "Duplicate"
    BATCH_TOTALS = "batch_totals", "Batch totals differ from its lines"


class Resolution(models.TextChoices):
    ACCEPT_GATEWAY = "accept_gateway", "Accept the gateway's view"
    ADJUST_OURS = "adjust_ours", "Adjust our record"
    CREATE_PAYMENT = "create_payment", "Create the missing payment from the gateway record"
    WRITE_OFF = "write_off", "Write off"
    SETTLED_LATE = "settled_late", "Settled in a later batch"


class Discrepancy(models.Model):
    class Status(models.TextChoices):
        OPEN = "open", "Open"
        PENDING_APPROVAL = "pending_approval", "Write-off waiting for approval"
        RESOLVED = "resolved", "Resolved"

    public_id = models.CharField(max_length=40, unique=True, default=new_discrepancy_id, editable=False)
    gateway_account = models.ForeignKey("gateways.GatewayAccount", on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=24, choices=DiscrepancyKind.choices)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.OPEN)
    line = models.ForeignKey(
        SettlementLine, null=True, blank=True, on_delete=models.PROTECT, related_name="discrepancies"
    )
    # A discrepancy about a whole batch (its reported totals), not one of its lines.
    batch = models.ForeignKey(
        SettlementBatch, null=True, blank=True, on_delete=models.PROTECT, related_name="discrepancies"
    )
    entry = models.ForeignKey(
        "ledger.JournalEntry", null=True, blank=True, on_delete=models.PROTECT, related_name="discrepancies"
    )
    payment = models.ForeignKey("payments.Payment", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    refund = models.ForeignKey("payments.Refund", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    gateway_transaction_id = models.CharField(max_length=64, blank=True)
    currency = models.CharField(max_length=3)
    our_amount = models.BigIntegerField(null=True, blank=True)
    gateway_amount = models.BigIntegerField(null=True, blank=True)
    detail = models.CharField(max_length=255, blank=True)
    detected_at = models.DateTimeField(auto_now_add=True, db_index=True)
    assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    resolution = models.CharField(max_length=20, choices=Resolution.choices, blank=True)
    resolution_amount = models.BigIntegerField(null=True, blank=True)
    resolution_note = models.CharField(max_length=255, blank=True)
    requested_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    requested_at = models.DateTimeField(null=True, blank=True)
    approved_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    resolved_at = models.DateTimeField(null=True, blank=True)
    resolution_entry = models.ForeignKey(
        "ledger.JournalEntry", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )

    class Meta:
        verbose_name_plural = "discrepancies"
        permissions = [
            ("resolve_discrepancy", "Can resolve reconciliation discrepancies"),
            ("approve_writeoff", "Can approve write-offs requested by others"),
        ]
        constraints = [
            # Found again by a later run, a discrepancy is not opened twice.
            models.UniqueConstraint(
                fields=["kind", "line"], condition=Q(line__isnull=False), name="discrepancy_line_once"
            ),
            models.UniqueConstraint(
                fields=["kind", "entry"],
                condition=Q(line__isnull=True, entry__isnull=False),
                name="discrepancy_entry_once",
            ),
            models.UniqueConstraint(
                fields=["kind", "batch"],
                condition=Q(line__isnull=True, entry__isnull=True, batch__isnull=False),
                name="discrepancy_batch_once",
            ),
        ]
        indexes = [models.Index(fields=["status", "detected_at"], name="discrepancy_queue_idx")]

    def __str__(self) -> str:
        return f"{self.public_id} {self.get_kind_display()}"

    @property
    def difference(self) -> int:
        """What the gateway settled minus what we expected (negative: we are owed more than we got)."""
        return (self.gateway_amount or 0) - (self.our_amount or 0)


class CsvMapping(models.Model):
    """How to read one gateway's settlement report CSV: which column holds what. Saved once,
    chosen at each upload."""

    class AmountFormat(models.TextChoices):
        DECIMAL = "decimal", "Decimal (12.34)"
        MINOR = "minor", "Minor units (1234)"

    name = models.CharField(max_length=100, unique=True)
    gateway = models.CharField(
        max_length=20,
        choices=[("authorizenet", "Authorize.Net"), ("razorpay", "Razorpay"), ("stripe", "Stripe"), ("other", "Other")],
    )
    transaction_id_column = models.CharField(max_length=100)
    amount_column = models.CharField(max_length=100)
    amount_format = models.CharField(max_length=10, choices=AmountFormat.choices, default=AmountFormat.DECIMAL)
    batch_id_column = models.CharField(max_length=100, blank=True, help_text="Blank: the whole file is one batch")
    kind_column = models.CharField(max_length=100, blank=True, help_text="Blank: negative amounts are refunds")
    refund_values = models.CharField(
        max_length=200,
        blank=True,
        default="refund",
        help_text="Comma-separated values of the kind column meaning a refund",
    )
    charge_values = models.CharField(
        max_length=200,
        blank=True,
        default="payment,charge,sale,capture,settledSuccessfully",
        help_text="Comma-separated values of the kind column meaning a charge (others become adjustments)",
    )
    currency_column = models.CharField(max_length=100, blank=True, help_text="Blank: the gateway account's currency")
    fee_column = models.CharField(max_length=100, blank=True)
    tax_column = models.CharField(max_length=100, blank=True)
    reference_column = models.CharField(max_length=100, blank=True, help_text="Our reference (invoice number, receipt)")
    status_column = models.CharField(max_length=100, blank=True)
    settled_at_column = models.CharField(max_length=100, blank=True, help_text="Blank: the upload's settlement date")
    occurred_at_column = models.CharField(max_length=100, blank=True)
    date_format = models.CharField(
        max_length=40, blank=True, help_text="strftime format of the date columns; blank: ISO 8601"
    )
    delimiter = models.CharField(max_length=1, default=",")
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        verbose_name = "CSV column mapping"

    def __str__(self) -> str:
        return self.name
