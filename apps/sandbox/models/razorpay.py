"""The Razorpay sandbox's state: accounts, customers and their saved cards (tokens), orders,
payments, refunds, settlements and webhooks."""

from __future__ import annotations

from django.db import models
from django.utils import timezone

from .common import SandboxNotification


class RzpAccount(models.Model):
    """A merchant account at the Razorpay sandbox: an API key pair (test mode)."""

    key_id = models.CharField(max_length=30, unique=True)
    key_secret = models.CharField(max_length=64)
    recurring_enabled = models.BooleanField(
        default=True, help_text="Razorpay turns recurring payments (saved cards charged later) on per account."
    )
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "Razorpay sandbox account"

    def __str__(self) -> str:
        return self.key_id

    @property
    def account_id(self) -> str:
        """The merchant id the real service puts in webhook envelopes ("acc_" + 14 characters)."""
        return "acc_" + self.key_id[-14:]


class RzpSettlement(models.Model):
    """One settlement: an account's captured payments less their fees, less its processed refunds,
    paid to the merchant's bank in one transfer (the UTR names it). The real service settles T+2
    working days after capture; the sandbox settles when told to (`rzp_settle`)."""

    class Status(models.TextChoices):
        CREATED = "created"
        PROCESSED = "processed"
        FAILED = "failed"

    account = models.ForeignKey(RzpAccount, on_delete=models.CASCADE, related_name="settlements")
    rzp_id = models.CharField(max_length=20, unique=True)
    # Not part of the entity (the real service settles everything in INR, converted): the sandbox
    # converts nothing, so it settles each currency on its own.
    currency = models.CharField(max_length=3)
    amount = models.BigIntegerField()  # the payout, minor units: payments - their fees - refunds
    fees = models.BigIntegerField(default=0)  # the payments' fees, GST included (as payment.fee)
    tax = models.BigIntegerField(default=0)  # the GST part of `fees`
    utr = models.CharField(max_length=30)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PROCESSED)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "Razorpay sandbox settlement"
        indexes = [models.Index(fields=["account", "created_at"], name="sandbox_rzp_setl_created_idx")]

    def __str__(self) -> str:
        return f"{self.rzp_id} {self.amount} {self.currency}"


class RzpCustomer(models.Model):
    """A customer of a merchant account (POST /v1/customers): what saved cards hang from."""

    account = models.ForeignKey(RzpAccount, on_delete=models.CASCADE, related_name="customers")
    rzp_id = models.CharField(max_length=20, unique=True)
    name = models.CharField(max_length=50, blank=True)
    email = models.CharField(max_length=64, blank=True)
    contact = models.CharField(max_length=15, blank=True)
    gstin = models.CharField(max_length=15, null=True, blank=True)
    notes = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "Razorpay sandbox customer"
        indexes = [models.Index(fields=["account", "created_at"], name="sandbox_rzp_cust_created_idx")]

    def __str__(self) -> str:
        return self.rzp_id


class RzpToken(models.Model):
    """A card saved for a customer at Checkout ("token_…"), chargeable again with
    POST /v1/payments/create/recurring. Network, last four, expiry and a keyed fingerprint
    (to save each card once per customer): never the number or the CVV."""

    account = models.ForeignKey(RzpAccount, on_delete=models.CASCADE, related_name="tokens")
    customer = models.ForeignKey(RzpCustomer, on_delete=models.CASCADE, related_name="tokens")
    rzp_id = models.CharField(max_length=20, unique=True)
    token = models.CharField(max_length=20)  # the entity's short `token` value
    method = models.CharField(max_length=10, default="card")
    card_name = models.CharField(max_length=100, blank=True)
    card_network = models.CharField(max_length=20, blank=True)
    card_last4 = models.CharField(max_length=4, blank=True)
    card_type = models.CharField(max_length=10, blank=True)
    card_issuer = models.CharField(max_length=10, blank=True)
    expiry_month = models.PositiveSmallIntegerField()
    expiry_year = models.PositiveSmallIntegerField()  # four digits
    international = models.BooleanField(default=False)
    card_fingerprint = models.CharField(max_length=64)  # apps/sandbox/fingerprints.py: HMAC of the number, hex
    recurring = models.BooleanField(default=False)
    # Sandbox control: while set, recurring charges on this token fail with this error reason.
    decline_reason = models.CharField(max_length=60, null=True, blank=True)
    # Sandbox control: while set, recurring charges stay `created` (the bank answers later, as
    # Razorpay's asynchronous recurring debits do) until `rzp_payment_complete` settles them.
    defer_charges = models.BooleanField(default=False)
    used_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    deleted = models.BooleanField(default=False)

    class Meta:
        verbose_name = "Razorpay sandbox token"
        indexes = [models.Index(fields=["customer", "card_fingerprint"], name="sandbox_rzp_token_card_idx")]

    def __str__(self) -> str:
        return f"{self.rzp_id} {self.card_network} {self.card_last4}"


class RzpOrder(models.Model):
    class Status(models.TextChoices):
        CREATED = "created"
        ATTEMPTED = "attempted"
        PAID = "paid"

    class Capture(models.TextChoices):
        AUTOMATIC = "automatic"
        MANUAL = "manual"

    account = models.ForeignKey(RzpAccount, on_delete=models.CASCADE, related_name="orders")
    rzp_id = models.CharField(max_length=20, unique=True)
    amount = models.BigIntegerField()  # minor units
    amount_paid = models.BigIntegerField(default=0)
    currency = models.CharField(max_length=3)
    receipt = models.CharField(max_length=40, blank=True, null=True)
    notes = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.CREATED)
    attempts = models.PositiveIntegerField(default=0)
    payment_capture = models.CharField(max_length=10, choices=Capture.choices, default=Capture.AUTOMATIC)
    customer = models.ForeignKey(RzpCustomer, null=True, blank=True, on_delete=models.SET_NULL, related_name="orders")
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "Razorpay sandbox order"
        indexes = [models.Index(fields=["account", "created_at"], name="sandbox_rzp_order_created_idx")]

    def __str__(self) -> str:
        return f"{self.rzp_id} {self.status}"


class RzpPayment(models.Model):
    """A card payment made through the sandbox's Checkout stand-in. Only network and last four digits."""

    class Status(models.TextChoices):
        CREATED = "created"
        AUTHORIZED = "authorized"
        CAPTURED = "captured"
        REFUNDED = "refunded"
        FAILED = "failed"

    class RefundStatus(models.TextChoices):
        PARTIAL = "partial"
        FULL = "full"

    account = models.ForeignKey(RzpAccount, on_delete=models.CASCADE, related_name="payments")
    order = models.ForeignKey(RzpOrder, on_delete=models.CASCADE, related_name="payments")
    rzp_id = models.CharField(max_length=20, unique=True)
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.CREATED)
    captured = models.BooleanField(default=False)
    amount_refunded = models.BigIntegerField(default=0)
    refund_status = models.CharField(max_length=7, choices=RefundStatus.choices, null=True, blank=True)
    method = models.CharField(max_length=20, default="card")
    international = models.BooleanField(default=False)
    card_id = models.CharField(max_length=20, blank=True)
    card_network = models.CharField(max_length=20, blank=True)
    card_last4 = models.CharField(max_length=4, blank=True)
    card_type = models.CharField(max_length=10, blank=True)
    card_name = models.CharField(max_length=100, blank=True)
    email = models.CharField(max_length=255, blank=True)
    contact = models.CharField(max_length=30, blank=True)
    notes = models.JSONField(default=dict, blank=True)
    description = models.CharField(max_length=255, null=True, blank=True)
    customer = models.ForeignKey(RzpCustomer, null=True, blank=True, on_delete=models.SET_NULL, related_name="payments")
    token = models.ForeignKey(RzpToken, null=True, blank=True, on_delete=models.SET_NULL, related_name="payments")
    recurring = models.BooleanField(default=False)
    # Razorpay's charge for a captured payment, GST included, and the GST part of it: see
    # `engine.fee_and_tax` (2 % of the amount plus 18 % GST on that, integer paise).
    fee = models.BigIntegerField(null=True, blank=True)
    tax = models.BigIntegerField(null=True, blank=True)
    auth_code = models.CharField(max_length=6, blank=True)
    error_code = models.CharField(max_length=30, null=True, blank=True)
    error_description = models.CharField(max_length=255, null=True, blank=True)
    error_source = models.CharField(max_length=30, null=True, blank=True)
    error_step = models.CharField(max_length=40, null=True, blank=True)
    error_reason = models.CharField(max_length=60, null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    captured_at = models.DateTimeField(null=True, blank=True)
    settlement = models.ForeignKey(
        RzpSettlement, null=True, blank=True, on_delete=models.SET_NULL, related_name="payments"
    )
    # Discrepancy injection: settlements leave this payment out, or settle it for another amount.
    held_from_settlement = models.BooleanField(default=False)
    settle_amount = models.BigIntegerField(null=True, blank=True)

    class Meta:
        verbose_name = "Razorpay sandbox payment"
        indexes = [models.Index(fields=["account", "created_at"], name="sandbox_rzp_pay_created_idx")]

    def __str__(self) -> str:
        return f"{self.rzp_id} {self.status}"


class RzpRefund(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending"
        PROCESSED = "processed"
        FAILED = "failed"

    payment = models.ForeignKey(RzpPayment, on_delete=models.CASCADE, related_name="refunds")
    rzp_id = models.CharField(max_length=20, unique=True)
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    receipt = models.CharField(max_length=40, null=True, blank=True)
    notes = models.JSONField(default=dict, blank=True)
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    speed_requested = models.CharField(max_length=10, default="normal")
    speed_processed = models.CharField(max_length=10, blank=True)
    created_at = models.DateTimeField(default=timezone.now)
    settlement = models.ForeignKey(
        RzpSettlement, null=True, blank=True, on_delete=models.SET_NULL, related_name="refunds"
    )

    class Meta:
        verbose_name = "Razorpay sandbox refund"

    def __str__(self) -> str:
        return f"{self.rzp_id} {self.status}"


class RzpWebhook(models.Model):
    """A webhook configured for a Razorpay sandbox account (the dashboard's Webhooks page)."""

    account = models.ForeignKey(RzpAccount, on_delete=models.CASCADE, related_name="webhooks")
    url = models.URLField(max_length=2000)
    secret = models.CharField(max_length=100)
    events = models.JSONField(default=list, blank=True, help_text="Empty: every event")
    active = models.BooleanField(default=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "Razorpay sandbox webhook"

    def __str__(self) -> str:
        return self.url

    def wants(self, event: str) -> bool:
        return not self.events or event in self.events


class RzpNotification(SandboxNotification):
    """One event for one webhook, delivered at least once (possibly more: see faults)."""

    webhook = models.ForeignKey(RzpWebhook, on_delete=models.CASCADE, related_name="notifications")
    event_id = models.CharField(max_length=20)  # one per event, shared by every webhook it goes to
    event = models.CharField(max_length=60)
    body = models.BinaryField()

    class Meta:
        verbose_name = "Razorpay sandbox notification"
        constraints = [
            models.UniqueConstraint(fields=["webhook", "event_id"], name="sandbox_rzp_notification_event_uniq"),
        ]

    def __str__(self) -> str:
        return f"{self.event} {self.event_id}"
