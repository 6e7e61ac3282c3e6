"""Reading Stripe's form-encoded parameters (`metadata[k]=v`, `expand[0]=x`, `card[number]=…`)
and checking them with Stripe's own messages.

`decode` turns bracket keys into nested dicts; arrays stay dicts keyed "0", "1", … (or appended for
`a[]`) until a checker asks for a list, so a metadata key that happens to be a digit is not mangled.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping
from datetime import UTC, datetime
from typing import Any, overload

from apps.core.money import SUPPORTED_CURRENCIES

from .errors import StripeError, invalid_enum, invalid_integer, invalid_param, missing_param, unknown_param

Params = Mapping[str, Any]

MAX_AMOUNT = 99_999_999
MIN_AMOUNTS = {"usd": 50, "eur": 50, "gbp": 30, "cad": 50, "aud": 50, "nzd": 50, "chf": 50, "inr": 50, "jpy": 50}
METADATA_MAX_KEYS = 50
METADATA_KEY_LENGTH = 40
METADATA_VALUE_LENGTH = 500

_KEY = re.compile(r"^([^\[\]]+)((?:\[[^\[\]]*\])*)$")


def decode(pairs: Iterable[tuple[str, str]]) -> dict[str, Any]:
    root: dict[str, Any] = {}
    for raw_key, value in pairs:
        match = _KEY.match(raw_key)
        parts = [match.group(1), *re.findall(r"\[([^\[\]]*)\]", match.group(2))] if match else [raw_key]
        node = root
        for position, part in enumerate(parts):
            name = part or str(len(node))  # `a[]=x`: append
            if position == len(parts) - 1:
                node[name] = value
                break
            child = node.setdefault(name, {})
            if not isinstance(child, dict):
                raise StripeError(f"Invalid hash: {'['.join(parts[: position + 1])}", param=parts[0])
            node = child
    return root


def only(params: Params, allowed: Iterable[str], *, prefix: str = "") -> None:
    allowed_set = {*allowed, "expand"} if not prefix else set(allowed)
    for key in params:
        if key not in allowed_set:
            raise unknown_param(f"{prefix}[{key}]" if prefix else key)


def string(params: Params, name: str, *, required: bool = False, max_length: int = 5000) -> str | None:
    """The value, None when absent or sent empty (Stripe's way to unset a field)."""
    value = params.get(name)
    if value is None or value == "":
        if required:
            raise missing_param(name)
        return None
    if not isinstance(value, str):
        raise invalid_param(name, f"Invalid string: {name} must be a string.", code="parameter_invalid_string")
    if len(value) > max_length:
        raise invalid_param(name, f"Invalid string: {name} must be at most {max_length} characters.")
    return value


def required(params: Params, name: str, *, max_length: int = 5000) -> str:
    value = string(params, name, required=True, max_length=max_length)
    if value is None:  # string() raised already; this tells the type checker
        raise missing_param(name)
    return value


def required_integer(params: Params, name: str) -> int:
    value = integer(params, name, required=True)
    if value is None:
        raise missing_param(name)
    return value


def integer(params: Params, name: str, *, required: bool = False, minimum: int | None = None) -> int | None:
    value = params.get(name)
    if value is None or value == "":
        if required:
            raise missing_param(name)
        return None
    if not isinstance(value, str) or not re.fullmatch(r"-?\d{1,18}", value):
        raise invalid_integer(name, value)
    number = int(value)
    if minimum is not None and number < minimum:
        raise invalid_param(name, f"This value must be greater than or equal to {minimum}.")
    return number


def boolean(params: Params, name: str, *, default: bool = False) -> bool:
    value = params.get(name)
    if value is None or value == "":
        return default
    if value not in ("true", "false"):
        raise invalid_param(name, f"Invalid boolean: {value}", code="parameter_invalid_boolean")
    return bool(value == "true")


@overload
def enum(params: Params, name: str, allowed: tuple[str, ...], *, default: str) -> str: ...
@overload
def enum(params: Params, name: str, allowed: tuple[str, ...], *, default: None = None) -> str | None: ...
def enum(params: Params, name: str, allowed: tuple[str, ...], *, default: str | None = None) -> str | None:
    value = params.get(name)
    if value is None or value == "":
        return default
    if value not in allowed:
        raise invalid_enum(name, allowed)
    return str(value)


def hash_(params: Params, name: str) -> dict[str, Any]:
    value = params.get(name, {})
    if value == "":
        return {}
    if not isinstance(value, dict):
        raise invalid_param(name, f"Invalid object: {name} must be an object.")
    return value


def array(params: Params, name: str) -> list[Any]:
    value = params.get(name)
    if value is None or value == "":
        return []
    if isinstance(value, dict) and all(key.isdigit() for key in value):
        return [value[key] for key in sorted(value, key=int)]
    raise invalid_param(name, f"Invalid array: {name} must be an array.", code="parameter_invalid_array")


def currency(params: Params, name: str = "currency") -> str:
    value = required(params, name)
    if value.upper() not in SUPPORTED_CURRENCIES:
        raise invalid_param(
            name,
            f"Invalid currency: {value.lower()}. Stripe currently supports these currencies: "
            + ", ".join(sorted(code.lower() for code in SUPPORTED_CURRENCIES)),
        )
    return value.lower()


def amount(params: Params, currency_code: str, name: str = "amount") -> int:
    value = required_integer(params, name)
    minimum = MIN_AMOUNTS.get(currency_code, 1)
    if value < minimum:
        shown = f"{minimum / 100:.2f}" if currency_code != "jpy" else str(minimum)
        raise StripeError(f"Amount must be at least {shown} {currency_code}", code="amount_too_small", param=name)
    if value > MAX_AMOUNT:
        raise StripeError(
            f"Amount must be no more than {MAX_AMOUNT} {currency_code}", code="amount_too_large", param=name
        )
    return value


def metadata(params: Params, existing: Mapping[str, str] | None = None) -> dict[str, str]:
    """New metadata: `existing` updated with `metadata[k]=v`; an empty value removes a key, an empty
    `metadata` clears all."""
    merged = dict(existing or {})
    value = params.get("metadata")
    if value is None:
        return merged
    if value == "":
        return {}
    if not isinstance(value, dict):
        raise invalid_param("metadata", "Invalid object: metadata must be an object.")
    for key, item in value.items():
        if not isinstance(item, str):
            raise invalid_param(f"metadata[{key}]", "Invalid string: metadata values must be strings.")
        if len(key) > METADATA_KEY_LENGTH:
            raise invalid_param(
                f"metadata[{key}]",
                f"Metadata keys can have up to {METADATA_KEY_LENGTH} characters; {key} has {len(key)}.",
            )
        if len(item) > METADATA_VALUE_LENGTH:
            raise invalid_param(
                f"metadata[{key}]",
                f"Metadata values can have up to {METADATA_VALUE_LENGTH} characters, but you passed "
                f"in a value that is {len(item)} characters.",
            )
        if item == "":
            merged.pop(key, None)
        else:
            merged[key] = item
    if len(merged) > METADATA_MAX_KEYS:
        raise invalid_param("metadata", f"You can have up to {METADATA_MAX_KEYS} metadata keys.")
    return merged


def expand(params: Params) -> list[str]:
    paths = params.get("expand")
    if paths is None or paths == "":
        return []
    if isinstance(paths, str):
        return [paths]
    return [str(path) for path in array(params, "expand")]


def created_range(params: Params, name: str = "created") -> dict[str, datetime]:
    """`created=<ts>` or `created[gte|gt|lte|lt]=<ts>`, as ORM lookups on `created_at`."""
    value = params.get(name)
    if value is None or value == "":
        return {}
    if isinstance(value, str):
        moment = required_integer(params, name)
        start = datetime.fromtimestamp(moment, UTC)
        return {"created_at__gte": start, "created_at__lt": datetime.fromtimestamp(moment + 1, UTC)}
    if not isinstance(value, dict):
        raise invalid_param(name, f"Invalid {name}: must be an integer or a hash.")
    only(value, ("gt", "gte", "lt", "lte"), prefix=name)
    lookups = {}
    for operator in value:
        moment = required_integer(value, operator)
        lookups[f"created_at__{operator}"] = datetime.fromtimestamp(moment, UTC)
    return lookups
