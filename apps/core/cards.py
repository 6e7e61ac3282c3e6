"""Finding card numbers where none may be: free text, metadata, headers, log lines.

A card number (PAN) is 13 to 19 digits passing the Luhn check, typed as one run or in groups
separated by single spaces or dashes ("4111 1111 1111 1111", "4111-1111-1111-1111").

Two strictnesses:
- `contains_card_number` (input we would store): any such number not part of a longer digit run,
  letters around it or not ("card4111111111111111" counts), found also after other digit groups
  ("order 12 4111 1111 1111 1111"). Used to refuse input before anything is stored. Digests are
  the exception: a token of 32 or more hex characters with a letter among them (a signature, a
  hash, a UUID without dashes) is not read, since one in about a hundred random SHA-256 hex
  digests holds a 13-19 digit run that passes Luhn (Razorpay Checkout's signature would be
  refused that often).
- `card_number_spans` (text we write to logs): only numbers that stand alone, so digits inside
  identifiers (hex request ids, UUIDs, `pay_…`) are never taken for card numbers and ids in logs
  stay intact.
"""

from __future__ import annotations

import re

from django.core.exceptions import ValidationError

# Groups of digits joined by single spaces or dashes, not touching another digit.
_DIGIT_GROUPS = re.compile(r"(?<![0-9])[0-9]+(?:[ -][0-9]+)*(?![0-9])")
# The same, standing alone: no letter, digit, underscore or dot before; no letter, digit or
# underscore after, nor a separator followed by one (a UUID's or a slug's next part).
_STANDALONE_GROUPS = re.compile(
    r"(?<![0-9A-Za-z_.])(?<![0-9A-Za-z]-)[0-9]+(?:[ -][0-9]+)*(?![0-9A-Za-z_])(?!-[0-9A-Za-z])"
)
_SEPARATOR = re.compile(r"[ -]")
# A hex digest standing as a whole token: 32+ hex characters, at least one of them a letter.
_HEX_DIGEST = re.compile(r"(?<![0-9A-Za-z_])(?=[0-9a-fA-F]*[a-fA-F])[0-9a-fA-F]{32,}(?![0-9A-Za-z_])")
MIN_DIGITS, MAX_DIGITS = 13, 19


def luhn_valid(digits: str) -> bool:
    total = 0
    for index, char in enumerate(reversed(digits)):
        value = ord(char) - 48
        if index % 2 == 1:
            value *= 2
            if value > 9:
                value -= 9
        total += value
    return total % 10 == 0


def _is_pan(digits: str) -> bool:
    return MIN_DIGITS <= len(digits) <= MAX_DIGITS and luhn_valid(digits)


def _pan_windows(group: str, offset: int) -> list[tuple[int, int]]:
    """Spans (in the text) of card numbers made of consecutive groups of one digit-group run."""
    parts = [(m.start() + offset, m.end() + offset, m.group()) for m in re.finditer(r"[0-9]+", group)]
    found: list[tuple[int, int]] = []
    index = 0
    while index < len(parts):
        digits, hit = "", None
        for end in range(index, len(parts)):
            digits += parts[end][2]
            if len(digits) > MAX_DIGITS:
                break
            if _is_pan(digits):
                hit = end
        if hit is not None:
            found.append((parts[index][0], parts[hit][1]))
            index = hit + 1
        else:
            index += 1
    return found


def contains_card_number(text: str) -> bool:
    """True if `text` holds a card number anywhere (see the module's docstring)."""
    if sum(char.isdigit() for char in text) < MIN_DIGITS:
        return False
    text = _HEX_DIGEST.sub(" ", text)
    return any(_pan_windows(m.group(), m.start()) for m in _DIGIT_GROUPS.finditer(text))


def card_number_spans(text: str) -> list[tuple[int, int]]:
    """Where card numbers standing alone are in `text` (for masking)."""
    spans: list[tuple[int, int]] = []
    for match in _STANDALONE_GROUPS.finditer(text):
        digits = _SEPARATOR.sub("", match.group())
        if _is_pan(digits):
            spans.append(match.span())  # the whole group is one card number
        elif "-" not in match.group():  # among other words' digits ("order 12 4111 1111 1111 1111");
            spans += _pan_windows(match.group(), match.start())  # dash-joined digits are an id (a UUID)
    return spans


def reject_card_numbers(value: object) -> None:
    """A form and model validator: free text must not hold a card number."""
    if isinstance(value, str) and contains_card_number(value):
        raise ValidationError("Must not contain a card number.", code="card_number")
