"""The API's JSON parser: strict JSON, bounded nesting, no NUL characters, no card numbers
outside the card fields.

Python's json module accepts NaN and Infinity (not JSON), raises RecursionError on deep nesting,
and lets through strings with NUL characters that PostgreSQL cannot store. A card number typed
into a description, a name or metadata would be stored and copied into events, audit rows and
merchant webhooks (PCI forbids all of it). Each is a 400 here, before any view sees the body.
"""

from __future__ import annotations

import json
from collections.abc import Mapping
from typing import Any

from django.conf import settings
from rest_framework.exceptions import ParseError, ValidationError
from rest_framework.parsers import JSONParser

from apps.core.cards import contains_card_number

MAX_DEPTH = 32


def _constant(name: str) -> Any:
    raise ValueError(f"{name} is not valid JSON")


CARD_NUMBER_MESSAGE = "must not contain a card number: card data goes only in a card's own fields."
# Card input objects ({"type": "card", "number": …}): the one place a card number belongs.
_CARD_FIELDS = frozenset({"number"})


def _refuse(path: str, message: str) -> ValidationError:
    # The path may hold a metadata key, which may hold what is refused: never echo that back.
    parts = ["[card number]" if contains_card_number(part) else part for part in path.split(".")]
    shown = ".".join(parts).replace("\x00", "\\u0000") or "body"
    return ValidationError({shown: message})


def _check_scalar(value: Any, path: str, card_field: bool) -> None:
    if isinstance(value, str) and "\x00" in value:
        raise _refuse(path, "must not contain NUL characters.")
    if card_field or isinstance(value, bool):
        return
    if (isinstance(value, str) or (isinstance(value, int) and value >= 10**12)) and contains_card_number(str(value)):
        raise _refuse(path, CARD_NUMBER_MESSAGE)


def check_json_value(data: Any) -> None:
    """Raise ValidationError naming the first place where `data` nests deeper than MAX_DEPTH, holds
    a NUL character, or holds a card number outside a card's number field."""
    stack: list[tuple[Any, str, int, bool]] = [(data, "", 0, False)]
    while stack:
        value, path, depth, card_field = stack.pop()
        if depth > MAX_DEPTH:
            raise ParseError(f"JSON nested deeper than {MAX_DEPTH} levels.")
        if isinstance(value, Mapping):
            is_card = value.get("type") == "card"
            for key, item in value.items():
                child = f"{path}.{key}" if path else str(key)
                if "\x00" in str(key):
                    raise _refuse(child, "must not contain NUL characters.")
                if contains_card_number(str(key)):
                    raise _refuse(child, CARD_NUMBER_MESSAGE)
                stack.append((item, child, depth + 1, is_card and key in _CARD_FIELDS))
        elif isinstance(value, list):
            for index, item in enumerate(value):
                stack.append((item, f"{path}.{index}" if path else str(index), depth + 1, False))
        else:
            _check_scalar(value, path, card_field)


class StrictJSONParser(JSONParser):
    def parse(self, stream: Any, media_type: str | None = None, parser_context: Any = None) -> Any:
        encoding = (parser_context or {}).get("encoding", settings.DEFAULT_CHARSET)
        try:
            text = stream.read().decode(encoding) if stream is not None else ""
            data = json.loads(text, parse_constant=_constant)
        except RecursionError as exc:
            raise ParseError(f"JSON nested deeper than {MAX_DEPTH} levels.") from exc
        except (ValueError, UnicodeDecodeError) as exc:
            raise ParseError(f"JSON parse error - {exc}") from exc
        check_json_value(data)
        return data
