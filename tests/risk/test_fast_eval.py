"""The fast evaluator of rule expressions gives rule-engine's answers: the same match for every
expression and attribute values, the same ExpressionFailed (or other error) when rule-engine
fails, and rule-engine itself for what it does not handle."""

from __future__ import annotations

import decimal
import itertools
from collections import OrderedDict
from collections.abc import Mapping
from types import MappingProxyType
from typing import Any

import pytest
import rule_engine

from apps.risk.built_in import BUILT_IN_RULES
from apps.risk.expressions import (
    CompiledExpression,
    ExpressionFailed,
    compile_expression,
    expression_matches,
    expression_values,
)

BENCH_RULES = [
    "(amount_usd ?? 0) > 100000 and currency == 'USD'",
    "email_domain != null and email_domain == 'spam1.example'",
    "(attempts_ip_1h ?? 0) > 1000 and (declines_ip_10m ?? 0) > 2",
    "'campaign' in metadata and metadata['campaign'] == 'promo1'",
    "card_bin != null and card_bin == '500001'",
    "billing_country != null and ip_country != null and billing_country != ip_country and amount > 10000",
    "(customer_age_days ?? 1000) < 1 and (customers_per_card_24h ?? 0) > 3",
]

EXPRESSIONS = [
    *BENCH_RULES,
    *(rule["expression"] for rule in BUILT_IN_RULES),
    "amount > 4999",
    "amount >= 100000 or amount <= 0",
    "amount == 1.0",
    "amount != 1.0",
    "amount > 99.5",
    "amount == 0.5",
    "amount < 1e3 and amount >= 0x10",
    "amount >= 5e28",
    "currency in ['USD', 'EUR']",
    "currency not in ['USD', 'EUR']",
    "not (currency == 'USD')",
    "card_country in ['NG', 'GH', null]",
    "card_country in [ip_country, billing_country]",
    "card_country == ip_country",
    "card_country != ip_country",
    "(card_bin ?? '0') > '4' and (card_brand ?? '') != 'visa'",
    "(card_bin ?? '') <= '499999'",
    "'spam' in (email ?? '')",
    "'' in (email_domain ?? 'x')",
    "(email ?? '') =~ '.*\\\\+.*@.*'",
    "(email_domain ?? '') =~~ '\\\\.(ru|cn)$'",
    "(email_domain ?? '') !~ 'example'",
    "(email_domain ?? '') !~~ 'ü'",
    "email_domain == 'ünïcode.example' or email == 'ö@ünïcode.example'",
    "first_time_customer == true",
    "first_time_customer != false",
    "first_time_customer",
    "not (first_time_customer ?? false)",
    "(first_time_customer ?? false) == true and (customer_payments ?? 0) == 0",
    "(customer_age_days ?? 0) == (customer_payments ?? 0)",
    "(customer_age_days ?? 0) < (customer_payments ?? 0)",
    "'x' in metadata and 'y' in metadata",
    "'campaign' in metadata and metadata['campaign'] in ['promo1', 'promo2']",
    "'note' in metadata and metadata['note'] == '日本'",
    "'campaign' in metadata and metadata['campaign'] > 'promo'",
    "(declines_card_10m ?? 0) + (declines_ip_10m ?? 0) >= 5",
    "amount * 2 > 100000",
    "amount / 3 > 333",
    "amount // 7 == 1428",
    "amount % 100 == 0",
    "-amount < -100",
    "amount - (amount_usd ?? amount) > 0",
    "amount * amount > 1e40",
    "amount * amount == 15241578753238836750495351562536198787501905199875019052100",
    "amount / 7 == 1763.571428571428571428571429",
    "(amount_usd ?? 0) > 100000 ? currency == 'USD' : currency == 'EUR'",
    "(amount_card_24h ?? 0) + amount > 500000 and (attempts_key_1m ?? 0) < 10",
    "not not (ip != null)",
    "true",
    "amount > 0 or amount / 0 > 1",
]

VALUE_SETS: list[dict[str, Any]] = [
    {"amount": 0, "currency": "USD"},
    {"amount": 1, "currency": "EUR"},
    {"amount": -5, "currency": "USD", "amount_usd": -5},
    {"amount": 12345, "currency": "USD", "amount_usd": 12345, "email_domain": "spam1.example", "card_bin": "500001"},
    {"amount": 100000, "currency": "USD", "amount_usd": 100000, "first_time_customer": True},
    {"amount": 100001, "currency": "USD", "amount_usd": 100001, "first_time_customer": True, "customer_payments": 0},
    {"amount": 99999, "currency": "GBP", "amount_usd": 99999, "first_time_customer": False},
    {"amount": 10001, "currency": "USD", "billing_country": "US", "ip_country": "FR", "card_country": "US"},
    {"amount": 10000, "currency": "USD", "billing_country": "US", "ip_country": "US", "card_country": "US"},
    {"amount": 20000, "currency": "USD", "billing_country": "US", "ip_country": None, "card_country": "NG"},
    {"amount": 5000, "currency": "USD", "attempts_ip_1h": 1000, "declines_ip_10m": 2, "declines_card_10m": 3},
    {"amount": 5000, "currency": "USD", "attempts_ip_1h": 1001, "declines_ip_10m": 3, "declines_card_10m": 2},
    {"amount": 5000, "currency": "USD", "declines_ip_10m": 5, "ip": "203.0.113.7"},
    {"amount": 5000, "currency": "USD", "customer_age_days": 0, "customers_per_card_24h": 4},
    {"amount": 5000, "currency": "USD", "customer_age_days": 1, "customers_per_card_24h": 3},
    {"amount": 5000, "currency": "USD", "customer_age_days": 0, "customer_payments": 0},
    {"amount": 5000, "currency": "USD", "metadata": {"campaign": "promo1"}},
    {"amount": 5000, "currency": "USD", "metadata": {"campaign": "promo2", "x": "1", "y": ""}},
    {"amount": 5000, "currency": "USD", "metadata": {"campaign": "Promo1", "note": "日本"}},
    {"amount": 5000, "currency": "USD", "metadata": {"x": 1, "y": None, "ü": "é"}},
    {"amount": 5000, "currency": "USD", "email": "a+b@spam.ru", "email_domain": "spam.ru"},
    {"amount": 5000, "currency": "USD", "email": "ö@ünïcode.example", "email_domain": "ünïcode.example"},
    {"amount": 5000, "currency": "USD", "email": "", "email_domain": ""},
    {"amount": 5000, "currency": "USD", "card_bin": "499999", "card_country": "GH", "card_brand": "visa"},
    {"amount": 12345678901234567890123456789, "currency": "USD", "amount_usd": 10**30},
    {"amount": 123456789012345678901234567890, "currency": "USD"},
    {"amount": 12345, "currency": "USD", "amount_card_24h": 490000, "attempts_key_1m": 9},
    {"amount": 100, "currency": "USD", "amount_usd": 100, "amount_card_24h": 0, "attempts_key_1m": 0},
]


def reference(compiled: CompiledExpression, values: Mapping[str, Any]) -> tuple[Any, ...]:
    """What expression_matches gave before the fast path: rule-engine alone."""
    try:
        return ("matched", compiled.compiled.evaluate(values) is True)
    except rule_engine.EngineError as error:
        return ("failed", error.message or type(error).__name__)
    except (decimal.DecimalException, ArithmeticError, RecursionError) as error:
        return ("failed", str(error) or type(error).__name__)
    except Exception as error:  # propagated unchanged
        return ("raised", type(error), str(error))


def outcome(compiled: CompiledExpression, values: Mapping[str, Any]) -> tuple[Any, ...]:
    try:
        return ("matched", expression_matches(compiled, values))
    except ExpressionFailed as error:
        return ("failed", str(error))
    except Exception as error:
        return ("raised", type(error), str(error))


def test_the_fast_path_gives_rule_engines_answer_for_every_expression_and_values() -> None:
    assert len(EXPRESSIONS) >= 40
    compiled = [compile_expression(text) for text in EXPRESSIONS]
    assert all(expression.fast is not None for expression in compiled), [
        expression.text for expression in compiled if expression.fast is None
    ]
    values = [expression_values(attributes) for attributes in VALUE_SETS]
    answered = checked = matched = 0
    for expression, attributes in itertools.product(compiled, values):
        expected = reference(expression, attributes)
        fast = expression.fast(attributes) if expression.fast else None
        if fast is not None:  # an answer from the fast path is rule-engine's, never its error
            assert expected == ("matched", fast), (expression.text, attributes)
            answered += 1
        else:  # it leaves to rule-engine only what rule-engine fails on (for such values)
            assert expected[0] != "matched", (expression.text, attributes)
        assert outcome(expression, attributes) == expected, (expression.text, attributes)
        checked += 1
        matched += expected == ("matched", True)
    assert checked == len(EXPRESSIONS) * len(VALUE_SETS)
    assert answered > 0.95 * checked
    assert 0.1 * checked < matched < 0.9 * checked  # the values make the rules both match and not


BASE = expression_values({"amount": 5000, "currency": "USD"})


@pytest.mark.parametrize(
    "values",
    [
        {**BASE, "amount": 5000.0},  # a float: rule-engine reads its repr
        {**BASE, "amount": decimal.Decimal("5000.5"), "amount_usd": decimal.Decimal("1E+5")},
        {**BASE, "amount": True},  # not a number for rule-engine
        {**BASE, "currency": 840},
        {**BASE, "first_time_customer": 1},
        {**BASE, "metadata": None},
        {**BASE, "metadata": {"campaign": 1}},
        {**BASE, "metadata": OrderedDict(campaign="promo1")},
        {name: value for name, value in BASE.items() if name != "currency"},  # a missing symbol
        MappingProxyType({**BASE, "metadata": {"campaign": "promo1"}}),
        [("amount", 5000)],  # not a mapping
    ],
)
def test_values_not_from_expression_values_give_rule_engines_answer_or_error(values: Any) -> None:
    for text in EXPRESSIONS:
        expression = compile_expression(text)
        assert outcome(expression, values) == reference(expression, values), text


@pytest.mark.parametrize(
    "text",
    [
        "(email_domain ?? '').ends_with('.ru')",
        "(email ?? '').length > 10",
        "(email ?? 'x')[0] == 'a'",
        "(email ?? '')[1:] == 'b'",
        "amount ** 2 > 100",
        "$now > d'2000-01-01'",
        "[c for c in ['a', 'b'] if c == currency] == ['a']",
        "metadata == {'campaign': 'promo1'}",
        "currency in {'USD', 'EUR'}",
        "(amount & 1) == 1",
        "amount > nan",
    ],
)
def test_what_the_fast_path_does_not_handle_is_left_to_rule_engine(text: str) -> None:
    expression = compile_expression(text)
    assert expression.fast is None
    for attributes in VALUE_SETS:
        values = expression_values(attributes)
        assert outcome(expression, values) == reference(expression, values)


def test_a_compiled_expression_made_without_the_fast_path_still_evaluates() -> None:
    compiled = compile_expression("(amount_usd ?? 0) > 100000 and currency == 'USD'").compiled
    expression = CompiledExpression(text="x", compiled=compiled)
    assert expression.fast is None
    assert expression_matches(expression, expression_values({"amount": 1, "currency": "USD", "amount_usd": 100001}))


@pytest.mark.parametrize(
    ("text", "attributes", "message"),
    [
        ("metadata['campaign'] == 'promo1'", {"metadata": {"other": "x"}}, None),
        ("amount / (customer_payments ?? 0) > 1", {}, "arithmetic error: division by zero"),
        ("amount % (customer_payments ?? 0) == 1", {"customer_payments": 0}, "arithmetic error"),  # undefined
        ("amount * 1e999999 > 1", {}, None),  # an overflow, in the rule's decimal context
    ],
)
def test_an_error_in_the_fast_path_gives_rule_engines_expression_failed(
    text: str, attributes: dict[str, Any], message: str | None
) -> None:
    expression = compile_expression(text)
    values = expression_values({"amount": 5000, "currency": "USD", **attributes})
    assert expression.fast is not None
    assert expression.fast(values) is None  # the fast path does not answer: rule-engine does
    expected = reference(expression, values)
    assert expected[0] == "failed"
    with pytest.raises(ExpressionFailed) as raised:
        expression_matches(expression, values)
    assert str(raised.value) == expected[1]
    if message is not None:
        assert str(raised.value) == message
    assert type(raised.value.__cause__).__name__ in {"LookupError", "ArithmeticError"}
