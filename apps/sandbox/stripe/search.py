"""Stripe's search query language, the part the sandbox supports: clauses `field:value`,
`metadata['key']:'value'`, `field~'sub'` (substring), `field>n` / `<` / `>=` / `<=`, a leading `-`
to negate, joined by AND or by OR (not both)."""

from __future__ import annotations

import re
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import Any

from django.db.models import Q

from .errors import StripeError


@dataclass(frozen=True)
class Field:
    lookup: str
    kind: str = "string"  # string | integer | timestamp


PAYMENT_INTENT_FIELDS = {
    "amount": Field("amount", "integer"),
    "created": Field("created_at", "timestamp"),
    "currency": Field("currency"),
    "customer": Field("customer__stripe_id"),
    "status": Field("status"),
}
CUSTOMER_FIELDS = {
    "created": Field("created_at", "timestamp"),
    "email": Field("email"),
    "name": Field("name"),
    "phone": Field("phone"),
}
CHARGE_FIELDS = {
    "amount": Field("amount", "integer"),
    "created": Field("created_at", "timestamp"),
    "currency": Field("currency"),
    "customer": Field("customer__stripe_id"),
    "payment_intent": Field("payment_intent__stripe_id"),
    "status": Field("status"),
}

_VALUE = r"""'(?:[^'\\]|\\.)*'|"(?:[^"\\]|\\.)*"|[^\s'"]+"""
_CLAUSE = re.compile(
    rf"""\s*(?P<negate>-)?(?P<field>metadata\[(?:'[^']*'|"[^"]*")\]|[a-z_]+)\s*"""
    rf"""(?P<op>:|~|>=|<=|>|<)\s*(?P<value>{_VALUE})\s*"""
)
_JOIN = re.compile(r"\s*(AND|OR)\s+")


def _invalid(query: str, why: str) -> StripeError:
    return StripeError(f"Invalid search query: {why} (query: {query})", param="query")


def _unquote(value: str) -> str:
    if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
        return re.sub(r"\\(.)", r"\1", value[1:-1])
    return value


def parse(query: str, fields: dict[str, Field]) -> Q:
    position, clauses, joins = 0, [], set()
    while True:
        match = _CLAUSE.match(query, position)
        if match is None:
            raise _invalid(query, f"could not parse the clause at character {position}")
        clauses.append(_clause(query, match, fields))
        position = match.end()
        if position >= len(query):
            break
        join = _JOIN.match(query, position)
        if join is None:
            raise _invalid(query, f"expected AND or OR at character {position}")
        joins.add(join.group(1))
        position = join.end()
    if len(joins) > 1:
        raise _invalid(query, "AND and OR cannot be combined in one query")
    combined = clauses[0]
    for clause in clauses[1:]:
        combined = combined | clause if joins == {"OR"} else combined & clause
    return combined


def _clause(query: str, match: re.Match[str], fields: dict[str, Field]) -> Q:
    name, op, value = match.group("field"), match.group("op"), _unquote(match.group("value"))
    if name.startswith("metadata["):
        if op != ":":
            raise _invalid(query, "metadata supports only ':'")
        condition = Q(metadata__contains={_unquote(name[len("metadata[") : -1]): value})
    else:
        field = fields.get(name)
        if field is None:
            raise _invalid(query, f"the field {name} is not supported")
        condition = _compare(query, field, op, value)
    return ~condition if match.group("negate") else condition


def _compare(query: str, field: Field, op: str, value: str) -> Q:
    if field.kind == "string":
        if op == ":":
            return Q(**{f"{field.lookup}__iexact": value})
        if op == "~":
            if len(value) < 3:
                raise _invalid(query, "a substring match needs at least 3 characters")
            return Q(**{f"{field.lookup}__icontains": value})
        raise _invalid(query, f"'{op}' does not apply to text fields")
    if not re.fullmatch(r"-?\d+", value):
        raise _invalid(query, f"{value} is not a number")
    number: Any = int(value)
    if field.kind == "timestamp":
        number = datetime.fromtimestamp(number, UTC)
    lookup = {":": "", ">": "__gt", "<": "__lt", ">=": "__gte", "<=": "__lte"}.get(op)
    if lookup is None:
        raise _invalid(query, f"'{op}' does not apply to numbers")
    return Q(**{f"{field.lookup}{lookup}": number})
