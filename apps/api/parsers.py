"""The API's JSON parser: strict JSON, bounded nesting, no NUL characters, no card numbers
outside the card fields.

Python's json module accepts NaN and Infinity (not JSON), raises RecursionError on deep nesting,
and lets through strings with NUL characters that PostgreSQL cannot store. A card number typed
into a description, a name or metadata would be stored and copied into events, audit rows and
merchant webhooks (PCI forbids all of it). Each is a 400 here, before any view sees the body.
"""

from __future__ import annotations

import json
import re
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
# The one place a card number belongs: the number of a card input object ({"type": "card",
# "number": …}) where the API takes one (a payment's payment_method, a saved card's body). The same
# shape anywhere else (inside metadata, say) is data like any other.
_CARD_NUMBER_PATHS = frozenset({"number", "payment_method.number"})
# A UTF-16 surrogate escape ("\ud800") is valid JSON but no character: nothing can store or print it.
_SURROGATE = re.compile("[\ud800-\udfff]")


def _refuse(path: str, message: str) -> ValidationError:
    # The path may hold a metadata key, which may hold what is refused: never echo that back.
    parts = ["[card number]" if contains_card_number(part) else part for part in path.split(".")]
    shown = ".".join(parts).replace("\x00", "\\u0000") or "body"
    shown = shown.encode("utf-8", "backslashreplace").decode("utf-8")
    return ValidationError({shown: message})


def _check_text(text: str, path: str) -> None:
    if "\x00" in text:
        raise _refuse(path, "must not contain NUL characters.")
    if _SURROGATE.search(text):
        raise _refuse(path, "must not contain unpaired surrogate escapes (\\ud800-\\udfff).")


def _check_scalar(value: Any, path: str, card_field: bool) -> None:
    if isinstance(value, str):
        _check_text(value, path)
    if card_field or isinstance(value, bool):
        return
    if isinstance(value, str):
        shown = [value]
    elif isinstance(value, int) and abs(value) >= 10**12:
        shown = [str(value)]
    elif isinstance(value, float) and abs(value) >= 10**12:
        # A number the API turns into text (a name, a description): in both of its spellings.
        shown = [str(value), f"{abs(value):.0f}"]
    else:
        return
    if any(contains_card_number(text) for text in shown):
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
                _check_text(str(key), child)
                if contains_card_number(str(key)):
                    raise _refuse(child, CARD_NUMBER_MESSAGE)
                stack.append((item, child, depth + 1, is_card and child in _CARD_NUMBER_PATHS))
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
        except LookupError as exc:  # a charset Python knows that is no text encoding (rot13, zlib ...)
            raise ParseError(f"Unsupported charset: {encoding!r}.") from exc
        check_json_value(data)
        return data
