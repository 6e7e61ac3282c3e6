"""Events out. `Event` is the transactional outbox (written in the same transaction as the change it
describes); `WebhookEndpoint` is where a merchant wants them; `WebhookDelivery` is one event for one
endpoint with its retry schedule, and `DeliveryAttempt` logs every HTTP try.

The tables keep the names they had in the webhooks app (db_table): the move changed no row.
"""

from __future__ import annotations

from django.db import models
from django.db.models import Q

from apps.core import crypto
from apps.core.ids import public_id
from apps.core.tracing import TRACEPARENT_LENGTH


def new_event_id() -> str:
    return public_id("evt")


def new_endpoint_id() -> str:
    return public_id("we")


def new_delivery_id() -> str:
    return public_id("msg")


class Event(models.Model):
    """Something that happened to a merchant's objects (the outbox).

    Written in the transaction that made the change; `relayed_at` is set once it has been fanned
    out into deliveries, so a sweeper can find any whose relay task was lost.
    """

    public_id = models.CharField(max_length=40, unique=True, default=new_event_id, editable=False)
    merchant = models.ForeignKey("merchants.Merchant", on_delete=models.PROTECT, related_name="events")
    livemode = models.BooleanField(default=False)
    type = models.CharField(max_length=60)
    object_type = models.CharField(max_length=40)
    object_id = models.CharField(max_length=40)
    data = models.JSONField(help_text="The object as the API showed it when the event happened")
    created_at = models.DateTimeField(auto_now_add=True)
    relayed_at = models.DateTimeField(null=True, blank=True)
    # The W3C traceparent of the span that published it (apps.core.tracing), so its relay and
    # deliveries join that trace whichever task picks them up; empty with tracing off. A default in
    # the database too: a row written without it (an older process during a deploy) is valid.
    traceparent = models.CharField(max_length=TRACEPARENT_LENGTH, blank=True, default="", db_default="", editable=False)

    class Meta:
        db_table = "webhooks_event"  # the table kept its name when the outbox left the webhooks app
        indexes = [
            models.Index(fields=["merchant", "-id"], name="event_merchant_idx"),
            models.Index(fields=["created_at"], condition=Q(relayed_at__isnull=True), name="event_unrelayed_idx"),
        ]

    def __str__(self) -> str:
        return f"{self.type} {self.public_id}"


class WebhookEndpoint(models.Model):
    public_id = models.CharField(max_length=40, unique=True, default=new_endpoint_id, editable=False)
    merchant = models.ForeignKey("merchants.Merchant", on_delete=models.PROTECT, related_name="webhook_endpoints")
    url = models.URLField(max_length=2000)
    description = models.CharField(max_length=255, blank=True)
    event_types = models.JSONField(default=list, help_text='Subscribed types; ["*"] for all')
    enabled = models.BooleanField(default=True)
    disabled_reason = models.CharField(max_length=255, blank=True)
    secret_ciphertext = models.TextField(editable=False)
    # After a rotation deliveries are signed with both secrets until this time.
    previous_secret_ciphertext = models.TextField(blank=True, editable=False)
    previous_secret_expires_at = models.DateTimeField(null=True, blank=True, editable=False)
    failing_since = models.DateTimeField(null=True, blank=True)
    is_deleted = models.BooleanField(default=False)
    created_at = models.DateTimeField(auto_now_add=True)
    updated_at = models.DateTimeField(auto_now=True)

    class Meta:
        db_table = "webhooks_webhookendpoint"
        indexes = [models.Index(fields=["merchant", "enabled"], name="endpoint_merchant_idx")]

    def __str__(self) -> str:
        return self.url

    def secret(self) -> str:
        return crypto.decrypt(self.secret_ciphertext)

    def previous_secret(self) -> str:
        return crypto.decrypt(self.previous_secret_ciphertext) if self.previous_secret_ciphertext else ""

    def subscribed_to(self, event_type: str) -> bool:
        return "*" in self.event_types or event_type in self.event_types


class WebhookDelivery(models.Model):
    class Status(models.TextChoices):
        PENDING = "pending", "Pending"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed (gave up)"
        CANCELLED = "cancelled", "Cancelled (endpoint disabled or deleted)"

    public_id = models.CharField(max_length=40, unique=True, default=new_delivery_id, editable=False)
    event = models.ForeignKey(Event, on_delete=models.PROTECT, related_name="deliveries")
    endpoint = models.ForeignKey(WebhookEndpoint, on_delete=models.PROTECT, related_name="deliveries")
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    # A claim on the delivery while an attempt is in flight, so two workers never post it at once.
    locked_until = models.DateTimeField(null=True, blank=True)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    last_error = models.CharField(max_length=500, blank=True)
    delivered_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        db_table = "webhooks_webhookdelivery"
        constraints = [
            models.UniqueConstraint(fields=["event", "endpoint"], name="delivery_once_per_endpoint"),
        ]
        indexes = [
            models.Index(fields=["next_attempt_at"], condition=Q(status="pending"), name="delivery_due_idx"),
        ]
        verbose_name_plural = "webhook deliveries"
        permissions = [("resend_webhookdelivery", "Can resend webhook deliveries")]

    def __str__(self) -> str:
        return self.public_id


class DeliveryAttempt(models.Model):
    delivery = models.ForeignKey(WebhookDelivery, on_delete=models.CASCADE, related_name="attempt_log")
    attempted_at = models.DateTimeField(auto_now_add=True)
    status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    latency_ms = models.PositiveIntegerField(default=0)
    error = models.CharField(max_length=500, blank=True)
    response_body = models.CharField(max_length=1000, blank=True)
    correlation_id = models.CharField(max_length=128, blank=True)

    class Meta:
        db_table = "webhooks_deliveryattempt"
        ordering = ["-id"]

    def __str__(self) -> str:
        return f"{self.delivery_id} {self.status_code or self.error}"
