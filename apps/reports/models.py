"""Daily totals per gateway account and currency, so the dashboard reads closed days from a
small table and only today's payments live (its time stays flat as the payment table grows)."""

from __future__ import annotations

from django.conf import settings
from django.db import models


class DailyTotal(models.Model):
    day = models.DateField()
    gateway_account = models.ForeignKey("gateways.GatewayAccount", on_delete=models.CASCADE, related_name="+")
    currency = models.CharField(max_length=3)
    payments = models.PositiveIntegerField(default=0, help_text="Payments created that day (UTC)")
    approved = models.PositiveIntegerField(default=0)
    declined = models.PositiveIntegerField(default=0)
    captured = models.BigIntegerField(default=0, help_text="Captured by the payments created that day")
    refunds = models.PositiveIntegerField(default=0, help_text="Refunds that succeeded, requested that day")
    refunded = models.BigIntegerField(default=0)
    computed_at = models.DateTimeField()

    class Meta:
        constraints = [models.UniqueConstraint(fields=["day", "gateway_account", "currency"], name="daily_total_once")]

    def __str__(self) -> str:
        return f"{self.day} {self.gateway_account_id} {self.currency}"


class DailyTotalDay(models.Model):
    """A day whose totals have been computed (a day with no payments has no DailyTotal rows)."""

    day = models.DateField(unique=True)
    computed_at = models.DateTimeField()

    def __str__(self) -> str:
        return str(self.day)


class DayClose(models.Model):
    """One UTC day of one gateway account, closed by a finance approver: the figures as they were
    at closing and what was still open then (carried forward, by id). Written once, never changed:
    later changes to the day are found by computing its figures again and comparing."""

    gateway_account = models.ForeignKey("gateways.GatewayAccount", on_delete=models.PROTECT, related_name="+")
    day = models.DateField()
    closed_by = models.ForeignKey(settings.AUTH_USER_MODEL, on_delete=models.PROTECT, related_name="+")
    closed_at = models.DateTimeField()
    # The ledger's cut-off when the figures were read (apps.ledger.services.ledger_cutoff): the
    # day's journal entries with a higher id committed after the figures were read. Null for a
    # close stored before it was kept (those compare created_at with closed_at instead).
    last_entry_id = models.BigIntegerField(
        null=True, blank=True, help_text="The last journal entry id the figures were read after"
    )
    figures = models.JSONField(help_text="Money per figure and currency (minor units), and counts, at closing")
    carried_forward = models.JSONField(help_text="Open discrepancies (public ids) and unmatched settlement lines (ids)")
    note = models.CharField(max_length=255, blank=True)

    class Meta:
        permissions = [("close_day", "Can close a day of a gateway account")]
        constraints = [models.UniqueConstraint(fields=["gateway_account", "day"], name="day_close_once")]

    def __str__(self) -> str:
        return f"{self.day} closed for gateway account {self.gateway_account_id}"
