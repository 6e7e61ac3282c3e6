"""Money in templates: `{{ payment.amount|money:payment.currency }}` renders "45.00 USD", never
the minor units (load with `{% load money %}`)."""

from __future__ import annotations

from django import template

from apps.core.money import format_amount

register = template.Library()

MISSING = "—"


@register.filter
def money(amount_minor: int | str | None, currency: str) -> str:
    """An amount in minor units as the currency writes it; "—" when there is none (None, or a
    variable the template could not resolve)."""
    if amount_minor is None or amount_minor == "":
        return MISSING
    return format_amount(int(amount_minor), currency)
