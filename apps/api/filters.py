"""Query-parameter filters shared by the list endpoints."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta
from typing import Any

import django_filters
from django import forms
from django_filters.fields import IsoDateTimeField

# Real time zones lie between UTC-12:00 and UTC+14:00; PostgreSQL refuses offsets past 15:59.
MAX_UTC_OFFSET = timedelta(hours=14)


class UtcIsoDateTimeField(IsoDateTimeField):
    """An ISO 8601 date-time with a real UTC offset, turned into UTC (so the database never sees
    an offset it cannot hold, and an instant at the edge of the calendar cannot overflow)."""

    def to_python(self, value: Any) -> datetime | None:
        try:
            parsed: datetime | None = super().to_python(value)
            if parsed is None:
                return None
            offset = parsed.utcoffset()
            if offset is not None and abs(offset) > MAX_UTC_OFFSET:
                raise ValueError("UTC offset out of range")
            return parsed.astimezone(UTC)
        except (OverflowError, ValueError) as exc:
            raise forms.ValidationError(
                "Enter an ISO 8601 date-time with a UTC offset from -14:00 to +14:00.", code="invalid"
            ) from exc


class UtcDateTimeFilter(django_filters.IsoDateTimeFilter):
    field_class = UtcIsoDateTimeField
