from __future__ import annotations

from django.db import models


class IdempotencyRecord(models.Model):
    """One Idempotency-Key of one merchant: the request's fingerprint and, once done, its response."""

    class State(models.TextChoices):
        IN_PROGRESS = "in_progress", "In progress"
        # It committed something but gave no final answer (a 5xx, an outcome the gateway has
        # not told yet): the next retry runs again and finds what was done.
        OUTCOME_PENDING = "outcome_pending", "Outcome pending"
        COMPLETED = "completed", "Completed"

    # No index of its own: the unique (merchant, key) index serves every lookup by merchant, and a
    # second one let a plan made while the table was small read all of a merchant's keys per claim.
    merchant = models.ForeignKey("merchants.Merchant", on_delete=models.CASCADE, related_name="+", db_index=False)
    key = models.CharField(max_length=255)
    method = models.CharField(max_length=10)
    path = models.CharField(max_length=512)
    fingerprint = models.CharField(max_length=64)
    state = models.CharField(max_length=16, choices=State.choices, default=State.IN_PROGRESS)
    # Who holds the key (a token of its own), its request's correlation id (as the audit trail
    # records it), until when, and whether any holder so far committed a change.
    holder = models.CharField(max_length=32, blank=True)
    request_id = models.CharField(max_length=128, blank=True)
    locked_until = models.DateTimeField(null=True, blank=True)
    committed = models.BooleanField(default=False)
    recoveries = models.PositiveSmallIntegerField(default=0)
    response_status = models.PositiveSmallIntegerField(null=True, blank=True)
    # The response exactly as sent (bytes and content type), replayed byte for byte. Rows stored
    # before it have only `response_body` (JSON, as JSONB reorders it), replayed from that; it is
    # still written beside the bytes, for a release that replays from it (rolling deploy, rollback).
    response_body = models.JSONField(null=True, blank=True)
    response_content = models.BinaryField(null=True, blank=True)
    response_content_type = models.CharField(max_length=255, blank=True, default="", db_default="")
    created_at = models.DateTimeField()
    completed_at = models.DateTimeField(null=True, blank=True)
    expires_at = models.DateTimeField(db_index=True)

    class Meta:
        constraints = [models.UniqueConstraint(fields=["merchant", "key"], name="idempotency_unique_key")]

    def __str__(self) -> str:
        return f"{self.key} ({self.state})"
