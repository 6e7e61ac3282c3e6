from __future__ import annotations

from django.db import models


class Row(models.Model):
    """What the API's insert baseline writes (apps.bench.BenchmarkRow), less its merchant."""

    note = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"row {self.pk}"
