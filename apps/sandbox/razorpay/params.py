"""Reading the Razorpay API's request parameters with its own validation messages."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any, TypeVar

from django.db.models import QuerySet

from apps.core.money import SUPPORTED_CURRENCIES
from apps.sandbox.models import RzpCustomer, RzpOrder, RzpPayment, RzpRefund, RzpSettlement

from .errors import RzpError

ModelT = TypeVar("ModelT", RzpCustomer, RzpOrder, RzpPayment, RzpRefund, RzpSettlement)

MAX_NOTES = 15
MAX_NOTE_LENGTH = 256


def only(data: Mapping[str, Any], allowed: set[str]) -> None:
    extra = [key for key in data if key not in allowed]
    if extra:
        raise RzpError(f"{', '.join(extra)} is/are not required and should not be sent", field=extra[0])


def integer(value: Any, field: str) -> int:
    if isinstance(value, bool):
        raise RzpError(f"The {field} must be an integer.", field=field)
    if isinstance(value, int):
        return value
    if isinstance(value, str) and value.isdigit():
        return int(value)
    raise RzpError(f"The {field} must be an integer.", field=field)


def amount(value: Any, currency: str, *, minimum: int = 100) -> int:
    if value is None or value == "":
        raise RzpError("The amount field is required.", field="amount")
    amount = integer(value, "amount")
    if amount < minimum:
        raise RzpError(f"The amount must be at least {currency} 1.00", field="amount")
    return amount


def currency(value: Any) -> str:
    if value is None:
        return "INR"
    if not isinstance(value, str) or value.upper() not in SUPPORTED_CURRENCIES:
        raise RzpError("Currency is not supported", field="currency")
    return value.upper()


def receipt(value: Any) -> str | None:
    if value is None:
        return None
    if not isinstance(value, str) or len(value) > 40:
        raise RzpError("The receipt may not be greater than 40 characters.", field="receipt")
    return value


def notes(value: Any) -> dict[str, Any]:
    if value is None or value == []:
        return {}
    if not isinstance(value, dict):
        raise RzpError("The notes field should be an array.", field="notes")
    if len(value) > MAX_NOTES:
        raise RzpError(f"Number of fields in notes should be less than or equal to {MAX_NOTES}", field="notes")
    for key, note in value.items():
        if not isinstance(note, str | int) or isinstance(note, bool) or len(str(note)) > MAX_NOTE_LENGTH:
            raise RzpError(f"The notes.{key} may not be greater than {MAX_NOTE_LENGTH} characters.", field="notes")
    return value


@dataclass(frozen=True)
class Page:
    count: int
    skip: int
    since: datetime | None
    until: datetime | None


def page(params: Mapping[str, Any]) -> Page:
    count = integer(params.get("count", 10), "count")
    skip = integer(params.get("skip", 0), "skip")
    if not 1 <= count <= 100:
        raise RzpError("The count must be between 1 and 100.", field="count")
    since = params.get("from")
    until = params.get("to")
    return Page(
        count=count,
        skip=skip,
        since=datetime.fromtimestamp(integer(since, "from"), UTC) if since not in (None, "") else None,
        until=datetime.fromtimestamp(integer(until, "to"), UTC) if until not in (None, "") else None,
    )


def paged(queryset: QuerySet[ModelT], page: Page) -> list[ModelT]:
    if page.since is not None:
        queryset = queryset.filter(created_at__gte=page.since)
    if page.until is not None:
        queryset = queryset.filter(created_at__lte=page.until)
    return list(queryset.order_by("-created_at", "-pk")[page.skip : page.skip + page.count])
