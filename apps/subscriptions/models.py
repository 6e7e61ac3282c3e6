"""Plans, subscriptions, their invoices (one per billing period) and billing attempts.

A subscription bills in advance: at the end of each period the next period begins and its
invoice is charged. Charges are ordinary payments (refundable like any other) made through a
saved card, with a gateway reference derived from the invoice and the attempt's number, so a
retried or overlapping billing run can never charge one invoice twice.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from apps.core.ids import public_id
from apps.core.money import format_amount


def new_plan_id() -> str:
    return public_id("plan")


def new_subscription_id() -> str:
    return public_id("sub")


def new_invoice_id() -> str:
    return public_id("in")


class Interval(models.TextChoices):
    DAY = "day", "Day"
    WEEK = "week", "Week"
    MONTH = "month", "Month"
    YEAR = "year", "Year"


class BillingMode(models.TextChoices):
    CLEARHOUSE = "clearhouse", "Billed by Clearhouse (Celery beat)"
    GATEWAY = "gateway", "Billed by the gateway (Authorize.Net ARB)"


class Plan(models.Model):
    public_id = models.CharField(max_length=40, unique=True, default=new_plan_id, editable=False)
    merchant = models.ForeignKey("merchants.Merchant", on_delete=models.PROTECT, related_name="plans")
    name = models.CharField(max_length=200)
    amount = models.BigIntegerField(help_text="Per period, in minor units")
    currency = models.CharField(max_length=3)
    interval = models.CharField(max_length=5, choices=Interval.choices)
    interval_count = models.PositiveSmallIntegerField(default=1)
    trial_days = models.PositiveSmallIntegerField(default=0)
    billing_mode = models.CharField(max_length=10, choices=BillingMode.choices, default=BillingMode.CLEARHOUSE)
    active = models.BooleanField(default=True)
    metadata = models.JSONField(default=dict, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.CheckConstraint(condition=Q(amount__gt=0), name="plan_amount_positive"),
            models.CheckConstraint(condition=Q(interval_count__gte=1), name="plan_interval_count_positive"),
        ]

    def __str__(self) -> str:
        every = self.interval if self.interval_count == 1 else f"{self.interval_count} {self.interval}s"
        return f"{self.name} ({format_amount(self.amount, self.currency)} every {every})"


class SubscriptionStatus(models.TextChoices):
    TRIALING = "trialing", "Trialing"
    ACTIVE = "active", "Active"
    PAST_DUE = "past_due", "Past due (in dunning)"
    UNPAID = "unpaid", "Unpaid (dunning exhausted, kept open)"
    PAUSED = "paused", "Paused"
    CANCELED = "canceled", "Canceled"
    ENDED = "ended", "Ended"


# Statuses the billing run looks at.
BILLABLE_STATUSES = (SubscriptionStatus.TRIALING, SubscriptionStatus.ACTIVE, SubscriptionStatus.PAST_DUE)
FINAL_STATUSES = (SubscriptionStatus.CANCELED, SubscriptionStatus.ENDED)


class Subscription(models.Model):
    public_id = models.CharField(max_length=40, unique=True, default=new_subscription_id, editable=False)
    merchant = models.ForeignKey("merchants.Merchant", on_delete=models.PROTECT, related_name="subscriptions")
    customer = models.ForeignKey("customers.Customer", on_delete=models.PROTECT, related_name="subscriptions")
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="subscriptions")
    payment_method = models.ForeignKey(
        "customers.PaymentMethod", on_delete=models.PROTECT, related_name="subscriptions"
    )
    gateway_account = models.ForeignKey("gateways.GatewayAccount", on_delete=models.PROTECT, related_name="+")
    livemode = models.BooleanField(default=False)
    billing_mode = models.CharField(max_length=10, choices=BillingMode.choices, default=BillingMode.CLEARHOUSE)
    status = models.CharField(max_length=10, choices=SubscriptionStatus.choices)
    # Periods are counted from here, so a monthly plan started on the 31st bills on the last
    # day of shorter months and on the 31st again after them.
    billing_anchor = models.DateTimeField()
    current_period_start = models.DateTimeField()
    current_period_end = models.DateTimeField()
    trial_end = models.DateTimeField(null=True, blank=True)
    cancel_at_period_end = models.BooleanField(default=False)
    # When the billing run should next look at it: the period's end, or the next dunning retry.
    next_billing_at = models.DateTimeField(null=True, blank=True)
    # Taken from the next period on (plan) or the next charge on (card).
    pending_plan = models.ForeignKey(Plan, null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    pending_payment_method = models.ForeignKey(
        "customers.PaymentMethod", null=True, blank=True, on_delete=models.PROTECT, related_name="+"
    )
    # A billing run holds the subscription until this time (a dead worker's claim expires).
    billing_claimed_until = models.DateTimeField(null=True, blank=True)
    gateway_subscription_id = models.CharField(max_length=64, blank=True, help_text="ARB subscription id")
    canceled_at = models.DateTimeField(null=True, blank=True)
    cancellation_reason = models.CharField(max_length=100, blank=True)
    ended_at = models.DateTimeField(null=True, blank=True)
    paused_at = models.DateTimeField(null=True, blank=True)
    metadata = models.JSONField(default=dict, blank=True)
    # The idempotency reference of the API request that created it: a retry finds it (and its
    # first charge) instead of subscribing, and charging, again.
    request_reference = models.CharField(max_length=20, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        permissions = [
            ("cancel_subscription", "Can cancel subscriptions"),
            ("pause_subscription", "Can pause and resume subscriptions"),
            ("retry_subscription_payment", "Can retry a subscription's payment now"),
        ]
        indexes = [
            # The billing run's scan: due subscriptions in order.
            models.Index(
                fields=["next_billing_at"],
                condition=Q(status__in=["trialing", "active", "past_due"], billing_mode="clearhouse"),
                name="subscription_due_idx",
            ),
            models.Index(fields=["merchant", "-id"], name="subscription_merchant_idx"),
            models.Index(fields=["customer"], name="subscription_customer_idx"),
            models.Index(fields=["status", "-id"], name="subscription_status_idx"),
            models.Index(fields=["gateway_subscription_id"], name="subscription_arb_idx"),
        ]
        constraints = [
            models.UniqueConstraint(
                fields=["merchant", "request_reference"],
                condition=~Q(request_reference=""),
                name="subscription_request_reference_unique",
            )
        ]

    def __str__(self) -> str:
        return f"{self.public_id} {self.status}"


class GatewayScheduleCancel(models.Model):
    """A gateway schedule that must stop charging (a paused subscription's, whose cancel failed or
    that charged while paused), recorded in the transaction that found it. Its cancel is queued
    when that transaction commits; while it is open (done_at empty) the sweep queues it again, so a
    task lost with the broker, or one whose retries ran out, never leaves the schedule charging."""

    subscription = models.ForeignKey(Subscription, on_delete=models.PROTECT, related_name="schedule_cancels")
    schedule_id = models.CharField(max_length=64, help_text="The gateway's id of the schedule to cancel")
    reason = models.CharField(max_length=200)
    # When its cancel was last queued or tried: the sweep leaves it alone until this is old.
    queued_at = models.DateTimeField()
    done_at = models.DateTimeField(null=True, blank=True)
    outcome = models.CharField(max_length=100, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(
                fields=["subscription", "schedule_id"],
                condition=Q(done_at__isnull=True),
                name="schedule_cancel_one_open",
            )
        ]
        indexes = [
            # The sweep's scan: open ones, oldest first.
            models.Index(fields=["queued_at"], condition=Q(done_at__isnull=True), name="schedule_cancel_open_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.schedule_id} of {self.subscription_id} {'done' if self.done_at else 'open'}"


class PastDueSubscription(Subscription):
    """The dunning view in the back office: subscriptions being chased for payment."""

    class Meta:
        proxy = True
        verbose_name = "past-due subscription (dunning)"
        verbose_name_plural = "dunning: past-due subscriptions"


class InvoiceStatus(models.TextChoices):
    OPEN = "open", "Open (being collected)"
    PAID = "paid", "Paid"
    UNCOLLECTIBLE = "uncollectible", "Uncollectible (dunning exhausted)"
    VOID = "void", "Void (subscription ended before payment)"


class Invoice(models.Model):
    public_id = models.CharField(max_length=40, unique=True, default=new_invoice_id, editable=False)
    merchant = models.ForeignKey("merchants.Merchant", on_delete=models.PROTECT, related_name="invoices")
    subscription = models.ForeignKey(Subscription, on_delete=models.PROTECT, related_name="invoices")
    plan = models.ForeignKey(Plan, on_delete=models.PROTECT, related_name="+")
    period_start = models.DateTimeField()
    period_end = models.DateTimeField()
    amount = models.BigIntegerField()
    currency = models.CharField(max_length=3)
    status = models.CharField(max_length=15, choices=InvoiceStatus.choices, default=InvoiceStatus.OPEN)
    attempt_count = models.PositiveSmallIntegerField(default=0)
    # Dunning retries are scheduled from the first declined attempt.
    first_declined_at = models.DateTimeField(null=True, blank=True)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    payment = models.ForeignKey("payments.Payment", null=True, blank=True, on_delete=models.PROTECT, related_name="+")
    paid_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["subscription", "period_start"], name="invoice_one_per_period"),
            models.CheckConstraint(condition=Q(amount__gte=0), name="invoice_amount_nonnegative"),
        ]
        indexes = [models.Index(fields=["status", "-id"], name="invoice_status_idx")]

    def __str__(self) -> str:
        return f"{self.public_id} {format_amount(self.amount, self.currency)} {self.status}"


class BillingAttempt(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending (charge in flight)"
        SUCCEEDED = "succeeded", "Succeeded"
        DECLINED = "declined", "Declined"
        FAILED = "failed", "Failed (gateway error, nothing charged)"

    invoice = models.ForeignKey(Invoice, on_delete=models.PROTECT, related_name="attempts")
    number = models.PositiveSmallIntegerField()
    payment = models.OneToOneField("payments.Payment", on_delete=models.PROTECT, related_name="billing_attempt")
    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    failure_code = models.CharField(max_length=64, blank=True)
    failure_message = models.CharField(max_length=255, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    completed_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["invoice", "number"], name="billing_attempt_number_unique")]

    def __str__(self) -> str:
        return f"{self.invoice.public_id} #{self.number} {self.status}"
