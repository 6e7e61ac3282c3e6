"""The expression language of risk rules: rule-engine's grammar over a fixed, typed set of
attributes. The only module that imports rule_engine, with fast_eval (which evaluates what this
module compiled, with rule-engine's results, much faster).

Expressions are compiled against the types below, so an unknown attribute, a typo or a type
mismatch (`amount > 'x'`) is refused when the rule is saved, never found during a payment.
Rule-engine has one number type (an exact Decimal; never a binary float): money and counts are
given to it as Python integers in minor units, so `amount_usd > 100000` means "more than
1,000.00 USD".

Most attributes may be unknown for an attempt (no card country, no customer yet, the velocity
counters unreachable): those are NULLABLE, and the compiler makes a rule say what an unknown
value means before comparing it, with `??` (`(declines_card_10m ?? 0) >= 3`) or an explicit
`!= null` test. `amount`, `currency` and `metadata` are always present.
"""

from __future__ import annotations

import decimal
from collections.abc import Mapping
from dataclasses import dataclass, field
from typing import Any

import rule_engine
from django.core.exceptions import ValidationError
from rule_engine import DataType

from .fast_eval import FastEvaluator, fast_evaluator

MAX_EXPRESSION_LENGTH = 2000

_NUMBER = DataType.FLOAT  # rule-engine's only number type, a Decimal; we only ever give it integers
_MAYBE_NUMBER = DataType.NULLABLE(DataType.FLOAT)
_MAYBE_STRING = DataType.NULLABLE(DataType.STRING)

# attribute -> its type in expressions. Amounts are integers in minor units.
ATTRIBUTE_TYPES: dict[str, Any] = {
    "amount": _NUMBER,  # in the payment's currency, minor units
    "amount_usd": _MAYBE_NUMBER,  # the same amount in US cents (integer minor units of USD, not dollars)
    "currency": DataType.STRING,  # ISO 4217, upper case
    "card_brand": _MAYBE_STRING,
    "card_bin": _MAYBE_STRING,
    "card_country": _MAYBE_STRING,  # ISO 3166 alpha-2, upper case
    "ip": _MAYBE_STRING,
    "ip_country": _MAYBE_STRING,
    "billing_country": _MAYBE_STRING,
    "email": _MAYBE_STRING,  # lower case
    "email_domain": _MAYBE_STRING,  # lower case
    "customer_age_days": _MAYBE_NUMBER,
    "customer_payments": _MAYBE_NUMBER,
    "first_time_customer": DataType.NULLABLE(DataType.BOOLEAN),
    "metadata": DataType.MAPPING(DataType.STRING, DataType.STRING),
    # Velocity, counted by apps/risk/velocity.py: declines of this card / from this IP in the last
    # 10 minutes, attempts from this IP in the last hour, customers using this card in 24 hours,
    # amount charged on this card in 24 hours (USD cents), attempts with this API key in a minute.
    "declines_card_10m": _MAYBE_NUMBER,
    "declines_ip_10m": _MAYBE_NUMBER,
    "attempts_ip_1h": _MAYBE_NUMBER,
    "customers_per_card_24h": _MAYBE_NUMBER,
    "amount_card_24h": _MAYBE_NUMBER,
    "attempts_key_1m": _MAYBE_NUMBER,
}
NUMBER_ATTRIBUTES = frozenset(name for name, kind in ATTRIBUTE_TYPES.items() if kind in (_NUMBER, _MAYBE_NUMBER))
STRING_ATTRIBUTES = frozenset(
    name for name, kind in ATTRIBUTE_TYPES.items() if kind in (DataType.STRING, _MAYBE_STRING)
)
BOOLEAN_ATTRIBUTES = frozenset({"first_time_customer"})
REQUIRED_ATTRIBUTES = frozenset({"amount", "currency"})


def _is_condition(result_type: Any) -> bool:
    """A rule's expression must be a condition; a nullable one counts as false when null, and one
    whose type the compiler cannot tell is judged when it runs."""
    if DataType.is_type(result_type, DataType.NULLABLE):
        result_type = result_type.inner_type
    return bool(DataType.is_type(result_type, DataType.BOOLEAN) or DataType.is_type(result_type, DataType.UNDEFINED))


@dataclass(frozen=True)
class CompiledExpression:
    """A compiled rule expression; what it wraps is rule-engine's, seen only by this module (and
    fast_eval). `fast`, when set, evaluates it much faster with rule-engine's results, and answers
    None where only rule-engine can tell."""

    text: str
    compiled: Any
    fast: FastEvaluator | None = field(default=None, compare=False, repr=False)


class ExpressionFailed(Exception):
    """A compiled expression could not be evaluated for these attributes (a missing metadata key,
    a division by zero): the rule does not match, and the failure is reported."""


def _context() -> rule_engine.Context:
    # One context per rule: a context collects the symbols of what it compiles.
    return rule_engine.Context(
        type_resolver=rule_engine.type_resolver_from_dict(ATTRIBUTE_TYPES),
        default_timezone="utc",
        # `metadata['key']`, not `metadata.key` (the dotted form is deprecated by the library).
        mapping_attribute_lookup=False,
    )


def _describe(error: rule_engine.EngineError) -> str:
    if isinstance(error, rule_engine.SymbolResolutionError):
        hint = f" (did you mean {error.suggestion!r}?)" if error.suggestion else ""
        known = ", ".join(sorted(ATTRIBUTE_TYPES))
        return f"Unknown attribute {error.symbol_name!r}{hint}. Attributes: {known}."
    if isinstance(error, rule_engine.RuleSyntaxError):
        return f"{error.message[:1].upper()}{error.message[1:]}."
    message = error.message or type(error).__name__
    if "attribute access on a MAPPING" in message:
        return "Invalid expression: read metadata as metadata['key'] (and test 'key' in metadata first)."
    if "nullable" in message:
        message += " (this attribute may be unknown: write e.g. `(declines_card_10m ?? 0) >= 3`)"
    return f"Invalid expression: {message}."


def compile_expression(text: str) -> CompiledExpression:
    """The compiled expression; ValidationError naming the problem when it is not a valid
    condition over the known attributes."""
    expression = (text or "").strip()
    if not expression:
        raise ValidationError("An expression is required.", code="expression_empty")
    if len(expression) > MAX_EXPRESSION_LENGTH:
        raise ValidationError(
            f"An expression is at most {MAX_EXPRESSION_LENGTH} characters.", code="expression_too_long"
        )
    try:
        compiled = rule_engine.Rule(expression, context=_context())
    except rule_engine.EngineError as error:
        raise ValidationError(_describe(error), code="expression_invalid") from None
    except (RecursionError, ValueError, TypeError) as error:  # nesting too deep, a literal it cannot read
        raise ValidationError(f"Invalid expression: {error}.", code="expression_invalid") from None
    result_type = compiled.statement.expression.result_type
    if not _is_condition(result_type):
        gives = result_type.inner_type.name if DataType.is_type(result_type, DataType.NULLABLE) else result_type.name
        raise ValidationError(
            f"An expression must be a condition (true or false); this one gives a {gives}.",
            code="expression_not_condition",
        )
    return CompiledExpression(text=expression, compiled=compiled, fast=fast_evaluator(compiled))


def validate_expression(text: str) -> None:
    """For form fields: ValidationError when `text` is not a valid rule expression."""
    compile_expression(text)


def expression_values(attributes: Mapping[str, Any]) -> dict[str, Any]:
    """Every attribute an expression may name, from `attributes` (missing ones are None, a
    missing metadata is empty). Numbers must be integers: a float here is a bug (money is minor
    units), and so is an attribute we do not know."""
    unknown = set(attributes) - set(ATTRIBUTE_TYPES)
    if unknown:
        raise ValueError(f"Unknown risk attributes: {', '.join(sorted(unknown))}")
    missing = [name for name in sorted(REQUIRED_ATTRIBUTES) if attributes.get(name) is None]
    if missing:
        raise ValueError(f"Risk attributes required: {', '.join(missing)}")
    values: dict[str, Any] = dict.fromkeys(ATTRIBUTE_TYPES)
    for name, value in attributes.items():
        if value is None:
            continue
        if name in NUMBER_ATTRIBUTES and (isinstance(value, bool) or not isinstance(value, int)):
            raise TypeError(f"Risk attribute {name} must be an integer, not {type(value).__name__}")
        if name in STRING_ATTRIBUTES and not isinstance(value, str):
            raise TypeError(f"Risk attribute {name} must be a string, not {type(value).__name__}")
        if name in BOOLEAN_ATTRIBUTES and not isinstance(value, bool):
            raise TypeError(f"Risk attribute {name} must be a boolean, not {type(value).__name__}")
        values[name] = value
    # Merchants' metadata is strings already; anything else is read as its text.
    values["metadata"] = {str(key): str(item) for key, item in (attributes.get("metadata") or {}).items()}
    return values


def expression_matches(compiled: CompiledExpression, values: Mapping[str, Any]) -> bool:
    """Whether the compiled expression holds for `values` (from `expression_values`); a null
    result is not a match. ExpressionFailed when it cannot be evaluated."""
    if compiled.fast is not None:
        matched = compiled.fast(values)
        if matched is not None:
            return matched
        # the fast path could not tell (an error, a value it does not mirror): rule-engine decides
    try:
        return compiled.compiled.evaluate(values) is True
    except rule_engine.EngineError as error:
        raise ExpressionFailed(error.message or type(error).__name__) from error
    except (decimal.DecimalException, ArithmeticError, RecursionError) as error:
        raise ExpressionFailed(str(error) or type(error).__name__) from error
