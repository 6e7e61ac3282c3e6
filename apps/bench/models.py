from __future__ import annotations

from django.db import models


class BenchmarkRow(models.Model):
    """Written by the benchmark's baseline endpoint: the smallest authenticated insert."""

    merchant = models.ForeignKey("merchants.Merchant", on_delete=models.CASCADE, related_name="+")
    note = models.CharField(max_length=200, blank=True)
    created_at = models.DateTimeField(auto_now_add=True)

    def __str__(self) -> str:
        return f"benchmark row {self.pk}"
