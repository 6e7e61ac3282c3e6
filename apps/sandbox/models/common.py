"""What every sandbox shares: notification delivery state, injected faults, counted writes."""

from __future__ import annotations

from django.db import models


class SandboxNotification(models.Model):
    """Delivery state of a sandbox webhook notification, sent at least once (more: see faults)."""

    class Status(models.TextChoices):
        PENDING = "pending"
        DELIVERED = "delivered"
        FAILED = "failed"

    status = models.CharField(max_length=10, choices=Status.choices, default=Status.PENDING)
    attempts = models.PositiveIntegerField(default=0)
    last_status_code = models.PositiveSmallIntegerField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    delivered_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        abstract = True


class SandboxFault(models.Model):
    """A fault to inject into the next matching sandbox request(s) (tests, demos).

    Global faults can also be set with the SANDBOX_FAULTS setting.
    """

    class Kind(models.TextChoices):
        LATENCY = "latency", "Added latency before processing (value: ms)"
        HTTP_ERROR = "http_error", "HTTP error without processing (value: status code)"
        RESET = "reset", "Connection reset without processing"
        DROP_RESPONSE = "drop_response", "Process, then reset the connection"
        HANG_AFTER = "hang_after", "Process, then wait before answering (value: ms)"
        WEBHOOK_DUPLICATE = "webhook_duplicate", "Webhooks: deliver extra copies (value: how many)"
        WEBHOOK_DELAY = "webhook_delay", "Webhooks: hold the notification back, so later ones overtake it (value: ms)"
        MISREPORT_DECLINED = "misreport_declined", "Process, then answer 'declined' (a refund we think failed)"
        SEARCH_LAG = "search_lag", "Search: leave out objects created in the last N seconds (value: seconds)"
        SYSTEM_ERROR = "system_error", "Process, then answer E00001 'unexpected system error' (Authorize.Net)"

    gateway = models.CharField(max_length=20, default="authorizenet")
    kind = models.CharField(max_length=20, choices=Kind.choices)
    value = models.PositiveIntegerField(default=0)
    # Only requests of this method / transaction type (e.g. "authCaptureTransaction"); blank = any.
    match = models.CharField(max_length=60, blank=True)
    remaining = models.PositiveIntegerField(default=1)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"{self.kind}({self.value}) x{self.remaining} {self.match or 'any'}"


class SandboxCall(models.Model):
    """One write request a sandbox received (a charge, capture, void, refund, order ...): what a
    test counts to prove a retry never reached the gateway as a new operation."""

    gateway = models.CharField(max_length=20)
    operation = models.CharField(max_length=60)  # transaction type or API operation
    account = models.CharField(max_length=40, blank=True)  # the sandbox account's login or key id
    created_at = models.DateTimeField(auto_now_add=True)

    class Meta:
        indexes = [models.Index(fields=["gateway", "operation"], name="sandbox_call_operation_idx")]

    def __str__(self) -> str:
        return f"{self.gateway} {self.operation}"
