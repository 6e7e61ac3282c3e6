"""The rule language: every attribute can be named, typed; bad expressions and unknown
attributes are refused with a message that says what is wrong."""

from __future__ import annotations

import pytest
from django.core.exceptions import ValidationError

from apps.risk.expressions import (
    ATTRIBUTE_TYPES,
    ExpressionFailed,
    compile_expression,
    expression_matches,
    expression_values,
)

BASE = {"amount": 5000, "currency": "USD"}

# attribute -> (an expression naming it, a value that makes it true)
EXAMPLES = {
    "amount": ("amount > 4999", 5000),
    "amount_usd": ("(amount_usd ?? 0) >= 100000", 100000),
    "currency": ("currency == 'EUR'", "EUR"),
    "card_brand": ("card_brand == 'visa'", "visa"),
    "card_bin": ("card_bin == '424242'", "424242"),
    "card_country": ("card_country in ['NG', 'GH']", "NG"),
    "ip": ("ip == '203.0.113.7'", "203.0.113.7"),
    "ip_country": ("ip_country != null and ip_country == 'RU'", "RU"),
    "billing_country": ("billing_country == 'FR'", "FR"),
    "email": ("(email ?? '') =~ '.*\\\\+.*@.*'", "a+b@example.com"),
    "email_domain": ("email_domain == 'mailinator.com'", "mailinator.com"),
    "customer_age_days": ("(customer_age_days ?? 9999) < 2", 1),
    "customer_payments": ("(customer_payments ?? 1) == 0", 0),
    "first_time_customer": ("first_time_customer ?? false", True),
    "metadata": ("'plan' in metadata and metadata['plan'] == 'gold'", {"plan": "gold"}),
    "declines_card_10m": ("(declines_card_10m ?? 0) >= 3", 3),
    "declines_ip_10m": ("(declines_ip_10m ?? 0) >= 5", 5),
    "attempts_ip_1h": ("(attempts_ip_1h ?? 0) > 20", 21),
    "customers_per_card_24h": ("(customers_per_card_24h ?? 0) > 3", 4),
    "amount_card_24h": ("(amount_card_24h ?? 0) > 500000", 500001),
    "attempts_key_1m": ("(attempts_key_1m ?? 0) > 100", 101),
}


def test_every_attribute_has_an_example():
    assert set(EXAMPLES) == set(ATTRIBUTE_TYPES)


@pytest.mark.parametrize(("attribute", "example"), sorted(EXAMPLES.items()))
def test_each_attribute_can_be_used_in_an_expression(attribute, example):
    text, value = example
    compiled = compile_expression(text)

    assert expression_matches(compiled, expression_values({**BASE, attribute: value}))
    # Unknown (None) or absent, a nullable attribute falls back to its `??` default: no match.
    if attribute not in ("amount", "currency"):
        assert not expression_matches(compiled, expression_values(BASE))


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("", "required"),
        ("amount >", "syntax error"),
        ("amount > > 3", "syntax error"),
        ("'unclosed", "syntax error"),
        ("amount > 'ten'", "data type mismatch"),
        ("currency > 3", "data type mismatch"),
        ("amount_usd > 100", "may be unknown"),  # nullable: says what unknown means first
        ("metadata.plan == 'gold'", "metadata['key']"),
        ("(email ?? '') =~ '('", "regular expression"),
        ("amount + 1", "must be a condition"),
        ("email", "must be a condition"),
        ("x" * 2001, "at most 2000"),
    ],
)
def test_invalid_expressions_are_refused_with_a_message(text, message):
    with pytest.raises(ValidationError) as raised:
        compile_expression(text)

    assert message.lower() in " ".join(raised.value.messages).lower()


@pytest.mark.parametrize(
    ("text", "unknown"), [("amount_eur > 5", "amount_eur"), ("cardcountry == 'US'", "cardcountry")]
)
def test_unknown_attributes_are_refused_and_named(text, unknown):
    with pytest.raises(ValidationError) as raised:
        compile_expression(text)

    message = raised.value.messages[0]
    assert f"Unknown attribute '{unknown}'" in message
    assert "did you mean" in message  # a close name is suggested


def test_values_refuse_floats_for_money_and_unknown_names():
    with pytest.raises(TypeError, match="integer"):
        expression_values({**BASE, "amount_usd": 10.5})
    with pytest.raises(TypeError, match="integer"):
        expression_values({**BASE, "declines_ip_10m": True})
    with pytest.raises(ValueError, match="Unknown risk attributes: colour"):
        expression_values({**BASE, "colour": "red"})
    with pytest.raises(ValueError, match="required: amount"):
        expression_values({"currency": "USD"})


def test_values_fill_missing_attributes_with_none_and_metadata_with_text():
    values = expression_values({**BASE, "metadata": {"n": 3}})

    assert values["email"] is None
    assert values["metadata"] == {"n": "3"}
    assert set(values) == set(ATTRIBUTE_TYPES)


def test_an_expression_that_fails_when_it_runs_raises_expression_failed():
    compiled = compile_expression("metadata['plan'] == 'gold'")

    with pytest.raises(ExpressionFailed):
        expression_matches(compiled, expression_values(BASE))  # no such key
