"""The Stripe sandbox's state: accounts, idempotency keys, customers, payment methods, intents,
charges, refunds, balance transactions, payouts, disputes, webhook endpoints, events and their deliveries.

Public ids (`pi_…`, `ch_…`) are what the API shows; each row also has Django's own integer key,
which orders lists (newest first) and breaks ties within one second. Amounts are integers in the
currency's minor unit. No card number or CVC is ever stored: brand, last four, expiry and a keyed
fingerprint only.
"""

from __future__ import annotations

from datetime import datetime
from typing import Any

from django.db import models
from django.utils import timezone

from .common import SandboxNotification


class StripeAccount(models.Model):
    """An account at the Stripe sandbox: a test-mode key pair."""

    stripe_id = models.CharField(max_length=40, unique=True)  # acct_…
    secret_key = models.CharField(max_length=120, unique=True)
    publishable_key = models.CharField(max_length=120, unique=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        verbose_name = "Stripe sandbox account"

    def __str__(self) -> str:
        return self.stripe_id


class StripeIdempotencyKey(models.Model):
    """One use of an `Idempotency-Key`: claimed by one INSERT (unique per account and key) before
    the endpoint runs, then holding the answer to replay. `status_code` null = still in flight."""

    account = models.ForeignKey(StripeAccount, on_delete=models.CASCADE, related_name="idempotency_keys")
    key = models.CharField(max_length=255)
    fingerprint = models.CharField(max_length=64)  # sha256 of method, path and parameters
    request_id = models.CharField(max_length=40)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    body = models.BinaryField(null=True, blank=True)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "Stripe sandbox idempotency key"
        constraints = [models.UniqueConstraint(fields=["account", "key"], name="sandbox_stripe_idem_key_uniq")]

    def __str__(self) -> str:
        return self.key


class StripeObject(models.Model):
    """What every Stripe object row has: its account, public id, creation time and metadata."""

    account = models.ForeignKey(StripeAccount, on_delete=models.CASCADE, related_name="+")
    stripe_id = models.CharField(max_length=64, unique=True)
    created_at = models.DateTimeField(default=timezone.now)
    metadata = models.JSONField(default=dict, blank=True)

    class Meta:
        abstract = True

    def __str__(self) -> str:
        return self.stripe_id


class StripeCustomer(StripeObject):
    email = models.CharField(max_length=512, null=True, blank=True)
    name = models.CharField(max_length=256, null=True, blank=True)
    phone = models.CharField(max_length=40, null=True, blank=True)
    description = models.CharField(max_length=350, null=True, blank=True)
    default_payment_method = models.CharField(max_length=64, null=True, blank=True)
    deleted = models.BooleanField(default=False)

    class Meta:
        verbose_name = "Stripe sandbox customer"


class StripePaymentMethod(StripeObject):
    """A card. `scenario` is the test card's scripted behaviour (cards.SCENARIOS)."""

    customer = models.ForeignKey(
        StripeCustomer, null=True, blank=True, on_delete=models.SET_NULL, related_name="payment_methods"
    )
    type = models.CharField(max_length=20, default="card")
    brand = models.CharField(max_length=20)
    last4 = models.CharField(max_length=4)
    exp_month = models.PositiveSmallIntegerField()
    exp_year = models.PositiveSmallIntegerField()
    fingerprint = models.CharField(max_length=32)
    funding = models.CharField(max_length=10, default="credit")
    country = models.CharField(max_length=2, default="US")
    scenario = models.CharField(max_length=40, default="success")
    cvc_supplied = models.BooleanField(default=False)
    billing_details = models.JSONField(default=dict, blank=True)
    # Authenticated for later off-session use (a SetupIntent or setup_future_usage went through).
    set_up = models.BooleanField(default=False)
    # Used for a payment without being attached to a customer: Stripe refuses to use it again.
    consumed = models.BooleanField(default=False)

    class Meta:
        verbose_name = "Stripe sandbox payment method"


class StripeBalanceTransaction(StripeObject):
    """A movement of the account's balance. `payout_id` (`po_…`) is set when a payout sweeps it."""

    type = models.CharField(max_length=30)  # charge, refund, adjustment
    reporting_category = models.CharField(max_length=30)
    amount = models.BigIntegerField()
    fee = models.BigIntegerField(default=0)
    net = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    fee_details = models.JSONField(default=list, blank=True)
    source_id = models.CharField(max_length=64)  # ch_…, re_…, dp_…
    description = models.CharField(max_length=350, null=True, blank=True)
    available_on = models.DateTimeField()
    payout_id = models.CharField(max_length=64, null=True, blank=True, db_index=True)
    # Discrepancy injection (apps/sandbox/stripe/payouts.py): kept out of payouts, or paid out for
    # another amount than the charge's (the payout rewrites amount and net when it sweeps it).
    held_from_settlement = models.BooleanField(default=False)
    settle_amount = models.BigIntegerField(null=True, blank=True)

    class Meta:
        verbose_name = "Stripe sandbox balance transaction"

    def status(self, now: datetime | None = None) -> str:
        return "available" if self.available_on <= (now or timezone.now()) else "pending"


class StripePayout(StripeObject):
    """Money sent from the balance to the account's bank (`po_…`). An automatic payout sweeps the
    balance transactions not yet paid out (their `payout_id` names it); a manual one (POST
    /v1/payouts) takes an amount from the available balance and is swept by the next automatic one."""

    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    arrival_date = models.DateTimeField()
    automatic = models.BooleanField(default=True)
    status = models.CharField(max_length=12, default="paid")  # paid, pending, in_transit, canceled, failed
    method = models.CharField(max_length=10, default="standard")
    description = models.CharField(max_length=350, null=True, blank=True)
    statement_descriptor = models.CharField(max_length=22, null=True, blank=True)
    destination = models.CharField(max_length=64)  # ba_…
    balance_transaction = models.ForeignKey(
        StripeBalanceTransaction, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = "Stripe sandbox payout"


class StripeIntent(StripeObject):
    """What PaymentIntents and SetupIntents share."""

    client_secret = models.CharField(max_length=120)
    customer = models.ForeignKey(StripeCustomer, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    payment_method = models.ForeignKey(
        StripePaymentMethod, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    status = models.CharField(max_length=30)
    description = models.CharField(max_length=1000, null=True, blank=True)
    return_url = models.CharField(max_length=2000, null=True, blank=True)
    payment_method_types = models.JSONField(default=list)
    automatic_payment_methods = models.JSONField(null=True, blank=True)
    next_action = models.JSONField(null=True, blank=True)
    cancellation_reason = models.CharField(max_length=30, null=True, blank=True)

    class Meta:
        abstract = True


class StripePaymentIntent(StripeIntent):
    class Status(models.TextChoices):
        REQUIRES_PAYMENT_METHOD = "requires_payment_method"
        REQUIRES_CONFIRMATION = "requires_confirmation"
        REQUIRES_ACTION = "requires_action"
        PROCESSING = "processing"
        REQUIRES_CAPTURE = "requires_capture"
        SUCCEEDED = "succeeded"
        CANCELED = "canceled"

    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    amount_capturable = models.BigIntegerField(default=0)
    amount_received = models.BigIntegerField(default=0)
    capture_method = models.CharField(max_length=20, default="automatic")
    confirmation_method = models.CharField(max_length=20, default="automatic")
    setup_future_usage = models.CharField(max_length=20, null=True, blank=True)
    off_session = models.BooleanField(default=False)
    # payment_method_options[card][request_three_d_secure]: "any" or "challenge" asks the issuer to
    # authenticate the customer whatever the card (risk's "request 3-D Secure").
    request_three_d_secure = models.CharField(max_length=20, default="automatic")
    receipt_email = models.CharField(max_length=512, null=True, blank=True)
    statement_descriptor = models.CharField(max_length=22, null=True, blank=True)
    latest_charge = models.ForeignKey(
        "StripeCharge", null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    last_payment_error = models.JSONField(null=True, blank=True)
    canceled_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        verbose_name = "Stripe sandbox payment intent"


class StripeSetupIntent(StripeIntent):
    class Status(models.TextChoices):
        REQUIRES_PAYMENT_METHOD = "requires_payment_method"
        REQUIRES_CONFIRMATION = "requires_confirmation"
        REQUIRES_ACTION = "requires_action"
        PROCESSING = "processing"
        SUCCEEDED = "succeeded"
        CANCELED = "canceled"

    usage = models.CharField(max_length=20, default="off_session")
    last_setup_error = models.JSONField(null=True, blank=True)

    class Meta:
        verbose_name = "Stripe sandbox setup intent"


class StripeCharge(StripeObject):
    class Status(models.TextChoices):
        SUCCEEDED = "succeeded"
        PENDING = "pending"
        FAILED = "failed"

    payment_intent = models.ForeignKey(
        StripePaymentIntent, null=True, blank=True, on_delete=models.CASCADE, related_name="charges"
    )
    payment_method = models.ForeignKey(StripePaymentMethod, on_delete=models.PROTECT, related_name="charges")
    customer = models.ForeignKey(StripeCustomer, null=True, blank=True, on_delete=models.SET_NULL, related_name="+")
    amount = models.BigIntegerField()
    amount_captured = models.BigIntegerField(default=0)
    amount_refunded = models.BigIntegerField(default=0)  # refunds, and what a capture released
    currency = models.CharField(max_length=3)
    captured = models.BooleanField(default=False)
    status = models.CharField(max_length=10, choices=Status.choices)
    failure_code = models.CharField(max_length=40, null=True, blank=True)
    failure_message = models.CharField(max_length=300, null=True, blank=True)
    outcome = models.JSONField(default=dict)
    three_d_secure = models.BooleanField(default=False)
    disputed = models.BooleanField(default=False)
    description = models.CharField(max_length=1000, null=True, blank=True)
    receipt_email = models.CharField(max_length=512, null=True, blank=True)
    balance_transaction = models.ForeignKey(
        StripeBalanceTransaction, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = "Stripe sandbox charge"

    @property
    def refunded(self) -> bool:
        return self.status == self.Status.SUCCEEDED and self.amount_refunded >= self.amount

    @property
    def refundable(self) -> int:
        """What refunds may still return: the captured amount less what was refunded (a partial
        capture's released remainder counts in `amount_refunded`, as Stripe shows it)."""
        return self.amount - self.amount_refunded if self.captured else 0


class StripeRefund(StripeObject):
    class Status(models.TextChoices):
        PENDING = "pending"
        SUCCEEDED = "succeeded"
        FAILED = "failed"
        CANCELED = "canceled"

    charge = models.ForeignKey(StripeCharge, on_delete=models.CASCADE, related_name="refunds")
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=10, choices=Status.choices)
    reason = models.CharField(max_length=30, null=True, blank=True)
    failure_reason = models.CharField(max_length=40, null=True, blank=True)
    balance_transaction = models.ForeignKey(
        StripeBalanceTransaction, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )
    failure_balance_transaction = models.ForeignKey(
        StripeBalanceTransaction, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = "Stripe sandbox refund"


class StripeDispute(StripeObject):
    charge = models.ForeignKey(StripeCharge, on_delete=models.CASCADE, related_name="disputes")
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    reason = models.CharField(max_length=40, default="fraudulent")
    status = models.CharField(max_length=30, default="needs_response")
    evidence_due_by = models.DateTimeField()
    balance_transaction = models.ForeignKey(
        StripeBalanceTransaction, null=True, blank=True, on_delete=models.SET_NULL, related_name="+"
    )

    class Meta:
        verbose_name = "Stripe sandbox dispute"


class StripeWebhookEndpoint(StripeObject):
    url = models.URLField(max_length=2048)
    secret = models.CharField(max_length=100)  # whsec_…, shown once (on create)
    enabled_events = models.JSONField(default=list)  # ["*"] = every event
    description = models.CharField(max_length=5000, null=True, blank=True)
    api_version = models.CharField(max_length=40, null=True, blank=True)
    status = models.CharField(max_length=10, default="enabled")  # enabled | disabled
    deleted = models.BooleanField(default=False)

    class Meta:
        verbose_name = "Stripe sandbox webhook endpoint"

    def wants(self, event_type: str) -> bool:
        return self.status == "enabled" and ("*" in self.enabled_events or event_type in self.enabled_events)


class StripeEvent(models.Model):
    account = models.ForeignKey(StripeAccount, on_delete=models.CASCADE, related_name="events")
    stripe_id = models.CharField(max_length=64, unique=True)
    type = models.CharField(max_length=60)
    data: Any = models.JSONField()  # {"object": …, "previous_attributes"?: …}
    request_id = models.CharField(max_length=40, null=True, blank=True)
    idempotency_key = models.CharField(max_length=255, null=True, blank=True)
    pending_webhooks = models.PositiveIntegerField(default=0)
    created_at = models.DateTimeField(default=timezone.now)

    class Meta:
        verbose_name = "Stripe sandbox event"
        indexes = [models.Index(fields=["account", "type"], name="sandbox_stripe_event_type_idx")]

    def __str__(self) -> str:
        return f"{self.type} {self.stripe_id}"


class StripeNotification(SandboxNotification):
    """One event for one webhook endpoint, delivered at least once (possibly more: see faults)."""

    endpoint = models.ForeignKey(StripeWebhookEndpoint, on_delete=models.CASCADE, related_name="notifications")
    event = models.ForeignKey(StripeEvent, on_delete=models.CASCADE, related_name="notifications")
    body = models.BinaryField()

    class Meta:
        verbose_name = "Stripe sandbox notification"
        constraints = [
            models.UniqueConstraint(fields=["endpoint", "event"], name="sandbox_stripe_notification_event_uniq"),
        ]

    def __str__(self) -> str:
        return f"{self.event_id} → {self.endpoint_id}"
