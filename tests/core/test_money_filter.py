"""The `money` template filter: minor units shown as the currency writes them, never bare."""

from __future__ import annotations

import pytest
from django.template import Context, Template

from apps.core.templatetags.money import money


@pytest.mark.parametrize(
    ("amount", "currency", "shown"),
    [
        (4500, "USD", "45.00 USD"),
        (4500, "JPY", "4,500 JPY"),
        (4500, "KWD", "4.500 KWD"),
        (-4500, "USD", "-45.00 USD"),
        (0, "USD", "0.00 USD"),
        (123456789, "EUR", "1,234,567.89 EUR"),
        (5, "usd", "0.05 USD"),
    ],
)
def test_the_filter_shows_minor_units_in_the_currencys_exponent(amount, currency, shown):
    assert money(amount, currency) == shown


def test_no_amount_is_a_dash():
    assert money(None, "USD") == "—"


def test_templates_use_it_after_loading_the_library():
    template = Template("{% load money %}{{ ours|money:currency }} / {{ missing|money:currency }}")

    rendered = template.render(Context({"ours": 4500, "missing": None, "currency": "KWD"}))

    assert rendered == "4.500 KWD / —"
