"""A fast evaluator of compiled risk expressions, giving rule-engine's results.

Each node of a compiled rule-engine AST becomes a plain Python closure doing what the node's own
`evaluate` does (same order, short-circuits and null handling), without its interpretation cost.
Numbers are held as Python ints where rule-engine holds Decimals of them: both compare, hash and
test truthy alike, and arithmetic goes through the rule's decimal context, so no result differs.

What it cannot mirror exactly it refuses: a node type it does not know (function calls,
attributes, slices, comprehensions, datetimes, built-in symbols, sets, mappings...) makes
`fast_evaluator` return None (rule-engine evaluates that expression); a value it does not expect
(a float, a type mismatch, a missing key, an arithmetic error, a non-finite number) makes the
evaluator answer None, and the caller asks rule-engine, which gives its own result or error.
"""

from __future__ import annotations

import decimal
import operator
from collections.abc import Callable, Mapping
from typing import Any

import rule_engine
from rule_engine import ast, errors
from rule_engine.types import DataType

Node = Callable[[Mapping[str, Any]], Any]
FastEvaluator = Callable[[Mapping[str, Any]], "bool | None"]

MAX_DEPTH = 64  # deeper ASTs are left to rule-engine (its own recursion limits decide there)
_NUMBERS = frozenset({int, decimal.Decimal})  # how a rule-engine number (a Decimal) is held here
_ORDERED = frozenset({int, decimal.Decimal, str, bool})
_SCALARS = (DataType.FLOAT, DataType.STRING, DataType.BOOLEAN, DataType.NULL)
# rule-engine's arithmetic operators, as decimal.Context methods
_ARITH = dict(add="add", sub="subtract", mul="multiply", tdiv="divide", fdiv="divide_int", mod="remainder")  # noqa: C408
_MISSING = object()


class Refused(Exception):
    """The fast path cannot give rule-engine's answer here; rule-engine must decide."""


def fast_evaluator(rule: rule_engine.Rule) -> FastEvaluator | None:
    """A function of the attribute values giving whether `rule` matches (its result `is True`),
    or None when only rule-engine can tell (then it gives the result or the error); None when
    the expression is not one the fast path handles."""
    context = rule.context
    if context.default_value is not errors.UNDEFINED or context._Context__resolver is not rule_engine.resolve_item:
        return None
    try:
        body = _Builder(context.decimal_context).build(rule.statement.expression, 0)
    except (Refused, RecursionError):
        return None

    def evaluate(values: Mapping[str, Any]) -> bool | None:
        if type(values) is not dict:  # rule-engine's resolver is a Mapping's; a plain dict's is mirrored
            return None
        try:
            return body(values) is True
        except Exception:  # anything: rule-engine evaluates again and gives its own result or error
            return None

    return evaluate


def _refuse(value: Any) -> Any:
    raise Refused(type(value).__name__)


def _number(value: decimal.Decimal) -> int | decimal.Decimal:
    """A literal number as held here: an int when it is a small whole number (faster to compare)."""
    if not value.is_finite():
        raise Refused("non-finite literal")  # NaN compares differently under other decimal contexts
    if value == value.to_integral_value() and value.adjusted() < 30:
        return int(value)
    return value


def _finite(value: decimal.Decimal) -> decimal.Decimal:
    """An arithmetic result; a NaN or an infinity (untrapped in the rule's context) is refused."""
    return value if value.is_finite() else _refuse(value)


class _Builder:
    def __init__(self, decimal_context: decimal.Context) -> None:
        self.decimal_context = decimal_context
        self.methods: dict[type, Callable[[Any, int], Node]] = {
            **dict.fromkeys((ast.LogicExpression, ast.ComparisonExpression), self.comparison),
            **dict.fromkeys((ast.AddExpression, ast.SubtractExpression, ast.ArithmeticExpression), self.arithmetic),
            ast.ArithmeticComparisonExpression: self.comparison,
            ast.SymbolExpression: self.symbol,
            ast.ArrayExpression: self.array,
            ast.CoalesceExpression: self.coalesce,
            ast.UnaryExpression: self.unary,
            ast.TernaryExpression: self.ternary,
            ast.ContainsExpression: self.contains,
            ast.GetItemExpression: self.get_item,
            ast.FuzzyComparisonExpression: self.fuzzy,
        }

    def constant(self, node: Any) -> Any:
        """The value of a literal node as held here, or _MISSING when it is not a literal."""
        kind = type(node)
        if kind in (ast.StringExpression, ast.BooleanExpression, ast.NullExpression):
            return node.value
        if kind is ast.FloatExpression:
            return _number(node.value)
        if kind is ast.ArrayExpression:  # a tuple, like rule-engine's, when every member is a literal
            members = [self.constant(member) for member in node.value]
            return _MISSING if _MISSING in members else tuple(members)
        return _MISSING

    def build(self, node: Any, depth: int) -> Node:
        """The closure doing what `node.evaluate` does; Refused for a node type not mirrored here."""
        if depth > MAX_DEPTH:
            raise Refused("too deep")
        constant = self.constant(node)
        if constant is not _MISSING:
            return lambda values: constant
        method = self.methods.get(type(node))
        if method is None:
            raise Refused(type(node).__name__)
        return method(node, depth + 1)

    def symbol(self, node: Any, depth: int) -> Node:
        """`values[name]`, as rule-engine's default resolver reads it. Rule-engine takes null or a value of the
        symbol's type unchanged; any other Python type (which it converts or rejects) is refused."""
        name, result_type = node.name, DataType.NULLABLE.unwrap(node.result_type)
        if node.scope is not None:  # built-in symbols ($now, $re_groups)
            raise Refused("scoped symbol")
        if DataType.is_type(result_type, DataType.MAPPING):
            if (result_type.key_type, result_type.value_type) != (DataType.STRING, DataType.STRING):
                raise Refused("mapping type")

            def mapping(values: Mapping[str, Any]) -> Any:
                value = values[name]
                if value is not None:  # rule-engine holds an OrderedDict copy: the same for `in` and `[]`
                    if type(value) is not dict:
                        raise Refused(name)
                    for key, item in value.items():
                        if type(key) is not str or type(item) is not str:
                            raise Refused(name)
                return value

            return mapping
        if result_type == DataType.FLOAT:  # ints only: rule-engine makes a Decimal of an int exactly
            accepted = frozenset({int, type(None)})
        elif result_type in (DataType.STRING, DataType.BOOLEAN):
            accepted = frozenset({result_type.python_type, type(None)})
        else:
            raise Refused(f"symbol of type {result_type.name}")
        return lambda values: value if type(value := values[name]) in accepted else _refuse(value)

    def array(self, node: Any, depth: int) -> Node:
        members = tuple(self.build(member, depth) for member in node.value)
        return lambda values: tuple(member(values) for member in members)

    def coalesce(self, node: Any, depth: int) -> Node:
        left, right = self.build(node.left, depth), self.build(node.right, depth)
        return lambda values: right(values) if (value := left(values)) is None else value

    def ternary(self, node: Any, depth: int) -> Node:
        condition, case_true = self.build(node.condition, depth), self.build(node.case_true, depth)
        case_false = self.build(node.case_false, depth)
        return lambda values: case_true(values) if condition(values) else case_false(values)

    def comparison(self, node: Any, depth: int) -> Node:
        """and/or; ==, != (false/true across types: rule-engine compares `type(l) is type(r)` first);
        <, <=, >, >= (rule-engine's error across types: refused)."""
        op, left, right = node.type, self.build(node.left, depth), self.build(node.right, depth)
        if op == "and":
            return lambda values: bool(right(values)) if left(values) else False
        if op == "or":
            return lambda values: True if left(values) else bool(right(values))
        if not all(DataType.NULLABLE.unwrap(side.result_type) in _SCALARS for side in (node.left, node.right)):
            raise Refused("comparison of non-scalars")
        constant = self.constant(node.right)
        if constant is None and op in ("eq", "ne"):  # `x != null`
            return (lambda values: left(values) is None) if op == "eq" else (lambda values: left(values) is not None)
        if constant is not _MISSING and constant is not None:  # `x == 'USD'`, `x > 100000`: the common shapes
            kinds = _NUMBERS if type(constant) in _NUMBERS else frozenset({type(constant)})  # same rule-engine type
            if op == "eq":
                return lambda values: type(value := left(values)) in kinds and value == constant
            if op == "ne":
                return lambda values: type(value := left(values)) not in kinds or value != constant
            order = getattr(operator, op)  # lt, le, gt, ge
            return lambda values: order(value, constant) if type(value := left(values)) in kinds else _refuse(value)

        def compare(values: Mapping[str, Any]) -> Any:
            left_value, right_value = left(values), right(values)
            left_type, right_type = type(left_value), type(right_value)
            same = left_type is right_type or (left_type in _NUMBERS and right_type in _NUMBERS)
            if op == "eq":
                return same and left_value == right_value
            if op == "ne":
                return not same or left_value != right_value
            if same and left_type in _ORDERED:  # two nulls, mismatched types: rule-engine's
                return getattr(operator, op)(left_value, right_value)
            return _refuse(left_value)

        return compare

    def unary(self, node: Any, depth: int) -> Node:
        right = self.build(node.right, depth)
        if node.type == "not":
            return lambda values: not right(values)
        minus = self.decimal_context.minus  # uminus, as rule-engine's `-value` in the rule's context
        return lambda values: _finite(minus(value)) if type(value := right(values)) in _NUMBERS else _refuse(value)

    def contains(self, node: Any, depth: int) -> Node:
        container, member = self.build(node.container, depth), self.build(node.member, depth)

        def contains(values: Mapping[str, Any]) -> Any:
            container_value, member_value = container(values), member(values)
            container_type = type(container_value)
            if (container_type is str and type(member_value) is not str) or container_type not in (str, tuple, dict):
                raise Refused("container")  # rule-engine's error
            return member_value in container_value

        return contains

    def get_item(self, node: Any, depth: int) -> Node:
        if not DataType.is_type(DataType.NULLABLE.unwrap(node.container.result_type), DataType.MAPPING):
            raise Refused("item of a non-mapping")  # strings and arrays, indexed by number
        container, item, safe = self.build(node.container, depth), self.build(node.item, depth), node.safe

        def get_item(values: Mapping[str, Any]) -> Any:
            container_value = container(values)
            if container_value is None and safe:
                return None
            if type(container_value) is not dict:
                raise Refused("container")
            value = container_value.get(item(values), _MISSING)
            if value is _MISSING:  # rule-engine's LookupError, or null for `&[`
                return None if safe else _refuse(value)
            return value  # a string, as the mapping symbol checked

        return get_item

    def fuzzy(self, node: Any, depth: int) -> Node:
        if not isinstance(node.right, ast.StringExpression):
            raise Refused("regex not a literal")
        left, negated = self.build(node.left, depth), node.type.startswith("ne")
        find = node._right.match if node.type.endswith("fzm") else node._right.search  # compiled by rule-engine

        def fuzzy(values: Mapping[str, Any]) -> Any:
            value = left(values)
            if value is None:
                return negated
            if type(value) is not str:
                raise Refused("regex on a non-string")
            # rule-engine also keeps the groups for $re_groups, which only a (refused) built-in symbol reads
            return (find(value) is None) is negated

        return fuzzy

    def arithmetic(self, node: Any, depth: int) -> Node:
        """+ - * / // % on numbers, through the rule's decimal context (rule-engine computes in a
        `localcontext` of it): the same Decimal, rounded the same, the same errors."""
        left, right, op = self.build(node.left, depth), self.build(node.right, depth), node.type
        if op not in _ARITH:
            raise Refused(op)
        if any(DataType.NULLABLE.unwrap(side.result_type) != DataType.FLOAT for side in (node.left, node.right)):
            raise Refused("arithmetic on non-numbers")
        compute = getattr(self.decimal_context, _ARITH[op])

        def arithmetic(values: Mapping[str, Any]) -> Any:
            left_value = left(values)  # checked before the right operand is evaluated, as rule-engine does
            if type(left_value) in _NUMBERS and type(right_value := right(values)) in _NUMBERS:
                return _finite(compute(left_value, right_value))
            return _refuse(left_value)

        return arithmetic
