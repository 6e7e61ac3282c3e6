"""US bank accounts: the ABA routing number's checksum, and finding account numbers in text (for
log masking). Imports nothing of Django."""

from __future__ import annotations

import re

ACCOUNT_NUMBER_LENGTHS = (5, 17)

_WEIGHTS = (3, 7, 1) * 3

# A routing number and an account number side by side (either order), separated by a few spaces
# or punctuation and at most one word ("routing 121042882 account 000123456789"), standing alone
# (not digits inside a longer number or an id).
_PAIR = re.compile(
    r"(?<![0-9A-Za-z_])(?P<first>[0-9]{5,17})"
    r"(?P<sep>[\s,;:/|#=\-]{1,3}(?:[A-Za-z_]{1,16}[\s,;:/|#=\-]{1,3})?)"
    r"(?P<second>[0-9]{5,17})(?![0-9A-Za-z_])"
)
# A field named like an account or routing number: account_number=..., "accountNumber": "...",
# <accountNumber>...</accountNumber>, routing_number ...
_FIELD = re.compile(
    r"""(?P<key>\b(?:account_?number|acct_?num(?:ber)?|bank_?account|routing_?number|bank_aba_code)\b["']?\s*(?:[:=]|>)\s*["']?)"""
    r"(?P<value>[0-9]{5,17})(?![0-9])",
    re.IGNORECASE,
)


def aba_routing_valid(routing: str) -> bool:
    """A US routing number: 9 digits whose weighted sum (3, 7, 1 repeating) is a multiple of 10."""
    if len(routing) != 9 or not routing.isdigit():
        return False
    return sum(weight * int(digit) for weight, digit in zip(_WEIGHTS, routing, strict=True)) % 10 == 0


def mask_bank_numbers(text: str) -> str:
    """Replace account and routing numbers by their last four: in fields named for them, and a
    5-17 digit number next to a valid routing number."""

    def pair(match: re.Match[str]) -> str:
        first, second = match.group("first"), match.group("second")
        if aba_routing_valid(first):
            return f"[routing ****{first[-4:]}]{match.group('sep')}[account ****{second[-4:]}]"
        if aba_routing_valid(second):
            return f"[account ****{first[-4:]}]{match.group('sep')}[routing ****{second[-4:]}]"
        return match.group(0)

    text = _PAIR.sub(pair, text)
    return _FIELD.sub(lambda m: f"{m.group('key')}****{m.group('value')[-4:]}", text)
