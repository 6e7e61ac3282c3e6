"""A reconciliation run asked for in the back office: fetch and match a range of days for one
gateway account or all of them, in the background, with its progress and its result."""

from __future__ import annotations

from django.conf import settings
from django.db import models
from django.db.models import F, Q

from apps.core.ids import public_id

# A run covers at most this many days (the page and the gateway's reporting API stay responsive).
MAX_RUN_DAYS = 31


def new_run_id() -> str:
    return public_id("rcr")


class ReconciliationRun(models.Model):
    class Status(models.TextChoices):
        QUEUED = "queued", "Queued"
        RUNNING = "running", "Running"
        SUCCEEDED = "succeeded", "Succeeded"
        FAILED = "failed", "Failed"

    ACTIVE = (Status.QUEUED, Status.RUNNING)

    public_id = models.CharField(max_length=40, unique=True, default=new_run_id, editable=False)
    gateway_account = models.ForeignKey(
        "gateways.GatewayAccount",
        null=True,
        blank=True,
        on_delete=models.PROTECT,
        related_name="+",
        help_text="Blank: every active gateway account",
    )
    # The accounts the run covers, fixed when it is requested (primary keys, in order), so a run
    # taken over after a worker died resumes over the same steps.
    account_ids = models.JSONField(default=list)
    first_day = models.DateField()
    last_day = models.DateField()
    requested_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    status = models.CharField(max_length=12, choices=Status.choices, default=Status.QUEUED)
    # Progress in account-days (one account's settlements of one day): done of total.
    days_done = models.PositiveIntegerField(default=0)
    days_total = models.PositiveIntegerField(default=0)
    current_account = models.CharField(max_length=40, blank=True, help_text="Public id of the account in progress")
    current_day = models.DateField(null=True, blank=True)
    result = models.JSONField(default=dict, blank=True)
    error = models.TextField(blank=True)
    # Who executes the run: set by the guarded claim, checked by every progress write, so a worker
    # whose run was taken over (stale heartbeat) stops writing.
    claim_token = models.CharField(max_length=32, blank=True)
    heartbeat_at = models.DateTimeField(null=True, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)
    started_at = models.DateTimeField(null=True, blank=True)
    finished_at = models.DateTimeField(null=True, blank=True)

    class Meta:
        permissions = [("run_reconciliation", "Can fetch and reconcile settlements on demand")]
        ordering = ("-created_at", "-id")
        constraints = [
            models.CheckConstraint(condition=Q(last_day__gte=F("first_day")), name="reconciliation_run_days_ordered"),
            models.CheckConstraint(condition=Q(days_done__lte=F("days_total")), name="reconciliation_run_progress"),
            models.CheckConstraint(
                condition=Q(status__in=["queued", "running", "succeeded", "failed"]),
                name="reconciliation_run_status_valid",
            ),
        ]
        indexes = [models.Index(fields=["status", "created_at"], name="reconciliation_run_status_idx")]

    def __str__(self) -> str:
        return f"{self.public_id} {self.first_day}…{self.last_day}"

    @property
    def is_active(self) -> bool:
        return self.status in self.ACTIVE
