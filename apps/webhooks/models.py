"""Gateway webhooks in: `IncomingWebhook` keeps each verified gateway notification raw, once per
(gateway account, event id), and tracks its processing (retries, dead letter, replay). Events out
(the outbox, merchant endpoints, deliveries) live in apps.events."""

from __future__ import annotations

from django.db import models

from apps.core.ids import public_id
from apps.core.tracing import TRACEPARENT_LENGTH


def new_incoming_id() -> str:
    return public_id("whin")


class IncomingWebhook(models.Model):
    class Status(models.TextChoices):
        RECEIVED = "received", "Received (queued)"
        PROCESSED = "processed", "Processed"
        IGNORED = "ignored", "Ignored (event type not handled)"
        UNMATCHED = "unmatched", "Unmatched (kept for reconciliation)"
        FAILED = "failed", "Failed (will retry)"
        DEAD = "dead", "Dead (retries exhausted)"

    FINAL = frozenset({Status.PROCESSED, Status.IGNORED, Status.UNMATCHED, Status.DEAD})

    public_id = models.CharField(max_length=40, unique=True, default=new_incoming_id, editable=False)
    gateway_account = models.ForeignKey(
        "gateways.GatewayAccount", on_delete=models.PROTECT, related_name="incoming_webhooks"
    )
    merchant = models.ForeignKey("merchants.Merchant", on_delete=models.PROTECT, related_name="incoming_webhooks")
    gateway = models.CharField(max_length=20)
    event_id = models.CharField(max_length=100, help_text="The gateway's id for this notification")
    event_type = models.CharField(max_length=100)
    object_id = models.CharField(max_length=100, blank=True, help_text="The gateway's id of what it is about")
    content_key = models.CharField(
        max_length=255,
        blank=True,
        help_text="What the signed body is (event, entity, its time), where the event id is not in the body",
    )
    body = models.BinaryField(help_text="The raw request body, exactly as signed")
    headers = models.JSONField(default=dict)
    received_at = models.DateTimeField(auto_now_add=True)
    correlation_id = models.CharField(max_length=128, blank=True)
    # The W3C traceparent of the request that stored it (apps.core.tracing), so its processing joins
    # that trace whichever task picks it up; empty with tracing off.
    traceparent = models.CharField(max_length=TRACEPARENT_LENGTH, blank=True, default="", db_default="", editable=False)
    status = models.CharField(max_length=20, choices=Status.choices, default=Status.RECEIVED)
    attempts = models.PositiveIntegerField(default=0)
    next_attempt_at = models.DateTimeField(null=True, blank=True)
    last_error = models.TextField(blank=True)
    last_traceback = models.TextField(blank=True)
    result = models.CharField(max_length=255, blank=True, help_text="What processing did")
    processed_at = models.DateTimeField(null=True, blank=True)
    payment = models.ForeignKey(
        "payments.Payment", null=True, blank=True, on_delete=models.SET_NULL, related_name="incoming_webhooks"
    )

    class Meta:
        constraints = [
            models.UniqueConstraint(fields=["gateway_account", "event_id"], name="incoming_webhook_once"),
            # A signed body re-posted under a new event id (a header, outside the signature) is a copy.
            models.UniqueConstraint(
                fields=["gateway_account", "content_key"],
                condition=~models.Q(content_key=""),
                name="incoming_webhook_content_once",
            ),
        ]
        indexes = [
            models.Index(fields=["status", "next_attempt_at"], name="incoming_webhook_due_idx"),
            models.Index(fields=["received_at"], name="incoming_webhook_received_idx"),
        ]
        permissions = [("replay_incomingwebhook", "Can replay incoming webhooks")]

    def __str__(self) -> str:
        return f"{self.event_type} {self.event_id}"

    @property
    def body_text(self) -> str:
        return bytes(self.body).decode("utf-8", errors="replace")
