from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from apps.core.ids import public_id, random_token
from apps.core.money import format_amount


def new_payment_id() -> str:
    return public_id("pay")


def new_refund_id() -> str:
    return public_id("re")


def new_gateway_reference() -> str:
    # 20 characters at most: Authorize.Net's refId and invoiceNumber limits.
    return f"ch{random_token(16)}"


class PaymentStatus(models.TextChoices):
    PENDING = "pending", "Pending"
    REQUIRES_ACTION = "requires_action", "Requires action (customer authenticating)"
    AUTHORIZED = "authorized", "Authorized"
    CAPTURED = "captured", "Captured"
    PARTIALLY_REFUNDED = "partially_refunded", "Partially refunded"
    REFUNDED = "refunded", "Refunded"
    VOIDED = "voided", "Voided"
    FAILED = "failed", "Failed"
    EXPIRED = "expired", "Expired (checkout never paid)"
    UNKNOWN = "unknown", "Unknown (outcome being confirmed)"
    # A bank account debit (ACH): accepted, money not there until the gateway settles it, then
    # captured; returned when the customer's bank sends it back after settlement (NACHA return).
    PROCESSING = "processing", "Processing (bank debit not settled yet)"
    RETURNED = "returned", "Returned by the customer's bank"


class PaymentMethodType(models.TextChoices):
    CARD = "card", "Card"
    US_BANK_ACCOUNT = "us_bank_account", "US bank account (ACH)"


class Authentication(models.TextChoices):
    REQUIRED = "required", "Required (customer authenticating)"
    SUCCEEDED = "succeeded", "Authenticated"
    FAILED = "failed", "Authentication failed"


class Review(models.TextChoices):
    """Risk review of a held payment: authorised only, captured when approved, voided when
    rejected or when nobody decided in time."""

    PENDING = "pending", "Waiting for review"
    APPROVED = "approved", "Approved"
    REJECTED = "rejected", "Rejected"
    EXPIRED = "expired", "Not reviewed in time (voided)"


class Payment(models.Model):
    """A charge of a customer's card, authorised and captured at one gateway account.

    Amounts are minor units. The database enforces
    0 <= refunded + refund_pending <= captured <= authorized.
    """

    public_id = models.CharField(max_length=40, unique=True, default=new_payment_id, editable=False)
    merchant = models.ForeignKey("merchants.Merchant", on_delete=models.PROTECT, related_name="payments")
    gateway_account = models.ForeignKey("gateways.GatewayAccount", on_delete=models.PROTECT, related_name="payments")
    customer = models.ForeignKey(
        "customers.Customer", null=True, blank=True, on_delete=models.PROTECT, related_name="payments"
    )
    status = models.CharField(max_length=20, choices=PaymentStatus.choices, default=PaymentStatus.PENDING)
    livemode = models.BooleanField(default=False)
    currency = models.CharField(max_length=3)
    amount = models.BigIntegerField()
    amount_authorized = models.BigIntegerField(default=0)
    amount_captured = models.BigIntegerField(default=0)
    amount_refunded = models.BigIntegerField(default=0)
    amount_refund_pending = models.BigIntegerField(default=0)
    capture = models.BooleanField(default=True, help_text="Captured at once (sale) or authorised only")
    reference = models.CharField(max_length=100, blank=True, help_text="The merchant's order id")
    description = models.CharField(max_length=255, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    card_brand = models.CharField(max_length=20, blank=True)
    card_last4 = models.CharField(max_length=4, blank=True)
    card_exp_month = models.PositiveSmallIntegerField(null=True, blank=True)
    card_exp_year = models.PositiveSmallIntegerField(null=True, blank=True)
    # A bank account debit: card_last4 holds the account number's last four; of the routing
    # number only its last four too. Never either whole number.
    payment_method_type = models.CharField(
        max_length=20, choices=PaymentMethodType.choices, default=PaymentMethodType.CARD
    )
    bank_routing_last4 = models.CharField(max_length=4, blank=True)
    bank_account_type = models.CharField(max_length=20, blank=True)
    bank_account_holder = models.CharField(max_length=22, blank=True)
    gateway_transaction_id = models.CharField(max_length=64, blank=True)
    # Checkout gateways (Razorpay): the order the customer pays in the browser.
    gateway_order_id = models.CharField(max_length=64, blank=True)
    failure_code = models.CharField(max_length=64, blank=True)
    failure_message = models.CharField(max_length=255, blank=True)
    # 3-D Secure: whether the issuer asked the customer to authenticate and how that ended; while
    # the payment requires action, the page where the customer authenticates. `return_url` is the
    # merchant's page the customer comes back to afterwards.
    authentication = models.CharField(max_length=12, choices=Authentication.choices, blank=True)
    action_url = models.URLField(max_length=2000, blank=True)
    return_url = models.URLField(max_length=2000, blank=True)
    # A capture or void is in flight at the gateway; others wait (see services).
    operation = models.CharField(max_length=16, blank=True)
    # The risk assessment made before the gateway call (apps.risk): score, level, outcome, the
    # rules and list entries that matched and why. Empty for payments made before risk existed.
    risk = models.JSONField(default=dict, blank=True)
    # Held for review by risk: authorised only; `capture_on_approval` is what the merchant asked.
    review = models.CharField(max_length=10, choices=Review.choices, blank=True)
    capture_on_approval = models.BooleanField(default=False)
    review_assignee = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reviewed_by = models.ForeignKey(
        settings.AUTH_USER_MODEL, null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    reviewed_at = models.DateTimeField(null=True, blank=True)
    review_note = models.CharField(max_length=500, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        permissions = [
            ("capture_payment", "Can capture payments"),
            ("void_payment", "Can void payments"),
            ("refund_payment", "Can request refunds"),
            ("review_payment", "Can decide payments held for risk review"),
        ]
        indexes = [
            models.Index(fields=["merchant", "-id"], name="payment_merchant_idx"),
            models.Index(fields=["merchant", "reference"], name="payment_reference_idx"),
            # The admin's search by reference alone (staff see every merchant).
            models.Index(fields=["reference"], name="payment_reference_only_idx", condition=~Q(reference="")),
            models.Index(fields=["gateway_transaction_id"], name="payment_gateway_txn_idx"),
            models.Index(fields=["card_last4"], name="payment_last4_idx"),
            models.Index(fields=["status", "-id"], name="payment_status_idx"),
            models.Index(fields=["created_at"], name="payment_review_pending_idx", condition=Q(review="pending")),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["gateway_account", "gateway_order_id"],
                condition=~Q(gateway_order_id=""),
                name="payment_gateway_order_unique",
            ),
            models.CheckConstraint(condition=Q(amount__gt=0), name="payment_amount_positive"),
            models.CheckConstraint(
                condition=Q(amount_refunded__gte=0, amount_refund_pending__gte=0), name="payment_refunds_nonnegative"
            ),
            models.CheckConstraint(
                condition=Q(amount_refunded__lte=F("amount_captured") - F("amount_refund_pending")),
                name="payment_refunded_lte_captured",
            ),
            models.CheckConstraint(
                condition=Q(amount_captured__lte=F("amount_authorized")), name="payment_captured_lte_authorized"
            ),
            models.CheckConstraint(
                condition=Q(amount_authorized__lte=F("amount")), name="payment_authorized_lte_amount"
            ),
        ]

    def __str__(self) -> str:
        return f"{self.public_id} {format_amount(self.amount, self.currency)} {self.status}"

    @property
    def refundable_amount(self) -> int:
        return self.amount_captured - self.amount_refunded - self.amount_refund_pending


class RefundStatus(models.TextChoices):
    PENDING_APPROVAL = "pending_approval", "Waiting for approval"
    PENDING = "pending", "Pending at the gateway"
    SUCCEEDED = "succeeded", "Succeeded"
    FAILED = "failed", "Failed"
    REJECTED = "rejected", "Rejected by an approver"
    UNKNOWN = "unknown", "Unknown (outcome being confirmed)"


class Refund(models.Model):
    public_id = models.CharField(max_length=40, unique=True, default=new_refund_id, editable=False)
    merchant = models.ForeignKey("merchants.Merchant", on_delete=models.PROTECT, related_name="refunds")
    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="refunds")
    status = models.CharField(max_length=20, choices=RefundStatus.choices)
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    reason = models.CharField(max_length=255, blank=True)
    gateway_transaction_id = models.CharField(max_length=64, blank=True)
    failure_code = models.CharField(max_length=64, blank=True)
    failure_message = models.CharField(max_length=255, blank=True)
    requested_by = models.CharField(max_length=255, blank=True)
    requested_by_user = models.ForeignKey(
        "auth.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    decided_by_user = models.ForeignKey("auth.User", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    decided_at = models.DateTimeField(null=True, blank=True)
    decision_note = models.CharField(max_length=255, blank=True)
    # The idempotency reference of the API request that asked for it (apps.payments.attempts):
    # a retry of that request finds this refund instead of making another.
    request_reference = models.CharField(max_length=20, blank=True)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        permissions = [("approve_refund", "Can approve or reject refunds requested by others")]
        constraints = [models.CheckConstraint(condition=Q(amount__gt=0), name="refund_amount_positive")]
        indexes = [
            models.Index(fields=["status", "-id"], name="refund_status_idx"),
            models.Index(
                fields=["payment", "request_reference"],
                name="refund_request_reference_idx",
                condition=~Q(request_reference=""),
            ),
        ]

    def __str__(self) -> str:
        return f"{self.public_id} {format_amount(self.amount, self.currency)} {self.status}"


class GatewayTransaction(models.Model):
    """One call to a gateway: recorded before the call (pending), completed after it.

    `reference` is our own idempotency reference, sent with the call, so a lost response can be
    found at the gateway again. Never holds card data.
    """

    class Kind(models.TextChoices):
        SALE = "sale", "Sale (authorise and capture)"
        AUTHORIZE = "authorize", "Authorise"
        CAPTURE = "capture", "Capture"
        VOID = "void", "Void"
        REFUND = "refund", "Refund"
        ORDER = "order", "Order (checkout)"

    class Status(models.TextChoices):
        # Opened now, sent later by a worker (an approved refund of a bulk approval): never sent
        # yet, so never "of unknown outcome" to the sweeper. Claimed (-> pending) right before it goes out.
        QUEUED = "queued", "Queued (not sent yet)"
        PENDING = "pending", "Pending (call in flight)"
        REQUIRES_ACTION = "requires_action", "Waiting for the customer to authenticate"
        SUCCEEDED = "succeeded", "Succeeded"
        DECLINED = "declined", "Declined"
        FAILED = "failed", "Failed (nothing happened)"
        UNKNOWN = "unknown", "Unknown outcome"

    payment = models.ForeignKey(Payment, on_delete=models.PROTECT, related_name="gateway_transactions")
    refund = models.ForeignKey(
        Refund, null=True, blank=True, on_delete=models.PROTECT, related_name="gateway_transactions"
    )
    gateway_account = models.ForeignKey("gateways.GatewayAccount", on_delete=models.PROTECT, related_name="+")
    kind = models.CharField(max_length=10, choices=Kind.choices)
    status = models.CharField(max_length=16, choices=Status.choices, default=Status.PENDING)
    reference = models.CharField(max_length=20, unique=True, default=new_gateway_reference)
    amount = models.BigIntegerField(null=True, blank=True)
    currency = models.CharField(max_length=3)
    gateway_transaction_id = models.CharField(max_length=64, blank=True)
    response_code = models.CharField(max_length=10, blank=True)
    reason_code = models.CharField(max_length=10, blank=True)
    message = models.CharField(max_length=255, blank=True)
    error_code = models.CharField(max_length=64, blank=True)
    auth_code = models.CharField(max_length=10, blank=True)
    avs_result = models.CharField(max_length=2, blank=True)
    cvv_result = models.CharField(max_length=2, blank=True)
    latency_ms = models.PositiveIntegerField(null=True, blank=True)
    correlation_id = models.CharField(max_length=128, blank=True)
    resolution_attempts = models.PositiveSmallIntegerField(default=0)
    created_at = models.DateTimeField(auto_now_add=True, db_index=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        indexes = [
            models.Index(fields=["status", "created_at"], name="gateway_txn_status_idx"),
            # Webhooks and reconciliation find our call by the gateway's transaction id.
            models.Index(fields=["gateway_account", "gateway_transaction_id"], name="gateway_txn_gateway_id_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.kind} {self.reference} {self.status}"


class PaymentUnderReview(Payment):
    """The risk review queue in the back office: payments held for a decision."""

    class Meta:
        proxy = True
        verbose_name = "payment under review"
        verbose_name_plural = "risk review queue"
